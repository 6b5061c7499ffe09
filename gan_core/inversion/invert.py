"""Refinement: find z* with G(z*) close to a picture x, by gradient descent on z from several starts.

Zhu et al. (2016) and f-AnoGAN (Schlegl et al. 2019) both find that an encoder's guess is a good
start and a few hundred gradient steps on z make it exact; random starts alone get stuck in poor
local minima more often. So :func:`refine` starts from E(x) (when an encoder ships) plus ``restarts``
draws from the prior, all as one (N * R, D) batch, and for every picture keeps the z with the lowest
objective seen::

    L(z) = mean |x - G(z)|  +  feature_weight * mean (f_D(x) - f_D(G(z)))^2

(L1 on pixels is sharper than L2 on strokes; the small D-feature term, f-AnoGAN's izi_f idea, pulls
toward reconstructions D finds alike.) After every Adam step z is projected back where the prior puts
it (:func:`project`): G was never trained off that support, and a z far outside it could draw anything,
which would make every picture, even an unusual one, look reconstructable.

G and D are used frozen and in eval mode (BatchNorm with running statistics), so every row of the
batch is independent: a picture's result does not depend on what else is in the batch. The random
starts come from a ``torch.Generator`` seeded with ``seed`` and are the same for every picture, so the
result is deterministic given the seed (and the thread count, as always with floating-point sums).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from gan_core.core.checks import check_count, check_number
from gan_core.core.encoder import Encoder, discriminator_features
from gan_core.core.latent import sample_noise, typical_radius
from gan_core.core.models import Discriminator, Generator

RADIUS_MARGIN = 2.0  # z ~ N(0, I_D) has |z| > sqrt(D) + 2 with probability about 0.2 %, for every D
MAX_STEPS = 5000
MAX_RESTARTS = 64

Progress = Callable[[int, int], None]  # (steps done, steps in all)
StopSignal = Callable[[], bool] | threading.Event


def max_radius(latent_dim: int) -> float:
    """The largest |z| refinement allows for Gaussian noise: sqrt(D) + 2."""
    return typical_radius(latent_dim) + RADIUS_MARGIN


def project(z: torch.Tensor, noise: str = "normal") -> torch.Tensor:
    """z (B, D) moved to the nearest point of the prior's support: |z| <= sqrt(D) + 2 (normal), [-1, 1]^D (uniform)."""
    if noise == "uniform":
        return z.clamp(-1.0, 1.0)
    limit = max_radius(z.shape[-1])
    norm = z.norm(dim=-1, keepdim=True)
    return z * (limit / norm.clamp_min(limit))


@dataclass(frozen=True)
class RefineConfig:
    """How refinement searches. With the defaults one 28 px inversion takes about 0.6 s on one CPU core (benchmarks/inversion.py)."""

    steps: int = 150  # Adam steps on z
    restarts: int = 3  # random starts, besides E's guess when an encoder is given
    lr: float = 0.05  # Adam's step size, decayed along a cosine to 5 % of it
    feature_weight: float = 0.02  # weight of the D-feature term in the objective (0 without a D)

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", check_count(self.steps, "steps", 0, MAX_STEPS))
        object.__setattr__(self, "restarts", check_count(self.restarts, "restarts", 0, MAX_RESTARTS))
        object.__setattr__(self, "lr", check_number(self.lr, "The learning rate lr", 1e-6, 10.0))
        object.__setattr__(self, "feature_weight", check_number(self.feature_weight, "feature_weight", 0.0, 100.0))


@dataclass(frozen=True)
class Refined:
    """What :func:`refine` found for N pictures."""

    z: torch.Tensor  # (N, D): the best z of each picture, on the prior's support
    loss: torch.Tensor  # (N,): its objective
    start: torch.Tensor  # (N,) int: which start won (0 = E's guess when an encoder was used)
    steps: int  # steps actually run (fewer than asked when stopped)
    stopped: bool  # True when should_stop ended the search early
    seconds: float


def stop_requested(should_stop: StopSignal | None) -> bool:
    """Whether ``should_stop`` (a callable returning bool or a threading.Event) asks to stop now."""
    if should_stop is None:
        return False
    if isinstance(should_stop, threading.Event):
        return should_stop.is_set()
    return bool(should_stop())


def starts(images: torch.Tensor, generator: Generator, encoder: Encoder | None, restarts: int, seed: int) -> torch.Tensor:
    """The starting z of each picture: (N, R, D) with R = restarts (+1 for E(x), first)."""
    count = images.shape[0]
    parts = []
    if encoder is not None:
        with torch.no_grad():
            parts.append(project(encoder(images).float(), generator.noise)[:, None])  # (N, 1, D)
    if restarts:
        rng = torch.Generator().manual_seed(int(seed))
        random = project(sample_noise(restarts, generator.latent_dim, rng, generator.noise), generator.noise)  # the same for every picture
        parts.append(random.to(images.device)[None].expand(count, -1, -1))
    if not parts:
        raise ValueError("Refinement needs at least one start: give an encoder or restarts >= 1.")
    return torch.cat(parts, dim=1)


