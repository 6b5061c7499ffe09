"""Inversion: from a picture back to the z that makes it, and how unusual the picture is.

- ``encoder``: E, a DCGAN-style network picture -> z (a Hub-style part beside generator/ and discriminator/),
  and D's features f_D(x) (the activations before D's last convolution).
- ``prepare``: any picture (file, PIL image, uint8 array) -> the model's input, the way its training data looks.
- ``invert``: refine z by gradient descent from E's guess and random starts (f-AnoGAN's izi_f encoder + the
  latent optimisation of Zhu et al. 2016), with progress and a stop signal.
- ``anomaly``: the f-AnoGAN anomaly score and its percentile among real test pictures.
- ``training``: how E is trained (``python -m gan_core.train_encoder MODEL_DIR``).

:class:`gan_core.GanPipeline` puts them together: ``pipeline.invert(picture)`` and
``pipeline.anomaly_score(picture)``. Submodules are imported explicitly (``gan_core.core.hub`` imports
``gan_core.inversion.encoder``), so this package imports nothing itself.
"""
