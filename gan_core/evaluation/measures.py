"""Simple measures of pictures: brightness, stroke thickness, width, height, slant, warmth, colourfulness.

Pure functions of uint8 pictures (B, C, H, W): each measure gives one number per picture, (B,) float64.
No model is run and nothing else of the project is imported, so anything may use them.

The *figure* is what differs from the picture's background, taken as the median colour of its one-pixel
border: light strokes on black (MNIST, Fashion-MNIST) and coloured shapes on white (emoji) alike. Each
pixel weighs in by how far its colour is from the background (0..1, the largest channel difference);
thickness uses the pixels that differ by more than :data:`FIGURE_THRESHOLD`.

The figure's position is not a measure: MNIST and Fashion-MNIST centre every picture on its centre of mass,
so a shift of a pixel or two is already large against how little pictures differ in position, while nobody
sees it (the named directions of :mod:`gan_core.explorer.directions` were called "moves right" for such shifts).
Thickness is a measure of strokes only (:func:`draws_strokes`): for filled shapes (garments, emoji) 2 x area /
edge says how solid the shape is, and a garment turning dark and textured was called "thinner". Nor is "ink"
(how much of the picture differs from the background): on black it is brightness under another name, on
white nearly its opposite, and near-ties between the two named the same kind of move by either word.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

FIGURE_THRESHOLD = 0.3  # a pixel is figure when its colour is this far (0..1) from the background's
STROKE_SHARE = 1 / 6  # pictures whose median thickness is at most this share of the side are drawn with strokes


@dataclass(frozen=True)
class Figure:
    """A batch of pictures read once for every measure."""

    pixels: torch.Tensor  # (B, C, H, W) in [0, 1], float64
    grey: torch.Tensor  # (B, H, W) in [0, 1]: the channels' mean
    weight: torch.Tensor  # (B, H, W) in [0, 1]: how far each pixel is from the background colour
    mask: torch.Tensor  # (B, H, W) bool: weight > FIGURE_THRESHOLD

    @classmethod
    def of(cls, pictures_uint8: torch.Tensor) -> Figure:
        """uint8 pictures (B, C, H, W), C = 1 or 3."""
        if pictures_uint8.dtype != torch.uint8 or pictures_uint8.dim() != 4 or pictures_uint8.shape[1] not in (1, 3):
            raise ValueError(f"pictures must be uint8 (B, 1 or 3, H, W), got {pictures_uint8.dtype} {tuple(pictures_uint8.shape)}.")
        pixels = pictures_uint8.double() / 255
        border = torch.cat([pixels[:, :, 0], pixels[:, :, -1], pixels[:, :, 1:-1, 0], pixels[:, :, 1:-1, -1]], dim=2)  # (B, C, 4 side - 4)
        background = border.median(dim=2).values  # (B, C)
        weight = (pixels - background[:, :, None, None]).abs().amax(1)  # (B, H, W)
        return cls(pixels, pixels.mean(1), weight, weight > FIGURE_THRESHOLD)

    def moments(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The figure's weighted centre and spread, in fractions of the side: (mean x, mean y, var x, var y, cov xy), each (B,).

        x grows to the right, y downward. A picture without figure gives the centre and zero spread.
        """
        _, height, width = self.weight.shape
        ys = (torch.arange(height, dtype=torch.float64) + 0.5) / height
        xs = (torch.arange(width, dtype=torch.float64) + 0.5) / width
        total = self.weight.sum((1, 2)).clamp_min(1e-9)
        share = self.weight / total[:, None, None]  # (B, H, W), sums to 1
        mean_x = (share.sum(1) * xs).sum(1)
        mean_y = (share.sum(2) * ys).sum(1)
        dx = xs[None, None, :] - mean_x[:, None, None]
        dy = ys[None, :, None] - mean_y[:, None, None]
        return mean_x, mean_y, (share * dx**2).sum((1, 2)), (share * dy**2).sum((1, 2)), (share * dx * dy).sum((1, 2))


def brightness(figure: Figure) -> torch.Tensor:
    """Mean grey level, 0 (black) .. 1 (white)."""
    return figure.grey.mean((1, 2))


