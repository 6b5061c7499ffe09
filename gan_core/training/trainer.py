"""The adversarial game (Goodfellow et al. 2014) with DCGAN's settings, plus EMA.

One :class:`Trainer` owns a run: G, D, an EMA copy of G, both optimizers, the data on the
training device, the fixed noise of the sample timeline, and the step counter. Randomness
is derived from ``(seed, step)`` and ``(seed, epoch)``, so a resumed run replays the exact
stream of an uninterrupted one (bit-identical on the CPU). :meth:`Trainer.create` sets a run up
(its folder, its data, the config the data completes); what the run keeps on disk (checkpoints,
log, the folder's rules) is :mod:`gan_core.training.checkpoint`.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import gan_core
from gan_core.core import hub, images
from gan_core.core.checks import shown
from gan_core.core.data import ImageData, load_dataset
from gan_core.core.latent import sample_noise
from gan_core.core.manifest import RunManifest, render_card, write_manifest
from gan_core.core.models import Discriminator, Generator
from gan_core.core.onnx_export import export_model
from gan_core.pipeline import GanPipeline
from gan_core.training.augment import diff_augment
from gan_core.training.calibration import calibrate_discriminator, measure_verdicts, recalibrate_batchnorm
from gan_core.training.checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_NAME,
    LOSS_PLOT_NAME,
    SAMPLES_NAME,
    append_log,
    check_checkpoint,
    check_run_folder,
    first_line,
    remove_run_outputs,
    trim_log,
    write_checkpoint,
    write_note,
    writing,
)
from gan_core.training.config import BRANCH_IDENTITY, IDENTITY, TrainConfig, check_resume
from gan_core.training.distributed import Distributed, copy_module, plain_batchnorm, process_device, split_batch

logger = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    """'auto' -> CUDA, then Apple MPS, then CPU; otherwise the named device, checked."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ValueError(f"Unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps.") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but CUDA is not available here; use --device auto or cpu.")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {name!r} asked for, but Apple MPS is not available here; use --device auto or cpu.")
    return device


def training_device(name: str, world: Distributed | None = None) -> torch.device:
    """The device a run (``world``: one process of a multi-process run) trains on; ValueError for one it cannot have."""
    return resolve_device(name) if world is None else process_device(name, world.local_rank)


@contextlib.contextmanager
def _frozen(module: nn.Module):
    """Parameters of ``module`` need no gradient inside the block (their gradients are not computed)."""
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def top_k(logits: torch.Tensor, fraction: float) -> torch.Tensor:
    """The ``fraction`` of D's logits (B,) on a batch of fakes that D rates most real: at least one; all for 1.0."""
    if fraction >= 1.0:
        return logits
    return logits.topk(max(1, round(fraction * logits.shape[0]))).values


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AVX-512 BF16 or AMX). Without it bf16 autocast is
    emulated and slower than fp32."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):  # private helpers: a torch without them gets the safe answer
        return False


def cpu_prefers_channels_last() -> bool:
    """Whether oneDNN runs this CPU's convolutions in channels_last (NHWC) natively: x86 with AVX2 or
    AVX-512. Measured here (AVX-512): +27% training images/s in fp32, +22% under bf16."""
    return torch.backends.mkldnn.is_available() and torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512")


def speed_settings(run, device: torch.device) -> tuple[torch.dtype | None, torch.memory_format, str]:
    """The autocast dtype and memory format a run trains with, and a line saying what was chosen and why.

    ``auto`` picks the fastest settings that keep quality (BENCHMARKS.md, "Quality at an equal time
    budget"): bf16 autocast and channels_last on CUDA; on a CPU, bf16 where it computes bf16 in
    hardware and channels_last on x86 with AVX2/AVX-512; fp32 and contiguous elsewhere (MPS included).
    """
    cpu, cuda = device.type == "cpu", device.type == "cuda"
    bf16_auto = cuda or (cpu and cpu_has_native_bf16())
    channels_last_auto = cuda or (cpu and cpu_prefers_channels_last())
    amp = run.amp == "bf16" or (run.amp == "auto" and bf16_auto)
    channels_last = run.channels_last == "on" or (run.channels_last == "auto" and channels_last_auto)
    why = ""
    if cpu and run.amp == "auto":
        why = " (this CPU computes bf16 in hardware)" if bf16_auto else " (no bf16 hardware on this CPU, so fp32)"
    note = f"training in {'bf16 autocast' if amp else 'fp32'}{why}, {'channels_last' if channels_last else 'contiguous'} memory format"
    if run.amp == "auto" or run.channels_last == "auto":
        note += "; --amp off --channels-last off trains in plain fp32"
    return (torch.bfloat16 if amp else None), (torch.channels_last if channels_last else torch.contiguous_format), note


