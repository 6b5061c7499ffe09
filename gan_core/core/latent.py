"""Pure tensor functions on the latent space: sampling, interpolation, directions, arithmetic.

No models are run here except reading a generator's first-layer weight for SeFa.
Shapes: a single latent is (D,), a batch is (B, D).
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
    directions = eigenvectors[:, order].T.contiguous()  # rows are directions
    # Sign convention so results are reproducible: largest-magnitude component positive.
    signs = torch.sign(directions.gather(1, directions.abs().argmax(1, keepdim=True)))
    directions = directions * signs
    strengths = eigenvalues[order].clamp_min(0).sqrt()
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
