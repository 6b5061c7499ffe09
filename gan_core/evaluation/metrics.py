"""GAN quality metrics on a domain classifier's features, each with its real-data floor.

Every metric compares a set of images with a *reference* set of real training images. The
floor of a metric is the same metric for real test images against that reference, at the same
sample count: no generator can be expected to beat it, and a metric far from its floor is bad.

- FID (Heusel et al. 2017) and KID (Binkowski et al. 2018), computed by ``torchmetrics`` with our
  :class:`~gan_core.classifier.Classifier`'s penultimate activations as the custom feature extractor.
- Improved precision and recall (Kynkaenniemi et al. 2019) with k = 3 nearest neighbours.
- Mode coverage: the classifier's class histogram of the samples against the real test histogram
  (KL divergence and the number of classes hit) and the Inception-Score analogue.
- Memorisation: each sample's pixel distance to its nearest training image, against the same
  distance for real test images.

All image inputs are uint8 (N, C, H, W), the form a user saves and sees: generated images come
quantised from :class:`gan_core.GanPipeline` (``pipeline.generate(...).uint8``) before they are scored.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch
from torch import nn

from gan_core.core.images import to_model_range
from gan_core.evaluation.classifier import Classifier, predict

NEAREST_K = 3  # Kynkaenniemi et al.'s k for the manifold radii
DENSITY_K = 5  # Naeem et al.'s k for density and coverage
HIT_FRACTION = 0.2  # a class is "hit" when it gets at least this fraction of its real share
COPY_QUANTILE = 0.01  # a "near copy" is closer to the training set than 99% of real test images
COPY_FLAG = 0.05  # flag memorisation when 5x more samples than expected are near copies


class ClassifierFeatures(nn.Module):
    """torchmetrics feature extractor: float images (B, C, H, W) in [-1, 1] -> (B, embed_dim).

    torchmetrics reads ``num_features`` instead of probing the module with a dummy image.
    """

    def __init__(self, classifier: Classifier):
        super().__init__()
        self.classifier = classifier.eval()
        self.num_features = classifier.embed_dim

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier.features(images)


def _batches(images_uint8: torch.Tensor, batch_size: int):
    for chunk in images_uint8.split(batch_size):
        yield to_model_range(chunk)


def _pairwise_min_over(queries: torch.Tensor, keys: torch.Tensor, radii: torch.Tensor | None, chunk: int = 1024) -> torch.Tensor:
    """For each query row: if ``radii`` is None, its distance to the nearest key; otherwise whether
    it lies inside any key's ball (``||q - k_j|| <= radii_j``). queries (Q, F), keys (K, F)."""
    out = []
    for part in queries.split(chunk):
        dist = torch.cdist(part, keys)  # (q, K)
        out.append(_exact_min(part, keys, dist) if radii is None else (dist <= radii[None]).any(1))
    return torch.cat(out)


