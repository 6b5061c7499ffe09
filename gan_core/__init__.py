"""gan_core: train, load and explore DCGANs (Radford et al. 2015) on a GPU or the CPU.

Modules: ``models`` (networks), ``data`` (datasets by name), ``training`` (the adversarial loop),
``latent`` (pure latent-space functions), ``render`` (pictures), ``hub`` (save/load/push),
``plots``. Command lines: ``python -m gan_core.train`` and ``python -m gan_core.sample``.
"""

from gan_core.models import Discriminator, Generator

__all__ = ["Generator", "Discriminator"]
__version__ = "0.1.0"
