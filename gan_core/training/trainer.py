"""The adversarial game (Goodfellow et al. 2014) with DCGAN's settings, plus EMA and checkpoints.

One :class:`Trainer` owns a run: G, D, an EMA copy of G, both optimizers, the data on the
training device, the fixed noise of the sample timeline, and the step counter. Randomness
is derived from ``(seed, step)`` and ``(seed, epoch)``, so a resumed run replays the exact
stream of an uninterrupted one (bit-identical on the CPU).

A run never destroys another: a new run refuses an ``out_dir`` that holds one unless told to start
over (``overwrite=True``, ``--overwrite``). Checkpoints carry the SHA-256 of their payload, so a
damaged file is refused instead of resumed; a write that fails (a full disk) removes its temporary
file, keeps the previous checkpoint and says what happened (:class:`OutputWriteError`).
"""

from __future__ import annotations

import contextlib
import copy
import errno
import hashlib
import io
import json
import logging
import math
import numbers
import os
import shutil
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

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
from gan_core.training.config import TrainConfig, check_resume
from gan_core.training.distributed import Distributed, SharedError, copy_module, plain_batchnorm, process_device, split_batch

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"
# 1: flat config; 2: the config in sections (model, optim, data, run); 3: the torch.save payload is
# framed by CHECKPOINT_MAGIC and its SHA-256, so a damaged file is found before it is resumed.
CHECKPOINT_FORMAT = 3
CHECKPOINT_MAGIC = b"GANCORE-CKPT-v3\n"  # 16 bytes, then the 32-byte SHA-256 of the payload, then the payload
LOSS_PLOT_NAME = "loss.png"
SAMPLES_NAME = "samples.png"
# Everything a run writes in its out_dir (and nothing else): what --overwrite removes.
RUN_OUTPUTS = (
    CHECKPOINT_NAME, CHECKPOINT_NAME + ".tmp", hub.LOG_NAME, hub.LOG_NAME + ".tmp", hub.TIMELINE_DIR, hub.SNAPSHOT_DIR,
    "generator", "discriminator", LOSS_PLOT_NAME, SAMPLES_NAME,
)  # fmt: skip


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


@torch.no_grad()
def recalibrate_batchnorm(
    generator: Generator, num_batches: int, batch_size: int, noise: str, seed: int, device: torch.device
) -> Generator:
    """Re-estimate G's BatchNorm running statistics as exact averages over fresh noise batches.

    Returns ``generator`` in eval mode. With num_batches = 0 it is left unchanged.
    """
    if num_batches == 0:
        return generator.eval()
    bns = [m for m in generator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: the exact mean over the batches
    generator.train()
    rng = torch.Generator(device=device).manual_seed(seed)
    for _ in range(num_batches):
        generator(sample_noise(batch_size, generator.latent_dim, rng, noise, device))
    for m, momentum in zip(bns, saved):
        m.momentum = momentum
    return generator.eval()


# ----------------------------------------------------------------------------- the run's folder


def check_out_dir(out_dir: str | os.PathLike) -> None:
    """Raise ValueError unless ``out_dir`` is a folder this process may write in, or can create.

    Called before any data is loaded, so a read-only or impossible --out-dir costs nothing.
    """
    path = Path(out_dir).absolute()
    existing = path
    while not existing.exists() and existing.parent != existing:
        if os.path.lexists(existing):
            raise ValueError(f"--out-dir {out_dir} cannot be created: {existing} is a broken link; remove it or choose another --out-dir.")
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"--out-dir {out_dir} cannot be created: {existing} is a file, not a folder; choose another --out-dir.")
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "is read-only" if existing == path else f"cannot be created: {existing} is read-only"
        raise ValueError(f"--out-dir {out_dir} {where}; choose a folder you can write to.")
    # Permissions do not tell everything (a read-only mount, /proc, a network share): try, and leave nothing behind.
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".gan_core-write-check-", dir=existing))
    except OSError as err:
        where = "cannot be written" if existing == path else f"cannot be created in {existing}"
        raise ValueError(f"--out-dir {out_dir} {where} ({err.strerror or err}); choose a folder you can write to.") from err


