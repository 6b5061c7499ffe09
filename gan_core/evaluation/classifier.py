"""A small CNN classifier per dataset: the feature extractor of our quality metrics.

Inception weights cannot be downloaded everywhere and ImageNet features say little about 28x28
greyscale clothing or digits, so, as MNIST-style GAN papers do, we train a small domain classifier
on the dataset's train split and use its penultimate activations in place of Inception's pool3
features (see ``gan_core.evaluation.metrics``).

``Classifier`` is a ``PyTorchModelHubMixin`` model like the GAN: it saves to and loads from a
Hub-style folder (config.json + model.safetensors + a README.md card stating its test accuracy).
It is trained by ``gan_core.evaluation.classifier_training``
(``python -m gan_core.train_classifier --dataset fashion-mnist --out weights/classifiers/fashion-mnist``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from gan_core.core import hub
from gan_core.core.checks import check_positive_int
from gan_core.core.data import ImageData
from gan_core.core.images import to_model_range
from gan_core.core.models import REPO_URL, check_channels

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
        check_channels(channels)
        for name, value in (("num_classes", num_classes), ("features", features), ("embed_dim", embed_dim)):
            check_positive_int(value, name)
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


def load_classifier(path: str | Path, device: str | torch.device = "cpu") -> Classifier:
    """Load a classifier folder strictly and safely (see :func:`gan_core.core.hub.load_part`).

    FileNotFoundError names how to make one.
    """
    path = Path(path)
    if not (path / hub.WEIGHTS_NAME).is_file() or not (path / hub.CONFIG_NAME).is_file():
        raise FileNotFoundError(
            f"No classifier at {path} (expected {hub.CONFIG_NAME} and {hub.WEIGHTS_NAME}). Train one with "
            "`python -m gan_core.train_classifier --dataset NAME --out DIR`, or use a folder under weights/classifiers/."
        )
    return hub.load_part(Classifier, path, device=device)