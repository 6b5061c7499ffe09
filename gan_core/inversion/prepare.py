"""Preparing a picture: any drawing, photo or upload -> the model's input, the way its training data looks.

A model only knows pictures like the ones it was trained on, so a picture is brought to that look
before it is inverted. How depends on the dataset (:func:`style_for`):

- ``digit`` (MNIST): as LeCun et al. made MNIST. The background is taken from the picture's border
  (its median); every pixel becomes its distance from it, so dark strokes on a light canvas become light
  strokes on black, as in MNIST. (A busy border, such as noise or a photo's scene, has no plain
  background to remove: the picture is only negated when it is light.) The strokes' bounding box is fitted into 20 x 20 of the 28 x 28 frame
  (scaled to the model's size) keeping its aspect, then moved so the centre of mass sits in the middle.
  The strokes are stretched so the brightest is white (MNIST digits are).
- ``object`` (Fashion-MNIST): as Zalando made Fashion-MNIST: same background rule (their photos are on
  white and were negated), the bounding box fitted into the whole frame keeping its aspect and centred;
  tones are kept (no stretch).
- ``dark`` (other grey models whose samples sit on black): the same background rule, the whole picture
  padded to a square and resized; no crop, no stretch.
- ``photo`` (anything else): transparency onto white, the short side centre-cropped, resized; grey or
  RGB per the model (as ``gan_core.core.data.load_folder`` reads training folders).

Resizing is antialiased (torch's ``interpolate(..., antialias=True)``, as ``gan_core.core.data.conform``).
Transparent pixels (a drawing canvas) are laid on white when the marks are dark and on black when they
are light, so either way the marks stand out.

Safety: a file is refused before it is decoded when it is larger than :data:`MAX_FILE_BYTES` or its header
says more than :data:`MAX_SIDE` x :data:`MAX_SIDE` pixels (Pillow's own decompression-bomb limit applies
too); decoded pictures are reduced to at most :data:`WORK_SIDE` px before any float work, so memory and
time stay bounded. Every refusal is one ValueError (FileNotFoundError for a missing file) saying what was
given and what to do.
"""

from __future__ import annotations

import io
import os
import threading
import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from gan_core.core.checks import shown

MAX_SIDE = 4096  # the largest picture accepted, per side (and 4096 x 4096 pixels in all)
MAX_PIXELS = MAX_SIDE * MAX_SIDE
MIN_SIDE = 4  # smaller pictures cannot hold a shape
MAX_FILE_BYTES = 50 * 2**20  # an upload larger than this is refused before it is read
WORK_SIDE = 512  # decoded pictures are reduced to at most this side first: the model needs 28 px
# What one decode may cost: the decoded pixels' bytes, read from the header before any pixel is decoded (a 4096 x 4096
# RGBA picture is 64 MB), and how many decodes run at once, whoever asks (one: a 4096 x 4096 decode takes 0.2-0.4 s here).
# Measured: 20 decodes at once of a 4096 x 4096 16-bit PNG peak at +175 MB, of a float TIFF at +209 MB (before: +417 MB
# for one, +2.2 GB for six).
MAX_DECODED_BYTES = 64 * 2**20
DECODES_AT_ONCE = 1
BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "LA": 2, "La": 2, "PA": 2, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2, "RGB": 3, "YCbCr": 3, "LAB": 3,
                   "HSV": 3, "RGBA": 4, "RGBa": 4, "RGBX": 4, "CMYK": 4, "I": 4, "F": 4}  # fmt: skip
_decoding = threading.BoundedSemaphore(DECODES_AT_ONCE)
EMPTY_LEVELS = 12  # a picture whose marks differ from its background by fewer grey levels is empty
BUSY_BORDER = 24.0  # a border whose grey levels spread more than this (std) is no plain background
DOT_FRACTION = 1 / 25  # marks whose bounding box is smaller than this share of the picture's long side are a dot
GREY = (0.299, 0.587, 0.114)  # ITU-R 601 luma, as gan_core.core.data.conform
FORMATS_HINT = "PNG, JPEG, GIF, BMP or WebP"


