"""Training: the adversarial loop (``trainer``), its configuration (``config``), what a run keeps on disk
(``checkpoint``) and its plots."""

from gan_core.training.checkpoint import load_checkpoint
from gan_core.training.config import DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig
from gan_core.training.calibration import recalibrate_batchnorm
from gan_core.training.trainer import EMA, Trainer

__all__ = ["TrainConfig", "ModelConfig", "OptimConfig", "DataConfig", "RunConfig", "Trainer", "EMA", "load_checkpoint", "recalibrate_batchnorm"]
