"""Damaged, hostile and absurd model files: one sentence naming the file and what is wrong, before any large allocation."""

from __future__ import annotations

import json
import time

import pytest
import torch
from safetensors.torch import load_file, save_file

from gan_core import GanPipeline
from gan_core.core.hub import load_discriminator, load_generator, save_model
from gan_core.core.models import Discriminator, Generator


@pytest.fixture
def folder(tmp_path):
    torch.manual_seed(0)
    save_model(Generator(latent_dim=6, image_size=8, channels=1, g_features=4).eval(), tmp_path / "generator")
    save_model(Discriminator(image_size=8, channels=1, d_features=4).eval(), tmp_path / "discriminator")
    return tmp_path


def weights(folder):
    return folder / "generator" / "model.safetensors"


@pytest.mark.parametrize("damage, message", [
    (lambda path: path.write_bytes(b""), "is not a safetensors file"),
    (lambda path: path.write_bytes(path.read_bytes()[:100]), "is not a safetensors file"),
    (lambda path: path.write_bytes(path.read_bytes()[:-50]), "damaged or truncated"),
    (lambda path: torch.save({"net.0.weight": torch.zeros(1)}, path), "is not a safetensors file"),
    (lambda path: path.write_bytes(b"\x07\x00\x00\x00\x00\x00\x00\x00[1,2,3]"), "header is not a JSON object"),
])
def test_damaged_weights_are_named_in_one_sentence(folder, damage, message):
    damage(weights(folder))
    with pytest.raises(ValueError, match=message) as caught:
        load_generator(folder)
    assert "model.safetensors" in str(caught.value) and "\n" not in str(caught.value)


def test_a_symlink_to_another_file_is_read_as_a_damaged_file_not_followed_blindly(folder, tmp_path):
    elsewhere = tmp_path / "notes.txt"
    elsewhere.write_text("secret text that must not be echoed\n" * 10)
    weights(folder).unlink()
    weights(folder).symlink_to(elsewhere)
    with pytest.raises(ValueError) as caught:
        load_generator(folder)
    assert "not a safetensors file" in str(caught.value) and "secret" not in str(caught.value)


@pytest.mark.parametrize("config, message", [
    ("5", "must hold a JSON object of Generator arguments"),
    ("null", "must hold a JSON object"),
    ("[]", "must hold a JSON object"),
    ("{}", "lacks channels, g_features, image_size, latent_dim"),
    ('{"image_size": 8, "channels": 1, "d_features": 4}', "holds a discriminator config; expected a generator folder"),
    ('{"latent_dim": 6, "image_size": 8, "channels": 1, "g_features": 4, "evil": 1}', "has unknown fields 'evil'"),
    ('{"latent_dim": "6", "image_size": 8, "channels": 1, "g_features": 4}', "latent_dim must be a positive integer"),
    ("[" * 100_000, "is not valid JSON"),
])
def test_bad_configs_are_named(folder, config, message):
    (folder / "generator" / "config.json").write_text(config)
    with pytest.raises(ValueError, match=message):
        load_generator(folder)


def test_absurd_sizes_are_refused_before_anything_is_allocated(folder):
    config = folder / "generator" / "config.json"
    config.write_text(json.dumps({"latent_dim": 6, "image_size": 8, "channels": 1, "g_features": 4000}))
    start = time.perf_counter()
    with pytest.raises(ValueError, match="g_features must be at most 1024"):
        load_generator(folder)
    config.write_text(json.dumps({"latent_dim": 6, "image_size": 8, "channels": 1, "g_features": 1000}))
    with pytest.raises(ValueError, match="misshaped"):  # a size a DCGAN may have, but not these weights'
        load_generator(folder)
    assert time.perf_counter() - start < 5, "the shapes were checked only after building the network"


def test_non_finite_weights_are_refused(folder):
    tensors = load_file(weights(folder))
    tensors["net.0.weight"][0, 0, 0, 0] = float("nan")
    save_file(tensors, weights(folder))
    with pytest.raises(ValueError, match=r"non-finite weights \(NaN or infinity\) in net.0.weight"):
        load_generator(folder)
    tensors = load_file(folder / "discriminator" / "model.safetensors")
    tensors["net.0.weight"][0, 0, 0, 0] = float("inf")
    save_file(tensors, folder / "discriminator" / "model.safetensors")
    with pytest.raises(ValueError, match="non-finite"):
        load_discriminator(folder)


@pytest.mark.parametrize("log", ['{"step": 1}\n', "5\n", "garbage {\n", '{"step": 1, "loss_d": "x", "loss_g": 1, "d_real": 1, "d_fake": 1}\n'])
def test_a_damaged_training_log_leaves_the_curves_out_and_says_which_file(folder, log):
    (folder / "train_log.jsonl").write_text(log)
    pipeline = GanPipeline.from_pretrained(folder)
    assert pipeline.log == [] and "train_log.jsonl is damaged" in pipeline.problems[0]
