"""Differentiable augmentation of every picture D sees (DiffAugment, Zhao et al. 2020).

With a few thousand pictures D memorises the training set and its verdicts stop teaching G. DiffAugment
transforms every batch D sees, real and fake alike and in both players' updates, with random
transformations that gradients pass through: D must judge the augmented pictures, so it cannot
memorise the exact pixels, and because fakes are augmented the same way, G is not taught to make
augmented-looking pictures. The policy is the paper's default for small data sets: colour,
translation and cutout, with the paper's strengths.

Pictures are in the model range [-1, 1], shape (B, C, H, W). Randomness comes in as a
``torch.Generator``; ``total`` and ``offset`` draw the parameters of a whole global batch and use the
rows ``offset .. offset + B``, so several processes augment their shares exactly as one process
augments the whole batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

TRANSLATION = 0.125  # shift by up to 1/8 of the side (zero padding), the paper's value
CUTOUT = 0.5  # erase a square of half the side at a random place
POLICY = ("color", "translation", "cutout")


def _uniform(shape: tuple[int, ...], generator: torch.Generator, total: int, offset: int, device) -> torch.Tensor:
    """U[0, 1) of shape (B, ...) for rows offset .. offset+B of a draw of ``total`` rows."""
    draw = torch.rand((total, *shape[1:]), generator=generator, device=generator.device)
    return draw[offset : offset + shape[0]].to(device)


def _integers(low: int, high: int, rows: int, generator: torch.Generator, total: int, offset: int, device) -> torch.Tensor:
    """Integers in [low, high) for rows offset .. offset+rows of a draw of ``total``; shape (rows, 1, 1)."""
    draw = torch.randint(low, high, (total, 1, 1), generator=generator, device=generator.device)
    return draw[offset : offset + rows].to(device)


def color(x: torch.Tensor, generator: torch.Generator, total: int, offset: int) -> torch.Tensor:
    """Brightness (+-0.5), saturation (x0..2; a no-op on grey pictures) and contrast (x0.5..1.5), per picture."""
    b = x.shape[0]
    x = x + (_uniform((b, 1, 1, 1), generator, total, offset, x.device).to(x.dtype) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_uniform((b, 1, 1, 1), generator, total, offset, x.device).to(x.dtype) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform((b, 1, 1, 1), generator, total, offset, x.device).to(x.dtype) + 0.5) + mean


def translation(x: torch.Tensor, generator: torch.Generator, total: int, offset: int, ratio: float = TRANSLATION) -> torch.Tensor:
    """Shift each picture by up to ``ratio`` of its side in x and y; uncovered pixels become 0 (mid-grey)."""
    b, _, h, w = x.shape
    shift_h, shift_w = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = _integers(-shift_h, shift_h + 1, b, generator, total, offset, x.device)
    dx = _integers(-shift_w, shift_w + 1, b, generator, total, offset, x.device)
    rows, ys, xs = torch.meshgrid(torch.arange(b, device=x.device), torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
    ys = torch.clamp(ys + dy + 1, 0, h + 1)
    xs = torch.clamp(xs + dx + 1, 0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1]).permute(0, 2, 3, 1)  # (B, H+2, W+2, C)
    return padded[rows, ys, xs].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, generator: torch.Generator, total: int, offset: int, ratio: float = CUTOUT) -> torch.Tensor:
    """Set a square of ``ratio`` of the side, centred at a random pixel, to 0 in each picture."""
    b, _, h, w = x.shape
    size_h, size_w = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = _integers(0, h + (1 - size_h % 2), b, generator, total, offset, x.device)
    cx = _integers(0, w + (1 - size_w % 2), b, generator, total, offset, x.device)
    rows, ys, xs = torch.meshgrid(torch.arange(b, device=x.device), torch.arange(size_h, device=x.device), torch.arange(size_w, device=x.device), indexing="ij")
    ys = torch.clamp(ys + cy - size_h // 2, 0, h - 1)
    xs = torch.clamp(xs + cx - size_w // 2, 0, w - 1)
    mask = torch.ones(b, h, w, dtype=x.dtype, device=x.device)
    mask[rows, ys, xs] = 0
    return x * mask.unsqueeze(1)


TRANSFORMS = {"color": color, "translation": translation, "cutout": cutout}


def diff_augment(x: torch.Tensor, generator: torch.Generator, total: int | None = None, offset: int = 0, policy: tuple[str, ...] = POLICY) -> torch.Tensor:
    """``x`` (B, C, H, W) in [-1, 1] -> the same shape, augmented by ``policy`` in order; differentiable in x.

    ``total``/``offset``: this batch is rows offset .. offset+B of a global batch of ``total`` (default: B, 0).
    """
    total = x.shape[0] if total is None else total
    for name in policy:
        x = TRANSFORMS[name](x, generator, total, offset)
    return x