def objective(generator: Generator, discriminator: Discriminator | None, images: torch.Tensor, features: torch.Tensor | None, z: torch.Tensor, feature_weight: float) -> torch.Tensor:
    """L(z) per row: mean |x - G(z)| + feature_weight * mean (f_D(x) - f_D(G(z)))^2. images (M, C, H, W), z (M, D) -> (M,)."""
    drawn = generator(z)  # (M, C, H, W) in [-1, 1]
    loss = (drawn - images).abs().flatten(1).mean(1)
    if discriminator is not None and features is not None and feature_weight > 0:
        loss = loss + feature_weight * (discriminator_features(discriminator, drawn) - features).pow(2).mean(1)
    return loss


def refine(
    generator: Generator,
    images: torch.Tensor,
    *,
    discriminator: Discriminator | None = None,
    encoder: Encoder | None = None,
    config: RefineConfig = RefineConfig(),
    seed: int = 0,
    progress: Progress | None = None,
    should_stop: StopSignal | None = None,
    report_every: int = 10,
) -> Refined:
    """Find z* for each picture: images (N, C, H, W) in [-1, 1] -> :class:`Refined` (z (N, D) on the CPU).

    Starts from E(x) (when ``encoder``) and ``config.restarts`` prior draws (seeded by ``seed``), runs
    ``config.steps`` Adam steps on all of them at once, projecting onto the prior's support after each,
    and keeps each picture's best z. ``progress(done, total)`` is called every ``report_every`` steps
    and at the end; ``should_stop`` (a callable or a threading.Event) is checked before every step and
    ends the search early, keeping the best z so far (``stopped`` is then True).
    """
    began = time.perf_counter()
    if images.dim() != 4 or images.shape[1:] != (generator.channels, generator.image_size, generator.image_size):
        raise ValueError(f"images must have shape (N, {generator.channels}, {generator.image_size}, {generator.image_size}), got {tuple(images.shape)}.")
    if not torch.isfinite(images).all():
        raise ValueError("images hold NaN or infinite values; pictures are numbers in [-1, 1].")
    device = next(generator.parameters()).device
    count, rows = images.shape[0], None
    # Gradients with respect to z are the method, even when the caller is inside no_grad or inference_mode.
    with torch.inference_mode(False), torch.enable_grad(), _frozen(generator, discriminator, encoder):
        images = images.to(device, torch.float32).clone()  # a normal tensor even if it was made in inference mode
        start = starts(images, generator, encoder, config.restarts, seed)  # (N, R, D)
        rows = start.shape[1]
        targets = images.repeat_interleave(rows, dim=0)  # (N * R, C, H, W), row n * R + r is picture n, start r
        use_features = discriminator is not None and config.feature_weight > 0
        with torch.no_grad():
            features = discriminator_features(discriminator, targets) if use_features else None
        z = start.reshape(count * rows, -1).clone().requires_grad_(True)
        best_loss = torch.full((count * rows,), math.inf, device=device)
        best_z = z.detach().clone()
        optimizer = torch.optim.Adam([z], lr=config.lr)
        done, stopped = 0, False
        for step in range(config.steps + 1):  # the extra pass only scores the last z
            if step < config.steps and stop_requested(should_stop):
                stopped = True
            loss = objective(generator, discriminator if use_features else None, targets, features, z, config.feature_weight)  # (N * R,)
            with torch.no_grad():
                better = loss < best_loss
                best_loss = torch.where(better, loss.detach(), best_loss)
                best_z[better] = z.detach()[better]
            if step == config.steps or stopped:
                break
            # lr follows a cosine from lr to 5 % of it: big moves first, then settle.
            for group in optimizer.param_groups:
                group["lr"] = config.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / max(1, config.steps))))
            # Rows are independent: each z gets the gradient of its own loss. autograd.grad computes it for z
            # alone and writes nothing into the networks' weights, which other threads may be using.
            (z.grad,) = torch.autograd.grad(loss.sum(), [z])
            optimizer.step()
            with torch.no_grad():
                z.copy_(project(z, generator.noise))
            done = step + 1
            if progress is not None and (done % report_every == 0 or done == config.steps):
                progress(done, config.steps)
    per_picture = best_loss.view(count, rows)
    loss, winner = per_picture.min(dim=1)
    chosen = best_z.view(count, rows, -1)[torch.arange(count, device=device), winner]
    return Refined(z=chosen.detach().cpu(), loss=loss.detach().cpu(), start=winner.cpu(), steps=done, stopped=stopped, seconds=time.perf_counter() - began)


