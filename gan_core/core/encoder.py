"""E: the encoder, picture -> z, and the discriminator features that E is trained and scored with.

E mirrors D (Radford et al. 2015): strided convolutions, LeakyReLU(0.2), BatchNorm on every hidden
layer but the first, and a last convolution over the whole ``base`` x ``base`` map, which here gives
``latent_dim`` numbers instead of D's one logit. Like G and D it is a ``PyTorchModelHubMixin`` model
whose constructor arguments are its config, saved as ``encoder/`` (config.json + model.safetensors)
beside ``generator/`` and ``discriminator/`` and loaded strictly by :func:`gan_core.core.hub.load_part`.

Networks only: no device, I/O or training logic here (E is trained by ``gan_core.inversion.training``
and used by ``gan_core.inversion.invert``).
"""

from __future__ import annotations

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from gan_core.core.checks import check_positive_int
from gan_core.core.latent import check_noise_kind
from gan_core.core.models import (
    _HUB_KWARGS,
    MAX_FEATURES,
    MAX_LATENT_DIM,
    Discriminator,
    check_channels,
    downsampling_stack,
    init_dcgan_weights,
    plan_stack,
)


class Encoder(nn.Module, PyTorchModelHubMixin, **{**_HUB_KWARGS, "tags": ["dcgan", "gan", "gan-inversion", "gan_core"]}):
    """E: image (B, channels, image_size, image_size) in [-1, 1] -> z (B, latent_dim).

    ``noise`` is the prior of the generator it inverts: for ``"normal"`` the output is unbounded, for
    ``"uniform"`` a Tanh keeps it in (-1, 1). Where z must lie beyond that is the procedure's business
    (:func:`gan_core.inversion.invert.project`).
    """

    def __init__(self, latent_dim: int = 100, image_size: int = 28, channels: int = 1, e_features: int = 32, noise: str = "normal"):
        super().__init__()
        check_positive_int(latent_dim, "latent_dim", MAX_LATENT_DIM)
        check_positive_int(e_features, "e_features", MAX_FEATURES)
        check_channels(channels)
        check_noise_kind(noise)
        plan = plan_stack(image_size)
        self.latent_dim = latent_dim
        self.image_size = image_size
        self.channels = channels
        self.e_features = e_features
        self.noise = noise

        layers, width = downsampling_stack(channels, e_features, plan)  # D's body
        # (B, width, base, base) -> (B, latent_dim, 1, 1); a bias, since z need not be centred per picture.
        layers.append(nn.Conv2d(width, latent_dim, plan.base, 1, 0, bias=True))
        if noise == "uniform":
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)
        self.apply(init_dcgan_weights)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, C, H, W) in [-1, 1] -> z (B, latent_dim)."""
        return self.net(images).flatten(1)


def discriminator_features(discriminator: Discriminator, images: torch.Tensor) -> torch.Tensor:
    """f_D(x): D's activations before its last convolution, (B, C, H, W) in [-1, 1] -> (B, F).

    The feature space of f-AnoGAN's izi_f loss and anomaly score (Schlegl et al. 2019): for the 28 px
    models, 128 maps of 7 x 7 = 6,272 numbers per picture. Runs ``discriminator.net[:-1]``.
    """
    return discriminator.net[:-1](images).flatten(1)
