"""Metrics on known inputs: point sets with known neighbours, known histograms, and image sets
whose relation is known (identical, shifted, collapsed to one class, copied from training)."""

from __future__ import annotations

import math

import pytest
import torch

from gan_core.core.data import make_synthetic
from gan_core.evaluation.classifier import predict
from gan_core.evaluation.classifier_training import ClassifierConfig, train_classifier
from gan_core.evaluation.metrics import (
    Reference,
    class_histogram,
    class_kl,
    classes_hit,
    density_coverage,
    inception_score,
    knn_radii,
    memorisation,
    nearest_distances,
    nearest_pictures,
    precision_recall,
)


@pytest.fixture(scope="module")
def synthetic_sets():
    return make_synthetic(512, 16, 1, seed=0), make_synthetic(256, 16, 1, seed=1)


@pytest.fixture(scope="module")
def classifier(synthetic_sets):
    """A tiny classifier that tells the three disc sizes apart (trains in seconds)."""
    train, _ = synthetic_sets
    return train_classifier(train, ClassifierConfig(epochs=20, lr=1e-2, features=4, embed_dim=16), progress=False)


@pytest.fixture(scope="module")
def reference(classifier, synthetic_sets):
    train, test = synthetic_sets
    return Reference.build(classifier, train.images, test.images, num=200, kid_subset_size=50, kid_subsets=20)


# ----------------------------------------------------------------------------- pure functions


def test_knn_radii_on_a_line():
    points = torch.arange(10.0)[:, None]  # 0, 1, ..., 9 on a line
    radii = knn_radii(points, k=3)
    # Point 0's 3rd neighbour is 3 away; point 5's neighbours are at 1, 1, 2.
    assert radii[0].item() == 3.0 and radii[5].item() == 2.0 and radii[9].item() == 3.0


def test_precision_recall_identical_and_disjoint():
    gen = torch.Generator().manual_seed(0)
    real = torch.randn(300, 8, generator=gen)
    assert precision_recall(real, real.clone()) == (1.0, 1.0)
    assert precision_recall(real, real + 100.0) == (0.0, 0.0)


def test_precision_recall_of_a_generator_that_covers_one_of_two_clusters():
    gen = torch.Generator().manual_seed(0)
    cluster_a = torch.randn(200, 4, generator=gen)
    cluster_b = torch.randn(200, 4, generator=gen) + 50.0
    real = torch.cat([cluster_a, cluster_b])
    fake = torch.randn(400, 4, generator=gen)  # only cluster A's distribution
    precision, recall = precision_recall(real, fake)
    assert precision > 0.9  # what it makes is realistic ...
    assert 0.4 < recall <= 0.5  # ... but half of the real data (cluster B) is never made


def test_class_kl_known_value_and_zero_for_equal():
    real = torch.tensor([0.5, 0.5], dtype=torch.float64)
    fake = torch.tensor([1.0, 0.0], dtype=torch.float64)
    # Add-one smoothing over N = 98 samples: fake -> [99/100, 1/100].
    expected = 0.5 * math.log(0.5 / 0.99) + 0.5 * math.log(0.5 / 0.01)
    assert class_kl(real, fake, 98) == pytest.approx(expected)
    balanced = torch.full((10,), 0.1, dtype=torch.float64)
    assert class_kl(balanced, balanced, 10_000) == pytest.approx(0.0, abs=1e-12)


def test_classes_hit_and_histogram():
    probs = torch.eye(4)[torch.tensor([0, 0, 1, 1, 2, 2, 2, 2, 2, 0])]  # class 3 never predicted
    hist = class_histogram(probs)
    assert hist.tolist() == pytest.approx([0.3, 0.2, 0.5, 0.0])
    assert classes_hit(torch.full((4,), 0.25, dtype=torch.float64), hist) == 3


def test_inception_score_bounds():
    confident_balanced = torch.eye(5).repeat(20, 1)  # 100 samples, 20 per class, fully confident
    assert inception_score(confident_balanced) == pytest.approx(5.0, rel=1e-6)
    one_class = torch.eye(5)[torch.zeros(100, dtype=torch.long)]
    assert inception_score(one_class) == pytest.approx(1.0, rel=1e-6)


def test_memorisation_flags_copies_only():
    test_nn = torch.linspace(1.0, 2.0, 1000)
    copies = memorisation(torch.zeros(100), test_nn)
    assert copies["memorisation_flag"] and copies["copy_fraction"] == 1.0 and copies["nn_ratio"] == 0.0
    novel = memorisation(torch.linspace(1.0, 2.0, 100), test_nn)
    assert not novel["memorisation_flag"] and novel["nn_ratio"] == pytest.approx(1.0, rel=0.02)


def test_nearest_distances_known_pixels():
    train = torch.zeros(3, 1, 2, 2, dtype=torch.uint8)
    train[1] = 255
    queries = torch.stack([train[1], torch.full((1, 2, 2), 51, dtype=torch.uint8)])
    # A copy is at 0; a flat image of 51/255 = 0.2 is 0.2 * sqrt(4) = 0.4 from the all-zero image.
    assert nearest_distances(queries, train).tolist() == pytest.approx([0.0, 0.4], abs=1e-6)


