import gzip
import hashlib
import http.server
import logging
import re
import threading
import tracemalloc
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


def _idx_bytes(array, type_code=0x08):
    """An IDX file's bytes: the header (type, rank, dims) and the array's bytes as they are."""
    return bytes([0, 0, type_code, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape) + array.tobytes()


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
    # bomb/: the right header, then 8 MB of zeros (a 2.9 MB file that unpacked to 3 GB, scaled down);
    # huge/: a download far larger than the file can be.
    write_fixture(root / "bomb")
    (root / "bomb" / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(np.zeros_like(TRAIN_IMAGES)) + bytes(8_000_000), mtime=0))
    write_fixture(root / "huge")
    (root / "huge" / "train-images-idx3-ubyte.gz").write_bytes(RNG.integers(0, 256, 200_000, dtype=np.uint8).tobytes())
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
    sizes = {"train-images-idx3-ubyte": len(good_images), "train-labels-idx1-ubyte": len(good_labels)}
    spec = replace(IDX_DATASETS["mnist"], mirrors=tuple(mirrors), sha256=checksums, sizes=sizes, system_dirs=())
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


def test_downloads_are_unpacked_no_further_than_the_files_known_size(http_root, monkeypatch):
    _spec_with_mirrors(monkeypatch, f"{http_root}/bomb/")
    tracemalloc.start()
    try:
        with pytest.raises(ChecksumError, match="unpacks to more"):
            load_dataset("mnist")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000, f"unpacking a bomb took {peak:,} bytes"
    _spec_with_mirrors(monkeypatch, f"{http_root}/huge/")
    with pytest.raises(ChecksumError, match="larger than"):
        load_dataset("mnist")
    assert not (data.cache_dir() / "mnist" / "train-images-idx3-ubyte.gz").exists()
    _spec_with_mirrors(monkeypatch, f"{http_root}/bomb/", f"{http_root}/good/")  # the next mirror still serves
    assert torch.equal(load_dataset("mnist").images[:, 0], torch.from_numpy(TRAIN_IMAGES))


def test_the_official_files_sizes_are_recorded():
    for name in ("mnist", "fashion-mnist"):
        sizes = IDX_DATASETS[name].sizes
        assert sizes == {"train-images-idx3-ubyte": 47_040_016, "train-labels-idx1-ubyte": 60_008,
                         "t10k-images-idx3-ubyte": 7_840_016, "t10k-labels-idx1-ubyte": 10_008}
        assert set(sizes) == set(IDX_DATASETS[name].sha256)


# ------------------------------------------------------------------------- damaged and hostile IDX files


def _damaged_gzips():
    good = gzip.compress(_idx_bytes(TRAIN_IMAGES), mtime=0)
    bad_crc = bytearray(good)
    bad_crc[-8] ^= 0xFF  # the CRC-32 in the trailer
    return {
        "truncated": good[: len(good) // 2],
        "bad CRC": bytes(bad_crc),
        "garbage compression": good[:10] + np.random.default_rng(1).integers(0, 256, 2000, dtype=np.uint8).tobytes(),
    }


@pytest.mark.parametrize("what", ["truncated", "bad CRC", "garbage compression"])
def test_a_damaged_gzip_is_a_value_error_naming_the_file(tmp_path, what):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(_damaged_gzips()[what])
    with pytest.raises(ValueError) as caught:
        load_dataset("mnist", data_dir=tmp_path, download=False)
    message = str(caught.value)
    assert str(path) in message and "damaged" in message and "\n" not in message


@pytest.mark.parametrize("content, message", [
    (b"", "the file is empty"),
    (bytes([0, 0, 8, 3]) + (20).to_bytes(4, "big"), "announces 3 dimensions but ends after 1"),
    (_idx_bytes(TRAIN_IMAGES)[:16], "truncated: header says (20, 28, 28), found 0 values"),
])
@pytest.mark.parametrize("gz", [True, False])
def test_header_only_and_cut_headers(tmp_path, content, message, gz):
    path = tmp_path / ("a.gz" if gz else "a")
    path.write_bytes(gzip.compress(content) if gz else content)
    with pytest.raises(ValueError, match=re.escape(message)):
        read_idx(path)


def test_a_gzip_that_unpacks_to_more_than_its_header_promises_is_refused_without_unpacking_it(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(_idx_bytes(TRAIN_IMAGES) + bytes(30_000_000), mtime=0))  # 30 MB in about 30 kB
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="more data than its header promises"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 3_000_000, f"reading a bomb took {peak:,} bytes"
    promise = np.zeros((10**6, 28, 28), np.uint8)[:1]  # a header claiming 784 MB in a file of a few bytes
    header = bytes([0, 0, 8, 3]) + b"".join(d.to_bytes(4, "big") for d in (10**6, 28, 28))
    path.write_bytes(gzip.compress(header + promise.tobytes()))
    with pytest.raises(ValueError, match="more than the file can hold"):
        read_idx(path)


@pytest.mark.parametrize("images, message", [
    (_idx_bytes(np.zeros((4, 28, 28), ">f4"), 0x0D), "holds float32 values"),
    (_idx_bytes(np.zeros((4, 28, 14), np.uint8)), "28x14 pictures; the models need square ones"),
    (_idx_bytes(np.zeros((4, 784), np.uint8)), "expected (N, H, W) images"),
    (_idx_bytes(np.zeros((4, 2, 28, 28), np.uint8)), "expected (N, H, W) images"),
])
def test_image_files_that_are_not_square_uint8_pictures_are_refused_naming_the_file(tmp_path, images, message):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(images)
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        load_dataset("mnist", data_dir=tmp_path, download=False)
    assert str(tmp_path / "train-images-idx3-ubyte") in str(caught.value)


def test_float_labels_are_refused(tmp_path):
    write_fixture(tmp_path, gz=False)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx_bytes(np.zeros(20, ">f8"), 0x0E))
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte holds float64 values"):
        load_dataset("mnist", data_dir=tmp_path, download=False)


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


