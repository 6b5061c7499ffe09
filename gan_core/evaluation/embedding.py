"""A fixed, randomly initialised CNN: the feature space of the label-free metrics.

A folder of the user's own pictures has no labels, so no evaluation classifier can be trained on
it, and pretrained networks (Inception, CLIP) cannot be downloaded everywhere. Naeem et al. (2020,
"Reliable Fidelity and Diversity Metrics for Generative Models", section 5) found the features of a
*randomly initialised* CNN usable for FID-style metrics on data unlike ImageNet; we use one, with
weights drawn from a fixed seed so that the same folder gives the same numbers on every run and
machine, and two models of one folder can be compared.

The network sees every picture at one size (``input_size``, 64 px: smaller pictures are upsampled,
larger ones downsampled, antialiased), so 8 px and 128 px models are embedded by the same filters.
Four stages of 3x3 convolutions with ReLU (He-initialised, so activations keep their scale) and
2x2 average pooling; the features are each stage's channel means and standard deviations (texture
statistics at four scales) plus a 2x2 grid of the last stage's means (where things are), each block
scaled to unit mean square over a fixed random input so no block dominates by its size.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gan_core.core.checks import check_positive_int
from gan_core.core.models import check_channels

EMBEDDING_VERSION = 1  # bump when the architecture or the weight draw changes: old numbers stop being comparable
GRID = 2  # the last stage's spatial grid (GRID x GRID cells)


class RandomEmbedding(nn.Module):
    """images (B, channels, H, W) in [-1, 1], any H = W >= 1 -> features (B, num_features).

    Weights come from ``seed`` alone (a CPU ``torch.Generator``), never from the global RNG: the same
    arguments build the same network. ``name`` says which embedding made a number.
    """

    def __init__(self, channels: int = 1, seed: int = 0, input_size: int = 64, widths: tuple[int, ...] = (16, 32, 64, 128)):
        super().__init__()
        check_channels(channels)
        check_positive_int(input_size, "input_size")
        for width in widths:
            check_positive_int(width, "widths")
        if input_size < 2 ** (len(widths) - 1) * GRID:
            raise ValueError(f"input_size {input_size} is too small for {len(widths)} stages and a {GRID}x{GRID} grid.")
        self.channels, self.seed, self.input_size, self.widths = channels, seed, input_size, tuple(widths)
        rng = torch.Generator().manual_seed(seed)
        convs, previous = [], channels
        for width in widths:
            conv = nn.Conv2d(previous, width, 3, padding=1)
            fan_in = previous * 9
            with torch.no_grad():
                conv.weight.copy_(
                    torch.randn(conv.weight.shape, generator=rng) * math.sqrt(2.0 / fan_in)
                )  # He init keeps ReLU activations at scale
                conv.bias.copy_(torch.randn(conv.bias.shape, generator=rng) * 0.1)
            convs.append(conv)
            previous = width
        self.convs = nn.ModuleList(convs)
        self.requires_grad_(False)
        self.num_features = 2 * sum(widths) + widths[-1] * GRID * GRID
        # Per-block scales from a fixed random input (not from any dataset): each block gets unit mean square.
        probe = torch.rand(64, channels, input_size, input_size, generator=rng) * 2 - 1
        blocks = self._blocks(probe)
        self.register_buffer("scales", torch.cat([b.square().mean().rsqrt().expand(b.shape[1]) for b in blocks]))
        self.eval()

    @property
    def name(self) -> str:
        """e.g. 'random-cnn-v1 (seed 0, 1 channel, 64 px, 992-d)'."""
        plural = "channel" if self.channels == 1 else "channels"
        return f"random-cnn-v{EMBEDDING_VERSION} (seed {self.seed}, {self.channels} {plural}, {self.input_size} px, {self.num_features}-d)"

    def _blocks(self, images: torch.Tensor) -> list[torch.Tensor]:
        if images.shape[-1] != self.input_size or images.shape[-2] != self.input_size:
            images = F.interpolate(images, size=(self.input_size, self.input_size), mode="bilinear", antialias=True, align_corners=False)
        x = images  # (B, C, S, S)
        blocks = []
        for index, conv in enumerate(self.convs):
            if index:
                x = F.avg_pool2d(x, 2)  # (B, w, S / 2^index, ...)
            x = F.relu(conv(x))
            blocks += [x.mean((2, 3)), x.std((2, 3))]  # (B, w) each: texture statistics at this scale
        blocks.append(F.adaptive_avg_pool2d(x, GRID).flatten(1))  # (B, w_last * GRID * GRID): layout
        return blocks

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, C, H, W) in [-1, 1] -> (B, num_features) float32."""
        if images.dim() != 4 or images.shape[1] != self.channels:
            raise ValueError(f"expected images (B, {self.channels}, H, W), got {tuple(images.shape)}.")
        return torch.cat(self._blocks(images.float()), 1) * self.scales
