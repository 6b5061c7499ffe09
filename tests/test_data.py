import gzip
import hashlib
import http.server
import threading
from dataclasses import replace
from functools import partial

import numpy as np
import pytest
import torch
from PIL import Image

from gan_core.core import data
from gan_core.core.data import (
    ChecksumError,
    DatasetNotFoundError,
    IDX_DATASETS,
    load_dataset,
    parse_dataset_name,
    read_idx,
    write_idx,
)

RNG = np.random.default_rng(0)
TRAIN_IMAGES = RNG.integers(0, 256, size=(20, 28, 28), dtype=np.uint8)
TRAIN_LABELS = RNG.integers(0, 10, size=20, dtype=np.uint8)


def write_fixture(folder, images=TRAIN_IMAGES, labels=TRAIN_LABELS, gz=True):
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    write_idx(folder / f"train-images-idx3-ubyte{suffix}", images)
    write_idx(folder / f"train-labels-idx1-ubyte{suffix}", labels)
    return folder


@pytest.mark.parametrize("gz", [True, False])
def test_idx_round_trip(tmp_path, gz):
    path = tmp_path / ("a.idx.gz" if gz else "a.idx")
    write_idx(path, TRAIN_IMAGES)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == gz
    loaded = read_idx(path)
    assert loaded.dtype == np.uint8 and np.array_equal(loaded, TRAIN_IMAGES)


def test_bad_and_truncated_idx(tmp_path):
    (tmp_path / "bad").write_bytes(b"PNG....")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    write_idx(tmp_path / "ok", TRAIN_IMAGES)
    (tmp_path / "short").write_bytes((tmp_path / "ok").read_bytes()[:-10])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(tmp_path / "short")


@pytest.mark.parametrize("gz", [True, False])
def test_load_from_data_dir(tmp_path, gz):
    write_fixture(tmp_path / "d", gz=gz)
    loaded = load_dataset("mnist", data_dir=tmp_path / "d", download=False)
    assert loaded.images.shape == (20, 1, 28, 28) and loaded.images.dtype == torch.uint8
    assert torch.equal(loaded.images[:, 0], torch.from_numpy(TRAIN_IMAGES))
    assert torch.equal(loaded.labels, torch.from_numpy(TRAIN_LABELS).long())
    assert loaded.class_names[3] == "3"


def test_resize_and_channels_are_applied_once_at_load(tmp_path):
    write_fixture(tmp_path / "d")
    loaded = load_dataset("fashion-mnist", data_dir=tmp_path / "d", image_size=32, channels=3, download=False)
    assert loaded.images.shape == (20, 3, 32, 32) and loaded.images.dtype == torch.uint8
    assert torch.equal(loaded.images[:, 0], loaded.images[:, 2])


def test_lookup_order_data_dir_then_env_then_system_then_cache(tmp_path, monkeypatch):
    dirs = {name: tmp_path / name for name in ("arg", "env", "system", "cache")}
    for i, (name, folder) in enumerate(dirs.items()):
        target = folder / "mnist" if name in ("env", "cache") else folder
        write_fixture(target, images=np.full((2, 28, 28), i, np.uint8), labels=np.zeros(2, np.uint8))
    monkeypatch.setitem(IDX_DATASETS, "mnist", replace(IDX_DATASETS["mnist"], system_dirs=(str(dirs["system"]),)))
    monkeypatch.setenv("GAN_CACHE_DIR", str(dirs["cache"]))
    monkeypatch.setenv("GAN_DATA_DIR", str(dirs["env"]))
    first_pixel = lambda **kw: load_dataset("mnist", download=False, **kw).images[0, 0, 0, 0].item()  # noqa: E731
    assert first_pixel(data_dir=dirs["arg"]) == 0
    assert first_pixel() == 1
    monkeypatch.delenv("GAN_DATA_DIR")
    assert first_pixel() == 2
    monkeypatch.setitem(IDX_DATASETS, "mnist", replace(IDX_DATASETS["mnist"], system_dirs=()))
    assert first_pixel() == 3


# ------------------------------------------------------------------------- downloads


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def http_root(tmp_path):
    """A real HTTP server on 127.0.0.1 serving two mirror folders: good/ and corrupt/."""
    root = tmp_path / "www"
    good, corrupt = root / "good", root / "corrupt"
    write_fixture(good)
    write_fixture(corrupt)
    tampered = bytearray(gzip.decompress((corrupt / "train-images-idx3-ubyte.gz").read_bytes()))
    tampered[500] ^= 0xFF
    (corrupt / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(bytes(tampered)))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _spec_with_mirrors(monkeypatch, *mirrors):
    good_images = bytes([0, 0, 8, 3]) + (20).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + TRAIN_IMAGES.tobytes()
    good_labels = bytes([0, 0, 8, 1]) + (20).to_bytes(4, "big") + TRAIN_LABELS.tobytes()
    checksums = {
        "train-images-idx3-ubyte": hashlib.sha256(good_images).hexdigest(),
        "train-labels-idx1-ubyte": hashlib.sha256(good_labels).hexdigest(),
    }
    spec = replace(IDX_DATASETS["mnist"], mirrors=tuple(mirrors), sha256=checksums, system_dirs=())
    monkeypatch.setitem(IDX_DATASETS, "mnist", spec)
    return spec


