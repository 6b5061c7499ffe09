"""gan_core.latent: sampling, lerp/slerp, paths, SeFa directions, moves, truncation, arithmetic."""

from __future__ import annotations

import math

import pytest
import torch

from gan_core.core import latent


def test_noise_for_seed_is_reproducible_and_seed_dependent():
    a = latent.noise_for_seed(7, 16)
    assert a.shape == (1, 16)
    assert torch.equal(a, latent.noise_for_seed(7, 16))
    assert not torch.equal(a, latent.noise_for_seed(8, 16))
    uniform = latent.noise_for_seed(7, 1000, "uniform")
    assert uniform.min() >= -1 and uniform.max() <= 1
    with pytest.raises(ValueError, match="noise must be one of"):
        latent.noise_for_seed(7, 16, "laplace")


@pytest.mark.parametrize("fn", [latent.lerp, latent.slerp])
def test_interpolation_endpoints_return_the_inputs(fn):
    a, b = latent.noise_for_seed(1, 32), latent.noise_for_seed(2, 32)
    torch.testing.assert_close(fn(a, b, 0.0), a)
    torch.testing.assert_close(fn(a, b, 1.0), b)


def test_lerp_midpoint_is_the_mean():
    a, b = torch.tensor([0.0, 2.0]), torch.tensor([4.0, -2.0])
    torch.testing.assert_close(latent.lerp(a, b, 0.5), torch.tensor([2.0, 0.0]))


def test_slerp_keeps_the_norm_where_lerp_shrinks_it():
    a = latent.noise_for_seed(3, 128)
    b = latent.noise_for_seed(4, 128)
    b = b / b.norm() * a.norm()  # equal radii: slerp stays on the sphere
    mid_slerp = latent.slerp(a, b, 0.5)
    mid_lerp = latent.lerp(a, b, 0.5)
    torch.testing.assert_close(mid_slerp.norm(), a.norm(), rtol=1e-4, atol=1e-4)
    assert mid_lerp.norm() < 0.85 * a.norm()  # nearly orthogonal Gaussians: the chord passes near the centre


def test_slerp_of_parallel_vectors_falls_back_to_lerp():
    a = torch.tensor([[1.0, 2.0, 3.0]])
    torch.testing.assert_close(latent.slerp(a, 2 * a, 0.5), 1.5 * a)


def test_slerp_batched_t():
    a, b = latent.noise_for_seed(1, 8), latent.noise_for_seed(2, 8)
    t = torch.tensor([[0.0], [1.0]])
    out = latent.slerp(a.expand(2, -1), b.expand(2, -1), t)
    torch.testing.assert_close(out[0], a[0])
    torch.testing.assert_close(out[1], b[0])


def test_interpolate_rejects_unknown_method():
    a = torch.zeros(1, 4)
    with pytest.raises(ValueError, match="interpolation must be one of"):
        latent.interpolate(a, a, 0.5, "cubic")


@pytest.mark.parametrize("method", ["lerp", "slerp"])
def test_path_passes_through_every_keyframe(method):
    keys = torch.cat([latent.noise_for_seed(s, 16) for s in (0, 1, 2)])  # (3, 16)
    frames = latent.path(keys, 9, method)  # keyframes land on frames 0, 4, 8
    assert frames.shape == (9, 16)
    for frame, key in ((0, 0), (4, 1), (8, 2)):
        torch.testing.assert_close(frames[frame], keys[key], rtol=1e-5, atol=1e-5)


def test_path_rejects_too_few_keyframes_or_frames():
    with pytest.raises(ValueError, match="at least 2 keyframes"):
        latent.path(torch.zeros(1, 4), 5)
    with pytest.raises(ValueError, match="at least 2 frames"):
        latent.path(torch.zeros(2, 4), 1)


def test_sefa_directions_are_orthonormal_sorted_and_maximise_the_response():
    torch.manual_seed(0)
    weight = torch.randn(12, 5, 3, 3)  # (D, C, k, k) like a ConvTranspose2d
    directions, strengths = latent.sefa_directions(weight)
    assert directions.shape == (12, 12) and strengths.shape == (12,)
    torch.testing.assert_close(directions @ directions.T, torch.eye(12), atol=1e-5, rtol=0)
    assert torch.all(strengths[:-1] >= strengths[1:])
    flat = weight.reshape(12, -1)
    # strength k is how much the first layer's output moves per unit step along direction k
    torch.testing.assert_close((directions @ flat).norm(dim=1), strengths, rtol=1e-4, atol=1e-4)
    # no unit vector moves it more than the first direction does
    random_units = torch.nn.functional.normalize(torch.randn(200, 12), dim=1)
    assert (random_units @ flat).norm(dim=1).max() <= strengths[0] + 1e-4


