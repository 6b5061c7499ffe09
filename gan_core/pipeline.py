"""The pipeline: the one path from seeds (or z) through G to pictures, and through D to verdicts.

In the spirit of diffusers' pipelines, :class:`GanPipeline` holds the networks and what belongs to
them, and knows the procedure that uses them; the networks stay plain modules::

    pipeline = GanPipeline.from_pretrained("weights/mnist")      # folder, run folder or Hub id
    z = pipeline.latents([42, 7], psi=0.8)                        # (2, latent_dim)
    pictures = pipeline(z)                                        # uint8 images + D's P(real)
    pictures.images.shape, pictures.p_real                        # (2, 28, 28), [0.41, 0.63]

Sampling, evaluation, the explorer app, the trainer's timeline and the benchmarks all make their
pictures here; nothing else runs G for pictures.
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
import torch

from gan_core.core import hub, images, latent
from gan_core.core.checks import check_seed
from gan_core.core.manifest import RunManifest, read_manifest
from gan_core.core.models import Discriminator, Generator

logger = logging.getLogger(__name__)

BATCH = 500  # images per forward pass: bounds memory for large requests


@dataclass(frozen=True)
class Pictures:
    """What the pipeline returns: uint8 pictures and D's verdict on each."""

    uint8: torch.Tensor  # (B, C, H, W) uint8, on the CPU
    p_real: list[float | None]  # D's probability that each picture is real; None without a D

    def __len__(self) -> int:
        return self.uint8.shape[0]

    @property
    def images(self) -> np.ndarray:
        """(B, H, W) uint8 for grey, (B, H, W, 3) for colour: the layout Pillow and Gradio expect."""
        return images.channels_last_numpy(self.uint8)


@dataclass(frozen=True)
class TimelineFrame:
    epoch: int
    png: bytes  # the fixed-noise grid after this epoch


@lru_cache(maxsize=8192)
def _seed_noise(seed: int, latent_dim: int, kind: str) -> torch.Tensor:
    # Seeds are revisited constantly while exploring; their z never change. (1, latent_dim), CPU.
    return latent.noise_for_seed(seed, latent_dim, kind, 1)


