"""Turning generator outputs into pictures: uint8 arrays, grids, crisp upscaling, PNG, GIF.

Images come in as float tensors in [-1, 1], shape (B, C, H, W), and leave as numpy uint8
(H, W) for grey or (H, W, 3) for colour, the layout Pillow and Gradio expect.
"""

from __future__ import annotations

import base64
import io
import math

import numpy as np
import torch
from PIL import Image


def to_numpy_images(images: torch.Tensor) -> np.ndarray:
    """(B, C, H, W) float in [-1, 1] -> (B, H, W) uint8 for C = 1, (B, H, W, 3) for C = 3."""
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expected images (B, C, H, W) with C in (1, 3), got {tuple(images.shape)}.")
    array = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy()
    return array[:, 0] if array.shape[1] == 1 else array.transpose(0, 2, 3, 1)


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
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def data_url(image: np.ndarray) -> str:
    """A ``data:image/png;base64,...`` URL of a uint8 image (fast PNG compression)."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")


def save_png(image: np.ndarray, path) -> None:
    Image.fromarray(image).save(path)


def gif_bytes(frames: np.ndarray, duration_ms: int = 80, loop: int = 0) -> bytes:
    """An animated GIF of uint8 frames (N, H, W[, 3]) that plays once forward (loop=0: forever)."""
    if len(frames) < 1:
        raise ValueError("a GIF needs at least one frame.")
    pictures = [Image.fromarray(frame) for frame in frames]
    buffer = io.BytesIO()
    pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:], duration=duration_ms, loop=loop, disposal=1, optimize=False)
    return buffer.getvalue()
