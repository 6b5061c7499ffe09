"""Training the evaluation classifier: AdamW with a one-cycle schedule and random shifts.

Run it with ``python -m gan_core.train_classifier``; the model itself is
:class:`gan_core.evaluation.classifier.Classifier`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from gan_core.core.checks import check_positive_int
from gan_core.core.data import ImageData
from gan_core.core.images import to_model_range
from gan_core.evaluation.classifier import Classifier


@dataclass
class ClassifierConfig:
    """How a classifier is trained. Validated on construction."""

    epochs: int = 4
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 5e-4
    features: int = 16
    embed_dim: int = 128
    max_shift: int = 2  # random translation augmentation, in pixels
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "features", "embed_dim"):
            check_positive_int(getattr(self, name), name)
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive number, got {self.lr}.")
        if self.max_shift < 0 or self.weight_decay < 0:
            raise ValueError("max_shift and weight_decay must be 0 or more.")


def random_shift(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image (B, C, H, W) by up to ``max_shift`` px (zero padding = background)."""
    if max_shift == 0:
        return images
    batch, _, height, width = images.shape
    padded = F.pad(images, (max_shift,) * 4, value=-1.0)
    offsets = torch.randint(0, 2 * max_shift + 1, (2,), generator=generator).tolist()
    # One offset per batch keeps this a cheap slice; the batches differ, so the data still varies.
    return padded[:, :, offsets[0] : offsets[0] + height, offsets[1] : offsets[1] + width]


def train_classifier(train: ImageData, config: ClassifierConfig, progress: bool = True) -> Classifier:
    """Train a Classifier on a labelled uint8 set: AdamW, a one-cycle learning-rate schedule, random shifts."""
    from tqdm.auto import tqdm

    if train.labels is None:
        raise ValueError(f"{train.name} has no labels; a classifier needs a labelled train split.")
    num_classes = max(len(train.class_names), int(train.labels.max()) + 1)
    torch.manual_seed(config.seed)
    names = list(train.class_names) if len(train.class_names) == num_classes else None
    model = Classifier(train.channels, num_classes, config.features, config.embed_dim, names)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = max(1, len(train) // config.batch_size)
    total = config.epochs * steps_per_epoch
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total, pct_start=0.15)
    rng = torch.Generator().manual_seed(config.seed)
    model.train()
    bar = tqdm(total=total, disable=not progress, unit="step")
    for _ in range(config.epochs):
        order = torch.randperm(len(train), generator=rng)
        for position in range(steps_per_epoch):
            index = order[position * config.batch_size : (position + 1) * config.batch_size]
            images = random_shift(to_model_range(train.images[index]), config.max_shift, rng)  # (B, C, H, W)
            loss = F.cross_entropy(model(images), train.labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    return model.eval()


def classifier_card(dataset: str, config: ClassifierConfig, test_accuracy: float, train: ImageData, num_test: int, seconds: float, command: str, model: Classifier) -> str:
    params = sum(p.numel() for p in model.parameters())
    return f"""---
library_name: gan_core
license: mit
tags:
- gan_core
- image-classification
- gan-evaluation
datasets:
- {dataset}
metrics:
- accuracy
---

# Evaluation classifier: {dataset}

A small CNN ({params:,} parameters) trained by `gan_core` on the {len(train):,} training images of
**{dataset}** (from `{train.source}`). It is the feature extractor of `python -m gan_core.evaluate`: its {model.embed_dim}-d
penultimate activations replace Inception features for FID, KID and precision/recall, and its class
probabilities give the class histogram and the Inception-Score analogue.

## Test accuracy
**{test_accuracy:.2%}** on the {num_test:,} images of the test split.

## Training
```
{command}
```
{config.epochs} epochs, batch {config.batch_size}, AdamW (lr {config.lr}, weight decay {config.weight_decay}) with a
one-cycle schedule, random shifts of up to {config.max_shift} px; {seconds / 60:.1f} minutes on the CPU.
Classes: {", ".join(model.class_names)}.
"""