class _frozen:
    """Networks in eval mode (BatchNorm on running statistics, so batch rows stay independent), restored afterwards.

    Loaded networks are already in eval mode, so nothing is switched for them (they may be shared between threads).
    """

    def __init__(self, *modules):
        self.switched = [m for m in modules if m is not None and m.training]

    def __enter__(self):
        for module in self.switched:
            module.eval()
        return self

    def __exit__(self, *exc):
        for module in self.switched:
            module.train()
        return False


def encode(encoder: Encoder, images: torch.Tensor, noise: str = "normal", batch_size: int = 500) -> torch.Tensor:
    """E's guess alone, on the prior's support: images (N, C, H, W) in [-1, 1] -> z (N, D) on the CPU."""
    device = next(encoder.parameters()).device
    out = []
    with _frozen(encoder), torch.no_grad():
        for part in images.split(batch_size):
            out.append(project(encoder(part.to(device, torch.float32)), noise).cpu())
    return torch.cat(out) if out else torch.empty(0, encoder.latent_dim)


# ----------------------------------------------------------------------------- results (what GanPipeline.invert returns)


@dataclass(frozen=True)
class Inversions:
    """The inversions of N prepared pictures (GanPipeline.invert_images)."""

    z: torch.Tensor  # (N, D) float32 on the CPU, on the prior's support
    reconstructions: torch.Tensor  # uint8 (N, C, H, W): G(z)
    pixel_error: torch.Tensor  # (N,): mean |x - G(z)| on the 0..1 scale (0.1 = 25.5 grey levels on average)
    pixel_residual: torch.Tensor  # (N,): the score's first term, mean (x - G(z))^2 with x in [-1, 1] (z per score_from)
    feature_residual: torch.Tensor | None  # (N,): its second term, mean (f_D(x) - f_D(G(z)))^2; None without a D
    scores: torch.Tensor  # (N,): the anomaly score A(x)
    score_from: str  # "encoder": A(x) at z = E(x) (f-AnoGAN); "refinement": at the refined z (no encoder used)
    steps: int  # refinement steps run (per chunk of pictures)
    stopped: bool
    seconds: float
    used_encoder: bool

    def __len__(self) -> int:
        return self.z.shape[0]


@dataclass(frozen=True)
class Inversion:
    """One picture found in G's latent space, and how unusual it is (GanPipeline.invert).

    Pictures are uint8 numpy arrays laid out as :attr:`gan_core.pipeline.Pictures.images`: (H, W) grey, (H, W, 3) colour.
    """

    prepared: np.ndarray  # the picture as the model sees it (the input, prepared)
    z: tuple[float, ...]  # (latent_dim,): the z found; ExploreState(model, z=inversion.z) opens it in Explore
    reconstruction: np.ndarray  # G(z)
    residual: np.ndarray  # |x - G(z)|: where the reconstruction differs (0 = drawn exactly, 255 = opposite)
    score: float  # the f-AnoGAN anomaly score (gan_core.inversion.anomaly); higher = more unusual
    percentile: float | None  # share (0..100) of the reference's real test pictures scoring lower; None without a reference
    summary: str  # one sentence on the score for people
    pixel_error: float  # mean |x - G(z)| on the 0..1 scale, of the reconstruction
    score_from: str  # "encoder": the score is taken at z = E(x), as f-AnoGAN; "refinement": at z (no encoder)
    pixel_residual: float  # the score's first term: mean (x - G(z'))^2, x in [-1, 1], z' per score_from
    feature_residual: float | None  # its second term (times kappa): mean (f_D(x) - f_D(G(z')))^2; None without a D
    p_real: float | None  # D's probability that the prepared input is real; None without a D
    p_real_reconstruction: float | None  # D's probability for G(z)
    steps: int  # refinement steps run
    seconds: float  # wall-clock time of the whole inversion
    stopped: bool  # True when should_stop ended the refinement early (the best z so far is returned)
    used_encoder: bool  # False when the model ships no encoder: random starts only
    note: str  # "" or a sentence on how the result was found (no encoder, stopped early)


@dataclass(frozen=True)
class Anomaly:
    """How unusual one picture is for a model (GanPipeline.anomaly_score)."""

    score: float
    percentile: float | None
    summary: str
    score_from: str  # "encoder" (z = E(x), as f-AnoGAN) or "refinement" (no encoder)
    pixel_residual: float
    feature_residual: float | None
