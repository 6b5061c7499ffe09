"""Training E against a frozen G (and D), in the spirit of f-AnoGAN's izi_f (Schlegl et al. 2019).

Every step, on a batch of real training pictures x and a batch of G's own samples G(z), z ~ prior::

    minimise  mean (x - G(E(x)))^2                        # izi: E(x) must draw x back
            + kappa * mean (f_D(x) - f_D(G(E(x))))^2       # izi_f: ... and look alike to D
            + latent_weight * mean (E(G(z)) - z)^2          # ziz: on G's samples the true z is known

G and D stay frozen (eval mode: BatchNorm on running statistics). E(x) goes through the same
projection onto the prior's support as refinement (:func:`gan_core.inversion.invert.project`), so E
learns to answer where G was trained. The real and the generated batch go through E together, so E's
BatchNorm statistics describe the mixture it will meet.

``python -m gan_core.train_encoder MODEL_DIR`` runs this, then scores held-out real test pictures for
the reference the app's percentile is read against.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from gan_core.core.checks import check_count, check_number, check_positive_int
from gan_core.core.data import ImageData
from gan_core.core.encoder import Encoder, discriminator_features
from gan_core.core.images import to_model_range
from gan_core.core.latent import sample_noise
from gan_core.core.models import Discriminator, Generator
from gan_core.inversion.invert import project

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EncoderConfig:
    """E's architecture and how it is trained."""

    epochs: float = 10.0  # passes over the training set (fractions allowed)
    max_minutes: float | None = None  # stop after the first step past this wall-clock budget (the lr decays over it)
    batch_size: int = 64  # real pictures per step (and as many G samples)
    lr: float = 5e-4  # Adam, betas (0.5, 0.999), cosine decay to 5 %
    kappa: float = 1.0  # weight of the D-feature residual (f-AnoGAN's kappa)
    latent_weight: float = 1.0  # weight of the E(G(z)) = z term
    e_features: int = 32  # width of E's first convolution
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "epochs", check_number(self.epochs, "epochs", 0.0, 10_000.0))
        if self.max_minutes is not None:
            object.__setattr__(self, "max_minutes", check_number(self.max_minutes, "max_minutes", 0.0))
        check_positive_int(self.batch_size, "batch_size", 65_536)
        object.__setattr__(self, "lr", check_number(self.lr, "lr", 1e-7, 1.0))
        object.__setattr__(self, "kappa", check_number(self.kappa, "kappa", 0.0, 1000.0))
        object.__setattr__(self, "latent_weight", check_number(self.latent_weight, "latent_weight", 0.0, 1000.0))
        check_positive_int(self.e_features, "e_features", 1024)
        object.__setattr__(self, "seed", check_count(self.seed, "seed", 0, 2**31 - 1))

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class EncoderRun:
    """What :func:`train_encoder` produced."""

    encoder: Encoder
    steps: int
    epochs: float
    seconds: float
    log: list[dict]  # one record per epoch (and one for a last partial epoch): step, epoch, mean losses
    stopped_by_time: bool


def train_encoder(
    generator: Generator,
    discriminator: Discriminator | None,
    data: ImageData,
    config: EncoderConfig = EncoderConfig(),
    *,
    progress: bool = True,
    device: str | torch.device | None = None,
) -> EncoderRun:
    """Train E for ``generator`` on ``data`` (uint8 (N, C, H, W) at G's size). Seeds its own torch.Generator.

    Without a discriminator the kappa term is left out (E then learns pixels and latents only).
    """
    if data.images.shape[1:] != (generator.channels, generator.image_size, generator.image_size):
        raise ValueError(
            f"{data.name} holds {tuple(data.images.shape[1:])} pictures; this generator draws "
            f"({generator.channels}, {generator.image_size}, {generator.image_size})."
        )
    if len(data) < 1:
        raise ValueError(f"{data.name} holds no pictures.")
    device = torch.device(device) if device is not None else next(generator.parameters()).device
    torch.manual_seed(config.seed)  # E's initial weights
    encoder = Encoder(generator.latent_dim, generator.image_size, generator.channels, config.e_features, generator.noise).to(device)
    rng = torch.Generator().manual_seed(config.seed)  # batches and prior draws
    for network in (generator, discriminator):
        if network is not None:
            network.eval().requires_grad_(False)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=config.lr, betas=(0.5, 0.999))
    images = data.images
    count, batch = len(images), min(config.batch_size, len(images))
    steps_per_epoch = max(1, count // batch)
    total = max(1, math.ceil(config.epochs * steps_per_epoch))
    use_features = discriminator is not None and config.kappa > 0
    bar = _bar(total, progress)
    began, step, log, sums, stopped = time.perf_counter(), 0, [], _Sums(), False
    encoder.train()
    while step < total and not stopped:
        order = torch.randperm(count, generator=rng)
        for index in order[: steps_per_epoch * batch].view(steps_per_epoch, batch):
            if step >= total:
                break
            # Cosine decay over the run: its length in steps, or in time when a time budget ends it first.
            done = step / total if config.max_minutes is None else max(step / total, (time.perf_counter() - began) / (60 * config.max_minutes))
            for group in optimizer.param_groups:
                group["lr"] = config.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, done))))
            x = to_model_range(images[index]).to(device)  # (B, C, H, W) in [-1, 1]
            z_prior = sample_noise(batch, generator.latent_dim, rng, generator.noise).to(device)  # (B, D)
            with torch.no_grad():
                x_prior = generator(z_prior)  # G's own samples: their z is known
            z_real, z_fake = encoder(torch.cat([x, x_prior])).split(batch)
            drawn = generator(project(z_real, generator.noise))  # G(E(x)), gradients flow to E only
            loss_image = F.mse_loss(drawn, x)
            loss_feature = torch.zeros((), device=device)
            if use_features:
                with torch.no_grad():
                    target = discriminator_features(discriminator, x)
                loss_feature = F.mse_loss(discriminator_features(discriminator, drawn), target)
            loss_latent = F.mse_loss(z_fake, z_prior)
            # minimise ||x - G(E(x))||^2 + kappa ||f_D(x) - f_D(G(E(x)))||^2 + latent_weight ||E(G(z)) - z||^2
            loss = loss_image + config.kappa * loss_feature + config.latent_weight * loss_latent
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            sums.add(loss.item(), loss_image.item(), loss_feature.item(), loss_latent.item())
            if bar is not None:
                bar.update(1)
            if step % steps_per_epoch == 0 or step == total:
                log.append(sums.record(step, step / steps_per_epoch, time.perf_counter() - began))
                logger.info("encoder step %d (epoch %.2f): %s", step, step / steps_per_epoch, {k: round(v, 4) for k, v in log[-1].items() if k.startswith("loss")})
                sums = _Sums()
            if config.max_minutes is not None and time.perf_counter() - began > 60 * config.max_minutes:
                stopped = True
                break
    if sums.count:
        log.append(sums.record(step, step / steps_per_epoch, time.perf_counter() - began))
    if bar is not None:
        bar.close()
    encoder.eval()
    return EncoderRun(encoder, step, step / steps_per_epoch, time.perf_counter() - began, log, stopped)