def test_nearest_pictures_are_the_nearest_distances_with_their_rows():
    rng = torch.Generator().manual_seed(0)
    train = torch.randint(0, 256, (50, 1, 8, 8), generator=rng, dtype=torch.uint8)
    queries = torch.cat([train[[7, 31]], torch.randint(0, 256, (3, 1, 8, 8), generator=rng, dtype=torch.uint8)])
    distances, rows = nearest_pictures(queries, train, k=3)
    assert distances.shape == rows.shape == (5, 3) and rows[:2, 0].tolist() == [7, 31] and distances[:2, 0].tolist() == [0.0, 0.0]
    assert torch.equal(distances[:, 0], nearest_distances(queries, train)) and (distances.diff(dim=1) >= 0).all()
    every = (queries.flatten(1).float()[:, None] / 255 - train.flatten(1).float()[None] / 255).norm(dim=2)  # (5, 50)
    assert torch.allclose(distances, every.sort(dim=1).values[:, :3], atol=1e-6)
    assert nearest_pictures(queries, train[:2], k=3)[0].shape == (5, 2), "k is capped at the training pictures there are"


def test_nearest_distances_leave_one_out():
    train = torch.tensor([0, 51, 255], dtype=torch.uint8).view(3, 1, 1, 1)
    # Each picture's nearest *other* picture: 0 -> 51 (0.2), 51 -> 0 (0.2), 255 -> 51 (0.8); -1 excludes nothing.
    distances = nearest_distances(train, train, exclude=torch.tensor([0, 1, -1]))
    assert distances.tolist() == pytest.approx([0.2, 0.2, 0.0], abs=1e-6)
    assert nearest_distances(train[2:], train, exclude=torch.tensor([2])).tolist() == pytest.approx([0.8], abs=1e-6)


def test_density_coverage_known_values():
    real = torch.arange(10.0)[:, None]  # 0, 1, ..., 9 on a line; k=2 radii: 2 at the ends, 1 inside
    # Identical sets: every ball holds 3 samples (its centre and 2 neighbours): density 30 / (10 k) = 1.5.
    density, coverage = density_coverage(real, real.clone(), k=2)
    assert coverage == 1.0 and density == pytest.approx(1.5)
    # One sample at 4.5 lies in the balls of 4 and 5 only (radius 1): density 2 / k, coverage 2 of 10.
    assert density_coverage(real, torch.tensor([[4.5]]), k=2) == pytest.approx((1.0, 0.2))
    assert density_coverage(real, real + 100.0, k=2) == (0.0, 0.0)


# ----------------------------------------------------------------------------- on images


def shifted_by(reference: Reference, delta: int) -> torch.Tensor:
    """The real test sample made brighter by ``delta`` grey levels: a known, growing distortion."""
    return (reference.test_sample.int() + delta).clamp(0, 255).to(torch.uint8)


def test_classifier_learns_the_fixture(classifier, synthetic_sets):
    _, test = synthetic_sets
    _, probs = predict(classifier, test.images)
    assert (probs.argmax(1) == test.labels).float().mean().item() > 0.9


def test_fid_is_the_frechet_distance_of_the_classifier_features(reference):
    """torchmetrics with our extractor gives the closed-form Frechet distance of the same features."""
    shifted = shifted_by(reference, 40)
    fake_features, _ = predict(reference.classifier, shifted)

    def stats(x):
        x = x.double()
        return x.mean(0), torch.cov(x.T)

    (mu_r, cov_r), (mu_f, cov_f) = stats(reference.real_features), stats(fake_features)
    vals, vecs = torch.linalg.eigh(cov_r)
    root_r = vecs @ torch.diag(vals.clamp_min(0).sqrt()) @ vecs.T
    inner = torch.linalg.eigvalsh(root_r @ cov_f @ root_r).clamp_min(0).sqrt().sum()
    expected = ((mu_r - mu_f) ** 2).sum() + cov_r.trace() + cov_f.trace() - 2 * inner
    assert reference.fid_kid(shifted)["fid"] == pytest.approx(expected.item(), rel=1e-3)


def test_identical_sets_score_perfectly(reference):
    scores = reference.score(reference.train_sample)
    assert scores["fid"] == pytest.approx(0.0, abs=1e-6)
    assert abs(scores["kid"]) < 0.05 * reference.score(shifted_by(reference, 60))["kid"]
    assert scores["precision"] == 1.0 and scores["recall"] == 1.0
    assert scores["classes_hit"] == 3
    # Every sample *is* a training image: the memorisation check must say so.
    assert scores["memorisation_flag"] and scores["copy_fraction"] == 1.0


def test_shifted_sets_score_worse_the_more_they_shift(reference):
    floor = reference.floor()
    fids = [reference.score(shifted_by(reference, delta))["fid"] for delta in (30, 90)]
    assert floor["fid"] < fids[0] < fids[1]
    assert floor["nn_ratio"] == 1.0 and floor["copy_fraction"] == pytest.approx(0.01, abs=0.006)
    assert not floor["memorisation_flag"]


def test_a_collapsed_generator_hits_one_class(reference, synthetic_sets):
    _, test = synthetic_sets
    one_class = test.images[test.labels == 0]
    collapsed = one_class[torch.arange(reference.num) % len(one_class)]  # (N, C, H, W), all class 0
    scores, floor = reference.score(collapsed), reference.floor()
    assert scores["classes_hit"] == 1 and floor["classes_hit"] == 3
    assert scores["class_kl"] > 1.5 and floor["class_kl"] < 0.1
    assert scores["inception_score"] < 1.2 < floor["inception_score"]
    assert scores["recall"] < 0.5 * floor["recall"]


def test_reference_rejects_mismatched_images(reference):
    with pytest.raises(ValueError, match="uint8"):
        reference.score(reference.test_sample.float())
    with pytest.raises(ValueError, match="num must be"):
        Reference.build(reference.classifier, reference.train_all, reference.test_sample, num=1)
