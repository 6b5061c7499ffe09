"""Pixels: the one conversion between the model range [-1, 1] and uint8, grids, upscaling, PNG, GIF.

The networks see float tensors in [-1, 1], shape (B, C, H, W); people see uint8. Real images go in
through :func:`to_model_range`; generated ones come out through :func:`to_uint8` (tensors) or
:func:`to_numpy_images` (numpy (B, H, W) for grey, (B, H, W, 3) for colour, the layout Pillow and
Gradio expect). Nothing else in the package converts between the two.
"""

from __future__ import annotations

import base64
import io
import math

import numpy as np
import torch
from PIL import Image


def to_model_range(images_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1], any shape."""
    return images_uint8.float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8 [0, 255] (round half to even), any shape, same device."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round_().to(torch.uint8)


def channels_last_numpy(images_uint8: torch.Tensor) -> np.ndarray:
    """uint8 (B, C, H, W) -> numpy (B, H, W) for C = 1, (B, H, W, 3) for C = 3."""
    if images_uint8.dim() != 4 or images_uint8.shape[1] not in (1, 3):
        raise ValueError(f"expected images (B, C, H, W) with C in (1, 3), got {tuple(images_uint8.shape)}.")
    array = images_uint8.cpu().numpy()
    return array[:, 0] if array.shape[1] == 1 else array.transpose(0, 2, 3, 1)


def to_numpy_images(images: torch.Tensor) -> np.ndarray:
    """(B, C, H, W) float in [-1, 1] -> (B, H, W) uint8 for C = 1, (B, H, W, 3) for C = 3."""
    return channels_last_numpy(to_uint8(images))


def make_grid(images: np.ndarray, ncols: int | None = None, padding: int = 2, pad_value: int = 255) -> np.ndarray:
    """Tile uint8 images (B, H, W[, 3]) into one (rows*(H+p)+p, cols*(W+p)+p[, 3]) uint8 array."""
    if images.ndim not in (3, 4):
        raise ValueError(f"expected (B, H, W) or (B, H, W, 3) images, got shape {images.shape}.")
    count, height, width = images.shape[:3]
    ncols = ncols or math.ceil(math.sqrt(count))
    nrows = math.ceil(count / ncols)
    shape = (nrows * (height + padding) + padding, ncols * (width + padding) + padding) + images.shape[3:]
    grid = np.full(shape, pad_value, dtype=np.uint8)
    for i in range(count):
        r, c = divmod(i, ncols)
        top, left = padding + r * (height + padding), padding + c * (width + padding)
        grid[top : top + height, left : left + width] = images[i]
    return grid


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling by an integer factor: crisp pixels, no blur."""
    if factor <= 1:
        return image
    return image.repeat(factor, axis=0).repeat(factor, axis=1)


def png_bytes(image: np.ndarray, compress_level: int = 1) -> bytes:
    """A uint8 image (H, W[, 3]) as PNG bytes (fast compression by default)."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def png_data_url(png: bytes) -> str:
    """A ``data:image/png;base64,...`` URL of PNG bytes."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def data_url(image: np.ndarray) -> str:
    """A ``data:image/png;base64,...`` URL of a uint8 image (fast PNG compression)."""
    return png_data_url(png_bytes(image))


def jpeg_data_url(image: np.ndarray, quality: int = 90) -> str:
    """A ``data:image/jpeg;base64,...`` URL of a uint8 RGB image (H, W, 3), no chroma subsampling: for pictures redrawn
    many times a second, where a smooth heat map makes a PNG ten times slower to write and twice as large."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality, subsampling=0)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def save_png(image: np.ndarray, path) -> None:
    """Write a uint8 image (H, W[, 3]) as a PNG file."""
    Image.fromarray(image).save(path)


def gif_bytes(frames: np.ndarray, duration_ms: int = 80, loop: int = 0) -> bytes:
    """An animated GIF of uint8 frames (N, H, W[, 3]) that plays once forward (loop=0: forever)."""
    if len(frames) < 1:
        raise ValueError("a GIF needs at least one frame.")
    pictures = [Image.fromarray(frame) for frame in frames]
    buffer = io.BytesIO()
    pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:], duration=duration_ms, loop=loop, disposal=1, optimize=False)
    return buffer.getvalue()
