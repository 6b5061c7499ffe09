"""Command lines: bad arguments stop with a clear message before any work; sample writes what it says."""

import numpy as np
import pytest
import torch
from PIL import Image

from gan_core import sample, train
from gan_core.core.hub import save_model
from gan_core.core.images import to_numpy_images
from gan_core.core.latent import noise_for_seed
from gan_core.core.models import Generator


def run_train(argv, capsys):
    with pytest.raises(SystemExit) as info:
        train.main(argv)
    return info.value.code, capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--dataset", "cifar10"], "Unknown dataset 'cifar10'"),
    (["--dataset", "synthetic", "--image-size", "30"], "image_size=30 cannot be built"),
    (["--dataset", "synthetic", "--epochs", "-2"], "epochs must be 0 or more"),
    (["--dataset", "synthetic", "--lr", "0"], "lr must be a positive number"),
    (["--dataset", "synthetic", "--device", "cuda:7"] if not torch.cuda.is_available() else ["--dataset", "nope"], "not available" if not torch.cuda.is_available() else "Unknown dataset"),
    (["--dataset", "folder:/definitely/not/here"], "is not a folder"),
])
def test_bad_train_arguments_exit_2_with_a_message(argv, message, capsys, tmp_path):
    code, err = run_train(argv + ["--out-dir", str(tmp_path / "out")], capsys)
    assert code == 2 and message in err
    assert not (tmp_path / "out").exists(), "no work may start"


def test_a_damaged_data_file_exits_2_with_one_sentence_before_any_output(capsys, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b\x08\x00" + bytes(40))  # a gzip header, then nothing valid
    code, err = run_train(["--dataset", "mnist", "--data-dir", str(data_dir), "--no-download", "--out-dir", str(tmp_path / "out")], capsys)
    assert code == 2 and "damaged" in err and str(data_dir / "train-images-idx3-ubyte.gz") in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_resume_from_missing_checkpoint(capsys, tmp_path):
    code, err = run_train(["--resume", "--out-dir", str(tmp_path)], capsys)
    assert code == 2 and "No checkpoint" in err


def test_resume_with_another_config_is_refused_before_work(capsys, tmp_path):
    out = str(tmp_path / "run")
    assert train.main(["--dry-run", "--steps", "3", "--out-dir", out, "--no-progress", "--no-onnx"]) == 0
    before = (tmp_path / "run" / "checkpoint.pt").read_bytes()
    code, err = run_train(["--dry-run", "--resume", "--out-dir", out, "--g-features", "16", "--image-size", "32"], capsys)
    assert code == 2 and "g_features: checkpoint 8 vs now 16" in err and "image_size: checkpoint 16 vs now 32" in err
    assert (tmp_path / "run" / "checkpoint.pt").read_bytes() == before


def test_dry_run_trains_and_exports(tmp_path):
    assert train.main(["--dry-run", "--out-dir", str(tmp_path / "dry"), "--no-progress"]) == 0
    for part in ("generator", "discriminator"):
        for name in ("model.safetensors", "config.json", "run.json", "README.md", "model.onnx"):
            assert (tmp_path / "dry" / part / name).exists(), f"{part}/{name}"


def test_help_shows_the_real_defaults(capsys):
    with pytest.raises(SystemExit):
        train.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for expected in ("Adam learning rate (default: 0.0002)", "G's base width (default: 32)", "images per step (default: 128, or fewer for a small data set: at least 8 steps per epoch)", "--augment {on,off}",
                     "--compile, --no-compile", "total epochs, counted over resumes (default: 5 when no limit is given)"):
        assert expected in text


@pytest.fixture
def colour_model(tmp_path):
    torch.manual_seed(0)
    return save_model(Generator(latent_dim=8, image_size=16, channels=3, g_features=4).eval(), tmp_path / "colour")


@pytest.fixture
def grey_run(tmp_path):
    """A run folder (what train writes) holding generator/."""
    torch.manual_seed(0)
    save_model(Generator(latent_dim=8, image_size=8, channels=1, g_features=4).eval(), tmp_path / "run" / "generator")
    return tmp_path / "run"


def test_sample_npy_shapes_and_determinism(tmp_path, colour_model, grey_run, capsys):
    assert sample.main([str(colour_model), "--num", "5", "--seed", "3", "--out", str(tmp_path / "a.npy")]) == 0
    assert sample.main([str(colour_model), "--num", "5", "--seed", "3", "--out", str(tmp_path / "b.npy")]) == 0
    assert sample.main([str(colour_model), "--num", "5", "--seed", "4", "--out", str(tmp_path / "c.npy")]) == 0
    a, b, c = (np.load(tmp_path / f"{n}.npy") for n in "abc")
    assert a.shape == (5, 16, 16, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert sample.main([str(grey_run), "--num", "3", "--out", str(tmp_path / "g.npy")]) == 0
    assert np.load(tmp_path / "g.npy").shape == (3, 8, 8)
    assert "wrote 3 samples" in capsys.readouterr().out


def test_sample_png_grid(tmp_path, grey_run):
    assert sample.main([str(grey_run), "--num", "6", "--ncols", "3", "--out", str(tmp_path / "grid.png")]) == 0
    with Image.open(tmp_path / "grid.png") as grid:
        assert grid.size == (3 * 10 + 2, 2 * 10 + 2)  # 8 px tiles + 2 px padding


@pytest.mark.parametrize("argv, message", [
    (["--num", "0"], "--num must be between"),
    (["--out", "x.jpg"], "must end in .png"),
    (["--truncation", "nan"], "--truncation must be in"),
])
def test_sample_bad_arguments(argv, message, tmp_path, grey_run, capsys):
    args = [str(grey_run), "--out", str(tmp_path / "o.npy")] + argv
    with pytest.raises(SystemExit) as info:
        sample.main(args)
    assert info.value.code == 2 and message in capsys.readouterr().err


def test_sample_missing_model(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        sample.main([str(tmp_path / "none"), "--out", str(tmp_path / "o.npy")])
    assert info.value.code == 2 and "does not exist" in capsys.readouterr().err


def test_sample_draws_z_from_the_models_own_noise(tmp_path):
    torch.manual_seed(0)
    generator = Generator(latent_dim=8, image_size=8, g_features=4, noise="uniform").eval()
    save_model(generator, tmp_path / "uniform")
    assert sample.main([str(tmp_path / "uniform"), "--num", "2", "--seed", "5", "--out", str(tmp_path / "u.npy")]) == 0
    with torch.no_grad():
        expected = generator(noise_for_seed(5, 8, "uniform", 2))
    assert np.array_equal(np.load(tmp_path / "u.npy"), to_numpy_images(expected))