class GanPipeline:
    """G, optionally D, and what was recorded about them: manifest, timeline, training log.

    ``GanPipeline(generator, discriminator)`` wraps networks in memory (the trainer does this);
    :meth:`from_pretrained` loads a model source with everything that ships beside it.
    """

    def __init__(
        self,
        generator: Generator,
        discriminator: Discriminator | None = None,
        *,
        manifest: RunManifest | None = None,
        timeline: Sequence[TimelineFrame] = (),
        log: Sequence[dict] = (),
        name: str = "",
        source: str = "",
        files: hub.ModelFiles | None = None,
        problems: Sequence[str] = (),
    ):
        self.generator = generator
        self.discriminator = discriminator
        self.manifest = manifest
        self.timeline = list(timeline)
        self.log = list(log)
        self.name = name
        self.source = source
        self.files = files  # where the parts were loaded from (None for networks made in memory)
        self.problems = list(problems)  # what could not be loaded beside the networks, in sentences

    @classmethod
    def from_pretrained(cls, source: str | os.PathLike, *, device: str | torch.device = "cpu", name: str | None = None) -> GanPipeline:
        """Load a model source once: a generator folder, a run/weights folder (generator/ +
        discriminator/ + timeline/ + train_log.jsonl + run.json), a run in progress, or a Hub repo id.

        Networks must load (ValueError/FileNotFoundError otherwise); a damaged training log only
        leaves the curves out, and says so in :attr:`problems`.
        """
        spec = str(source)
        files = hub.locate(spec)
        generator = hub.load_part(Generator, files.generator, device=device)
        discriminator = hub.load_part(Discriminator, files.discriminator, device=device) if files.discriminator else None
        problems: list[str] = []
        log: list[dict] = []
        if files.log.is_file():
            try:
                log = [r for r in hub.read_log(files.log) if _is_log_record(r)]
            except (ValueError, UnicodeDecodeError) as err:
                problems.append(f"The training log {files.log} is damaged ({err}); the curves are left out.")
        manifest = read_manifest(files.generator)
        timeline = [TimelineFrame(epoch, png.read_bytes()) for epoch, png in files.timeline]
        default_name = files.root.name if os.path.exists(os.path.expanduser(spec)) else spec
        pipeline = cls(
            generator, discriminator, manifest=manifest, timeline=timeline, log=log, name=name or default_name, source=spec, files=files, problems=problems
        )
        for problem in problems:
            logger.warning("%s", problem)
        logger.info("loaded %s from %s (latent_dim %d, D %s)", pipeline.name, files.generator, pipeline.latent_dim, "yes" if discriminator else "no")
        return pipeline

    def to(self, device: str | torch.device) -> GanPipeline:
        """This pipeline on ``device``: itself when already there, else a copy whose networks live there."""
        device = torch.device(device)
        if device == self.device:
            return self
        moved = copy.copy(self)
        moved.generator = copy.deepcopy(self.generator).to(device)
        moved.discriminator = copy.deepcopy(self.discriminator).to(device) if self.discriminator is not None else None
        return moved

    # ------------------------------------------------------------------ what the model is

    @property
    def latent_dim(self) -> int:
        return self.generator.latent_dim

    @property
    def noise(self) -> str:
        """The distribution G was trained on; seeds draw z from it."""
        return self.generator.noise

    @property
    def image_size(self) -> int:
        return self.generator.image_size

    @property
    def channels(self) -> int:
        return self.generator.channels

    @property
    def device(self) -> torch.device:
        return next(self.generator.parameters()).device

    @property
    def dataset(self) -> str | None:
        """The dataset G was trained on, from the run manifest (None for models without one)."""
        return self.manifest.dataset if self.manifest else None

    @cached_property
    def sefa(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(directions (latent_dim, latent_dim) orthonormal rows, strengths (latent_dim,)), strongest first.

        Closed-form SeFa directions of G's first layer (:func:`gan_core.core.latent.sefa_directions`),
        computed once per pipeline.
        """
        return latent.sefa_directions(self.generator.first_layer.weight.cpu())

    # ------------------------------------------------------------------ seeds -> z

    def seed_noise(self, seeds: Sequence[int]) -> torch.Tensor:
        """z of each seed as drawn on every machine: (len(seeds), latent_dim), CPU float32."""
        return torch.cat([_seed_noise(check_seed(s), self.latent_dim, self.noise) for s in seeds])

    def latents(self, seeds: Sequence[int], psi: float = 1.0, amounts: Sequence[float] | torch.Tensor | None = None) -> torch.Tensor:
        """z = psi * z(seed) + sum_k amounts[k] * direction[k] for each seed: (len(seeds), latent_dim).

        ``amounts`` moves along the strongest SeFa directions, one amount per direction (K <= latent_dim).
        """
        return self.edit(self.seed_noise(seeds), psi, amounts)

    def edit(self, z: torch.Tensor, psi: float = 1.0, amounts: Sequence[float] | torch.Tensor | None = None) -> torch.Tensor:
        """Truncate z (B, D) toward 0 by psi, then move it along the first len(amounts) SeFa directions."""
        z = latent.truncate(z, psi)
        if amounts is None or len(amounts) == 0:
            return z
        directions, _ = self.sefa
        if len(amounts) > directions.shape[0]:
            raise ValueError(f"got {len(amounts)} direction amounts for a model with {directions.shape[0]} directions.")
        return latent.move(z, directions[: len(amounts)], amounts)

    # ------------------------------------------------------------------ z -> pictures

    @torch.inference_mode()
    def __call__(self, z: torch.Tensor, *, verdict: bool = True, batch_size: int = BATCH) -> Pictures:
        """z (B, latent_dim) -> uint8 pictures (B, C, H, W) and, when ``verdict`` and D ships, D's P(real)."""
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (B, {self.latent_dim}), got {tuple(z.shape)}.")
        judge = self.discriminator if verdict else None
        pictures, p_real = [], []
        for part in z.split(batch_size):
            generated = self.generator(part.to(self.device, torch.float32))  # (b, C, H, W) in [-1, 1]
            pictures.append(images.to_uint8(generated).cpu())
            if judge is not None:
                p_real += torch.sigmoid(judge(generated).float()).tolist()  # logits (b,) -> P(real)
        if judge is None:
            p_real = [None] * z.shape[0]
        return Pictures(torch.cat(pictures) if pictures else torch.empty(0, self.channels, self.image_size, self.image_size, dtype=torch.uint8), p_real)

    def generate(self, num: int, seed: int, psi: float = 1.0, *, verdict: bool = False, noise: str | None = None) -> Pictures:
        """``num`` samples of one seed's noise stream (deterministic in (seed, num)): the sampler and evaluation.

        ``noise`` overrides the distribution recorded in G's config.
        """
        z = latent.noise_for_seed(check_seed(seed), self.latent_dim, noise or self.noise, num)
        return self(latent.truncate(z, psi), verdict=verdict)


def _is_log_record(record) -> bool:
    if not isinstance(record, dict) or not all(isinstance(record.get(k), (int, float)) for k in ("step", "loss_d", "loss_g", "d_real", "d_fake")):
        raise ValueError(f"a record lacks step, loss_d, loss_g, d_real or d_fake: {str(record)[:60]}")
    return True