def run_outputs(out_dir: str | os.PathLike) -> list[Path]:
    """The files and folders a run wrote in ``out_dir`` (checkpoint, log, timeline, exports, ...), those present."""
    return [Path(out_dir) / name for name in RUN_OUTPUTS if os.path.lexists(Path(out_dir) / name)]


def remove_run_outputs(out_dir: str | os.PathLike) -> list[Path]:
    """Delete what a run wrote in ``out_dir`` (only :data:`RUN_OUTPUTS`; other files stay). Returns what was removed."""
    removed = run_outputs(out_dir)
    for path in removed:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    return removed


class OutputWriteError(OSError):
    """Writing one of the run's files failed (a full disk, a read-only folder).

    The message is one sentence: which file, why (with the space it needed when known), what is
    kept, and how to go on. The temporary file of the failed write is removed.
    """


def _size(num_bytes: int) -> str:
    return f"{num_bytes / 1e6:.1f} MB" if num_bytes >= 100_000 else f"{max(num_bytes, 0) / 1e3:.0f} kB"


def _free_bytes(path: Path) -> int | None:
    for folder in (path.parent, *path.parent.parents):
        if folder.is_dir():
            with contextlib.suppress(OSError):
                return shutil.disk_usage(folder).free
            return None
    return None


def _first_line(err: BaseException, limit: int = 160) -> str:
    text = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_torch_write_failure(err: RuntimeError) -> bool:
    """torch.save's writer reports a failed write (e.g. a full disk) as RuntimeError('[enforce fail at inline_container.cc...')."""
    message = str(err)
    return any(mark in message for mark in ("PytorchStreamWriter", "inline_container", "file write failed"))


