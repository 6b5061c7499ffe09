"""A small CNN classifier per dataset: the feature extractor of our quality metrics.

Inception weights cannot be downloaded everywhere and ImageNet features say little about 28x28
greyscale clothing or digits, so, as MNIST-style GAN papers do, we train a small domain classifier
on the dataset's train split and use its penultimate activations in place of Inception's pool3
features (see ``gan_core.metrics``).

``Classifier`` is a ``PyTorchModelHubMixin`` model like the GAN: it saves to and loads from a
Hub-style folder (config.json + model.safetensors + a README.md card stating its test accuracy).

Train one with ``python -m gan_core.classifier --dataset fashion-mnist --out weights/classifiers/fashion-mnist``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import math
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from gan_core import hub
from gan_core.data import ImageData, dataset_names, load_dataset, make_synthetic, to_model_range
from gan_core.models import REPO_URL

logger = logging.getLogger(__name__)


def _conv_block(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]


class Classifier(nn.Module, PyTorchModelHubMixin, library_name="gan_core", repo_url=REPO_URL, tags=["gan_core", "image-classification", "gan-evaluation"]):
    """images (B, channels, H, W) in [-1, 1] -> class logits (B, num_classes).

    Three conv stages (widths ``features``, 2x, 4x; 2x2 max-pool between them), a global average
    pool, then a ``embed_dim`` ReLU layer (the penultimate features used for FID/KID/P&R) and a
    linear head. The global pool makes it work for any side >= 4 px.
    """

    def __init__(self, channels: int = 1, num_classes: int = 10, features: int = 16, embed_dim: int = 128, class_names: list[str] | None = None):
        super().__init__()
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels!r}.")
        for name, value in (("num_classes", num_classes), ("features", features), ("embed_dim", embed_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        if class_names is not None and len(class_names) != num_classes:
            raise ValueError(f"got {len(class_names)} class names for {num_classes} classes.")
        self.channels = channels
        self.num_classes = num_classes
        self.embed_dim = embed_dim
        self.class_names = list(class_names) if class_names is not None else [str(i) for i in range(num_classes)]
        width = features
        self.body = nn.Sequential(
            *_conv_block(channels, width), *_conv_block(width, width), nn.MaxPool2d(2),  # (B, w, H/2, W/2)
            *_conv_block(width, 2 * width), *_conv_block(2 * width, 2 * width), nn.MaxPool2d(2),  # (B, 2w, H/4, W/4)
            *_conv_block(2 * width, 4 * width), nn.AdaptiveAvgPool2d(1), nn.Flatten(),  # (B, 4w)
        )
        self.embed = nn.Sequential(nn.Linear(4 * width, embed_dim), nn.ReLU(inplace=True))  # (B, embed_dim)
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(embed_dim, num_classes))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, C, H, W) in [-1, 1] -> penultimate activations (B, embed_dim), >= 0."""
        return self.embed(self.body(images))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, C, H, W) in [-1, 1] -> logits (B, num_classes)."""
        return self.head(self.features(images))


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
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
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


@torch.no_grad()
def predict(classifier: Classifier, images_uint8: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images (N, C, H, W) -> (penultimate features (N, embed_dim), class probabilities (N, K))."""
    classifier.eval()
    features, probs = [], []
    for chunk in images_uint8.split(batch_size):
        feats = classifier.features(to_model_range(chunk))
        features.append(feats)
        probs.append(classifier.head(feats).softmax(-1))
    return torch.cat(features), torch.cat(probs)


def accuracy(classifier: Classifier, data: ImageData) -> float:
    """Top-1 accuracy on a labelled set."""
    if data.labels is None:
        raise ValueError(f"{data.name} has no labels; accuracy needs a labelled test split.")
    _, probs = predict(classifier, data.images)
    return (probs.argmax(-1) == data.labels).float().mean().item()


def train_classifier(train: ImageData, config: ClassifierConfig, progress: bool = True) -> Classifier:
    """Train a Classifier on a labelled uint8 set with Adam + cosine decay and shift augmentation."""
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


def load_classifier(path: str | Path, device: str | torch.device = "cpu") -> Classifier:
    """Load a classifier folder strictly (safetensors). FileNotFoundError names how to make one."""
    path = Path(path)
    if not (path / hub.WEIGHTS_NAME).is_file() or not (path / hub.CONFIG_NAME).is_file():
        raise FileNotFoundError(
            f"No classifier at {path} (expected {hub.CONFIG_NAME} and {hub.WEIGHTS_NAME}). Train one with "
            "`python -m gan_core.classifier --dataset NAME --out DIR`, or use a folder under weights/classifiers/."
        )
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # from_pretrained print()s a loading line
            model = Classifier.from_pretrained(str(path), strict=True, map_location=str(device))
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"{path} does not hold a gan_core Classifier: {err}") from err
    return model.to(device).eval()


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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gan_core.classifier", description="Train the evaluation classifier of a dataset and save it with a card stating its test accuracy.")
    p.add_argument("--dataset", required=True, help=f"dataset name with labels: {', '.join(n for n in dataset_names() if not n.startswith('folder'))}")
    p.add_argument("--data-dir", help="folder holding the IDX files")
    p.add_argument("--out", required=True, help="output folder, e.g. weights/classifiers/fashion-mnist")
    p.add_argument("--epochs", type=int, default=ClassifierConfig.epochs)
    p.add_argument("--batch-size", type=int, default=ClassifierConfig.batch_size)
    p.add_argument("--lr", type=float, default=ClassifierConfig.lr)
    p.add_argument("--features", type=int, default=ClassifierConfig.features, help="width of the first conv stage")
    p.add_argument("--embed-dim", type=int, default=ClassifierConfig.embed_dim, help="size of the penultimate features")
    p.add_argument("--seed", type=int, default=ClassifierConfig.seed)
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        config = ClassifierConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, features=args.features, embed_dim=args.embed_dim, seed=args.seed)
        if args.dataset.startswith("folder"):
            raise ValueError(f"{args.dataset!r} has no labels; the classifier needs a labelled dataset such as mnist or fashion-mnist.")
        if args.dataset == "synthetic":
            train, test = make_synthetic(512, 16, 1, seed=0), make_synthetic(256, 16, 1, seed=1)
        else:
            train = load_dataset(args.dataset, split="train", data_dir=args.data_dir)
            test = load_dataset(args.dataset, split="test", data_dir=args.data_dir)
    except (ValueError, FileNotFoundError) as err:
        parser.exit(2, f"error: {err}\n")
    start = time.perf_counter()
    model = train_classifier(train, config, progress=args.progress)
    seconds = time.perf_counter() - start
    test_accuracy = accuracy(model, test)
    command = "python -m gan_core.classifier " + shlex.join(sys.argv[1:] if argv is None else argv)
    card = classifier_card(args.dataset, config, test_accuracy, train, len(test), seconds, command, model)
    hub.save_model(model, args.out, card)
    print(f"{args.dataset}: test accuracy {test_accuracy:.4f} ({len(test)} images), {seconds:.0f} s; saved to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
