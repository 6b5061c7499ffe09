"""Metrics that need no labels: a generator of a folder of the user's own pictures, scored against them.

What can be measured without labels or a dataset classifier, each beside its real-data floor:

- FID (closed form, float64) and KID (``torchmetrics``) in the features of :class:`~gan_core.evaluation.embedding.RandomEmbedding`,
  a fixed randomly initialised CNN (Naeem et al. 2020 found random embeddings usable on data unlike
  ImageNet); ``benchmarks/label_free_check.py`` checks on Fashion-MNIST that it ranks generators as
  the classifier FID does.
- Improved precision and recall (Kynkaenniemi et al. 2019, k = 3) and density and coverage (Naeem et
  al. 2020, k = 5) in the same features.
- Memorisation: each sample's pixel distance to its nearest training picture, against the same
  distance for real held-out pictures.

Class KL, classes hit and the Inception-Score analogue need a classifier's class probabilities, so
they are not measured here.

A folder has no test split: :func:`split_folder` holds out a fixed 20% of its pictures as the "test"
side of the floor. The generator saw all of them in training, so memorisation compares each sample
with every picture and each held-out picture with every *other* picture (leave-one-out).
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass

import torch
from torch import nn

from gan_core.core.images import to_model_range
from gan_core.evaluation.embedding import RandomEmbedding
from gan_core.evaluation.metrics import (
    DENSITY_K,
    NEAREST_K,
    RealSide,
    density_coverage,
    draw_real_samples,
    memorisation,
    nearest_distances,
    precision_recall,
)

HELD_OUT_FRACTION = 0.2  # of a folder's pictures, held out as the floor's "test" side
MIN_HELD_OUT = 10  # fewer held-out pictures than this give no usable floor
EMBEDDING_SEED = 0  # fixed, so the same folder gives the same numbers on every run

# What each metric means, for tables and cards: (label, better direction). "{features}" is the embedding's name.
LABEL_FREE_INFO = {
    "fid": ("FID ({features} features)", "lower"),
    "kid": ("KID", "lower"),
    "precision": (f"precision (k={NEAREST_K})", "higher"),
    "recall": (f"recall (k={NEAREST_K})", "higher"),
    "density": (f"density (k={DENSITY_K})", "~1"),
    "coverage": (f"coverage (k={DENSITY_K})", "higher"),
    "nn_ratio": ("nearest-train distance / held-out's", "~1"),
    "copy_fraction": ("near-copy fraction", "~0.01"),
}


def split_folder(images_uint8: torch.Tensor, fraction: float = HELD_OUT_FRACTION) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic train / held-out split of pictures (N, C, H, W): (train indices, held-out indices), sorted.

    The held-out side is the ``fraction`` of pictures with the smallest SHA-256 of their pixels: the
    same pictures give the same split in any order, adding one picture moves at most one across, and
    duplicates land on the same side. ValueError when fewer than ``MIN_HELD_OUT`` would be held out.
    """
    count = len(images_uint8)
    held = round(fraction * count)
    if held < MIN_HELD_OUT or count - held < MIN_HELD_OUT:
        need = max(round(MIN_HELD_OUT / fraction), 2 * MIN_HELD_OUT)
        raise ValueError(
            f"the folder has {count} readable pictures; the label-free metrics need at least {need} ({MIN_HELD_OUT} held out for the floor)."
        )
    flat = images_uint8.reshape(count, -1).contiguous().numpy()
    digests = [hashlib.sha256(row.tobytes()).hexdigest() for row in flat]
    order = sorted(range(count), key=lambda i: (digests[i], i))
    held_out = torch.tensor(sorted(order[:held]), dtype=torch.long)
    train = torch.tensor(sorted(order[held:]), dtype=torch.long)
    return train, held_out


class _Precomputed(nn.Module):
    """torchmetrics 'feature extractor' for features computed once: (B, F) -> (B, F)."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


def frechet_distance(real_features: torch.Tensor, fake_features: torch.Tensor) -> float:
    """FID's formula (Heusel et al. 2017) on two feature sets (N, F), in float64:

    ||mu_r - mu_f||^2 + tr(S_r) + tr(S_f) - 2 tr((S_r^1/2 S_f S_r^1/2)^1/2).

    The trace of the matrix root is summed from the eigenvalues of a *symmetric* matrix (``eigh``),
    which on a CPU is many times faster than torchmetrics' general eigenvalues at ~1000 features.
    """
    real, fake = real_features.double(), fake_features.double()
    mu_r, mu_f = real.mean(0), fake.mean(0)
    cov_r, cov_f = torch.cov(real.T), torch.cov(fake.T)
    values, vectors = torch.linalg.eigh(cov_r)
    root_r = (vectors * values.clamp_min(0).sqrt()) @ vectors.T  # S_r^1/2
    inner = torch.linalg.eigvalsh(root_r @ cov_f @ root_r).clamp_min(0).sqrt().sum()
    distance = (mu_r - mu_f).square().sum() + cov_r.trace() + cov_f.trace() - 2 * inner
    return max(float(distance), 0.0)  # >= 0 in exact arithmetic; clamp the round-off of identical sets


def fid_kid(real_features: torch.Tensor, fake_features: torch.Tensor, *, kid_subsets: int, kid_subset_size: int, seed: int) -> dict:
    """FID (:func:`frechet_distance`) and KID (mean, std; torchmetrics) of two feature sets (N, F). KID's subsets come from ``seed``."""
    from torchmetrics.image.kid import KernelInceptionDistance

    subset_size = min(kid_subset_size, len(real_features), len(fake_features))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Kernel Inception Distance.*")
        kid = KernelInceptionDistance(feature=_Precomputed(real_features.shape[1]), subsets=kid_subsets, subset_size=subset_size)
    kid.update(real_features, real=True)
    kid.update(fake_features, real=False)
    with torch.random.fork_rng():  # KID draws its subsets from the global RNG
        torch.manual_seed(seed)
        kid_mean, kid_std = kid.compute()
    return {"fid": frechet_distance(real_features, fake_features), "kid": float(kid_mean), "kid_std": float(kid_std)}


