"""DCGAN networks (Radford et al. 2015): a generator and a discriminator.

Networks only: no device handling, I/O or CLI logic lives here. Both classes are
``huggingface_hub.PyTorchModelHubMixin`` models, so their constructor arguments are
their config: ``save_pretrained`` writes ``config.json`` + ``model.safetensors`` and
``from_pretrained`` rebuilds the network from that config (use
``gan_core.hub.load_model`` for strict loading with clear errors).

The layer stack follows ``image_size``: an image of side ``s`` is built from a
``base`` x ``base`` map (4 <= base <= 8) by ``k >= 1`` stride-2 upsamplings, so
``s = base * 2**k``. That covers 8, 16, 28 (7 * 4), 32, 64, 128, ...
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from gan_core.core.checks import check_positive_int
from gan_core.core.latent import check_noise_kind

REPO_URL = "https://github.com/dcgan-latent-explorer/dcgan-latent-explorer"
PAPER_URL = "https://arxiv.org/abs/1511.06434"
_HUB_KWARGS = dict(
    library_name="gan_core",
    repo_url=REPO_URL,
    paper_url=PAPER_URL,
    license="mit",
    tags=["dcgan", "gan", "unconditional-image-generation", "gan_core"],
)


# Sizes no DCGAN has: a config beyond them is refused before anything is allocated.
MAX_LATENT_DIM = 4096
MAX_FEATURES = 1024
MAX_IMAGE_SIZE = 1024


@dataclass(frozen=True)
class StackPlan:
    """How a square image of ``image_size`` is reached: ``base`` px, then ``num_upsamples`` x2 steps."""

    base: int
    num_upsamples: int


def plan_stack(image_size: int) -> StackPlan:
    """Return the base map size and number of x2 (de)convolutions for ``image_size``.

    Raises ValueError naming the accepted sizes when ``image_size`` cannot be built.
    """
    if isinstance(image_size, bool) or not isinstance(image_size, int):
        raise ValueError(f"image_size must be an integer, got {image_size!r}.")
    if image_size > MAX_IMAGE_SIZE:
        raise ValueError(f"image_size must be at most {MAX_IMAGE_SIZE}, got {image_size}.")
    size, steps = image_size, 0
    while size % 2 == 0 and size // 2 >= 4:
        size //= 2
        steps += 1
    if steps < 1 or not 4 <= size <= 8:
        raise ValueError(
            f"image_size={image_size} cannot be built by a DCGAN stack: it must be base * 2**k "
            "with base in 4..8 and k >= 1 (for example 8, 16, 28, 32, 64, 128)."
        )
    return StackPlan(base=size, num_upsamples=steps)


def check_channels(channels) -> int:
    """1 (grey) or 3 (RGB)."""
    if channels not in (1, 3) or isinstance(channels, bool):
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels!r}.")
    return int(channels)


def init_dcgan_weights(module: nn.Module) -> None:
    """DCGAN initialisation: conv weights ~ N(0, 0.02); BatchNorm gamma ~ N(1, 0.02), beta = 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class Generator(nn.Module, PyTorchModelHubMixin, **_HUB_KWARGS):
    """G: z (B, latent_dim) -> image (B, channels, image_size, image_size) in [-1, 1].

    Transposed convolutions, BatchNorm + ReLU on every hidden layer, Tanh at the output.
    The first layer maps the 1x1 noise to a ``base`` x ``base`` map with
    ``g_features * 2**(k-1)`` channels; each later layer doubles the side and halves the width.
    """

    def __init__(self, latent_dim: int = 100, image_size: int = 28, channels: int = 1, g_features: int = 64, noise: str = "normal"):
        super().__init__()
        check_positive_int(latent_dim, "latent_dim", MAX_LATENT_DIM)
        check_positive_int(g_features, "g_features", MAX_FEATURES)
        check_channels(channels)
        check_noise_kind(noise)
        plan = plan_stack(image_size)
        # The distribution G was trained on is part of its contract: samplers draw z from it.
        self.noise = noise
        self.latent_dim = latent_dim
        self.image_size = image_size
        self.channels = channels
        self.g_features = g_features

        width = g_features * 2 ** (plan.num_upsamples - 1)
        # (B, latent_dim, 1, 1) -> (B, width, base, base)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, width, plan.base, 1, 0, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
        ]
        for _ in range(plan.num_upsamples - 1):
            # (B, width, s, s) -> (B, width / 2, 2s, 2s)
            layers += [
                nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width // 2),
                nn.ReLU(True),
            ]
            width //= 2
        # No BatchNorm on G's output (DCGAN guideline); Tanh maps to [-1, 1].
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(init_dcgan_weights)

    @property
    def first_layer(self) -> nn.ConvTranspose2d:
        """The projection of z: its weight (latent_dim, C, base, base) is what SeFa factorises."""
        return self.net[0]

    def first_features(self, z: torch.Tensor) -> torch.Tensor:
        """G's first feature map as the next layer sees it (projection, BatchNorm, ReLU): what GANSpace's PCA reads.

        z: (B, latent_dim) or (B, latent_dim, 1, 1) -> (B, width, base, base), >= 0.
        """
        if z.dim() == 2:
            z = z[:, :, None, None]
        return self.net[:3](z)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z: (B, latent_dim) or (B, latent_dim, 1, 1) -> (B, C, H, W) in [-1, 1]."""
        if z.dim() == 2:
            z = z[:, :, None, None]
        return self.net(z)


def downsampling_stack(channels: int, features: int, plan: StackPlan) -> tuple[list[nn.Module], int]:
    """D's body, also the encoder's: image (B, channels, s, s) -> (B, width, base, base); returns (layers, width).

    Strided convolutions halve the side and double the width; LeakyReLU(0.2); BatchNorm on every layer
    but the first (DCGAN guideline: none on the input layer).
    """
    width = features
    layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
    for _ in range(plan.num_upsamples - 1):
        # (B, width, s, s) -> (B, 2 width, s / 2, s / 2)
        layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width * 2), nn.LeakyReLU(0.2, True)]
        width *= 2
    return layers, width


class Discriminator(nn.Module, PyTorchModelHubMixin, **_HUB_KWARGS):
    """D: image (B, channels, image_size, image_size) in [-1, 1] -> logit (B,).

    Strided convolutions, LeakyReLU(0.2), BatchNorm on every hidden layer but the first.
    It returns logits; ``torch.sigmoid`` of them is D's probability that the image is real.
    """

    def __init__(self, image_size: int = 28, channels: int = 1, d_features: int = 64):
        super().__init__()
        check_positive_int(d_features, "d_features", MAX_FEATURES)
        check_channels(channels)
        plan = plan_stack(image_size)
        self.image_size = image_size
        self.channels = channels
        self.d_features = d_features

        layers, width = downsampling_stack(channels, d_features, plan)
        # (B, width, base, base) -> (B, 1, 1, 1): one logit per image.
        layers.append(nn.Conv2d(width, 1, plan.base, 1, 0, bias=False))
        self.net = nn.Sequential(*layers)
        self.apply(init_dcgan_weights)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images: (B, C, H, W) in [-1, 1] -> logits (B,)."""
        return self.net(images).flatten()