def test_sefa_directions_are_deterministic_in_sign():
    weight = torch.randn(6, 4, 2, 2, generator=torch.Generator().manual_seed(1))
    first, _ = latent.sefa_directions(weight)
    second, _ = latent.sefa_directions(weight.clone())
    assert torch.equal(first, second)


def test_ganspace_of_features_linear_in_z_is_sefa():
    # For y = A z the PCA of y and the regression back to z give SeFa's directions and strengths.
    weight = torch.randn(6, 5, 2, 2, generator=torch.Generator().manual_seed(2))  # (D, C, k, k)
    z = torch.randn(500, 6, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    z = torch.linalg.qr(z - z.mean(0)).Q * math.sqrt(500)  # samples whose covariance is exactly I, as z ~ N(0, I) in the limit
    features = z @ weight.double().reshape(6, -1)  # (N, F = 20), y = A z with A = W.reshape(D, -1).T
    directions, strengths = latent.ganspace_directions(z, features, 4)
    sefa, sefa_strengths = latent.sefa_directions(weight)
    assert directions.shape == (4, 6) and strengths.shape == (4,)
    torch.testing.assert_close(directions, sefa[:4], atol=1e-4, rtol=0)  # same signs too
    torch.testing.assert_close(strengths, sefa_strengths[:4], rtol=1e-4, atol=0)


def test_ganspace_directions_are_unit_and_follow_the_largest_variance():
    z = torch.randn(3000, 5, generator=torch.Generator().manual_seed(4))
    # a non-linear map whose largest variance follows z[2], then z[0]
    features = torch.stack([torch.relu(4 * z[:, 2]), 4 * z[:, 2], 2 * z[:, 0], 0.1 * z[:, 1], 0.1 * z[:, 3] * z[:, 4]], 1)
    directions, _ = latent.ganspace_directions(z, features, 2)
    torch.testing.assert_close(directions.norm(dim=1), torch.ones(2))
    assert directions[0].abs().argmax() == 2 and directions[1].abs().argmax() == 0
    assert directions[0, 2] > 0.99 and directions[1, 0] > 0.99  # the sign convention: largest component positive
    with pytest.raises(ValueError, match="num must be from 1 to"):
        latent.ganspace_directions(z, features, 6)
    with pytest.raises(ValueError, match="same N"):
        latent.ganspace_directions(z, features[:10], 2)


def test_move_adds_the_weighted_directions():
    z = torch.zeros(1, 3)
    directions = torch.eye(3)[:2]
    torch.testing.assert_close(latent.move(z, directions, [2.0, -1.0]), torch.tensor([[2.0, -1.0, 0.0]]))
    with pytest.raises(ValueError, match="got 3 amounts for 2 directions"):
        latent.move(z, directions, [1.0, 2.0, 3.0])


def test_truncate_scales_toward_the_centre():
    z = torch.tensor([[2.0, -4.0]])
    torch.testing.assert_close(latent.truncate(z, 0.5), torch.tensor([[1.0, -2.0]]))
    torch.testing.assert_close(latent.truncate(z, 0.0), torch.zeros(1, 2))
    torch.testing.assert_close(latent.truncate(z, 0.5, center=torch.tensor([[2.0, 0.0]])), torch.tensor([[2.0, -2.0]]))


def test_arithmetic_is_mean_a_minus_mean_b_plus_mean_c():
    a = torch.tensor([[1.0, 0.0], [3.0, 0.0]])  # mean (2, 0)
    b = torch.tensor([[0.0, 1.0]])
    c = torch.tensor([[0.0, 0.0], [0.0, 4.0], [0.0, 2.0]])  # mean (0, 2)
    torch.testing.assert_close(latent.arithmetic(a, b, c), torch.tensor([2.0, 1.0]))
    torch.testing.assert_close(latent.arithmetic(a, a, c), c.mean(0))  # A - A + C = C
    with pytest.raises(ValueError, match="term B must hold at least one latent"):
        latent.arithmetic(a, torch.zeros(0, 2), c)


def test_typical_radius():
    assert latent.typical_radius(100) == 10.0
    assert math.isclose(latent.typical_radius(12, "uniform"), 2.0)