@dataclass(frozen=True)
class InputStyle:
    """How pictures are brought to a model's look (see the module docstring)."""

    name: str
    dark_background: bool  # training pictures are light shapes on black: marks = distance from the background
    fit: float | None  # the marks' bounding box is fitted into this share of the frame; None: the whole picture is resized
    centre: str  # "mass" (centre of mass in the middle, as MNIST) or "box" (bounding box in the middle)
    stretch: bool  # the brightest mark becomes white
    description: str


STYLES = {
    "digit": InputStyle("digit", True, 20 / 28, "mass", True, "MNIST-style: light strokes on black, fitted into 20x20 of 28x28, centred by centre of mass"),
    "object": InputStyle("object", True, 1.0, "box", False, "Fashion-MNIST-style: light object on black, fitted into the frame keeping its aspect, centred"),
    "dark": InputStyle("dark", True, None, "box", False, "light shape on black: the background removed, the whole picture resized"),
    "photo": InputStyle("photo", False, None, "box", False, "photo: centre-cropped to a square and resized"),
}
DATASET_STYLES = {"mnist": "digit", "fashion-mnist": "object"}


def style_for(dataset: str | None, channels: int, samples: np.ndarray | None = None) -> InputStyle:
    """The style of a model: by its dataset (mnist, fashion-mnist), else by its samples' look.

    ``samples``: some of G's pictures, uint8 (B, H, W[, 3]). Grey samples whose border is nearly black
    (mean below 20 of 255) get ``dark``; everything else ``photo``.
    """
    if dataset in DATASET_STYLES:
        return STYLES[DATASET_STYLES[dataset]]
    if channels == 1 and samples is not None and samples.ndim == 3 and samples.shape[1] >= 4:
        border = np.concatenate([samples[:, 0], samples[:, -1], samples[:, :, 0], samples[:, :, -1]], axis=1)
        if float(border.mean()) < 20:
            return STYLES["dark"]
    return STYLES["photo"]


# ----------------------------------------------------------------------------- reading


def read_picture(picture) -> np.ndarray:
    """Any accepted picture -> float32 RGBA (h, w, 4) in [0, 255], its long side at most WORK_SIDE.

    Accepts a file path, bytes or a binary file object (PNG, JPEG, GIF (first frame), BMP, WebP, ...), a PIL
    image, a numpy array (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) of uint8 / bool / whole numbers 0..255 /
    floats 0..1, or a Gradio ImageEditor value (a dict with "composite").
    """
    from PIL import Image

    if picture is None:
        raise ValueError("No picture was given: draw one or upload a file.")
    if isinstance(picture, dict):
        if "composite" not in picture:
            raise ValueError(f"A picture given as a dict must hold 'composite' (a Gradio ImageEditor value), got keys {shown(sorted(map(str, picture))[:5])}.")
        return read_picture(picture["composite"])
    if isinstance(picture, np.ndarray):
        return _reduce(Image.fromarray(_array_to_uint8(picture)))
    if isinstance(picture, Image.Image):
        _check_size(*picture.size)
        return _reduce(_decoded(picture, "The picture"))
    if isinstance(picture, (str, os.PathLike)):
        return _read_file(picture)
    if isinstance(picture, (bytes, bytearray, memoryview)):
        return _read_stream(io.BytesIO(bytes(picture)), len(picture), "The uploaded data")
    if hasattr(picture, "read"):
        data = picture.read(MAX_FILE_BYTES + 1)
        return _read_stream(io.BytesIO(data), len(data), "The uploaded file")
    raise ValueError(f"A picture is a file path, bytes, a PIL image or a uint8 numpy array; got {type(picture).__name__}.")


def _read_file(path) -> np.ndarray:
    name = os.fspath(path)
    if not os.path.isfile(name):
        raise FileNotFoundError(f"No picture file at {shown(name)}.")
    size = os.path.getsize(name)
    with open(name, "rb") as handle:
        return _read_stream(handle, size, f"The file {os.path.basename(name)!r}")


