"""Pure tensor functions on the latent space: sampling, interpolation, directions, arithmetic.

No models are run here except reading a generator's first-layer weight for SeFa (GANSpace takes
the feature maps the caller computed). Shapes: a single latent is (D,), a batch is (B, D).
"""

from __future__ import annotations

import math

import torch

from gan_core.core.checks import check_choice

NOISE_KINDS = ("normal", "uniform")  # z ~ N(0, I) or z ~ U(-1, 1)


def check_noise_kind(kind: str) -> str:
    """The one check of a noise kind: 'normal' or 'uniform'."""
    return check_choice(kind, "noise", NOISE_KINDS)


def sample_noise(
    num: int,
    latent_dim: int,
    generator: torch.Generator | None = None,
    kind: str = "normal",
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """z ~ N(0, 1) (``kind="normal"``) or U(-1, 1) (``"uniform"``), shape (num, latent_dim)."""
    check_noise_kind(kind)
    if kind == "normal":
        return torch.randn(num, latent_dim, generator=generator, device=device)
    return torch.rand(num, latent_dim, generator=generator, device=device).mul_(2).sub_(1)


def noise_for_seed(seed: int, latent_dim: int, kind: str = "normal", num: int = 1) -> torch.Tensor:
    """The latent(s) of an integer seed, identical on every machine (drawn on the CPU). (num, latent_dim)."""
    return sample_noise(num, latent_dim, torch.Generator().manual_seed(int(seed)), kind)


def lerp(a: torch.Tensor, b: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """Linear interpolation a + t (b - a); t = 0 gives a, t = 1 gives b."""
    return a + (b - a) * t


def slerp(a: torch.Tensor, b: torch.Tensor, t: float | torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Spherical interpolation along the great circle from a to b (White 2016), on the last dim.

    Norms are interpolated linearly, so for Gaussian z the path stays at a typical radius instead of
    cutting through the low-density centre as lerp does. Falls back to lerp for (anti)parallel inputs.
    """
    a_norm = a.norm(dim=-1, keepdim=True)
    b_norm = b.norm(dim=-1, keepdim=True)
    a_unit = a / a_norm.clamp_min(eps)
    b_unit = b / b_norm.clamp_min(eps)
    cos = (a_unit * b_unit).sum(-1, keepdim=True).clamp(-1.0, 1.0)
    omega = torch.arccos(cos)
    sin = torch.sin(omega)
    t = torch.as_tensor(t, dtype=a.dtype, device=a.device)
    if t.dim() > 0 and t.shape[-1] != 1:
        t = t.unsqueeze(-1)
    parallel = sin.abs() < 1e-4
    safe_sin = torch.where(parallel, torch.ones_like(sin), sin)
    direction = (torch.sin((1 - t) * omega) * a_unit + torch.sin(t * omega) * b_unit) / safe_sin
    radius = a_norm + (b_norm - a_norm) * t
    spherical = direction * radius
    return torch.where(parallel, lerp(a, b, t), spherical)


INTERPOLATIONS = {"lerp": lerp, "slerp": slerp}


def interpolate(a: torch.Tensor, b: torch.Tensor, t: float | torch.Tensor, method: str = "slerp") -> torch.Tensor:
    """``slerp`` or ``lerp`` from a to b at t (broadcast over the last dim)."""
    return INTERPOLATIONS[check_choice(method, "interpolation", tuple(INTERPOLATIONS))](a, b, t)


def path(keyframes: torch.Tensor, num_frames: int, method: str = "slerp") -> torch.Tensor:
    """Frames along keyframes (K, D), K >= 2, evenly in the keyframe parameter: (num_frames, D).

    The first frame is keyframes[0] and the last keyframes[-1].
    """
    if keyframes.dim() != 2 or keyframes.shape[0] < 2:
        raise ValueError(f"a path needs at least 2 keyframes as (K, D), got shape {tuple(keyframes.shape)}.")
    if num_frames < 2:
        raise ValueError(f"a path needs at least 2 frames, got {num_frames}.")
    segments = keyframes.shape[0] - 1
    positions = torch.linspace(0, segments, num_frames, dtype=keyframes.dtype)
    index = positions.floor().long().clamp(max=segments - 1)
    t = (positions - index).unsqueeze(-1)
    return interpolate(keyframes[index], keyframes[index + 1], t, method)


def sefa_directions(first_layer_weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Closed-form latent directions (SeFa, Shen & Zhou 2021) from G's first layer.

    first_layer_weight: (D, ...) the weight that maps z to the first feature map (for a
    ConvTranspose2d, (latent_dim, C, k, k)). The layer is linear in z, y = A z with
    A = W.reshape(D, -1).T, so the directions n that change y most are the top eigenvectors of
    A^T A = W W^T. Returns (directions (D, D) with orthonormal rows, strongest first;
    strengths (D,) = sqrt(eigenvalue), the output change per unit step, descending).
    """
    weight = first_layer_weight.detach().double().reshape(first_layer_weight.shape[0], -1)
    gram = weight @ weight.T  # (D, D), symmetric PSD
    eigenvalues, eigenvectors = torch.linalg.eigh(gram)  # ascending
    order = eigenvalues.argsort(descending=True)
    directions = _signed(eigenvectors[:, order].T.contiguous())  # rows are directions
    strengths = eigenvalues[order].clamp_min(0).sqrt()
    return directions.float(), strengths.float()


def _signed(directions: torch.Tensor) -> torch.Tensor:
    """Rows (K, D) flipped so each one's largest-magnitude component is positive: reproducible signs."""
    return directions * torch.sign(directions.gather(1, directions.abs().argmax(1, keepdim=True)))


DIRECTION_KINDS = ("sefa", "ganspace")  # the two ways the explorer finds directions


def check_direction_kind(kind: str) -> str:
    """The one check of a kind of direction: 'sefa' (closed form) or 'ganspace' (PCA of sampled features)."""
    return check_choice(kind, "Direction kind", DIRECTION_KINDS)


def ganspace_directions(z: torch.Tensor, features: torch.Tensor, num: int, iterations: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """Latent directions from a PCA of G's features (GANSpace, Härkönen et al. 2020, Sec. 2.2, as for BigGAN).

    z: (N, D) latents; features: (N, ...) what a layer of G made of each (flattened here to (N, F)); num <= min(D, F, N - 1).
    The top ``num`` principal components of the features are found by subspace iteration started from the span of
    the features' covariance with z (deterministic, no random sketch), the coordinates x (N, num) of each sample on
    them are computed, and z is regressed on x: z ~ x U, U (num, D). Row k of U, normalised, is the move in z that
    goes with component k. Returns (directions (num, D) unit rows, not exactly orthogonal, in order of explained
    variance; strengths (num,): how far the features move along component k per unit step along direction k,
    the least-squares slope of x_k on z; for features linear in z, y = A z, this is SeFa's strength and the
    directions are SeFa's).
    """
    if z.dim() != 2 or features.shape[0] != z.shape[0]:
        raise ValueError(f"z must be (N, D) and features (N, ...) for the same N, got {tuple(z.shape)} and {tuple(features.shape)}.")
    count, latent_dim = z.shape
    centred_z = z.double() - z.double().mean(0)
    centred = features.double().reshape(count, -1)
    centred = centred - centred.mean(0)  # (N, F)
    if not 1 <= num <= min(latent_dim, centred.shape[1], count - 1):
        raise ValueError(f"num must be from 1 to min(D, F, N - 1) = {min(latent_dim, centred.shape[1], count - 1)}, got {num}.")
    # The features' linear response to z spans most of their variance; a few power steps on the covariance
    # turn that subspace toward the top principal components, the non-linear part (ReLU) included.
    start = centred.T @ centred_z  # (F, D)
    extra = min(centred.shape[1], num + 10) - latent_dim  # a few more columns when D leaves no room to oversample
    if extra > 0:
        start = torch.cat([start, centred.T @ centred[:, :extra]], 1)
    basis, _ = torch.linalg.qr(start)  # (F, width)
    for _ in range(iterations):
        basis, _ = torch.linalg.qr(centred.T @ (centred @ basis))  # (F, width)
    left, singular, _ = torch.linalg.svd(centred @ basis, full_matrices=False)
    coordinates = left[:, :num] * singular[:num]  # (N, num): PCA coordinates, uncorrelated
    to_z = torch.linalg.lstsq(coordinates, centred_z).solution  # (num, D): z ~ x U
    directions = _signed(to_z / to_z.norm(dim=1, keepdim=True).clamp_min(1e-12))
    strengths = torch.linalg.lstsq(centred_z, coordinates).solution.norm(dim=0)  # (num,): |d x_k / d z|
    return directions.float(), strengths.float()


def move(z: torch.Tensor, directions: torch.Tensor, amounts: torch.Tensor | list[float]) -> torch.Tensor:
    """z (D,) or (B, D) moved by sum_k amounts[k] * directions[k]; directions (K, D), amounts (K,)."""
    amounts = torch.as_tensor(amounts, dtype=z.dtype)
    if amounts.shape[0] != directions.shape[0]:
        raise ValueError(f"got {amounts.shape[0]} amounts for {directions.shape[0]} directions.")
    return z + amounts @ directions.to(z.dtype)


def truncate(z: torch.Tensor, psi: float, center: torch.Tensor | None = None) -> torch.Tensor:
    """Scale z toward ``center`` (default 0) by psi: psi < 1 trades variety for typicality."""
    center = torch.zeros_like(z) if center is None else center
    return center + (z - center) * psi


def arithmetic(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """DCGAN vector arithmetic: mean(a) - mean(b) + mean(c), each term (N_i, D) -> (D,)."""
    for name, term in (("A", a), ("B", b), ("C", c)):
        if term.dim() != 2 or term.shape[0] < 1:
            raise ValueError(f"term {name} must hold at least one latent as (N, D), got shape {tuple(term.shape)}.")
    return a.mean(0) - b.mean(0) + c.mean(0)


def typical_radius(latent_dim: int, kind: str = "normal") -> float:
    """Expected norm of z: sqrt(D) for N(0, I), sqrt(D / 3) for U(-1, 1)."""
    check_noise_kind(kind)
    return math.sqrt(latent_dim if kind == "normal" else latent_dim / 3)