@contextlib.contextmanager
def _writing(path: Path, note: str, cleanup: Path | None = None):
    """Turn a failed write of ``path`` into :class:`OutputWriteError`; remove ``cleanup`` (a temporary file).

    Yields a namespace whose ``needed`` (bytes) the caller may set once it knows the size it writes.
    ``note`` completes the sentence: what is kept and how to go on.
    """
    attempt = SimpleNamespace(needed=None)
    try:
        yield attempt
    except OutputWriteError:
        raise
    except (OSError, RuntimeError) as err:
        if isinstance(err, RuntimeError) and not _is_torch_write_failure(err):
            raise
        if cleanup is not None:
            with contextlib.suppress(OSError):
                cleanup.unlink(missing_ok=True)
        free = _free_bytes(path)
        full = getattr(err, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or (
            isinstance(err, RuntimeError) and free is not None and free < (attempt.needed or 1_000_000)
        )
        if full:
            needed = f"needed {_size(attempt.needed)} and " if attempt.needed else ""
            shown_free = f"{_size(free)} are free" if free is not None else "no space is left"
            problem = f"The disk is full: writing {path} {needed}{shown_free}"
        else:
            reason = err.strerror if isinstance(err, OSError) and err.strerror else _first_line(err)
            problem = f"Could not write {path} ({reason})"
        raise OutputWriteError(f"{problem}; {note}.") from err


def _atomic_write(path: Path, parts) -> None:
    """Write ``parts`` (bytes-like) to path.tmp, fsync, then rename over ``path``: never half a file at ``path``."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.writelines(parts)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise


def encode_checkpoint(state: dict) -> list:
    """A checkpoint file's bytes as parts: CHECKPOINT_MAGIC, SHA-256 of the payload, the torch.save payload."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getbuffer()
    return [CHECKPOINT_MAGIC, hashlib.sha256(payload).digest(), payload]


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
    """Owns one training run. ``Trainer(config).train()`` runs it to its limits and exports.

    ``checkpoint`` (from :func:`load_checkpoint`) continues a run: it is checked against ``config``
    before any data is loaded (model, optimisation and data must match, else ValueError) and
    restored once the networks are built. Without one, ``config.run.out_dir`` must not hold a run
    (ValueError naming --resume and --overwrite) unless ``overwrite``: then the old run's files
    (:data:`RUN_OUTPUTS`) are removed once this run is set up, so a mistake in it keeps the old run.
    The out_dir is checked writable before the data is loaded.

    ``distributed`` (from :func:`gan_core.training.distributed.init_from_env`, under torchrun) makes this
    one process of a multi-process run: it trains on its share of every global batch, and only process
    0 looks at and writes the out_dir (checks, checkpoints, log, timeline, exports); see that module.
    """

    def __init__(self, config: TrainConfig, data: ImageData | None = None, command: str = "", checkpoint: dict | None = None, overwrite: bool = False,
                 distributed: Distributed | None = None):  # fmt: skip
        if checkpoint is not None:
            if overwrite:
                raise ValueError("Resuming a run and starting it over exclude each other: give --resume or --overwrite, not both.")
            check_checkpoint(checkpoint, "the resume checkpoint")
        self.commands = [command] if command else []  # every invocation of this run, for the manifest
        run = config.run
        self.world = distributed
        self.is_main = distributed is None or distributed.is_main  # the process that reads and writes out_dir
        self.world_size = 1 if distributed is None else distributed.world_size
        if distributed is None:
            self.device = resolve_device(run.device)
        else:
            self.device = process_device(run.device, distributed.local_rank)
            if config.optim.batch_size is not None:  # a batch that does not split is refused before any work
                split_batch(config.optim.batch_size, distributed.world_size)
        self.out_dir = Path(run.out_dir)
        old_run = self._check_out_dir(fresh=checkpoint is None, overwrite=overwrite)
        self._saved_step: int | None = None  # the step of the checkpoint on disk, for error messages
        if data is None:
            data = self._load_data(config)
        self.data_info = data
        # The data decides what the config left open; the resolved config is what checkpoints and manifests record.
        asked = config.optim
        self.config = config = config.resolve(len(data), data.image_size, data.channels)
        self.batch_note = f"batch {config.optim.batch_size}" + (
            f" (auto: {len(data):,} pictures, {len(data) // config.optim.batch_size} steps per epoch)" if asked.batch_size is None else ""
        )
        if distributed is not None:
            self.local_batch = split_batch(config.optim.batch_size, distributed.world_size)
        model = config.model
        if checkpoint is not None:
            check_resume(TrainConfig.from_dict(checkpoint["config"]), config)
        if (data.image_size, data.channels) != (model.image_size, model.channels):
            raise ValueError(f"data is {data.channels}x{data.image_size}px, config asks {model.channels}x{model.image_size}px.")
        batch_size = config.optim.batch_size
        if len(data) < batch_size:
            raise ValueError(f"{config.data.dataset} has {len(data)} images, fewer than one batch of {batch_size}; lower --batch-size.")

        cuda = self.device.type == "cuda"
        self.amp_dtype, self.memory_format, self.speed_note = speed_settings(run, self.device)
        if cuda:
            torch.backends.cudnn.benchmark = True

        # The whole training set lives on the device as uint8: (N, C, H, W).
        self.images = data.images.to(self.device)
        self.steps_per_epoch = len(data) // batch_size

        optim = config.optim
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
            saved_world_size = checkpoint.get("world_size", 1)
            if saved_world_size != self.world_size and self.is_main:
                logger.warning(
                    "the checkpoint was written by a run on %d process(es) and continues on %d: the same global batch (%d) and data order, "
                    "but %s so the weights will not be bit-identical to a continuation on %d",
                    saved_world_size, self.world_size, config.optim.batch_size,
                    "the float sums are ordered differently," if run.sync_batchnorm else "BatchNorm normalises over shares of another size (see --sync-batchnorm),",
                    saved_world_size,
                )  # fmt: skip
        if distributed is not None:
            self._start_distributed()
        if run.compile:
            # G and D compiled, not the whole step: a compiled step holding two backward passes and the optimizer
            # steps fails in torch 2.13 ("backward through the graph a second time").
            self._g_step, self._d_step = torch.compile(self._g_step), torch.compile(self._d_step)
        if old_run:
            with self._writing(self.out_dir):
                removed = remove_run_outputs(self.out_dir)
            logger.warning("--overwrite: removed the previous run in %s (%s)", self.out_dir, ", ".join(p.name for p in removed))

    def _check_out_dir(self, fresh: bool, overwrite: bool) -> list[Path]:
        """Check out_dir (writable; for a new run, holding no run unless ``overwrite``); return the old run's files.

        With several processes process 0 alone looks, and the others wait for its verdict: the same
        ValueError on every process, or the go-ahead.
        """
        old_run, problem = [], None
        if self.is_main:
            try:
                check_out_dir(self.out_dir)
                old_run = run_outputs(self.out_dir) if fresh else []
                if old_run and not overwrite:
                    names = ", ".join(p.name for p in old_run[:4]) + (", ..." if len(old_run) > 4 else "")
                    raise ValueError(
                        f"{self.out_dir} already holds a run ({names}): continue it with --resume, start it over with "
                        "--overwrite (deletes those files), or choose another --out-dir."
                    )
            except ValueError as err:
                if self.world is None:
                    raise
                problem = err
        if self.world is not None:
            message = self.world.share(None if problem is None else str(problem))
            if problem is not None:
                raise problem
            if message is not None:
                raise SharedError(message)
        return old_run

    def _load_data(self, config: TrainConfig) -> ImageData:
        """The dataset. With several processes, each node's first process loads it first (a download lands
        once in the shared cache), then the others."""

        def load() -> ImageData:
            return load_dataset(config.data.dataset, data_dir=config.data.data_dir, image_size=config.model.image_size, channels=config.model.channels, download=config.data.download)

        if self.world is None:
            return load()
        first = self.world.local_rank == 0
        if not first:
            self.world.barrier()
        data = load()
        if first:
            self.world.barrier()
        return data

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
                loss_g = F.binary_cross_entropy_with_logits(d_fake_after, torch.ones_like(d_fake_after))
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
        try:
            self.generator.load_state_dict(state["generator"])
            self.discriminator.load_state_dict(state["discriminator"])
            self.ema.model.load_state_dict(state["ema"])
            self.opt_g.load_state_dict(state["opt_g"])
            self.opt_d.load_state_dict(state["opt_d"])
            self.step = int(state["step"])
            self.elapsed = float(state.get("elapsed", 0.0))
            self.fixed_noise = state["fixed_noise"].to(self.device)
            self.commands = list(state.get("commands", [])) + self.commands
            torch.set_rng_state(state["rng"]["torch"])
            if state["rng"]["cuda"] and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as err:
            raise ValueError(f"The resume checkpoint does not fit this run ({_first_line(err)}); resume from another copy, or start over with --overwrite.") from err
        self._saved_step = self.step
        if self.is_main:
            self._drop_log_records_after(self.step)

    def _write_note(self) -> str:
        """How a failed write leaves the run, for :class:`OutputWriteError`'s sentence."""
        if self._saved_step is None:
            return "no checkpoint was written yet: free some space (or fix the folder), then start again with --overwrite"
        return f"the checkpoint of step {self._saved_step} is intact: free some space (or fix the folder), then continue with --resume"

    def _writing(self, path: Path, cleanup: Path | None = None):
        return _writing(path, self._write_note(), cleanup)

    def save_checkpoint(self) -> Path:
        """Write checkpoint.pt atomically (format 3: magic, SHA-256, payload). A failed write keeps the previous one."""
        path = self.out_dir / CHECKPOINT_NAME
        with self._writing(path, cleanup=path.with_name(path.name + ".tmp")) as attempt:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            parts = encode_checkpoint(self.state_dict())
            attempt.needed = sum(len(part) for part in parts)
            _atomic_write(path, parts)
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

    def _drop_log_records_after(self, step: int) -> None:
        """A run killed after its last checkpoint logged steps that the resumed run will replay: drop them.

        A line that is not a log record (torn by a kill or a full disk mid-write) is dropped too, with a warning.
        """
        log_path = self.out_dir / hub.LOG_NAME
        if not log_path.exists():
            return
        kept, torn = [], []
        for number, line in enumerate(log_path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            recorded_step = record.get("step") if isinstance(record, dict) else None
            if not isinstance(recorded_step, int) or isinstance(recorded_step, bool):
                torn.append(number)
            elif recorded_step <= step:
                kept.append(line)
        if torn:
            lines = ", ".join(map(str, torn[:5])) + (", ..." if len(torn) > 5 else "")
            logger.warning("%s: dropped %d unreadable line(s) (line %s), most likely torn by an interrupted write", log_path, len(torn), lines)
        with self._writing(log_path):
            _atomic_write(log_path, ["".join(line + "\n" for line in kept).encode()])

    def _log(self, record: dict) -> None:
        """Append one JSON line; a failed append is cut back off, so the log never keeps half a record."""
        path = self.out_dir / hub.LOG_NAME
        line = json.dumps(record) + "\n"
        with self._writing(path):
            self.out_dir.mkdir(parents=True, exist_ok=True)
            size = path.stat().st_size if path.exists() else 0
            try:
                with open(path, "a") as handle:
                    handle.write(line)
            except OSError:
                with contextlib.suppress(OSError):
                    os.truncate(path, size)
                raise

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
        discriminator = plain_batchnorm(copy_module(self.discriminator, self.world)).cpu().eval().to(memory_format=torch.contiguous_format)
        self.export(generator, discriminator)
        log_path = self.out_dir / hub.LOG_NAME
        if log_path.exists():
            with self._writing(self.out_dir / LOSS_PLOT_NAME):
                plots.plot_losses(log_path, self.out_dir / LOSS_PLOT_NAME)
        grid = self.fixed_noise_grid(generator)
        with self._writing(self.out_dir / SAMPLES_NAME, cleanup=self.out_dir / SAMPLES_NAME):
            images.save_png(grid, self.out_dir / SAMPLES_NAME)

    def manifest(self) -> RunManifest:
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
        )

    def export(self, generator: Generator, discriminator: Discriminator) -> None:
        """Write generator/ and discriminator/: config.json, model.safetensors, run.json, a card rendered from it, model.onnx."""
        manifest = self.manifest()
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
                logger.warning("model.onnx not written (%s): pip install 'dcgan-latent-explorer[onnx]', then python -m gan_core.export %s", err, self.out_dir)


def describe_data(data: ImageData) -> str:
    return f"{len(data):,} training images ({data.channels} channel(s), {data.image_size}x{data.image_size}) from `{data.source}`."


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read and check a checkpoint safely (weights_only=True). Raises FileNotFoundError/ValueError naming the path.

    Format 3 files are refused when their payload does not match the SHA-256 stored with it; the
    unframed files of formats 1 and 2 are checked against their zip CRCs. Every key, type and
    tensor shape is checked against the checkpoint's own config (:func:`check_checkpoint`).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint at {path}; a run writes {CHECKPOINT_NAME} in its --out-dir.")
    header_size = len(CHECKPOINT_MAGIC) + hashlib.sha256().digest_size
    try:
        with open(path, "rb") as handle:  # payload as one bytes object: BytesIO shares it, no second copy
            header = handle.read(header_size)
            framed = header.startswith(CHECKPOINT_MAGIC)
            payload = handle.read() if framed else header + handle.read()
    except OSError as err:
        raise ValueError(f"Cannot read the checkpoint {path} ({err.strerror or err}).") from err
    damaged = f"{path} is damaged: {{}}; resume from another copy of it, or start the run over with --overwrite."
    if framed:
        if len(header) < header_size or hashlib.sha256(payload).digest() != header[len(CHECKPOINT_MAGIC) :]:
            raise ValueError(damaged.format("its contents do not match the SHA-256 stored with them (a disk error, an incomplete copy or an edit)"))
        formats = (CHECKPOINT_FORMAT,)
    elif payload.startswith(b"PK\x03\x04"):  # formats 1 and 2: a bare torch.save zip; its CRCs are the only check
        try:
            bad_member = zipfile.ZipFile(io.BytesIO(payload)).testzip()
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
            raise ValueError(damaged.format(f"its zip structure is broken ({_first_line(err)})")) from err
        if bad_member is not None:
            raise ValueError(damaged.format(f"{bad_member} fails its CRC check"))
        formats = (1, 2)
    else:
        raise ValueError(f"{path} is not a gan_core checkpoint (it starts with {shown(payload[:16])}); give the {CHECKPOINT_NAME} a run wrote.")
    try:
        state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except Exception as err:  # any unpickling failure means the file is not ours
        raise ValueError(f"{path} is not a readable gan_core checkpoint ({_first_line(err)}).") from err
    if not isinstance(state, dict) or state.get("format") not in formats:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"{path} is not a gan_core checkpoint (format {shown(found)}; expected {' or '.join(map(str, formats))}).")
    check_checkpoint(state, str(path))
    return state