def test_download_verifies_and_caches(http_root, monkeypatch, tmp_path):
    _spec_with_mirrors(monkeypatch, f"{http_root}/good/")
    loaded = load_dataset("mnist")
    assert torch.equal(loaded.images[:, 0], torch.from_numpy(TRAIN_IMAGES))
    cached = data.cache_dir() / "mnist"
    assert sorted(p.name for p in cached.iterdir()) == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    assert torch.equal(loaded.labels, torch.from_numpy(TRAIN_LABELS).long())
    # Second load comes from the cache, with the server gone.
    _spec_with_mirrors(monkeypatch, "http://127.0.0.1:9/")
    assert torch.equal(load_dataset("mnist").images[:, 0], torch.from_numpy(TRAIN_IMAGES))


def test_corrupted_download_is_rejected_and_not_kept(http_root, monkeypatch):
    _spec_with_mirrors(monkeypatch, f"{http_root}/corrupt/")
    with pytest.raises(ChecksumError, match="SHA-256 mismatch"):
        load_dataset("mnist")
    assert not (data.cache_dir() / "mnist" / "train-images-idx3-ubyte.gz").exists()


def test_corrupted_mirror_falls_back_to_the_next(http_root, monkeypatch):
    _spec_with_mirrors(monkeypatch, f"{http_root}/corrupt/", f"{http_root}/good/")
    assert torch.equal(load_dataset("mnist").images[:, 0], torch.from_numpy(TRAIN_IMAGES))


def test_offline_error_says_where_it_looked_and_how_to_get_files(monkeypatch, tmp_path):
    _spec_with_mirrors(monkeypatch, "http://127.0.0.1:9/")  # port 9 (discard): connection refused
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("mnist", data_dir=tmp_path / "nothing-here")
    message = str(info.value)
    assert str(tmp_path / "nothing-here") in message
    assert "127.0.0.1:9" in message and "scripts/get_data.py" in message and "--data-dir" in message


# ------------------------------------------------------------------------- folders, registry, synthetic


def test_folder_dataset_resizes_and_centre_crops(tmp_path):
    folder = tmp_path / "pics"
    (folder / "sub").mkdir(parents=True)
    wide = np.zeros((20, 40, 3), np.uint8)
    wide[:, 10:30] = 255  # the centre 20x20 is white, the sides black
    Image.fromarray(wide).save(folder / "wide.png")
    Image.fromarray(np.full((30, 30), 128, np.uint8)).save(folder / "sub" / "grey.jpg")
    rgba = np.zeros((16, 16, 4), np.uint8)  # fully transparent -> white background
    Image.fromarray(rgba).save(folder / "clear.png")
    (folder / "notes.txt").write_text("not an image")
    loaded = load_dataset(f"folder:{folder}", image_size=8, channels=3)
    assert loaded.images.shape == (3, 3, 8, 8)
    by_name = dict(zip(["clear", "grey", "wide"], loaded.images))
    assert by_name["wide"].min() >= 200  # centre crop kept the white middle (black sides would give ~0)
    assert by_name["clear"].min() == 255
    assert abs(int(by_name["grey"].float().mean()) - 128) <= 2
    grey = load_dataset(f"folder:{folder}", image_size=8, channels=1)
    assert grey.images.shape == (3, 1, 8, 8)


def test_folder_errors(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="not a folder"):
        load_dataset(f"folder:{tmp_path / 'missing'}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFoundError, match="holds no images"):
        load_dataset(f"folder:{tmp_path / 'empty'}")


@pytest.mark.parametrize("name", ["imagenet", "", "folder:", "MNIST"])
def test_unknown_dataset_names_list_the_known_ones(name):
    with pytest.raises(ValueError) as info:
        parse_dataset_name(name)
    assert "mnist" in str(info.value) or "folder:PATH" in str(info.value)


def test_synthetic_is_deterministic_and_small():
    a, b = load_dataset("synthetic", image_size=16), load_dataset("synthetic", image_size=16)
    assert torch.equal(a.images, b.images) and a.images.shape == (256, 1, 16, 16)