def _read_stream(stream, size: int, what: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    if size > MAX_FILE_BYTES:
        raise ValueError(f"{what} is {size / 2**20:.0f} MB; pictures up to {MAX_FILE_BYTES // 2**20} MB are accepted. Scale it down first.")
    if size == 0:
        raise ValueError(f"{what} is empty (0 bytes): give a {FORMATS_HINT} picture.")
    try:
        with warnings.catch_warnings():
            # Our own limit (checked next) is below Pillow's warning threshold; Pillow's error (twice that) still applies.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(stream)  # reads the header only: the size and mode are known before any pixel is decoded
            _check_size(*image.size)
            _check_cost(image, what)
            if getattr(image, "n_frames", 1) > 1:
                image.seek(0)  # an animation (GIF, APNG, WebP): its first frame
            with _decoding:
                return _reduce(_decoded(image, what))
    except Image.DecompressionBombError:
        raise ValueError(f"{what} is too large to decode safely; pictures up to {MAX_SIDE}x{MAX_SIDE} pixels are accepted.") from None
    except UnidentifiedImageError:
        raise ValueError(f"{what} is not a picture Pillow can read: give a {FORMATS_HINT} file.") from None


def _check_size(width: int, height: int) -> None:
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise ValueError(f"The picture is {width}x{height} pixels; the largest accepted is {MAX_SIDE}x{MAX_SIDE}. Scale it down first.")
    if width < MIN_SIDE or height < MIN_SIDE:
        raise ValueError(f"The picture is {width}x{height} pixels: too small to hold a shape. Give one at least {MIN_SIDE}x{MIN_SIDE} pixels.")


def _check_cost(image, what: str) -> None:
    """Refuse a picture whose decoded pixels would take more than MAX_DECODED_BYTES (from its header: size and mode)."""
    width, height = image.size
    decoded = width * height * BYTES_PER_PIXEL.get(image.mode, 8)  # an unknown mode is counted as the widest there is
    if decoded > MAX_DECODED_BYTES:
        raise ValueError(
            f"{what} would take {decoded / 2**20:.0f} MB to decode ({width}x{height} pixels of mode {image.mode}); pictures up to "
            f"{MAX_DECODED_BYTES // 2**20} MB decoded are accepted (4096x4096 in 8-bit RGBA). Scale it down or save it with 8 bits per channel."
        )


def _decoded(image, what: str):
    """The image decoded, turned upright (EXIF) and converted to RGBA (16-bit and float greys scaled to 8 bits).

    A JPEG is decoded at the smallest scale its DCT allows that keeps WORK_SIDE; 16-bit and float greys are reduced in
    their own mode before their values are scaled, so no full-size float copy is ever made."""
    from PIL import Image, ImageOps

    try:
        image.draft(image.mode, (WORK_SIDE, WORK_SIDE))  # JPEG only (others ignore it)
        image.load()
        if image.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
            sixteen_bits = image.mode.startswith("I;16")
            if sixteen_bits:
                image = image.convert("I")  # Pillow reduces I and F, not I;16
            factor = max(1, max(image.size) // (2 * WORK_SIDE))
            image = image.reduce(factor) if factor > 1 else image
            values = np.asarray(image, dtype=np.float64)
            if sixteen_bits or (image.mode == "I" and values.max(initial=0) > 255):
                values = values / 257.0
            image = Image.fromarray(np.clip(values, 0, 255).round().astype(np.uint8), "L")
        image = ImageOps.exif_transpose(image)
        return image.convert("RGBA")
    except (OSError, ValueError, SyntaxError, EOFError) as err:  # truncated or damaged data, modes without RGB
        raise ValueError(f"{what} could not be decoded ({str(err)[:80] or type(err).__name__}): it is damaged or in an unusual format; give a {FORMATS_HINT} picture.") from None


def _reduce(image) -> np.ndarray:
    from PIL import Image

    image = image.convert("RGBA")
    if max(image.size) > WORK_SIDE:
        image.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.BOX)  # area average: thin strokes fade, never vanish
    return np.asarray(image, dtype=np.float32)


def _array_to_uint8(array: np.ndarray) -> np.ndarray:
    """A numpy picture -> uint8 (H, W) or (H, W, C), C in 1, 3, 4; ValueError for anything else."""
    shape = array.shape
    if array.ndim == 3 and shape[0] in (1, 3, 4) and shape[-1] not in (1, 3, 4):
        raise ValueError(f"The picture array has shape {shape}, channels first; give (H, W, C) with the channels last (array.transpose(1, 2, 0)).")
    if array.ndim not in (2, 3) or (array.ndim == 3 and shape[-1] not in (1, 3, 4)):
        raise ValueError(f"The picture array has shape {shape}; expected (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA.")
    if array.size == 0:
        raise ValueError(f"The picture is empty: its array has shape {shape}.")
    _check_size(shape[1], shape[0])
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    elif array.dtype.kind in "iu" and array.dtype != np.uint8:
        if array.min() < 0 or array.max() > 255:
            raise ValueError(f"The picture array holds whole numbers from {array.min()} to {array.max()}; pixel values are 0..255.")
        array = array.astype(np.uint8)
    elif array.dtype.kind == "f":
        if not np.isfinite(array).all():
            raise ValueError("The picture array holds NaN or infinite values; pixel values are 0..255 (uint8) or 0..1 (floats).")
        if array.min() < 0 or array.max() > 1:
            raise ValueError(f"The picture array holds floats from {array.min():g} to {array.max():g}; float pictures are 0..1 (or give uint8 0..255).")
        array = (array * 255).round().astype(np.uint8)
    elif array.dtype != np.uint8:
        raise ValueError(f"The picture array holds {array.dtype} values; give uint8 (0..255), bool or floats (0..1).")
    if array.ndim == 3 and shape[-1] == 1:
        array = array[..., 0]
    return np.ascontiguousarray(array)


# ----------------------------------------------------------------------------- the model's look


def prepare(picture, *, image_size: int, channels: int, style: InputStyle | str = "photo") -> np.ndarray:
    """Any accepted picture (see :func:`read_picture`) -> the model's input as uint8 (H, W) grey or (H, W, 3) RGB.

    ``style`` (an :class:`InputStyle` or its name) says how the model's training pictures look; see
    :func:`style_for`. ValueError: an empty picture ("The picture is empty ..."), only a dot, too large,
    unreadable, and the other refusals of :func:`read_picture`.
    """
    style = STYLES[style] if isinstance(style, str) else style
    rgba = read_picture(picture)  # (h, w, 4) float in [0, 255]
    rgb = _flatten(rgba, dark_background=style.dark_background)  # (h, w, 3)
    if channels == 1 or style.dark_background:
        grey = rgb @ np.asarray(GREY, dtype=np.float32)  # (h, w)
        out = _prepare_grey(grey, image_size, style) if style.dark_background else _square_resize(grey[..., None], image_size, crop=True)[..., 0]
        _check_not_empty(out if style.dark_background else grey)
        return out if channels == 1 else np.repeat(out[..., None], 3, axis=-1)
    _check_not_empty(rgb)
    return _square_resize(rgb, image_size, crop=True)


def _flatten(rgba: np.ndarray, dark_background: bool) -> np.ndarray:
    """RGBA -> RGB: transparent pixels laid on white (photos, or dark marks) or on black (light marks on a dark-background model)."""
    alpha = rgba[..., 3:] / 255.0
    rgb = rgba[..., :3]
    if alpha.min() >= 1.0:
        return rgb
    weight = float(alpha.sum())
    if weight < 1e-3:
        raise ValueError("The picture is empty: it is fully transparent. Draw something or upload a picture with visible marks.")
    background = 255.0
    if dark_background:
        marks = float((rgb @ np.asarray(GREY, dtype=np.float32) * alpha[..., 0]).sum()) / weight
        background = 255.0 if marks < 128 else 0.0  # so the marks stand out either way
    return rgb * alpha + background * (1 - alpha)


def _check_not_empty(values: np.ndarray) -> None:
    spread = float(values.max() - values.min())
    if spread < EMPTY_LEVELS:
        raise ValueError(
            f"The picture is empty: every pixel is within {spread:.0f} grey levels of the others, so there is no shape to find. "
            "Draw or upload a picture with a visible shape."
        )


def _border(values: np.ndarray) -> np.ndarray:
    ring = max(1, round(min(values.shape[:2]) * 0.02))
    return np.concatenate([values[:ring].ravel(), values[-ring:].ravel(), values[:, :ring].ravel(), values[:, -ring:].ravel()])


def _prepare_grey(grey: np.ndarray, image_size: int, style: InputStyle) -> np.ndarray:
    """Grey (h, w) in [0, 255] -> uint8 (image_size, image_size): light marks on black, framed per ``style``."""
    border = _border(grey)
    background = float(np.median(border))
    if float(border.std()) <= BUSY_BORDER:
        marks = np.abs(grey - background)  # dark-on-light and light-on-dark alike become light on black
    else:
        # No plain background to remove (noise, a photo's scene): only turn a light picture dark, as the data is.
        marks = 255.0 - grey if background > 127.5 else grey.copy()
    peak = float(marks.max())
    if peak < EMPTY_LEVELS:
        raise ValueError(
            f"The picture is empty: nothing in it differs from its background by more than {peak:.0f} grey levels. "
            "Draw or upload a picture with a visible shape."
        )
    marks[marks < 0.06 * peak] = 0.0  # paper texture, JPEG ringing: MNIST's background is exactly black
    if style.fit is None:
        framed = _square_resize(_pad_square(marks)[..., None], image_size, crop=False)[..., 0].astype(np.float32)
    else:
        framed = _fit(marks, peak, image_size, style)
    if style.stretch and framed.max() > 0:
        framed = framed * (255.0 / framed.max())
    return np.clip(framed, 0, 255).round().astype(np.uint8)


def _fit(marks: np.ndarray, peak: float, image_size: int, style: InputStyle) -> np.ndarray:
    rows, cols = np.nonzero(marks > 0)  # every mark above the cut, faint edges included (as both datasets were boxed)
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    height, width = bottom - top, right - left
    if max(height, width) < max(2, DOT_FRACTION * max(marks.shape)):
        raise ValueError(
            f"The picture holds only a dot ({width}x{height} of its {marks.shape[1]}x{marks.shape[0]} pixels): "
            "there is no shape to fit. Draw a larger shape."
        )
    box = max(1, round(style.fit * image_size))
    scale = box / max(height, width)
    size = (max(1, min(box, round(height * scale))), max(1, min(box, round(width * scale))))
    patch = _resize(marks[top:bottom, left:right][..., None], size)[..., 0]  # (h', w') float
    canvas = np.zeros((image_size, image_size), dtype=np.float32)
    if style.centre == "mass" and patch.sum() > 0:
        ys, xs = np.indices(patch.shape)
        centre_y, centre_x = (ys * patch).sum() / patch.sum(), (xs * patch).sum() / patch.sum()
        offset_y, offset_x = round(image_size / 2 - centre_y), round(image_size / 2 - centre_x)  # MNIST: mean centre of mass (14, 14)
    else:
        offset_y, offset_x = (image_size - patch.shape[0] + 1) // 2, (image_size - patch.shape[1] + 1) // 2  # odd margins: the extra pixel before, as Fashion-MNIST
    # LeCun translates the digit; we keep it inside the frame (a lopsided shape would otherwise be cut).
    offset_y = min(max(offset_y, 0), image_size - patch.shape[0])
    offset_x = min(max(offset_x, 0), image_size - patch.shape[1])
    canvas[offset_y : offset_y + patch.shape[0], offset_x : offset_x + patch.shape[1]] = patch
    return canvas


def _pad_square(values: np.ndarray) -> np.ndarray:
    height, width = values.shape[:2]
    side = max(height, width)
    out = np.zeros((side, side) + values.shape[2:], dtype=values.dtype)
    top, left = (side - height) // 2, (side - width) // 2
    out[top : top + height, left : left + width] = values
    return out


def _resize(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(h, w, C) float -> (size[0], size[1], C) float, antialiased bilinear (as gan_core.core.data.conform)."""
    tensor = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32)).permute(2, 0, 1)[None]
    resized = F.interpolate(tensor, size=size, mode="bilinear", antialias=True, align_corners=False)
    return resized[0].permute(1, 2, 0).numpy()


def _square_resize(values: np.ndarray, image_size: int, crop: bool) -> np.ndarray:
    """(h, w, C) float -> uint8 (image_size, image_size, C): the short side centre-cropped (``crop``), then resized."""
    height, width = values.shape[:2]
    if crop and height != width:
        side = min(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        values = values[top : top + side, left : left + side]
    return np.clip(_resize(values, (image_size, image_size)), 0, 255).round().astype(np.uint8)


def to_tensor(prepared: np.ndarray) -> torch.Tensor:
    """A prepared uint8 picture (H, W) or (H, W, 3) -> uint8 (C, H, W)."""
    tensor = torch.from_numpy(np.ascontiguousarray(prepared))
    return tensor[None] if tensor.dim() == 2 else tensor.permute(2, 0, 1).contiguous()