_CHECKPOINT_KEYS = ("config", "generator", "discriminator", "ema", "opt_g", "opt_d", "step", "fixed_noise", "rng")
_ADAM_GROUP_KEYS = ("lr", "betas", "eps", "weight_decay")


def check_checkpoint(state, name: str = "the checkpoint") -> None:
    """Raise ValueError (one sentence naming ``name``) unless ``state`` is a whole gan_core checkpoint.

    Checks every key and type, and every tensor's shape against the networks its own config builds
    (built on the meta device: no memory, no data), so a tampered or truncated state is refused
    before anything is loaded instead of failing with a KeyError or a shape error mid-restore.
    """

    def refuse(problem: str):
        raise ValueError(f"{name} is not a usable gan_core checkpoint: {problem}; resume from another copy, or start the run over with --overwrite.")

    if not isinstance(state, dict):
        refuse(f"it holds {type(state).__name__}, not a dict")
    missing = [key for key in _CHECKPOINT_KEYS if key not in state]
    if missing:
        refuse(f"it lacks {', '.join(missing)}")
    try:
        config = TrainConfig.from_dict(state["config"])
    except (ValueError, TypeError, AttributeError) as err:
        refuse(f"its training config is invalid ({_first_line(err)})")
    if not config.model.resolved:
        refuse("its config does not give the image size and channels")
    step = state["step"]
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        refuse(f"its step is {shown(step)}, not a whole number of at least 0")
    if "elapsed" in state and (isinstance(state["elapsed"], bool) or not isinstance(state["elapsed"], numbers.Real)):
        refuse(f"its elapsed time is {shown(state['elapsed'])}, not a number")
    if "world_size" in state and (isinstance(state["world_size"], bool) or not isinstance(state["world_size"], int) or state["world_size"] < 1):
        refuse(f"its number of processes is {shown(state['world_size'])}, not a whole number of at least 1")
    if "commands" in state and not (isinstance(state["commands"], list) and all(isinstance(c, str) for c in state["commands"])):
        refuse("its commands are not a list of strings")
    rng = state["rng"]
    cpu_state_size = torch.get_rng_state().numel()
    if not (isinstance(rng, dict) and _is_byte_tensor(rng.get("torch"), cpu_state_size) and isinstance(rng.get("cuda"), list)
            and all(_is_byte_tensor(s) for s in rng["cuda"])):  # fmt: skip
        refuse("its random number generator state is malformed")
    latent_dim = config.model.latent_dim
    noise = state["fixed_noise"]
    if not (isinstance(noise, torch.Tensor) and noise.is_floating_point() and noise.dim() == 2 and noise.shape[0] >= 1 and noise.shape[1] == latent_dim):
        found = tuple(noise.shape) if isinstance(noise, torch.Tensor) else type(noise).__name__
        refuse(f"its fixed noise is {found}, not (N, {latent_dim}) floats")
    with torch.device("meta"):  # shapes only
        generator = Generator(**config.model.generator_kwargs())
        discriminator = Discriminator(**config.model.discriminator_kwargs())
    for key, model in (("generator", generator), ("discriminator", discriminator), ("ema", generator)):
        problem = _tensor_mismatch(state[key], model.state_dict())
        if problem:
            refuse(f"its {key} weights do not match its config ({problem})")
    for key, model in (("opt_g", generator), ("opt_d", discriminator)):
        problem = _adam_mismatch(state[key], [p.shape for p in model.parameters()])
        if problem:
            refuse(f"its optimizer state {key} does not match its config ({problem})")