def thickness(figure: Figure) -> torch.Tensor:
    """Stroke thickness in pixels, 2 x area / edge: a stroke w pixels wide and L long covers w L pixels, and about
    2 L of them touch the background (4-neighbours). 0 for a picture without figure."""
    mask = figure.mask
    padded = torch.nn.functional.pad(mask, (1, 1, 1, 1))  # background all round
    inner = padded[:, :-2, 1:-1] & padded[:, 2:, 1:-1] & padded[:, 1:-1, :-2] & padded[:, 1:-1, 2:]
    area = mask.sum((1, 2)).double()
    edge = (mask & ~inner).sum((1, 2)).double()
    return torch.where(edge > 0, 2 * area / edge.clamp_min(1), torch.zeros_like(area))


def width(figure: Figure) -> torch.Tensor:
    """The figure's width as a fraction of the picture's: sqrt(12) x the horizontal standard deviation (exact for a filled box)."""
    return (12 * figure.moments()[2]).sqrt()


def height(figure: Figure) -> torch.Tensor:
    """The figure's height as a fraction of the picture's, as :func:`width`."""
    return (12 * figure.moments()[3]).sqrt()


def slant(figure: Figure) -> torch.Tensor:
    """How far the figure leans right: the horizontal shift per unit of height going up, -cov(x, y) / var(y) (0 upright)."""
    _, _, _, var_y, cov = figure.moments()
    return -cov / var_y.clamp_min(1e-9)


def _weighted(figure: Figure, values: torch.Tensor) -> torch.Tensor:
    """The figure-weighted mean of per-pixel ``values`` (B, H, W); 0 without figure."""
    return (values * figure.weight).sum((1, 2)) / figure.weight.sum((1, 2)).clamp_min(1e-9)


def warmth(figure: Figure) -> torch.Tensor:
    """Red minus blue over the figure, -1 (blue) .. 1 (red); 0 for grey pictures."""
    pixels = figure.pixels
    if pixels.shape[1] == 1:
        return torch.zeros(pixels.shape[0], dtype=torch.float64)
    return _weighted(figure, pixels[:, 0] - pixels[:, 2])


def colourfulness(figure: Figure) -> torch.Tensor:
    """Saturation over the figure: the brightest channel minus the darkest, 0 (grey) .. 1."""
    pixels = figure.pixels
    return _weighted(figure, pixels.amax(1) - pixels.amin(1))


@dataclass(frozen=True)
class Measure:
    """One measure and the words for it growing and shrinking."""

    key: str
    more: str  # the name of a move that makes the measure grow
    less: str  # ... and of one that makes it shrink
    function: Callable[[Figure], torch.Tensor]
    colour_only: bool = False  # meaningless for grey pictures
    strokes_only: bool = False  # meaningless for filled shapes


MEASURES = (
    Measure("brightness", "brighter", "darker", brightness),
    Measure("thickness", "thicker", "thinner", thickness, strokes_only=True),
    Measure("width", "wider", "narrower", width),
    Measure("height", "taller", "shorter", height),
    Measure("slant", "leans right", "leans left", slant),
    Measure("warmth", "warmer", "cooler", warmth, colour_only=True),
    Measure("colourfulness", "more colourful", "greyer", colourfulness, colour_only=True),
)


def draws_strokes(pictures_uint8: torch.Tensor) -> bool:
    """Whether pictures (B, C, H, W) are drawn with strokes, like digits: their median :func:`thickness` is at most
    STROKE_SHARE of the side (MNIST's generator: 3.3 px of 28; Fashion-MNIST's 6.4 px, emoji 7.4 px of 32)."""
    return float(thickness(Figure.of(pictures_uint8)).median()) <= STROKE_SHARE * pictures_uint8.shape[-1]


def measures_for(channels: int, strokes: bool = True) -> tuple[Measure, ...]:
    """The measures that mean something for pictures of ``channels`` (1 grey, 3 colour), drawn with ``strokes`` or not."""
    return tuple(m for m in MEASURES if (channels == 3 or not m.colour_only) and (strokes or not m.strokes_only))


def suited_measures(pictures_uint8: torch.Tensor) -> tuple[Measure, ...]:
    """The measures that mean something for pictures like these (B, C, H, W): a model's samples."""
    return measures_for(pictures_uint8.shape[1], strokes=draws_strokes(pictures_uint8))


def measure(pictures_uint8: torch.Tensor, measures: tuple[Measure, ...] | None = None) -> dict[str, torch.Tensor]:
    """uint8 pictures (B, C, H, W) -> {measure key: (B,) float64}, for ``measures`` (default: every one that means something for C channels)."""
    figure = Figure.of(pictures_uint8)
    chosen = measures_for(pictures_uint8.shape[1]) if measures is None else measures
    return {m.key: m.function(figure) for m in chosen}