@torch.no_grad()
def embed(embedding: nn.Module, images_uint8: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """uint8 images (N, C, H, W) -> features (N, F) of ``embedding`` (which takes [-1, 1] images)."""
    return torch.cat([embedding(to_model_range(chunk)) for chunk in images_uint8.split(batch_size)])


@dataclass
class LabelFreeReference(RealSide):
    """The real side of the label-free comparisons, computed once per dataset.

    Beside :class:`RealSide`'s pictures: the embedding whose features are compared, and seen: every picture
    the generator trained on (the memorisation check's set). test_sample holds pictures the generator's
    metrics are not computed against; test_nn is each one's distance to its nearest *other* picture in ``seen``.
    """

    embedding: nn.Module
    seen: torch.Tensor

    @classmethod
    def build(
        cls,
        train_images: torch.Tensor,
        test_images: torch.Tensor,
        num: int = 10_000,
        *,
        test_seen: bool = False,
        embedding: nn.Module | None = None,
        memorisation_samples: int = 2_000,
        kid_subset_size: int = 1_000,
        kid_subsets: int = 100,
        seed: int = 0,
    ) -> LabelFreeReference:
        """Draw ``num`` train and test pictures (capped at the smaller side, so samples, reference and floor match).

        ``test_seen``: the generator trained on the test pictures too (a folder's held-out side), so they
        join the memorisation set and each is compared with the others only. ``embedding``: default the
        fixed :class:`RandomEmbedding` of the pictures' channel count.
        """
        train_sample, test_order = draw_real_samples(train_images, test_images, num, seed, DENSITY_K)
        count, test_sample = len(train_sample), test_images[test_order]
        embedding = embedding if embedding is not None else RandomEmbedding(train_images.shape[1], seed=EMBEDDING_SEED)
        mem = min(memorisation_samples, count)
        if test_seen:
            seen = torch.cat([train_images, test_images])
            own = len(train_images) + test_order[:mem]  # each held-out picture's row in ``seen``
            test_nn = nearest_distances(test_sample[:mem], seen, exclude=own)
        else:
            seen = train_images
            test_nn = nearest_distances(test_sample[:mem], seen)
        return cls(
            embedding=embedding,
            train_sample=train_sample,
            test_sample=test_sample,
            seen=seen,
            real_features=embed(embedding, train_sample),
            test_nn=test_nn,
            memorisation_samples=mem,
            kid_subset_size=min(kid_subset_size, count),
            kid_subsets=kid_subsets,
            seed=seed,
        )

    @property
    def feature_space(self) -> str:
        return getattr(self.embedding, "name", type(self.embedding).__name__)

    def score(self, images_uint8: torch.Tensor) -> dict:
        """All label-free metrics of uint8 images (N, C, H, W) against the reference; N should equal ``self.num``."""
        self.check_images(images_uint8)
        return self._score(images_uint8, nearest_distances(images_uint8[: self.memorisation_samples], self.seen))

    def _score(self, images_uint8: torch.Tensor, fake_nn: torch.Tensor) -> dict:
        features = embed(self.embedding, images_uint8)
        precision, recall = precision_recall(self.real_features, features)
        density, coverage = density_coverage(self.real_features, features)
        return {
            **fid_kid(self.real_features, features, kid_subsets=self.kid_subsets, kid_subset_size=self.kid_subset_size, seed=self.seed),
            "precision": precision,
            "recall": recall,
            "density": density,
            "coverage": coverage,
            **memorisation(fake_nn, self.test_nn),
        }

    def floor(self) -> dict:
        """The metrics of the real test (held-out) sample: the best a generator can be expected to reach.

        Its memorisation distances are ``test_nn`` (a held-out picture is in ``seen`` but not compared with itself).
        """
        return self._score(self.test_sample, self.test_nn)