def _is_byte_tensor(value, numel: int | None = None) -> bool:
    return isinstance(value, torch.Tensor) and value.dtype == torch.uint8 and value.dim() == 1 and (numel is None or value.numel() == numel)


def _tensor_mismatch(saved, expected: dict) -> str | None:
    """What differs between a saved state dict and the expected one (names, types, shapes), or None."""
    if not isinstance(saved, dict):
        return f"{type(saved).__name__} instead of a dict of tensors"
    missing, unexpected = sorted(set(expected) - set(saved)), sorted(set(saved) - set(expected), key=str)
    if missing or unexpected:
        return f"missing {shown(missing)}, unexpected {shown(unexpected)}"
    for key, want in expected.items():
        got = saved[key]
        if not isinstance(got, torch.Tensor) or got.is_floating_point() != want.is_floating_point():
            return f"{key} is {shown(got) if not isinstance(got, torch.Tensor) else got.dtype}, expected a {want.dtype} tensor"
        if got.shape != want.shape:
            return f"{key} has shape {tuple(got.shape)}, the config builds {tuple(want.shape)}"
    return None


def _adam_mismatch(saved, shapes: list) -> str | None:
    """What is wrong with a saved Adam state dict for parameters of ``shapes`` (in order), or None."""
    if not isinstance(saved, dict) or not isinstance(saved.get("state"), dict) or not isinstance(saved.get("param_groups"), list):
        return "not a dict with state and param_groups"
    ids = []
    for group in saved["param_groups"]:
        if not isinstance(group, dict) or not isinstance(group.get("params"), list):
            return "a parameter group without its parameter list"
        bad = [k for k in _ADAM_GROUP_KEYS if k not in group]
        if bad:
            return f"a parameter group lacks {', '.join(bad)}"
        ids += group["params"]
    if len(ids) != len(shapes) or len(set(ids)) != len(ids) or not all(isinstance(i, int) for i in ids):
        return f"{len(ids)} parameter ids for {len(shapes)} parameters"
    position = {param_id: index for index, param_id in enumerate(ids)}
    for param_id, entry in saved["state"].items():
        if param_id not in position:
            return f"state for an unknown parameter {shown(param_id)}"
        shape = shapes[position[param_id]]
        if not isinstance(entry, dict) or "step" not in entry:
            return f"parameter {param_id} has no step count"
        for moment in ("exp_avg", "exp_avg_sq"):
            value = entry.get(moment)
            if not isinstance(value, torch.Tensor) or value.shape != shape:
                found = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                return f"{moment} of parameter {param_id} is {found}, the parameter is {tuple(shape)}"
    return None