def _exact_min(queries: torch.Tensor, keys: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
    """Each query's distance to its nearest key, found in ``dist`` (cdist's fast matrix-product form, which rounds:
    a picture and its copy came out 5e-4 apart on some CPUs) and measured again exactly: a copy is at distance 0."""
    nearest = dist.argmin(1)  # (q,)
    return (queries - keys[nearest]).norm(dim=1)


def knn_radii(features: torch.Tensor, k: int = NEAREST_K, chunk: int = 1024) -> torch.Tensor:
    """Distance from each row of features (N, F) to its k-th nearest other row: (N,)."""
    if features.shape[0] <= k:
        raise ValueError(f"k-NN radii need more than k={k} points, got {features.shape[0]}.")
    radii = []
    for part in features.split(chunk):
        dist = torch.cdist(part, features)  # (n, N); the point itself is at distance 0 (index 0)
        radii.append(dist.topk(k + 1, dim=1, largest=False).values[:, k])
    return torch.cat(radii)


def inside_manifold(manifold_features: torch.Tensor, queries: torch.Tensor, k: int = NEAREST_K) -> torch.Tensor:
    """For each query row (Q, F): whether it lies inside the manifold of ``manifold_features`` (N, F), the union of balls
    around each of them reaching its k-th nearest neighbour among them. (Q,) bool."""
    manifold_features, queries = manifold_features.float(), queries.float()
    return _pairwise_min_over(queries, manifold_features, knn_radii(manifold_features, k))


def precision_recall(real_features: torch.Tensor, fake_features: torch.Tensor, k: int = NEAREST_K) -> tuple[float, float]:
    """Improved precision and recall (Kynkaenniemi et al. 2019). Features (N, F) -> (precision, recall).

    Precision: share of fake samples inside the real manifold (the union of balls around each real
    feature reaching its k-th nearest real neighbour). Recall: share of real samples inside the
    fake manifold built the same way. Both in [0, 1]; higher is better.
    """
    precision = inside_manifold(real_features, fake_features, k).float().mean().item()
    recall = inside_manifold(fake_features, real_features, k).float().mean().item()
    return precision, recall


def density_coverage(real_features: torch.Tensor, fake_features: torch.Tensor, k: int = DENSITY_K) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020). Features (N, F) -> (density, coverage).

    With B_i the ball around real feature i reaching its k-th nearest real neighbour: density is the
    mean number of real balls holding a fake sample, over k (about 1 when fake and real match, above 1
    when samples crowd where real data is dense; unlike precision, robust to real outliers); coverage
    is the share of real balls holding at least one fake sample (in [0, 1]; a diversity measure).
    """
    real_features, fake_features = real_features.float(), fake_features.float()
    radii = knn_radii(real_features, k)
    inside_count = torch.zeros(len(fake_features))
    covered = torch.zeros(len(real_features), dtype=torch.bool)
    for start in range(0, len(fake_features), 1024):
        inside = torch.cdist(fake_features[start : start + 1024], real_features) <= radii[None]  # (f, N)
        inside_count[start : start + 1024] = inside.sum(1).float()
        covered |= inside.any(0)
    return inside_count.mean().item() / k, covered.float().mean().item()


def class_histogram(probs: torch.Tensor) -> torch.Tensor:
    """Share of samples per predicted class: probs (N, K) -> (K,) summing to 1."""
    counts = torch.bincount(probs.argmax(-1), minlength=probs.shape[1]).double()
    return counts / counts.sum()


def class_kl(real_hist: torch.Tensor, fake_hist: torch.Tensor, num_samples: int) -> float:
    """KL(real || fake) of two class histograms (K,). 0 when equal; large when fake misses classes.

    The fake histogram gets add-one smoothing over ``num_samples`` so a missed class costs a
    finite, sample-size-aware penalty (about log(N p_real) nats per missed share) instead of infinity.
    """
    k = real_hist.numel()
    fake = (fake_hist.double() * num_samples + 1) / (num_samples + k)
    real = real_hist.double()
    mask = real > 0
    return float((real[mask] * (real[mask] / fake[mask]).log()).sum())


def classes_hit(real_hist: torch.Tensor, fake_hist: torch.Tensor, fraction: float = HIT_FRACTION) -> int:
    """Number of real classes whose generated share is at least ``fraction`` of their real share."""
    present = real_hist > 0
    return int(((fake_hist >= fraction * real_hist) & present).sum())


def inception_score(probs: torch.Tensor) -> float:
    """exp(E_x KL(p(y|x) || p(y))) with the domain classifier (Salimans et al. 2016's formula).

    1 for a generator that makes one class (or unsure images); K for confident, balanced samples.
    """
    probs = probs.double().clamp_min(1e-12)
    marginal = probs.mean(0, keepdim=True)
    return float(math.exp((probs * (probs.log() - marginal.log())).sum(1).mean()))


def nearest_distances(
    queries_uint8: torch.Tensor, train_uint8: torch.Tensor, chunk: int = 512, *, exclude: torch.Tensor | None = None
) -> torch.Tensor:
    """Per query, the L2 pixel distance (pixels in [0, 1]) to its nearest training image: (Q,).

    ``exclude`` (Q,) int64: the row of ``train_uint8`` that *is* each query (-1 for none), left out of
    its search: the distance of a training picture to the nearest *other* one (leave-one-out).
    """
    queries = queries_uint8.flatten(1).float() / 255
    train = train_uint8.flatten(1).float() / 255
    if exclude is None:
        return _pairwise_min_over(queries, train, None, chunk)
    out = []
    for part, own in zip(queries.split(chunk), exclude.split(chunk)):
        dist = torch.cdist(part, train)  # (q, K)
        rows = (own >= 0).nonzero().flatten()
        dist[rows, own[rows]] = float("inf")
        out.append(_exact_min(part, train, dist))
    return torch.cat(out)


def nearest_pictures(queries_uint8: torch.Tensor, train_uint8: torch.Tensor, k: int = 3, chunk: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """Per query, its ``k`` nearest training images, nearest first: (distances (Q, k), rows of ``train_uint8`` (Q, k)).

    Distances as :func:`nearest_distances` measures them (L2 in pixels on [0, 1]): the candidates come from cdist's
    fast form (2k of them, as it rounds) and are measured again exactly, so a copy is at distance 0.
    """
    queries = queries_uint8.flatten(1).float() / 255
    train = train_uint8.flatten(1).float() / 255
    k = min(k, len(train))
    distances, rows = [], []
    for part in queries.split(chunk):
        candidates = torch.cdist(part, train).topk(min(len(train), 2 * k), dim=1, largest=False).indices  # (q, 2k)
        exact = (part[:, None] - train[candidates]).norm(dim=2)  # (q, 2k)
        order = exact.argsort(dim=1)[:, :k]
        distances.append(exact.gather(1, order))
        rows.append(candidates.gather(1, order))
    return torch.cat(distances), torch.cat(rows)


def memorisation(fake_nn: torch.Tensor, test_nn: torch.Tensor) -> dict:
    """Compare nearest-training-image distances of samples (fake_nn) and of real test images (test_nn).

    ``copy_fraction``: share of samples closer to a training image than the 1st percentile of the test
    images' distances (about 0.01 when the generator does not copy). ``flagged`` when it exceeds 0.05.
    ``nn_ratio``: median sample distance / median test distance (much below 1 means copying).

    With fewer than 100 test distances (a small folder) the 1st percentile lies at the smallest of them,
    so about 1 / len(test_nn) of a non-copying generator's samples fall under it by chance: the flag
    then needs twice that.
    """
    threshold = torch.quantile(test_nn.double(), COPY_QUANTILE).item()
    copy_fraction = (fake_nn.double() < threshold).double().mean().item()
    median_fake, median_test = fake_nn.median().item(), test_nn.median().item()
    return {
        "nn_distance_median": median_fake,
        "nn_ratio": median_fake / median_test if median_test > 0 else float("nan"),
        "copy_fraction": copy_fraction,
        "memorisation_flag": bool(copy_fraction > max(COPY_FLAG, 2 / len(test_nn))),
    }


def draw_real_samples(train_images: torch.Tensor, test_images: torch.Tensor, num: int, seed: int, min_count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw the real pictures a reference compares against: ``num`` of each side, capped at the smaller side so
    that samples, reference and floor all have the same size.

    train_images, test_images: uint8 (N, C, H, W) of one shape. Returns (the drawn train pictures, the rows
    of the drawn test pictures), both drawn from one generator seeded with ``seed``, train first. ValueError
    for a ``num`` below 2, other images, or no more than ``min_count`` pictures drawn.
    """
    if isinstance(num, bool) or not isinstance(num, int) or num < 2:
        raise ValueError(f"num must be an integer >= 2, got {num!r}.")
    if train_images.dtype != torch.uint8 or test_images.dtype != torch.uint8 or train_images.dim() != 4:
        raise ValueError("reference images must be uint8 (N, C, H, W).")
    if train_images.shape[1:] != test_images.shape[1:]:
        raise ValueError(f"train images {tuple(train_images.shape[1:])} and test images {tuple(test_images.shape[1:])} differ in shape.")
    count = min(num, len(train_images), len(test_images))
    if count <= min_count:
        raise ValueError(f"need more than {min_count} pictures on each side (train and test), got {count}.")
    rng = torch.Generator().manual_seed(seed)
    train_sample = train_images[torch.randperm(len(train_images), generator=rng)[:count]]
    return train_sample, torch.randperm(len(test_images), generator=rng)[:count]


@dataclass
class RealSide:
    """What a reference keeps of the real data: the part :class:`Reference` and the label-free one share.

    train_sample: uint8 (N, C, H, W) real pictures the metrics compare against and test_sample: N real test
    pictures, scored for the floor (both from :func:`draw_real_samples`); real_features: the train sample's
    features (N, F); test_nn: each of the first ``memorisation_samples`` test pictures' pixel distance to its
    nearest training picture; KID takes ``kid_subsets`` subsets of ``kid_subset_size``, drawn from ``seed``.
    """

    train_sample: torch.Tensor
    test_sample: torch.Tensor
    real_features: torch.Tensor
    test_nn: torch.Tensor
    memorisation_samples: int
    kid_subset_size: int
    kid_subsets: int
    seed: int

    @property
    def num(self) -> int:
        return len(self.train_sample)

    def check_images(self, images_uint8: torch.Tensor) -> None:
        """ValueError unless ``images_uint8`` are uint8 pictures (N, C, H, W) shaped like the real ones."""
        like = tuple(self.train_sample.shape[1:])
        if images_uint8.dtype != torch.uint8 or tuple(images_uint8.shape[1:]) != like:
            raise ValueError(f"images must be uint8 {like} like the dataset, got {images_uint8.dtype} {tuple(images_uint8.shape[1:])}.")


@dataclass
class Reference(RealSide):
    """The real side of every comparison, computed once per dataset and reused for many generators.

    Beside :class:`RealSide`'s pictures: the dataset's classifier, train_all (the full training set, for the
    memorisation check) and test_hist (the test sample's class histogram).
    """

    classifier: Classifier
    train_all: torch.Tensor
    test_hist: torch.Tensor
    batch_size: int = 500

    @classmethod
    def build(
        cls,
        classifier: Classifier,
        train_images: torch.Tensor,
        test_images: torch.Tensor,
        num: int = 10_000,
        *,
        memorisation_samples: int = 2_000,
        kid_subset_size: int = 1_000,
        kid_subsets: int = 100,
        seed: int = 0,
    ) -> Reference:
        """Draw ``num`` train and test images (:func:`draw_real_samples`: fewer when a split is smaller)."""
        train_sample, test_order = draw_real_samples(train_images, test_images, num, seed, NEAREST_K)
        count, test_sample = len(train_sample), test_images[test_order]
        real_features, _ = predict(classifier, train_sample)
        _, test_probs = predict(classifier, test_sample)
        mem = min(memorisation_samples, count)
        test_nn = nearest_distances(test_sample[:mem], train_images)
        return cls(
            classifier=classifier,
            train_sample=train_sample,
            train_all=train_images,
            test_sample=test_sample,
            test_hist=class_histogram(test_probs),
            real_features=real_features,
            test_nn=test_nn,
            memorisation_samples=mem,
            kid_subset_size=min(kid_subset_size, count),
            kid_subsets=kid_subsets,
            seed=seed,
        )

    def fid_kid(self, images_uint8: torch.Tensor) -> dict:
        """FID and KID (mean, std) of uint8 images against the reference, by torchmetrics."""
        from torchmetrics.image.fid import FrechetInceptionDistance
        from torchmetrics.image.kid import KernelInceptionDistance

        extractor = ClassifierFeatures(self.classifier)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*Kernel Inception Distance.*")
            fid = FrechetInceptionDistance(feature=extractor)
            kid = KernelInceptionDistance(feature=extractor, subsets=self.kid_subsets, subset_size=self.kid_subset_size)
        for batch in _batches(self.train_sample, self.batch_size):
            fid.update(batch, real=True)
            kid.update(batch, real=True)
        for batch in _batches(images_uint8, self.batch_size):
            fid.update(batch, real=False)
            kid.update(batch, real=False)
        with torch.random.fork_rng():  # KID draws its subsets from the global RNG
            torch.manual_seed(self.seed)
            kid_mean, kid_std = kid.compute()
        # FID >= 0 in exact arithmetic; clamp the round-off of identical sets.
        return {"fid": max(float(fid.compute()), 0.0), "kid": float(kid_mean), "kid_std": float(kid_std)}

    def score(self, images_uint8: torch.Tensor) -> dict:
        """All metrics of uint8 images (N, C, H, W) against the reference; N should equal ``self.num``."""
        self.check_images(images_uint8)
        features, probs = predict(self.classifier, images_uint8)
        precision, recall = precision_recall(self.real_features, features)
        hist = class_histogram(probs)
        fake_nn = nearest_distances(images_uint8[: self.memorisation_samples], self.train_all)
        return {
            **self.fid_kid(images_uint8),
            "precision": precision,
            "recall": recall,
            "class_kl": class_kl(self.test_hist, hist, len(images_uint8)),
            "classes_hit": classes_hit(self.test_hist, hist),
            "inception_score": inception_score(probs),
            **memorisation(fake_nn, self.test_nn),
            "class_histogram": [round(v, 4) for v in hist.tolist()],
        }

    def floor(self) -> dict:
        """The metrics of the real test sample: the best a generator can be expected to reach."""
        return self.score(self.test_sample)


# What each metric means, for tables and cards: (label, better direction).
METRIC_INFO = {
    "fid": ("FID (classifier features)", "lower"),
    "kid": ("KID", "lower"),
    "precision": ("precision (k=3)", "higher"),
    "recall": ("recall (k=3)", "higher"),
    "class_kl": ("class KL (test vs samples)", "lower"),
    "classes_hit": ("classes hit", "higher"),
    "inception_score": ("Inception-Score analogue", "higher"),
    "nn_ratio": ("nearest-train distance / test's", "~1"),
    "copy_fraction": ("near-copy fraction", "~0.01"),
}