class _Sums:
    def __init__(self):
        self.count, self.values = 0, [0.0, 0.0, 0.0, 0.0]

    def add(self, *values: float) -> None:
        self.count += 1
        self.values = [a + b for a, b in zip(self.values, values)]

    def record(self, step: int, epoch: float, seconds: float) -> dict:
        names = ("loss", "loss_image", "loss_feature", "loss_latent")
        return {"step": step, "epoch": round(epoch, 3), "seconds": round(seconds, 1), **{n: v / max(1, self.count) for n, v in zip(names, self.values)}}


def _bar(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="encoder", unit="step")


def encoder_card(record: dict) -> str:
    """The encoder folder's README.md, rendered from its training record (training.json)."""
    cfg = record["config"]
    uniform = record.get("noise") == "uniform"
    prior, support = ("U(-1, 1)", "[-1, 1] in every coordinate") if uniform else ("N(0, I)", "|z| <= sqrt(D) + 2")
    threads = f"{record['threads']} thread{'s' if record['threads'] != 1 else ''}"
    quality = record.get("quality", {})
    quality_md = "\n".join(f"- {k}: {v}" for k, v in quality.items()) or "- not measured"
    reference = record.get("reference", {})
    return f"""---
library_name: gan_core
license: mit
tags:
- dcgan
- gan-inversion
- anomaly-detection
datasets:
- {record['dataset']}
---

# DCGAN encoder: {record['dataset']} {record['image_size']}x{record['image_size']}

E maps a picture in [-1, 1] to the z of the DCGAN generator beside it (`../generator/`), trained by
[`gan_core`](https://github.com/dcgan-latent-explorer/dcgan-latent-explorer) against that frozen
generator and its discriminator, in the spirit of f-AnoGAN's izi_f encoder (Schlegl et al. 2019,
[Medical Image Analysis 54](https://doi.org/10.1016/j.media.2019.01.010)). Rendered from `training.json`.

## Objective
Each step, on real training pictures x and G's own samples G(z), z ~ {prior}:

    mean (x - G(E(x)))^2 + kappa * mean (f_D(x) - f_D(G(E(x))))^2 + latent_weight * mean (E(G(z)) - z)^2

with f_D D's activations before its last convolution, kappa = {cfg['kappa']}, latent_weight = {cfg['latent_weight']},
E(x) projected onto the prior's support ({support}) before G.

## Training
```
{record['command']}
```
{record['steps']} steps ({record['epochs']:.2f} epochs of {record['num_images']:,} {record['dataset']} training pictures, batch {cfg['batch_size']}),
{record['seconds'] / 60:.1f} minutes on {record['device']} ({threads}); Adam lr {cfg['lr']} (betas 0.5, 0.999, cosine decay), seed {cfg['seed']};
gan_core {record['library_version']}, {record['date']}.{' Stopped by the time budget.' if record.get('stopped_by_time') else ''}

## Quality on held-out test pictures
{quality_md}

## Anomaly reference
`reference_scores.json`: the f-AnoGAN anomaly score, mean (x - G(E(x)))^2 + kappa * mean (f_D(x) - f_D(G(E(x))))^2
with kappa = 1, of {reference.get('count', '?')} real held-out {record['dataset']} test pictures, sorted, with how they were computed
({reference.get('seconds', '?')} s). The app scores a picture the same way and places it among them.

## Use
```python
from gan_core import GanPipeline
pipeline = GanPipeline.from_pretrained("path/to/model")   # loads encoder/ when it ships
result = pipeline.invert("drawing.png")                    # z, reconstruction, anomaly score, percentile
```
"""
