"""gan_core: train, load and explore DCGANs (Radford et al. 2015) on a GPU or the CPU.

The centre is :class:`GanPipeline` (``gan_core.pipeline``): seeds or z in, uint8 pictures and the
discriminator's verdicts out. Around it:

- ``gan_core.core``: what everything builds on: networks (``models``, ``encoder``), latent-space math
  (``latent``), pixels (``images``), datasets (``data``), loading and saving (``hub``), the run
  manifest (``manifest``) and validation (``checks``).
- ``gan_core.training``: the adversarial loop (``trainer``), its config (``config``), what a run keeps on
  disk (``checkpoint``) and plots.
- ``gan_core.evaluation``: the evaluation classifier and the quality metrics.
- ``gan_core.explorer``: what the web app shows, as plain functions of plain values.
- ``gan_core.web``: what runs in a browser (gan_web.js) and the static site built around it.
- ``gan_core.inversion``: pictures back to z (from the encoder's guess, refined) and how unusual a picture is.

Commands (``python -m gan_core.<verb>``): ``train``, ``sample``, ``evaluate``, ``export``,
``build_site``, ``train_classifier``, ``train_encoder``.
"""

from gan_core.core.hub import load_discriminator, load_generator
from gan_core.core.models import Discriminator, Generator
from gan_core.pipeline import GanPipeline, Pictures

__all__ = ["GanPipeline", "Pictures", "Generator", "Discriminator", "load_generator", "load_discriminator"]
__version__ = "0.2.0"