class EMA:
    """Exponential moving average of G's parameters, with a warm-up of the decay.

    decay_t = min(decay, (1 + t) / (10 + t)): early on the average follows G closely instead of
    being dominated by the random initialisation. BatchNorm running statistics are not averaged:
    they belong to the weights that produced them, so :func:`recalibrate_batchnorm` re-estimates
    them for the averaged weights before the EMA model is used (the copied buffers of the live G
    gave blurry, collapsed samples in our measurements).
    """

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step))
        ema_params = list(self.model.parameters())
        live_params = list(model.parameters())
        torch._foreach_lerp_(ema_params, live_params, 1.0 - decay)


def load_training_data(config: TrainConfig, world: Distributed | None = None) -> ImageData:
    """The dataset of ``config``. With several processes, each node's first process loads it first (a download
    lands once in the shared cache), then the others."""

    def load() -> ImageData:
        return load_dataset(config.data.dataset, data_dir=config.data.data_dir, image_size=config.model.image_size, channels=config.model.channels, download=config.data.download)

    if world is None:
        return load()
    first = world.local_rank == 0
    if not first:
        world.barrier()
    data = load()
    if first:
        world.barrier()
    return data


def check_fits(config: TrainConfig, data: ImageData) -> None:
    """Raise ValueError unless ``config`` is resolved for ``data`` (:meth:`TrainConfig.resolve`): image size,
    channels and batch size set, the data's size and channels, at least one batch of pictures."""
    model, batch_size = config.model, config.optim.batch_size
    if not model.resolved or batch_size is None:
        raise ValueError("A Trainer takes a config resolved for its data (image size, channels, batch size); build it with Trainer.create(config, data).")
    if (data.image_size, data.channels) != (model.image_size, model.channels):
        raise ValueError(f"data is {data.channels}x{data.image_size}px, config asks {model.channels}x{model.image_size}px.")
    if len(data) < batch_size:
        raise ValueError(f"{config.data.dataset} has {len(data)} images, fewer than one batch of {batch_size}; lower --batch-size.")


@dataclass
class StepStats:
    """Running sums of the logged quantities, kept on the device (no host sync per step)."""

    sums: torch.Tensor
    count: int = 0

    @classmethod
    def new(cls, device: torch.device) -> "StepStats":
        return cls(torch.zeros(5, device=device))


STAT_NAMES = ("loss_d", "loss_g", "d_real", "d_fake", "d_fake_after")


