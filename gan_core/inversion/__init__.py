"""Inversion: from a picture back to the z that makes it, and how unusual the picture is.

- ``prepare``: any picture (file, PIL image, uint8 array) -> the model's input, the way its training data looks.
- ``invert``: refine z by gradient descent from E's guess and random starts (f-AnoGAN's izi_f encoder + the
  latent optimisation of Zhu et al. 2016), with progress and a stop signal.
- ``anomaly``: the f-AnoGAN anomaly score and its percentile among real test pictures.
- ``training``: how E is trained (``python -m gan_core.train_encoder MODEL_DIR``).

The encoder E itself is a network beside G and D (:class:`gan_core.core.encoder.Encoder`, with D's features
f_D(x)). :class:`gan_core.GanPipeline` puts them together: ``pipeline.invert(picture)`` and
``pipeline.anomaly_score(picture)``.
"""

from gan_core.inversion.anomaly import Reference
from gan_core.inversion.invert import Anomaly, Inversion, Inversions, RefineConfig, encode, refine
from gan_core.inversion.prepare import InputStyle  # not prepare(): the name is the submodule's
from gan_core.inversion.training import EncoderConfig, train_encoder

__all__ = ["Reference", "Anomaly", "Inversion", "Inversions", "RefineConfig", "encode", "refine", "InputStyle", "EncoderConfig", "train_encoder"]
