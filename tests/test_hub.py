import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from gan_core.core.hub import load_discriminator, load_generator, push_folder, save_model
from gan_core.core.models import Discriminator, Generator


@pytest.fixture
def saved_pair(tmp_path):
    torch.manual_seed(0)
    generator = Generator(latent_dim=6, image_size=16, channels=3, g_features=4)
    discriminator = Discriminator(image_size=16, channels=3, d_features=4)
    # Non-trivial BN buffers, so the round trip must carry them too.
    generator.train()(torch.randn(8, 6))
    save_model(generator.eval(), tmp_path / "generator", card="# card")
    save_model(discriminator.eval(), tmp_path / "discriminator")
    return generator, discriminator, tmp_path


def test_save_then_load_gives_identical_outputs(saved_pair, device):
    generator, discriminator, root = saved_pair
    files = sorted(p.name for p in (root / "generator").iterdir())
    assert files == ["README.md", "config.json", "model.safetensors"]
    assert json.loads((root / "generator" / "config.json").read_text()) == {"latent_dim": 6, "image_size": 16, "channels": 3, "g_features": 4, "noise": "normal"}
    loaded_g = load_generator(root / "generator", device=device)
    loaded_d = load_discriminator(root / "discriminator", device=device)
    assert not loaded_g.training
    z = torch.randn(4, 6)
    assert torch.equal(loaded_g(z.to(device)).cpu(), generator(z))
    images = torch.rand(3, 3, 16, 16) * 2 - 1
    assert torch.equal(loaded_d(images.to(device)).cpu(), discriminator(images))


def test_model_rebuilds_from_its_own_config(tmp_path):
    save_model(Generator(latent_dim=20, image_size=32, channels=1, g_features=3), tmp_path / "g")
    loaded = load_generator(tmp_path / "g")
    assert (loaded.latent_dim, loaded.image_size, loaded.channels, loaded.g_features) == (20, 32, 1, 3)


def test_missing_tensor_is_an_error_naming_it(saved_pair):
    _, _, root = saved_pair
    weights_file = root / "generator" / "model.safetensors"
    tensors = load_file(weights_file)
    del tensors["net.1.running_mean"]
    save_file(tensors, weights_file)
    with pytest.raises(ValueError, match="net.1.running_mean"):
        load_generator(root / "generator")


def test_misshaped_tensor_is_an_error_naming_it(saved_pair):
    _, _, root = saved_pair
    weights_file = root / "generator" / "model.safetensors"
    tensors = load_file(weights_file)
    tensors["net.0.weight"] = torch.zeros(6, 3, 4, 4)
    save_file(tensors, weights_file)
    with pytest.raises(ValueError, match="net.0.weight"):
        load_generator(root / "generator")


def test_config_that_disagrees_with_weights_is_an_error(saved_pair):
    _, _, root = saved_pair
    config = root / "generator" / "config.json"
    config.write_text(json.dumps({"latent_dim": 6, "image_size": 16, "channels": 3, "g_features": 8}))
    with pytest.raises(ValueError, match="do not fit Generator"):
        load_generator(root / "generator")


def test_unexpected_tensor_is_an_error(saved_pair):
    _, _, root = saved_pair
    weights_file = root / "discriminator" / "model.safetensors"
    tensors = load_file(weights_file)
    tensors["extra.weight"] = torch.zeros(1)
    save_file(tensors, weights_file)
    with pytest.raises(ValueError, match="extra.weight"):
        load_discriminator(root / "discriminator")


def test_missing_folder_and_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_generator(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_generator(tmp_path / "empty")


def test_swapped_generator_and_discriminator_folders(saved_pair):
    _, _, root = saved_pair
    with pytest.raises(ValueError, match="discriminator config"):
        load_generator(root / "discriminator")
    with pytest.raises(ValueError, match="generator config"):
        load_discriminator(root / "generator")


def test_hub_repo_id_offline_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(FileNotFoundError, match="Offline"):
        load_generator("someone/no-such-dcgan")


def test_push_without_token_says_how_to_get_one(monkeypatch, tmp_path, saved_pair):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ValueError, match="HF_TOKEN"):
        push_folder(saved_pair[2] / "generator", "someone/dcgan")


def test_run_folder_resolves_to_its_parts(saved_pair):
    _, _, root = saved_pair  # holds generator/ and discriminator/, like a run or weights folder
    assert load_generator(root).latent_dim == 6
    assert load_discriminator(root).channels == 3


def test_run_in_progress_serves_its_newest_snapshot(tmp_path):
    for epoch, width in ((1, 2), (2, 3)):
        save_model(Generator(latent_dim=4, image_size=8, g_features=width), tmp_path / "run" / "snapshots" / f"epoch_{epoch:03d}")
    assert load_generator(tmp_path / "run").g_features == 3
    with pytest.raises(FileNotFoundError, match="holds no discriminator"):
        load_discriminator(tmp_path / "run")