class Trainer:
    """Owns one training run. ``Trainer.create(config).train()`` runs it to its limits and exports.

    :meth:`create` sets a run up: it checks the folder, loads the data and resolves the config for it.
    The constructor takes the outcome: a config resolved for ``data`` (:func:`check_fits`) and, to
    continue a run, a checkpoint already checked against that config; it builds G, D, the EMA and the
    optimizers, and restores the checkpoint.

    ``distributed`` (from :func:`gan_core.training.distributed.init_from_env`, under torchrun) makes this
    one process of a multi-process run: it trains on its share of every global batch, and only process
    0 looks at and writes the out_dir (checks, checkpoints, log, timeline, exports); see that module.
    """

    @classmethod
    def create(cls, config: TrainConfig, data: ImageData | None = None, *, command: str = "", checkpoint: dict | None = None,
               branch: bool = False, overwrite: bool = False, distributed: Distributed | None = None) -> Trainer:  # fmt: skip
        """Set a run up in the order that makes a mistake cheap, then build its Trainer.

        ``checkpoint`` (from :func:`~gan_core.training.checkpoint.load_checkpoint`) continues a run: it
        is checked whole first, and against the resolved config (model, optimisation and data must
        match, else ValueError). With ``branch`` the checkpoint starts a new run in ``config.run.out_dir`` with another
        optimisation recipe (only model and data must match): networks, EMA, Adam's moments and the step count come from
        it, the learning rate and betas from ``config``. Without one, ``config.run.out_dir`` must not hold a run (ValueError
        naming --resume and --overwrite) unless ``overwrite``: then the old run's files are removed once
        this run is built, so a mistake in it keeps the old run. The device and the out_dir are checked
        before the data is loaded (``data``: given, or :func:`load_training_data`); the data then decides
        what the config left open (:meth:`TrainConfig.resolve`: image size, channels, batch size).
        """
        if checkpoint is not None:
            if overwrite:
                raise ValueError("Resuming a run and starting it over exclude each other: give --resume or --overwrite, not both.")
            check_checkpoint(checkpoint, "the resume checkpoint")
        training_device(config.run.device, distributed)  # a device this machine lacks is refused before any work
        if distributed is not None and config.optim.batch_size is not None:  # so is a batch that does not split
            split_batch(config.optim.batch_size, distributed.world_size)
        old_run = check_run_folder(config.run.out_dir, fresh=checkpoint is None or branch, overwrite=overwrite, world=distributed)
        if data is None:
            data = load_training_data(config, distributed)
        config = config.resolve(len(data), data.image_size, data.channels)
        if checkpoint is not None:
            check_resume(TrainConfig.from_dict(checkpoint["config"]), config, BRANCH_IDENTITY if branch else IDENTITY)
        trainer = cls(config, data, command=command, checkpoint=checkpoint, distributed=distributed)
        if old_run:
            with trainer._writing(trainer.out_dir):
                removed = remove_run_outputs(trainer.out_dir)
            logger.warning("--overwrite: removed the previous run in %s (%s)", trainer.out_dir, ", ".join(p.name for p in removed))
        return trainer

    def __init__(self, config: TrainConfig, data: ImageData, *, command: str = "", checkpoint: dict | None = None,
                 distributed: Distributed | None = None):  # fmt: skip
        check_fits(config, data)
        model, optim, run = config.model, config.optim, config.run
        self.config, self.data_info = config, data
        self.commands = [command] if command else []  # every invocation of this run, for the manifest
        self.world = distributed
        self.is_main = distributed is None or distributed.is_main  # the process that reads and writes out_dir
        self.world_size = 1 if distributed is None else distributed.world_size
        self.local_batch = split_batch(optim.batch_size, self.world_size)  # this process's share of each batch
        self.device = training_device(run.device, distributed)
        self.out_dir = Path(run.out_dir)
        self._saved_step: int | None = None  # the step of the checkpoint on disk, for error messages
        self.amp_dtype, self.memory_format, self.speed_note = speed_settings(run, self.device)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True

        # The whole training set lives on the device as uint8: (N, C, H, W).
        self.images = data.images.to(self.device)
        self.steps_per_epoch = len(data) // optim.batch_size

        torch.manual_seed(optim.seed)  # network initialisation
        self.generator = Generator(**model.generator_kwargs()).to(self.device, memory_format=self.memory_format)
        self.discriminator = Discriminator(**model.discriminator_kwargs()).to(self.device, memory_format=self.memory_format)
        self.ema = EMA(self.generator, optim.ema_decay)
        betas = (optim.beta1, optim.beta2)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=optim.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=optim.lr, betas=betas)
        self.fixed_noise = sample_noise(run.num_fixed, model.latent_dim, torch.Generator().manual_seed(optim.seed + 10_000), model.noise).to(self.device)
        self.step = 0
        self.elapsed = 0.0  # training seconds over all invocations
        self.stop_requested = False  # set by request_stop(), e.g. from a signal handler
        self._perm, self._perm_epoch = None, -1  # the current epoch's shuffle
        # The modules a training step runs: G and D themselves, or (several processes) their DDP wrappers.
        self._g_step, self._d_step = self.generator, self.discriminator
        if checkpoint is not None:
            self._restore(checkpoint)
        if distributed is not None:
            self._start_distributed()
        if run.compile:
            # G and D compiled, not the whole step: a compiled step holding two backward passes and the optimizer
            # steps fails in torch 2.13 ("backward through the graph a second time").
            self._g_step, self._d_step = torch.compile(self._g_step), torch.compile(self._d_step)

    def _start_distributed(self) -> None:
        """Join the training group; wrap G and D in DDP (BatchNorm over the global batch with sync_batchnorm)."""
        world, run = self.world, self.config.run
        world.start_training(self.device, run.collective_timeout)
        if run.sync_batchnorm:
            world.sync_batchnorm(self.generator)
            world.sync_batchnorm(self.discriminator)
        self._g_step, self._d_step = world.wrap(self.generator), world.wrap(self.discriminator)

    @property
    def augment_note(self) -> str:
        """Whether D sees DiffAugment's pictures, as the run reports it."""
        return f"DiffAugment {self.config.optim.augment}"

    def _share_start(self) -> int:
        """The first row of this process's share of a global batch (0 with one process)."""
        return 0 if self.world is None else self.world.rank * self.local_batch

    def _share(self, rows: torch.Tensor) -> torch.Tensor:
        """This process's rows of a global-batch tensor: rows rank*b .. (rank+1)*b."""
        start = self._share_start()
        return rows[start : start + self.local_batch]

    # ------------------------------------------------------------------ randomness
    def _epoch_permutation(self, epoch: int) -> torch.Tensor:
        rng = torch.Generator().manual_seed(self.config.optim.seed * 1_000_003 + epoch)
        return torch.randperm(len(self.images), generator=rng).to(self.device)

    def _step_generator(self, step: int) -> torch.Generator:
        return torch.Generator(device=self.device).manual_seed(self.config.optim.seed * 1_000_003 + 7_919 * step + 1)

    def _augmenter(self, step: int):
        """What D sees of a batch at ``step``: DiffAugment with this step's own random stream (each call a
        fresh draw for the global batch, this process's rows), or the batch itself when augment is off."""
        if self.config.optim.augment != "on":
            return lambda x: x
        rng = torch.Generator(device=self.device).manual_seed(self.config.optim.seed * 1_000_003 + 7_919 * step + 2)
        total, offset = self.config.optim.batch_size, self._share_start()
        return lambda x: diff_augment(x, rng, total, offset)

    # ------------------------------------------------------------------ one step
    def _train_step(self, real_uint8: torch.Tensor, noise: torch.Tensor, seen=lambda x: x) -> torch.Tensor:
        """One D update and one G update; ``seen`` maps a batch to what D sees of it (DiffAugment or itself).
        Returns (Loss_D, Loss_G, D(x), D(G(z)) before and after D's update)."""
        generator, discriminator = self._g_step, self._d_step
        real = images.to_model_range(real_uint8).contiguous(memory_format=self.memory_format)  # (B, C, H, W) in [-1, 1]
        autocast = torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None)

        # (1) Update D: maximize log D(x) + log(1 - D(G(z))), i.e. minimise BCE on logits.
        with autocast:
            fake = generator(noise)  # (B, C, H, W)
            d_real = discriminator(seen(real)).float()  # (B,) logits
            d_fake = discriminator(seen(fake.detach())).float()
            loss_d = F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real)) + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()

        # (2) Update G: maximize log D(G(z)) (the non-saturating loss -log D(G(z))).
        # G's update needs the gradient through D to its input, not D's own weight gradients: D's parameters are
        # frozen for this pass, which skips computing them (the same G gradients; about a twelfth of a step's work).
        # Under DDP nothing of D is exchanged in this pass.
        with discriminator.no_sync() if self.world is not None else contextlib.nullcontext(), _frozen(self.discriminator):
            with autocast:
                d_fake_after = discriminator(seen(fake)).float()
                kept = top_k(d_fake_after, self.config.optim.top_k)  # all of them unless --top-k (under DDP: of this share)
                loss_g = F.binary_cross_entropy_with_logits(kept, torch.ones_like(kept))
            self.opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
        self.opt_g.step()

        with torch.no_grad():
            return torch.stack([
                loss_d.detach(), loss_g.detach(),
                torch.sigmoid(d_real).mean(), torch.sigmoid(d_fake).mean(), torch.sigmoid(d_fake_after).mean(),
            ])

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        return {
            "format": CHECKPOINT_FORMAT,
            "config": self.config.to_dict(),
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "ema": self.ema.model.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "step": self.step,
            "epoch": self.step / self.steps_per_epoch,
            "elapsed": self.elapsed,
            "fixed_noise": self.fixed_noise.cpu(),
            "commands": self.commands,
            "world_size": self.world_size,  # processes that trained it (the global batch does not depend on it)
            "rng": {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
        }


    def _restore(self, state: dict) -> None:
        """Continue from ``state`` (checked by :func:`check_checkpoint` and against this run's config)."""
        try:
            self.generator.load_state_dict(state["generator"])
            self.discriminator.load_state_dict(state["discriminator"])
            self.ema.model.load_state_dict(state["ema"])
            self.opt_g.load_state_dict(state["opt_g"])
            self.opt_d.load_state_dict(state["opt_d"])
            for optimizer in (self.opt_g, self.opt_d):  # the run's recipe: a branch may change them, a resume keeps them
                for group in optimizer.param_groups:
                    group["lr"], group["betas"] = self.config.optim.lr, (self.config.optim.beta1, self.config.optim.beta2)
            self.step = int(state["step"])
            self.elapsed = float(state.get("elapsed", 0.0))
            self.fixed_noise = state["fixed_noise"].to(self.device)
            self.commands = list(state.get("commands", [])) + self.commands
            torch.set_rng_state(state["rng"]["torch"])
            if state["rng"]["cuda"] and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as err:
            raise ValueError(f"The resume checkpoint does not fit this run ({first_line(err)}); resume from another copy, or start over with --overwrite.") from err
        self._saved_step = self.step
        saved_world_size = state.get("world_size", 1)
        if saved_world_size != self.world_size and self.is_main:
            logger.warning(
                "the checkpoint was written by a run on %d process(es) and continues on %d: the same global batch (%d) and data order, "
                "but %s so the weights will not be bit-identical to a continuation on %d",
                saved_world_size, self.world_size, self.config.optim.batch_size,
                "the float sums are ordered differently," if self.config.run.sync_batchnorm else "BatchNorm normalises over shares of another size (see --sync-batchnorm),",
                saved_world_size,
            )  # fmt: skip
        if self.is_main:  # a run killed after its last checkpoint logged steps that this run replays
            trim_log(self.out_dir / hub.LOG_NAME, self.step, write_note(self._saved_step))

    def _writing(self, path: Path, cleanup: Path | None = None):
        """:func:`~gan_core.training.checkpoint.writing` with what a failed write leaves of this run."""
        return writing(path, write_note(self._saved_step), cleanup)

    def save_checkpoint(self) -> Path:
        """Write checkpoint.pt atomically (format 3: magic, SHA-256, payload). A failed write keeps the previous one."""
        path = self.out_dir / CHECKPOINT_NAME
        write_checkpoint(path, self.state_dict(), write_note(self._saved_step))
        self._saved_step = self.step
        return path

    # ------------------------------------------------------------------ outputs
    def ema_generator(self) -> Generator:
        """The exported generator: EMA weights with BatchNorm statistics re-estimated for them."""
        config = self.config
        model = copy.deepcopy(self.ema.model)
        return recalibrate_batchnorm(model, config.run.bn_calibration_batches, config.optim.batch_size, config.model.noise, config.optim.seed + 20_000, self.device)

    def fixed_noise_grid(self, generator: Generator) -> np.ndarray:
        """The fixed noise batch through ``generator``, tiled 8 wide: the picture of the timeline."""
        return images.make_grid(GanPipeline(generator)(self.fixed_noise, verdict=False).images, ncols=8)

    def write_timeline_grid(self, epoch: int, generator: Generator | None = None) -> Path:
        """One PNG per epoch of the same fixed z through the EMA generator.

        ``generator``: the already recalibrated EMA generator, if the caller has it (default: made here).
        """
        folder = self.out_dir / hub.TIMELINE_DIR
        if generator is None:
            generator = self.ema_generator()
        if self.config.run.keep_snapshots:
            snapshot = copy.deepcopy(generator).cpu().to(memory_format=torch.contiguous_format)
            snapshot_dir = self.out_dir / hub.SNAPSHOT_DIR / f"epoch_{epoch:03d}"
            with self._writing(snapshot_dir):
                hub.save_model(snapshot, snapshot_dir)
        path = folder / f"epoch_{epoch:03d}.png"
        grid = self.fixed_noise_grid(generator)
        with self._writing(path, cleanup=path):
            folder.mkdir(parents=True, exist_ok=True)
            images.save_png(grid, path)
        return path


    def _log(self, record: dict) -> None:
        """Append one record to the run's JSONL log (never half a record)."""
        append_log(self.out_dir / hub.LOG_NAME, record, write_note(self._saved_step))

    # ------------------------------------------------------------------ the loop
    def target_steps(self) -> int | None:
        """The step at which this run ends (None: only the time limit ends it)."""
        return self.config.run.target_steps(self.steps_per_epoch)

    def request_stop(self) -> None:
        """Stop after the current step (safe to call from a signal handler): checkpoint, no export."""
        self.stop_requested = True

    def _advance(self, stats: StepStats) -> None:
        """One step of the run at ``self.step``: its batch and noise, the adversarial step, the EMA update; adds to ``stats``."""
        batch_size = self.config.optim.batch_size
        epoch, position = divmod(self.step, self.steps_per_epoch)
        if self._perm_epoch != epoch:
            self._perm, self._perm_epoch = self._epoch_permutation(epoch), epoch
        index = self._perm[position * batch_size : (position + 1) * batch_size]
        noise = sample_noise(batch_size, self.config.model.latent_dim, self._step_generator(self.step), self.config.model.noise, self.device)
        if self.world is not None:  # this process's share of the global batch
            index, noise = self._share(index), self._share(noise)
        stats.sums += self._train_step(self.images[index], noise, self._augmenter(self.step))
        stats.count += 1
        self.ema.update(self.generator, self.step)
        self.step += 1

    def run_steps(self, count: int) -> dict[str, float]:
        """Run ``count`` more steps, exactly the ones :meth:`train` would run next, and return their mean statistics.

        For step-wise use (the app's live training): nothing is written, no limit or stop request is
        looked at, and there is one host sync per call. Returns {"step": the step reached, "loss_d", "loss_g",
        "d_real", "d_fake", "d_fake_after": means over the ``count`` steps (D's outputs as probabilities in [0, 1])}.
        Single-process runs only.
        """
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be a whole number of at least 1, got {shown(count)}.")
        if self.world is not None:
            raise ValueError("run_steps is for single-process runs; a torchrun run trains with train().")
        self.generator.train()
        self.discriminator.train()
        stats = StepStats.new(self.device)
        for _ in range(count):
            self._advance(stats)
        means = (stats.sums / stats.count).tolist()  # the one host sync
        return {"step": self.step, **dict(zip(STAT_NAMES, means))}

    def train(self) -> dict:
        """Run until the first limit (epochs, steps, max_minutes) or a stop request; checkpoint and export.

        Returns a summary dict; ``summary["interrupted"]`` is True when :meth:`request_stop` ended
        the run early (the checkpoint is written, nothing is exported). A stop request takes effect
        between steps, so the checkpoint never holds half a step. An exception (a second Ctrl-C raises
        KeyboardInterrupt at once; a failed write raises :class:`OutputWriteError`) propagates without a
        new checkpoint; the last epoch's one remains.

        The log gets a record every ``log_every`` steps, at every epoch's end and at the end of the
        invocation (each step at most once), so even a short run leaves curves.
        """
        from tqdm.auto import tqdm

        run = self.config.run
        if not run.has_limit:
            raise ValueError("Give at least one limit: epochs, steps or max_minutes.")
        target = self.target_steps()
        deadline = time.monotonic() + run.max_minutes * 60 if run.max_minutes else None
        bar = tqdm(total=target, initial=self.step, disable=not run.progress or not self.is_main, unit="step", dynamic_ncols=True)
        stats = StepStats.new(self.device)
        window_start, window_step = time.perf_counter(), self.step
        session_start = time.perf_counter()
        base_elapsed = self.elapsed
        interrupted = False
        # Several processes must stop at the same step: a stop request or the time limit of any of them takes
        # effect at the next log window, where they agree on it (None: go on, "stop", "time").
        agreed_stop = None
        self.generator.train()
        self.discriminator.train()
        try:
            while (target is None or self.step < target) and (self.world is not None or deadline is None or time.monotonic() < deadline):
                if self.world is None and self.stop_requested:
                    interrupted = True
                    break
                if agreed_stop is not None:
                    interrupted = agreed_stop == "stop"
                    break
                self._advance(stats)
                bar.update(1)

                epoch_end = self.step % self.steps_per_epoch == 0
                if self.step % run.log_every == 0 or epoch_end:
                    self.elapsed = base_elapsed + time.perf_counter() - session_start
                    agreed_stop = self._log_window(stats, window_start, window_step, bar, deadline)
                    stats, window_start, window_step = StepStats.new(self.device), time.perf_counter(), self.step
                if epoch_end and self.is_main:
                    self.elapsed = base_elapsed + time.perf_counter() - session_start
                    self.write_timeline_grid(self.step // self.steps_per_epoch)
                    self.save_checkpoint()
            if stats.count:  # the steps since the last record: every invocation ends with one
                self.elapsed = base_elapsed + time.perf_counter() - session_start
                self._log_window(stats, window_start, window_step, bar, deadline)
        finally:
            bar.close()
        self.elapsed = base_elapsed + time.perf_counter() - session_start
        if self.is_main:
            self.save_checkpoint()
        if interrupted:
            if self.is_main:
                logger.warning("stopped at step %d: checkpoint written", self.step)
            return self._summary() | {"interrupted": True}
        if self.is_main:
            self.finish()
        return self._summary() | {"interrupted": False}

    def _summary(self) -> dict:
        return {"step": self.step, "epochs": self.step / self.steps_per_epoch, "elapsed_sec": self.elapsed, "out_dir": str(self.out_dir)}

    def _log_window(self, stats: StepStats, window_start: float, window_step: int, bar, deadline: float | None = None) -> str | None:
        """Log the window's means (averaged over the processes: one all_reduce per window, not per step).

        Returns what several processes agreed: None (go on), "stop" (a stop request) or "time" (a time limit).
        """
        means = stats.sums / max(stats.count, 1)
        agreed = None
        if self.world is not None:
            flags = torch.tensor([float(self.stop_requested), float(deadline is not None and time.monotonic() >= deadline)], device=self.device)
            total = self.world.all_reduce_sum(torch.cat([means, flags])).tolist()  # the one host sync per log window
            stop, time_up = total[len(STAT_NAMES) :]
            agreed = "stop" if stop > 0 else "time" if time_up > 0 else None
            if not self.is_main:
                return agreed
            values = [v / self.world_size for v in total[: len(STAT_NAMES)]]
        else:
            values = means.tolist()  # the one host sync per log window
        seconds = time.perf_counter() - window_start
        record = {
            "step": self.step,
            "epoch": round(self.step / self.steps_per_epoch, 4),
            **{name: round(v, 5) for name, v in zip(STAT_NAMES, values)},
            "images_per_sec": round((self.step - window_step) * self.config.optim.batch_size / max(seconds, 1e-9), 1),
            "elapsed_sec": round(self.elapsed, 2),
        }
        if self.world is not None:
            record["processes"] = self.world_size
        for name in ("loss_d", "loss_g"):
            if not math.isfinite(record[name]):
                logger.error("%s is %s at step %d: training diverged", name, record[name], self.step)
        self._log(record)
        bar.set_postfix(Loss_D=f"{values[0]:.3f}", Loss_G=f"{values[1]:.3f}", **{"D(x)": f"{values[2]:.2f}", "D(G(z))": f"{values[3]:.2f}/{values[4]:.2f}"})
        return agreed

    def finish(self) -> None:
        """Export the EMA generator and D with the run manifest and model cards, plus plots and a final grid."""
        from gan_core.training import plots

        # Recalibrated once: the timeline grid of a partial last epoch and the export share it.
        generator = self.ema_generator()
        if self.step % self.steps_per_epoch != 0 or self.step == 0:
            self.write_timeline_grid(math.ceil(self.step / self.steps_per_epoch), generator)
        generator = generator.cpu().to(memory_format=torch.contiguous_format)
        discriminator, verdicts = self.calibrated_discriminator(generator)
        self.export(generator, discriminator, verdicts)
        log_path = self.out_dir / hub.LOG_NAME
        if log_path.exists():
            with self._writing(self.out_dir / LOSS_PLOT_NAME):
                plots.plot_losses(log_path, self.out_dir / LOSS_PLOT_NAME)
        grid = self.fixed_noise_grid(generator)
        with self._writing(self.out_dir / SAMPLES_NAME, cleanup=self.out_dir / SAMPLES_NAME):
            images.save_png(grid, self.out_dir / SAMPLES_NAME)

    def calibrated_discriminator(self, generator: Generator) -> tuple[Discriminator, dict | None]:
        """The exported D, on the CPU: BatchNorm statistics re-estimated over real training pictures as D saw them
        (:mod:`gan_core.training.calibration`), and its verdicts on real training pictures and ``generator``'s."""
        config = self.config
        discriminator = plain_batchnorm(copy_module(self.discriminator, self.world)).cpu().to(memory_format=torch.contiguous_format)
        pictures = self.data_info.images
        calibrate_discriminator(
            discriminator, pictures, config.run.bn_calibration_batches, config.optim.batch_size, config.optim.seed + 30_000, augment=config.optim.augment == "on"
        )
        if config.run.bn_calibration_batches == 0:
            return discriminator, None
        verdicts = measure_verdicts(generator, discriminator, pictures, noise=config.model.noise, seed=config.optim.seed + 40_000)
        return discriminator, {**verdicts, "pictures": "training", "batches": config.run.bn_calibration_batches}

    def manifest(self, verdicts: dict | None = None) -> RunManifest:
        """What made this run's model, as recorded beside each exported part."""
        config = self.config
        return RunManifest(
            dataset=config.data.dataset,
            image_size=config.model.image_size,
            channels=config.model.channels,
            num_images=len(self.data_info),
            data_note=describe_data(self.data_info),
            training=config.to_dict(),
            steps=self.step,
            epochs=round(self.step / self.steps_per_epoch, 4),
            elapsed_sec=round(self.elapsed, 1),
            commands=list(self.commands),
            library_version=gan_core.__version__,
            exported=RunManifest.now(),
            verdicts=verdicts,
        )

    def export(self, generator: Generator, discriminator: Discriminator, verdicts: dict | None = None) -> None:
        """Write generator/ and discriminator/: config.json, model.safetensors, run.json, a card rendered from it, model.onnx."""
        manifest = self.manifest(verdicts)
        for part, model in (("generator", generator), ("discriminator", discriminator)):
            with self._writing(self.out_dir / part):
                folder = hub.save_model(model, self.out_dir / part)
                write_manifest(folder, manifest)
                (folder / hub.CARD_NAME).write_text(render_card(manifest, part, dict(model._hub_mixin_config)))
        if self.config.run.onnx:
            try:
                with self._writing(self.out_dir / "generator" / hub.ONNX_NAME):
                    export_model(generator, discriminator, self.out_dir)
            except ImportError as err:  # torch.onnx needs the onnx and onnxscript packages
                logger.warning("model.onnx not written (%s): pip install -r requirements.txt (it holds onnx and onnxscript), then python -m gan_core.export %s", err, self.out_dir)


def describe_data(data: ImageData) -> str:
    return f"{len(data):,} training images ({data.channels} channel(s), {data.image_size}x{data.image_size}) from `{data.source}`."

