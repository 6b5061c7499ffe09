"""The run manifest: written beside config.json by training, read back exactly, rendered into the card."""

import json

import pytest

from gan_core import GanPipeline, train
from gan_core.core.manifest import MANIFEST_NAME, RunManifest, read_manifest, render_card, write_manifest
from gan_core.training import TrainConfig

TRAINING = TrainConfig.from_flat(dataset="mnist", lr=1e-3, beta1=0.3, beta2=0.9, image_size=28, channels=1).to_dict()


def manifest(**changes) -> RunManifest:
    values = dict(dataset="mnist", image_size=28, channels=1, num_images=8000, data_note="10k digits", training=TRAINING,
                  steps=1234, epochs=2.5, elapsed_sec=90.0, commands=["python -m gan_core.train --dataset mnist"], library_version="0.2.0")
    return RunManifest(**(values | changes))


def test_card_states_data_command_steps_metrics_and_the_runs_own_optimiser():
    evaluation = {"summary": "Measured on 64 samples.", "rows": [["metric", "better", "generated", "floor"], ["FID", "lower", "12.5", "0.1"]],
                  "command": "python -m gan_core.evaluate x", "date": "today"}
    card = render_card(manifest(evaluation=evaluation), "generator", {"latent_dim": 100})
    assert card.startswith("---\n") and "library_name: gan_core" in card and "- mnist" in card
    for expected in ("10k digits", "python -m gan_core.train --dataset mnist", "1234 steps", "| FID | lower | 12.5 | 0.1 |",
                     "`latent_dim`: 100", "Adam (lr 0.001, betas (0.3, 0.9))", "Measured on 64 samples."):
        assert expected in card
    assert "Not measured yet" in render_card(manifest(), "generator", {})
    assert "measured in the generator's card" in render_card(manifest(), "discriminator", {})


def test_manifest_round_trips_and_damage_is_named(tmp_path):
    write_manifest(tmp_path, manifest())
    assert read_manifest(tmp_path) == manifest()
    assert read_manifest(tmp_path / "nothing-here") is None
    (tmp_path / MANIFEST_NAME).write_text("{oops")
    with pytest.raises(ValueError, match=f"{MANIFEST_NAME} is not valid JSON"):
        read_manifest(tmp_path)
    (tmp_path / MANIFEST_NAME).write_text(json.dumps({"dataset": "mnist"}))
    with pytest.raises(ValueError, match="lacks image_size, channels, training"):
        read_manifest(tmp_path)


def test_training_records_what_made_the_model(tmp_path):
    out = tmp_path / "run"
    assert train.main(["--dry-run", "--steps", "4", "--lr", "5e-4", "--out-dir", str(out), "--no-progress", "--no-onnx"]) == 0
    for part in ("generator", "discriminator"):
        recorded = read_manifest(out / part)
        assert recorded.dataset == "synthetic" and (recorded.image_size, recorded.channels) == (16, 1)
        assert recorded.steps == 4 and recorded.num_images == 256
        assert recorded.training == json.loads(json.dumps(recorded.training))
        assert TrainConfig.from_dict(recorded.training).optim.lr == 5e-4
        assert recorded.commands[0].startswith("python -m gan_core.train --dry-run")
        assert "lr 0.0005" in (out / part / "README.md").read_text()
    assert GanPipeline.from_pretrained(out).dataset == "synthetic"