def test_a_decompression_bomb_in_a_folder_is_skipped_and_named(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow refuses more than twice this: a 16x16 picture stands in for 200 megapixels
    folder = tmp_path / "pics"
    folder.mkdir()
    Image.fromarray(np.full((8, 8), 200, np.uint8)).save(folder / "small.png")
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(folder / "huge.png")
    with caplog.at_level(logging.WARNING, logger="gan_core.core.data"):
        loaded = load_dataset(f"folder:{folder}", image_size=8, channels=1)
    assert loaded.images.shape == (1, 1, 8, 8) and loaded.images.min() == 200
    assert any("huge.png (too large to decode safely" in record.getMessage() for record in caplog.records)
    (folder / "small.png").unlink()
    with pytest.raises(DatasetNotFoundError, match="none of the 1 image files could be read .*huge.png"):
        load_dataset(f"folder:{folder}", image_size=8, channels=1)


@pytest.mark.parametrize("name", ["imagenet", "", "folder:", "MNIST"])
def test_unknown_dataset_names_list_the_known_ones(name):
    with pytest.raises(ValueError) as info:
        parse_dataset_name(name)
    assert "mnist" in str(info.value) or "folder:PATH" in str(info.value)


def test_synthetic_is_deterministic_and_small():
    a, b = load_dataset("synthetic", image_size=16), load_dataset("synthetic", image_size=16)
    assert torch.equal(a.images, b.images) and a.images.shape == (256, 1, 16, 16)


def _write_pictures(folder, count, size, mode):
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        colour = (i * 7 % 256, 80, 160) if mode == "RGB" else i * 7 % 256
        Image.new(mode, size, colour).save(folder / f"{i:03d}.png")


@pytest.mark.parametrize(
    ("size", "mode", "want_size", "want_channels"),
    [((40, 36), "RGB", 32, 3), ((28, 28), "L", 28, 1), ((300, 200), "RGB", 64, 3), ((12, 12), "L", 12, 1), ((9, 9), "RGB", 8, 3)],
)
def test_a_folder_trains_at_its_own_size_and_channels_unless_told(tmp_path, size, mode, want_size, want_channels):
    """The median short side rounded down to a buildable size (at most 64), grey stays grey."""
    from gan_core.core.data import load_dataset

    _write_pictures(tmp_path / "pics", 5, size, mode)
    data = load_dataset(f"folder:{tmp_path / 'pics'}")
    assert (data.image_size, data.channels) == (want_size, want_channels)
    told = load_dataset(f"folder:{tmp_path / 'pics'}", image_size=16, channels=3)
    assert (told.image_size, told.channels) == (16, 3)


@pytest.mark.parametrize(("num_images", "want"), [(200, 16), (1_000, 64), (3_926, 128), (60_000, 128), (30, 8), (5, 5)])
def test_the_default_batch_fits_the_data(num_images, want):
    """A 200-picture folder gets batch 16 (12 steps per epoch), not one step of 128."""
    from gan_core.training.config import TrainConfig

    resolved = TrainConfig().resolve(num_images, 16, 1)
    assert resolved.optim.batch_size == want
    assert TrainConfig.from_flat(batch_size=32).resolve(num_images, 16, 1).optim.batch_size == 32
