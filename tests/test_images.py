"""gan_core.core.images: uint8 conversion, grids, nearest-neighbour upscaling, PNG, data URLs, GIFs."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
import torch
from PIL import Image

from gan_core.core import images as pixels


def test_to_numpy_images_maps_minus_one_to_0_and_one_to_255():
    grey = torch.tensor([-1.0, 0.0, 1.0, 5.0]).reshape(1, 1, 2, 2)
    out = pixels.to_numpy_images(grey)
    assert out.dtype == np.uint8 and out.shape == (1, 2, 2)
    assert out.tolist() == [[[0, 128], [255, 255]]]  # 0 -> 127.5 rounds to 128; out of range clamps
    colour = pixels.to_numpy_images(torch.zeros(2, 3, 4, 5))
    assert colour.shape == (2, 4, 5, 3)
    with pytest.raises(ValueError, match="C in"):
        pixels.to_numpy_images(torch.zeros(1, 2, 4, 4))


def test_make_grid_places_tiles_with_padding():
    tiles = np.stack([np.full((3, 3), v, np.uint8) for v in (10, 20, 30)])
    grid = pixels.make_grid(tiles, ncols=2, padding=1, pad_value=255)
    assert grid.shape == (2 * 4 + 1, 2 * 4 + 1)
    assert (grid[1:4, 1:4] == 10).all() and (grid[1:4, 5:8] == 20).all() and (grid[5:8, 1:4] == 30).all()
    assert (grid[5:8, 5:8] == 255).all()  # the empty fourth cell
    assert grid[0].tolist() == [255] * 9
    colour = pixels.make_grid(np.zeros((4, 2, 2, 3), np.uint8), padding=0)
    assert colour.shape == (4, 4, 3)


def test_upscale_is_nearest_neighbour():
    image = np.array([[0, 255], [50, 100]], np.uint8)
    big = pixels.upscale(image, 3)
    assert big.shape == (6, 6)
    assert (big[:3, :3] == 0).all() and (big[:3, 3:] == 255).all() and (big[3:, :3] == 50).all() and (big[3:, 3:] == 100).all()
    assert set(np.unique(big)) == {0, 50, 100, 255}  # no blended values: crisp pixels
    assert pixels.upscale(image, 1) is image


def test_png_and_data_url_round_trip():
    image = np.random.default_rng(0).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    decoded = np.asarray(Image.open(io.BytesIO(pixels.png_bytes(image))))
    assert np.array_equal(decoded, image)
    url = pixels.data_url(image[..., 0])
    assert url.startswith("data:image/png;base64,")
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))), image[..., 0])


def test_gif_has_every_frame():
    frames = np.stack([np.full((8, 8), 30 * i, np.uint8) for i in range(5)])
    gif = Image.open(io.BytesIO(pixels.gif_bytes(frames, duration_ms=50)))
    assert gif.format == "GIF" and gif.n_frames == 5 and gif.size == (8, 8)
    values = []
    for index in range(gif.n_frames):
        gif.seek(index)
        values.append(int(np.asarray(gif.convert("L"))[0, 0]))
    assert values == [0, 30, 60, 90, 120]
    with pytest.raises(ValueError, match="at least one frame"):
        pixels.gif_bytes(np.zeros((0, 8, 8), np.uint8))


def test_range_conversions_round_trip():
    images = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    as_float = pixels.to_model_range(images)
    assert as_float.min() == -1 and as_float.max() == 1
    assert torch.equal(pixels.to_uint8(as_float), images)
