"""D's BatchNorm statistics from real pictures (gan_core.training.calibration), in training's export and in
``python -m gan_core.calibrate_discriminator``: D judges one picture as it judged a batch of real ones, and its verdicts
are measured and recorded."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch
from safetensors.torch import load_file

from gan_core import calibrate_discriminator as cli
from gan_core.core import hub
from gan_core.core.data import load_dataset, make_synthetic
from gan_core.core.images import to_model_range
from gan_core.core.latent import sample_noise
from gan_core.core.manifest import RunManifest, read_manifest
from gan_core.core.models import Discriminator, Generator
from gan_core.training import TrainConfig, Trainer
from gan_core.training.calibration import calibrate_discriminator, measure_verdicts

TINY = dict(dataset="synthetic", image_size=16, g_features=4, d_features=4, latent_dim=8, batch_size=16,
            log_every=4, num_fixed=4, bn_calibration_batches=2, progress=False, onnx=False)  # fmt: skip


def pictures(count: int = 16, side: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (count, 1, side, side), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def test_calibrated_d_judges_one_picture_as_it_judged_the_batch_in_training():
    torch.manual_seed(0)
    discriminator = Discriminator(image_size=16, channels=1, d_features=4)
    real = pictures(32)
    with torch.no_grad():
        in_training = discriminator.train()(to_model_range(real))  # BatchNorm over this batch's own statistics
        before = discriminator.eval()(to_model_range(real))  # the statistics a fresh D holds (0 and 1)
    calibrate_discriminator(discriminator, real, num_batches=1, batch_size=32, seed=0)
    assert not discriminator.training
    with torch.no_grad():
        alone = torch.cat([discriminator(to_model_range(real[i : i + 1])) for i in range(len(real))])
    # The running variance is unbiased where training normalises by the biased one: over 32 x 4 x 4 values, 0.1%.
    assert torch.allclose(alone, in_training, rtol=2e-3, atol=2e-3)
    assert not torch.allclose(before, in_training, rtol=2e-3, atol=2e-3)
    assert discriminator.net[3].momentum == 0.1  # restored


def test_calibration_leaves_d_unchanged_without_batches_and_repeats_a_small_set():
    torch.manual_seed(0)
    discriminator = Discriminator(image_size=16, channels=1, d_features=4)
    saved = {k: v.clone() for k, v in discriminator.state_dict().items()}
    calibrate_discriminator(discriminator, pictures(8), num_batches=0, batch_size=4, seed=0)
    assert all(torch.equal(saved[k], v) for k, v in discriminator.state_dict().items())
    # 3 batches of 8 from 8 pictures: each picture three times, so the statistics are those of the 8 pictures.
    once, thrice = Discriminator(image_size=16, channels=1, d_features=4), Discriminator(image_size=16, channels=1, d_features=4)
    thrice.load_state_dict(once.state_dict())
    calibrate_discriminator(once, pictures(8), num_batches=1, batch_size=8, seed=0)
    calibrate_discriminator(thrice, pictures(8), num_batches=3, batch_size=8, seed=5)
    assert torch.allclose(once.net[3].running_mean, thrice.net[3].running_mean, atol=1e-6)
    assert torch.allclose(once.net[3].running_var, thrice.net[3].running_var, atol=1e-5)


def test_augmented_calibration_sees_other_pictures():
    torch.manual_seed(0)
    plain, augmented = Discriminator(image_size=16, channels=1, d_features=4), Discriminator(image_size=16, channels=1, d_features=4)
    augmented.load_state_dict(plain.state_dict())
    calibrate_discriminator(plain, pictures(32), num_batches=2, batch_size=16, seed=0)
    calibrate_discriminator(augmented, pictures(32), num_batches=2, batch_size=16, seed=0, augment=True)
    assert not torch.allclose(plain.net[3].running_mean, augmented.net[3].running_mean, atol=1e-4)


def rank_share(real: np.ndarray, generated: np.ndarray) -> float:
    """The Mann-Whitney U statistic over its maximum, from ranks (written apart from the library's pairwise count)."""
    both = np.concatenate([real, generated])
    order = both.argsort(kind="stable")
    ranks = np.empty(len(both))
    ranks[order] = np.arange(1, len(both) + 1)
    for value in np.unique(both):  # ties share their mean rank
        ranks[both == value] = ranks[both == value].mean()
    u = ranks[: len(real)].sum() - len(real) * (len(real) + 1) / 2
    return u / (len(real) * len(generated))


def test_measured_verdicts_are_ds_mean_outputs_and_its_ranking():
    torch.manual_seed(0)
    generator = Generator(latent_dim=8, image_size=16, channels=1, g_features=4).eval()
    discriminator = Discriminator(image_size=16, channels=1, d_features=4)
    real = pictures(40)
    calibrate_discriminator(discriminator, real, num_batches=2, batch_size=20, seed=0)
    verdicts = measure_verdicts(generator, discriminator, real, count=1000, seed=3)
    assert verdicts["count"] == 40  # no more than there are
    with torch.no_grad():
        on_real = torch.sigmoid(discriminator(to_model_range(real))).numpy()
        z = sample_noise(40, 8, torch.Generator().manual_seed(3))
        on_generated = torch.sigmoid(discriminator(generator(z))).numpy()
    assert verdicts["real"] == pytest.approx(on_real.mean(), abs=1e-4)
    assert verdicts["generated"] == pytest.approx(on_generated.mean(), abs=1e-4)
    assert verdicts["ranked"] == pytest.approx(rank_share(on_real, on_generated), abs=1e-4)


def test_a_runs_export_holds_the_calibrated_d_and_its_verdicts(tmp_path):
    config = TrainConfig.from_flat(**(TINY | {"out_dir": str(tmp_path / "run"), "epochs": 2}))
    data = make_synthetic(64, 16, 1)
    trainer = Trainer.create(config, data=data, command="pytest")
    trainer.train()
    exported = load_file(tmp_path / "run" / "discriminator" / "model.safetensors")
    trained = trainer.discriminator.state_dict()
    assert not torch.equal(exported["net.3.running_mean"], trained["net.3.running_mean"])  # not the statistics training left
    expected = Discriminator(image_size=16, channels=1, d_features=4)
    expected.load_state_dict(trained)
    calibrate_discriminator(expected, data.images, 2, 16, config.optim.seed + 30_000)
    assert all(torch.allclose(exported[k], v, atol=1e-6) for k, v in expected.state_dict().items() if k in exported)
    for part in ("generator", "discriminator"):
        verdicts = read_manifest(tmp_path / "run" / part).verdicts
        assert verdicts["pictures"] == "training" and verdicts["batches"] == 2 and verdicts["count"] == 64
    card = (tmp_path / "run" / "discriminator" / "README.md").read_text()
    assert "## Verdicts" in card and f"{verdicts['real']:.0%} on average" in card
    assert "## Verdicts" not in (tmp_path / "run" / "generator" / "README.md").read_text()


def test_the_command_calibrates_a_shipped_folder_in_place(tmp_path, capsys):
    config = TrainConfig.from_flat(**(TINY | {"out_dir": str(tmp_path / "run"), "epochs": 1, "onnx": True}))
    Trainer.create(config, data=load_dataset("synthetic", image_size=16), command="pytest").train()
    folder = tmp_path / "run"
    for part in ("generator", "discriminator"):  # as a model exported before D was calibrated
        manifest = json.loads((folder / part / "run.json").read_text())
        (folder / part / "run.json").write_text(json.dumps({**manifest, "verdicts": None}))
    assert cli.main([str(folder), "--batches", "3", "--count", "50", "--seed", "2"]) == 0
    assert "D now gives real training pictures" in capsys.readouterr().out
    discriminator = hub.load_part(Discriminator, folder / "discriminator")
    expected = hub.load_part(Discriminator, folder / "discriminator")
    calibrate_discriminator(expected, load_dataset("synthetic", image_size=16).images, 3, 16, 2)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(discriminator.state_dict().values(), expected.state_dict().values()))
    for part in ("generator", "discriminator"):
        verdicts = read_manifest(folder / part).verdicts
        assert verdicts["batches"] == 3 and verdicts["count"] == 50 and verdicts["pictures"] == "training"
    assert "## Verdicts" in (folder / "discriminator" / "README.md").read_text()
    x = torch.rand(5, 1, 16, 16) * 2 - 1
    session = ort.InferenceSession(str(folder / "discriminator" / "model.onnx"), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        assert np.allclose(session.run(None, {"images": x.numpy()})[0], discriminator(x).numpy(), atol=1e-4)


def test_the_command_says_what_is_missing(tmp_path, capsys):
    folder = tmp_path / "model"
    hub.save_model(Generator(latent_dim=8, image_size=16, g_features=4), folder / "generator")
    with pytest.raises(SystemExit) as exit_info:
        cli.main([str(folder)])
    assert exit_info.value.code == 2 and "holds no discriminator/ folder" in capsys.readouterr().err
    hub.save_model(Discriminator(image_size=16, d_features=4), folder / "discriminator")
    with pytest.raises(SystemExit):
        cli.main([str(folder)])
    assert "has no run.json" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main([str(tmp_path / "nowhere")])
    assert "is not a folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main([str(folder), "--batches", "0"])
    assert "--batches" in capsys.readouterr().err


def test_a_manifest_refuses_verdicts_that_are_not_shares():
    values = dict(dataset="mnist", image_size=16, channels=1, num_images=1, data_note="", training={}, steps=0, epochs=0.0)
    RunManifest(**values, verdicts={"real": 0.8, "generated": 0.5, "ranked": 0.9, "count": 10})
    for bad in ({"real": 1.5, "generated": 0.5, "ranked": 0.9}, {"real": 0.8, "generated": 0.5}, [0.8, 0.5, 0.9], {"real": True, "generated": 0.5, "ranked": 0.9}):
        with pytest.raises(ValueError, match="verdicts must hold"):
            RunManifest(**values, verdicts=bad)
