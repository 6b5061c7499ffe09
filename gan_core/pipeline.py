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
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
import torch

from gan_core.core import hub, images, latent
from gan_core.core.checks import check_seed
from gan_core.core.encoder import Encoder
from gan_core.core.manifest import RunManifest, read_manifest
from gan_core.core.models import Discriminator, Generator
from gan_core.inversion import anomaly as _anomaly
from gan_core.inversion import prepare as _prepare
from gan_core.inversion.invert import Anomaly, Inversion, Inversions, Progress, RefineConfig, StopSignal, encode, refine

logger = logging.getLogger(__name__)

BATCH = 500  # images per forward pass: bounds memory for large requests
GANSPACE_SAMPLES = 4096  # latents whose first feature maps GANSpace's PCA reads (more than F = 3136 of a 28 px, 32 wide G)
GANSPACE_SEED = 0
GANSPACE_COMPONENTS = 32  # principal components kept (at most latent_dim): the explorer shows 8


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
        encoder: Encoder | None = None,
        reference: _anomaly.Reference | None = None,
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
        self.encoder = encoder  # E: picture -> z (gan_core.inversion), None when the model ships none
        self.reference = reference  # real test pictures' anomaly scores (encoder/reference_scores.json), or None

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
        encoder = hub.load_part(Encoder, files.encoder, device=device) if files.encoder else None
        if encoder is not None and (encoder.latent_dim, encoder.image_size, encoder.channels) != (generator.latent_dim, generator.image_size, generator.channels):
            raise ValueError(
                f"The encoder in {files.encoder} maps {encoder.channels}x{encoder.image_size}x{encoder.image_size} pictures to {encoder.latent_dim} numbers; "
                f"its generator draws {generator.channels}x{generator.image_size}x{generator.image_size} from {generator.latent_dim}. Retrain it: python -m gan_core.train_encoder {files.root}"
            )
        reference = None
        reference_path = files.encoder / _anomaly.REFERENCE_NAME if files.encoder else None
        if reference_path is not None and reference_path.is_file():
            try:
                reference = _anomaly.Reference.load(reference_path)
            except ValueError as err:
                problems.append(f"{err} Anomaly scores are given without a percentile.")
        pipeline = cls(
            generator,
            discriminator,
            manifest=manifest,
            timeline=timeline,
            log=log,
            name=name or default_name,
            source=spec,
            files=files,
            problems=problems,
            encoder=encoder,
            reference=reference,
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
        moved.encoder = copy.deepcopy(self.encoder).to(device) if self.encoder is not None else None
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
        # The weight of G's first layer, looked up directly: next(G.parameters()) walks G's modules, which under load
        # showed up in 3.7 % of the server's profile samples (BENCHMARKS.md, "The server under load").
        return self.generator.first_layer.weight.device

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

    @cached_property
    def ganspace(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(directions (K, latent_dim) unit rows, strengths (K,)), K = min(latent_dim, GANSPACE_COMPONENTS), by explained variance.

        GANSpace (Härkönen et al. 2020): a PCA of G's first feature maps over GANSPACE_SAMPLES latents of a fixed
        seed, mapped back to z by regression (:func:`gan_core.core.latent.ganspace_directions`), computed once per
        pipeline. The layer is the first block's output after BatchNorm and ReLU, for two reasons: G's later layers
        only see z through it, so it is where the picture's large-scale layout is decided (the paper too takes an
        early layer for BigGAN); and it is the first place where the PCA finds something SeFa cannot. Before the
        ReLU the map is linear in z, y = A z (BatchNorm in eval mode only rescales channels), so the PCA of y for
        z ~ N(0, I) would be the eigenvectors of A Aᵀ and the regression would return SeFa's directions.
        """
        z = latent.noise_for_seed(GANSPACE_SEED, self.latent_dim, self.noise, GANSPACE_SAMPLES)
        with torch.inference_mode():
            features = torch.cat([self.generator.first_features(part.to(self.device)).float().cpu().flatten(1) for part in z.split(BATCH)])
        return latent.ganspace_directions(z, features, min(self.latent_dim, GANSPACE_COMPONENTS, features.shape[1]))

    def directions(self, kind: str = "sefa") -> tuple[torch.Tensor, torch.Tensor]:
        """(directions (K, latent_dim) unit rows, strengths (K,)) of ``kind``: 'sefa' (:attr:`sefa`) or 'ganspace' (:attr:`ganspace`)."""
        return self.ganspace if latent.check_direction_kind(kind) == "ganspace" else self.sefa

    # ------------------------------------------------------------------ seeds -> z

    def seed_noise(self, seeds: Sequence[int]) -> torch.Tensor:
        """z of each seed as drawn on every machine: (len(seeds), latent_dim), CPU float32."""
        return torch.cat([_seed_noise(check_seed(s), self.latent_dim, self.noise) for s in seeds])

    def latents(self, seeds: Sequence[int], psi: float = 1.0, amounts: Sequence[float] | torch.Tensor | None = None, kind: str = "sefa") -> torch.Tensor:
        """z = psi * z(seed) + sum_k amounts[k] * direction[k] for each seed: (len(seeds), latent_dim).

        ``amounts`` moves along the strongest directions of ``kind`` (SeFa unless told), one amount per direction (K <= their number).
        """
        return self.edit(self.seed_noise(seeds), psi, amounts, kind)

    def edit(self, z: torch.Tensor, psi: float = 1.0, amounts: Sequence[float] | torch.Tensor | None = None, kind: str = "sefa") -> torch.Tensor:
        """Truncate z (B, D) toward 0 by psi, then move it along the first len(amounts) directions of ``kind`` (SeFa unless told)."""
        z = latent.truncate(z, psi)
        if amounts is None or len(amounts) == 0:
            return z
        directions, _ = self.directions(kind)
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

    # ------------------------------------------------------------------ pictures -> z (inversion) and how unusual they are

    @cached_property
    def input_style(self) -> _prepare.InputStyle:
        """How pictures are brought to this model's look (:mod:`gan_core.inversion.prepare`): by dataset, else by G's samples."""
        samples = None if self.dataset in _prepare.DATASET_STYLES else self.generate(16, seed=0).images
        return _prepare.style_for(self.dataset, self.channels, samples)

    def prepare(self, picture) -> np.ndarray:
        """Any picture (file path, bytes, PIL image, uint8 array, Gradio ImageEditor dict) -> this model's input,
        uint8 (H, W) grey or (H, W, 3). ValueError says what is wrong (empty, only a dot, too large, unreadable)."""
        return _prepare.prepare(picture, image_size=self.image_size, channels=self.channels, style=self.input_style)

    def invert_images(
        self,
        images_uint8: torch.Tensor,
        *,
        steps: int | None = None,
        restarts: int | None = None,
        seed: int = 0,
        use_encoder: bool = True,
        progress: Progress | None = None,
        should_stop: StopSignal | None = None,
        batch_size: int = 64,
    ) -> Inversions:
        """Prepared uint8 pictures (N, C, H, W) -> their z, reconstructions and anomaly scores (batched).

        Starts from E(x) when an encoder ships (and ``use_encoder``) plus ``restarts`` random starts, then
        ``steps`` refinement steps (defaults: :class:`gan_core.inversion.invert.RefineConfig`); ``steps=0``
        is the encoder's guess alone. The anomaly score is taken at E(x) when the encoder is used (as f-AnoGAN;
        it separates unusual pictures better), else at the refined z (``score_from`` says which).
        Deterministic given ``seed``. ``progress(done, total)`` counts steps
        over all chunks of ``batch_size`` pictures; ``should_stop`` ends the work early (``stopped``).
        """
        shape = (self.channels, self.image_size, self.image_size)
        if not isinstance(images_uint8, torch.Tensor) or images_uint8.dtype != torch.uint8 or images_uint8.dim() != 4 or tuple(images_uint8.shape[1:]) != shape:
            got = f"{images_uint8.dtype} {tuple(images_uint8.shape)}" if isinstance(images_uint8, torch.Tensor) else type(images_uint8).__name__
            raise ValueError(f"images must be a uint8 tensor (N, {', '.join(map(str, shape))}), got {got}; use pipeline.prepare for any picture.")
        if images_uint8.shape[0] == 0:
            raise ValueError("images holds no pictures (N = 0); give at least one.")
        defaults = RefineConfig()
        config = RefineConfig(
            steps=defaults.steps if steps is None else steps,
            restarts=defaults.restarts if restarts is None else restarts,
            feature_weight=defaults.feature_weight if self.discriminator is not None else 0.0,
        )
        seed = check_seed(seed)
        encoder = self.encoder if use_encoder else None
        if encoder is None and config.restarts == 0:
            raise ValueError("restarts must be at least 1 when no encoder is used: refinement needs somewhere to start.")
        began = time.perf_counter()
        chunks = images_uint8.split(max(1, int(batch_size)))
        total = config.steps * len(chunks)
        results, steps_run, stopped = [], 0, False
        for index, chunk in enumerate(chunks):
            chunk_progress = None if progress is None else (lambda done, _total, base=index * config.steps: progress(base + done, total))
            found = refine(self.generator, images.to_model_range(chunk), discriminator=self.discriminator, encoder=encoder, config=config, seed=seed, progress=chunk_progress, should_stop=should_stop)
            results.append((chunk, found.z))
            steps_run = max(steps_run, found.steps)
            if found.stopped:
                stopped = True
        kappa = self.reference.kappa if self.reference is not None else _anomaly.KAPPA
        parts = {"z": [], "reconstructions": [], "pixel_error": [], "pixel_residual": [], "feature_residual": []}
        with torch.inference_mode():
            for chunk, z in results:
                x = images.to_model_range(chunk)
                drawn = self.generator(z.to(self.device)).float().cpu()  # G(z*): the reconstruction
                # The anomaly score is f-AnoGAN's: at z = E(x) when an encoder is used (see gan_core.inversion.anomaly).
                z_score = encode(encoder, x, self.noise) if encoder is not None else z
                pixel, feature, _ = _anomaly.residuals(self.generator, self.discriminator, x, z_score)
                parts["z"].append(z)
                parts["reconstructions"].append(images.to_uint8(drawn))
                parts["pixel_error"].append((x - drawn).abs().flatten(1).mean(1) / 2)
                parts["pixel_residual"].append(pixel)
                parts["feature_residual"].append(feature)
        pixel_residual = torch.cat(parts["pixel_residual"])
        feature_residual = None if self.discriminator is None else torch.cat(parts["feature_residual"])
        return Inversions(
            z=torch.cat(parts["z"]),
            reconstructions=torch.cat(parts["reconstructions"]),
            pixel_error=torch.cat(parts["pixel_error"]),
            pixel_residual=pixel_residual,
            feature_residual=feature_residual,
            scores=_anomaly.combine(pixel_residual, feature_residual, kappa),
            score_from="encoder" if encoder is not None else "refinement",
            steps=steps_run,
            stopped=stopped,
            seconds=time.perf_counter() - began,
            used_encoder=encoder is not None,
        )

    def invert(
        self,
        picture,
        *,
        steps: int | None = None,
        restarts: int | None = None,
        seed: int = 0,
        progress: Progress | None = None,
        should_stop: StopSignal | None = None,
    ) -> Inversion:
        """Find a picture in G's latent space: prepare it, find z, draw G(z), score how unusual it is.

        ``picture``: what :meth:`prepare` accepts. ``steps``/``restarts``: refinement effort (with the defaults a
        28 px model takes about 0.6 s on one CPU core); ``seed`` fixes the random starts; ``progress(done, total)`` is called
        during refinement; ``should_stop`` (callable or threading.Event) ends it early with the best z so far.
        Works without an encoder (random starts only) and says so in ``note``. The anomaly score is the one of
        :meth:`anomaly_score` (at E(x) when an encoder ships), so the percentile does not depend on ``steps``.
        """
        began = time.perf_counter()
        prepared = self.prepare(picture)
        x_uint8 = _prepare.to_tensor(prepared)[None]  # (1, C, H, W)
        found = self.invert_images(x_uint8, steps=steps, restarts=restarts, seed=seed, progress=progress, should_stop=should_stop)
        score = float(found.scores[0])
        verdicts = [None, None]
        if self.discriminator is not None:
            with torch.inference_mode():
                both = torch.cat([images.to_model_range(x_uint8), images.to_model_range(found.reconstructions)]).to(self.device)
                verdicts = torch.sigmoid(self.discriminator(both).float()).tolist()
        residual = images.to_uint8((images.to_model_range(x_uint8) - images.to_model_range(found.reconstructions)).abs() - 1)
        notes = []
        if not found.used_encoder:
            notes.append(f"No encoder ships with this model: z was searched from {RefineConfig().restarts if restarts is None else restarts} random starts only (train one: python -m gan_core.train_encoder MODEL_DIR).")
        if found.stopped:
            notes.append(f"Stopped after {found.steps} steps: the best z found so far is shown.")
        return Inversion(
            prepared=prepared,
            z=tuple(found.z[0].tolist()),
            reconstruction=images.channels_last_numpy(found.reconstructions)[0],
            residual=images.channels_last_numpy(residual)[0],
            score=score,
            percentile=self.reference.percentile(score) if self.reference is not None else None,
            summary=self._describe(score),
            pixel_error=float(found.pixel_error[0]),
            score_from=found.score_from,
            pixel_residual=float(found.pixel_residual[0]),
            feature_residual=None if found.feature_residual is None else float(found.feature_residual[0]),
            p_real=verdicts[0],
            p_real_reconstruction=verdicts[1],
            steps=found.steps,
            seconds=time.perf_counter() - began,
            stopped=found.stopped,
            used_encoder=found.used_encoder,
            note=" ".join(notes),
        )

    def anomaly_score(self, picture, *, steps: int | None = None, restarts: int | None = None, seed: int = 0) -> Anomaly:
        """How unusual a picture is for this model: the f-AnoGAN score and, when the model ships reference scores,
        its percentile among real test pictures (see :mod:`gan_core.inversion.anomaly`).

        With an encoder this is E(x) alone (milliseconds; ``steps``/``restarts`` are not needed); without one, z
        is refined first (``steps``, ``restarts``, ``seed`` as in :meth:`invert`).
        """
        x_uint8 = _prepare.to_tensor(self.prepare(picture))[None]
        if self.encoder is not None:
            found = self.invert_images(x_uint8, steps=0, restarts=0)
        else:
            found = self.invert_images(x_uint8, steps=steps, restarts=restarts, seed=seed)
        score = float(found.scores[0])
        return Anomaly(
            score=score,
            percentile=self.reference.percentile(score) if self.reference is not None else None,
            summary=self._describe(score),
            score_from=found.score_from,
            pixel_residual=float(found.pixel_residual[0]),
            feature_residual=None if found.feature_residual is None else float(found.feature_residual[0]),
        )

    def _describe(self, score: float) -> str:
        if self.reference is not None:
            return self.reference.describe(score)
        return f"Anomaly score {score:.3f} (higher is more unusual); this model ships no reference scores to compare it with."


def _is_log_record(record) -> bool:
    if not isinstance(record, dict) or not all(isinstance(record.get(k), (int, float)) for k in ("step", "loss_d", "loss_g", "d_real", "d_fake")):
        raise ValueError(f"a record lacks step, loss_d, loss_g, d_real or d_fake: {str(record)[:60]}")
    return True
