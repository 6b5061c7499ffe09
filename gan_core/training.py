"""The adversarial game (Goodfellow et al. 2014) with DCGAN's settings, plus EMA and checkpoints.

One :class:`Trainer` owns a run: G, D, an EMA copy of G, both optimizers, the data on the
training device, the fixed noise of the sample timeline, and the step counter. Randomness
is derived from ``(seed, step)`` and ``(seed, epoch)``, so a resumed run replays the exact
stream of an uninterrupted one (bit-identical on the CPU).
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gan_core import hub, render
from gan_core.data import ImageData, load_dataset, parse_dataset_name, to_model_range
from gan_core.latent import check_noise_kind, sample_noise
from gan_core.models import Discriminator, Generator, plan_stack

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"
LOG_NAME = "train_log.jsonl"
TIMELINE_DIR = "timeline"
SNAPSHOT_DIR = "snapshots"

# Fields that define the model, data stream and optimisation: a checkpoint only resumes a config
# that agrees on all of them. Limits, device, output and logging may change between runs.
RESUME_KEYS = (
    "dataset", "image_size", "channels", "latent_dim", "g_features", "d_features", "batch_size",
    "lr", "beta1", "beta2", "noise", "ema_decay", "seed",
)


@dataclass
class TrainConfig:
    """Everything that defines a training run. Validated on construction."""

    dataset: str = "fashion-mnist"
    data_dir: str | None = None
    image_size: int | None = None  # None: the dataset's own size (64 for folders)
    channels: int | None = None  # None: the dataset's own channels
    latent_dim: int = 100
    # 32, not pytorch/examples' 64: at 28 px the narrower pair reached a clearly better FID in the same
    # 12 CPU minutes (BENCHMARKS.md, "Quality at an equal time budget").
    g_features: int = 32
    d_features: int = 32
    batch_size: int = 128
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    noise: str = "normal"
    ema_decay: float = 0.999
    seed: int = 0
    epochs: int | None = None
    steps: int | None = None
    max_minutes: float | None = None
    device: str = "auto"
    amp: str = "auto"  # auto: bf16 autocast on CUDA, off elsewhere
    channels_last: str = "auto"  # auto: on for CUDA
    compile: bool = False
    out_dir: str = "runs/dcgan"
    log_every: int = 50
    num_fixed: int = 64
    bn_calibration_batches: int = 32
    download: bool = True
    progress: bool = True
    keep_snapshots: bool = False  # also save the EMA generator of every epoch under snapshots/

    def __post_init__(self) -> None:
        parse_dataset_name(self.dataset)
        if self.image_size is not None:
            plan_stack(self.image_size)
        if self.channels not in (None, 1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels}.")
        for name in ("latent_dim", "g_features", "d_features", "batch_size", "log_every", "num_fixed"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        if self.epochs is not None and self.epochs < 0:
            raise ValueError(f"epochs must be 0 or more, got {self.epochs}.")
        if self.steps is not None and self.steps < 0:
            raise ValueError(f"steps must be 0 or more, got {self.steps}.")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise ValueError(f"max_minutes must be a positive number, got {self.max_minutes}.")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive number, got {self.lr}.")
        for name in ("beta1", "beta2", "ema_decay"):
            value = getattr(self, name)
            if not 0 <= value < 1:
                raise ValueError(f"{name} must be in [0, 1), got {value}.")
        check_noise_kind(self.noise)
        if self.amp not in ("auto", "bf16", "off"):
            raise ValueError(f"amp must be auto, bf16 or off, got {self.amp!r}.")
        if self.channels_last not in ("auto", "on", "off"):
            raise ValueError(f"channels_last must be auto, on or off, got {self.channels_last!r}.")
        if self.bn_calibration_batches < 0:
            raise ValueError("bn_calibration_batches must be 0 or more.")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def resolve_device(name: str) -> torch.device:
    """'auto' -> CUDA, then Apple MPS, then CPU; otherwise the named device, checked."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
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


def _atomic_torch_save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)


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
    """Owns one training run. ``Trainer(config).train()`` runs it to its limits and exports."""

    def __init__(self, config: TrainConfig, data: ImageData | None = None, command: str = ""):
        self.config = config
        self.commands = [command] if command else []  # every invocation of this run, for the model card
        self.device = resolve_device(config.device)
        self.out_dir = Path(config.out_dir)
        if data is None:
            data = load_dataset(config.dataset, data_dir=config.data_dir, image_size=config.image_size, channels=config.channels, download=config.download)
        self.data_info = data
        image_size = config.image_size or data.image_size
        channels = config.channels or data.channels
        plan_stack(image_size)
        if data.image_size != image_size or data.channels != channels:
            raise ValueError(f"data is {data.channels}x{data.image_size}px, config asks {channels}x{image_size}px.")
        if len(data) < config.batch_size:
            raise ValueError(f"{config.dataset} has {len(data)} images, fewer than one batch of {config.batch_size}; lower --batch-size.")
        # Record the resolved shape so the checkpoint and model card are explicit.
        config.image_size, config.channels = image_size, channels

        cuda = self.device.type == "cuda"
        self.amp_dtype = torch.bfloat16 if (config.amp == "bf16" or (config.amp == "auto" and cuda)) else None
        self.memory_format = torch.channels_last if (config.channels_last == "on" or (config.channels_last == "auto" and cuda)) else torch.contiguous_format
        if cuda:
            torch.backends.cudnn.benchmark = True

        # The whole training set lives on the device as uint8: (N, C, H, W).
        self.images = data.images.to(self.device)
        self.steps_per_epoch = len(data) // config.batch_size

        torch.manual_seed(config.seed)  # network initialisation
        self.generator = Generator(config.latent_dim, image_size, channels, config.g_features, config.noise).to(self.device, memory_format=self.memory_format)
        self.discriminator = Discriminator(image_size, channels, config.d_features).to(self.device, memory_format=self.memory_format)
        self.ema = EMA(self.generator, config.ema_decay)
        betas = (config.beta1, config.beta2)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=config.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=config.lr, betas=betas)
        self.fixed_noise = sample_noise(config.num_fixed, config.latent_dim, torch.Generator().manual_seed(config.seed + 10_000), config.noise).to(self.device)
        self.step = 0
        self.elapsed = 0.0  # training seconds over all invocations
        self.stop_requested = False  # set by request_stop(), e.g. from a signal handler
        self._perm, self._perm_epoch = None, -1  # the current epoch's shuffle
        self._step_fn = torch.compile(self._train_step) if config.compile else self._train_step

    # ------------------------------------------------------------------ randomness
    def _epoch_permutation(self, epoch: int) -> torch.Tensor:
        rng = torch.Generator().manual_seed(self.config.seed * 1_000_003 + epoch)
        return torch.randperm(len(self.images), generator=rng).to(self.device)

    def _step_generator(self, step: int) -> torch.Generator:
        return torch.Generator(device=self.device).manual_seed(self.config.seed * 1_000_003 + 7_919 * step + 1)

    # ------------------------------------------------------------------ one step
    def _train_step(self, real_uint8: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        generator, discriminator = self.generator, self.discriminator
        real = to_model_range(real_uint8).contiguous(memory_format=self.memory_format)  # (B, C, H, W) in [-1, 1]
        autocast = torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None)

        # (1) Update D: maximize log D(x) + log(1 - D(G(z))), i.e. minimise BCE on logits.
        with autocast:
            fake = generator(noise)  # (B, C, H, W)
            d_real = discriminator(real).float()  # (B,) logits
            d_fake = discriminator(fake.detach()).float()
            loss_d = F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real)) + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()

        # (2) Update G: maximize log D(G(z)) (the non-saturating loss -log D(G(z))).
        with autocast:
            d_fake_after = discriminator(fake).float()
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
            "format": 1,
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
            "rng": {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
        }

    def load_state_dict(self, state: dict) -> None:
        check_resume_compatible(state["config"], self.config.to_dict())
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.ema.model.load_state_dict(state["ema"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.step = int(state["step"])
        self.elapsed = float(state.get("elapsed", 0.0))
        self.fixed_noise = state["fixed_noise"].to(self.device)
        self.commands = list(state.get("commands", [])) + self.commands
        self._drop_log_records_after(self.step)
        torch.set_rng_state(state["rng"]["torch"])
        if state["rng"]["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])

    def save_checkpoint(self) -> Path:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / CHECKPOINT_NAME
        _atomic_torch_save(self.state_dict(), path)
        return path

    # ------------------------------------------------------------------ outputs
    def ema_generator(self) -> Generator:
        """The exported generator: EMA weights with BatchNorm statistics re-estimated for them."""
        model = copy.deepcopy(self.ema.model)
        return recalibrate_batchnorm(model, self.config.bn_calibration_batches, self.config.batch_size, self.config.noise, self.config.seed + 20_000, self.device)

    @torch.no_grad()
    def write_timeline_grid(self, epoch: int, generator: Generator | None = None) -> Path:
        """The fixed noise batch through the EMA generator: one PNG per epoch, same z every time.

        ``generator``: the already recalibrated EMA generator, if the caller has it (default: made here).
        """
        folder = self.out_dir / TIMELINE_DIR
        folder.mkdir(parents=True, exist_ok=True)
        if generator is None:
            generator = self.ema_generator()
        images = generator(self.fixed_noise)
        if self.config.keep_snapshots:
            snapshot = copy.deepcopy(generator).cpu().to(memory_format=torch.contiguous_format)
            hub.save_model(snapshot, self.out_dir / SNAPSHOT_DIR / f"epoch_{epoch:03d}")
        path = folder / f"epoch_{epoch:03d}.png"
        render.save_png(render.make_grid(render.to_numpy_images(images), ncols=8), path)
        return path

    def _drop_log_records_after(self, step: int) -> None:
        """A run killed after its last checkpoint logged steps that the resumed run will replay: drop them."""
        log_path = self.out_dir / LOG_NAME
        if not log_path.exists():
            return
        kept = [line for line in log_path.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= step]
        tmp = log_path.with_name(log_path.name + ".tmp")
        tmp.write_text("".join(line + "\n" for line in kept))
        os.replace(tmp, log_path)

    def _log(self, record: dict) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with open(self.out_dir / LOG_NAME, "a") as handle:
            handle.write(json.dumps(record) + "\n")

    # ------------------------------------------------------------------ the loop
    def target_steps(self) -> int | None:
        limits = []
        if self.config.epochs is not None:
            limits.append(self.config.epochs * self.steps_per_epoch)
        if self.config.steps is not None:
            limits.append(self.config.steps)
        return min(limits) if limits else None

    def request_stop(self) -> None:
        """Stop after the current step (safe to call from a signal handler): checkpoint, no export."""
        self.stop_requested = True

    def train(self) -> dict:
        """Run until the first limit (epochs, steps, max_minutes) or a stop request; checkpoint and export.

        Returns a summary dict; ``summary["interrupted"]`` is True when :meth:`request_stop` or a
        KeyboardInterrupt ended the run early (the checkpoint is written, nothing is exported).
        A stop request takes effect between steps, so the checkpoint never holds half a step.
        """
        from tqdm.auto import tqdm

        config = self.config
        target = self.target_steps()
        deadline = time.monotonic() + config.max_minutes * 60 if config.max_minutes else None
        if target is None and deadline is None:
            raise ValueError("Give at least one limit: epochs, steps or max_minutes.")
        bar = tqdm(total=target, initial=self.step, disable=not config.progress, unit="step", dynamic_ncols=True)
        stats = StepStats.new(self.device)
        window_start, window_step = time.perf_counter(), self.step
        session_start = time.perf_counter()
        base_elapsed = self.elapsed
        interrupted = False
        self.generator.train()
        self.discriminator.train()
        try:
            while (target is None or self.step < target) and (deadline is None or time.monotonic() < deadline):
                if self.stop_requested:
                    interrupted = True
                    break
                epoch, position = divmod(self.step, self.steps_per_epoch)
                if self._perm_epoch != epoch:
                    self._perm, self._perm_epoch = self._epoch_permutation(epoch), epoch
                index = self._perm[position * config.batch_size : (position + 1) * config.batch_size]
                noise = sample_noise(config.batch_size, config.latent_dim, self._step_generator(self.step), config.noise, self.device)
                stats.sums += self._step_fn(self.images[index], noise)
                stats.count += 1
                self.ema.update(self.generator, self.step)
                self.step += 1
                bar.update(1)

                if self.step % config.log_every == 0:
                    self.elapsed = base_elapsed + time.perf_counter() - session_start
                    self._log_window(stats, window_start, window_step, bar)
                    stats, window_start, window_step = StepStats.new(self.device), time.perf_counter(), self.step
                if self.step % self.steps_per_epoch == 0:
                    self.elapsed = base_elapsed + time.perf_counter() - session_start
                    self.write_timeline_grid(self.step // self.steps_per_epoch)
                    self.save_checkpoint()
        finally:
            bar.close()
        self.elapsed = base_elapsed + time.perf_counter() - session_start
        self.save_checkpoint()
        if interrupted:
            logger.warning("stopped at step %d: checkpoint written", self.step)
            return self._summary() | {"interrupted": True}
        self.finish()
        return self._summary() | {"interrupted": False}

    def _summary(self) -> dict:
        return {"step": self.step, "epochs": self.step / self.steps_per_epoch, "elapsed_sec": self.elapsed, "out_dir": str(self.out_dir)}

    def _log_window(self, stats: StepStats, window_start: float, window_step: int, bar) -> None:
        values = (stats.sums / max(stats.count, 1)).tolist()  # the one host sync per log window
        seconds = time.perf_counter() - window_start
        record = {
            "step": self.step,
            "epoch": round(self.step / self.steps_per_epoch, 4),
            **{name: round(v, 5) for name, v in zip(STAT_NAMES, values)},
            "images_per_sec": round((self.step - window_step) * self.config.batch_size / max(seconds, 1e-9), 1),
            "elapsed_sec": round(self.elapsed, 2),
        }
        for name in ("loss_d", "loss_g"):
            if not math.isfinite(record[name]):
                logger.error("%s is %s at step %d: training diverged", name, record[name], self.step)
        self._log(record)
        bar.set_postfix(Loss_D=f"{values[0]:.3f}", Loss_G=f"{values[1]:.3f}", **{"D(x)": f"{values[2]:.2f}", "D(G(z))": f"{values[3]:.2f}/{values[4]:.2f}"})

    def finish(self) -> None:
        """Export the EMA generator and D as Hub folders with model cards, plus plots and a final grid."""
        from gan_core import plots

        # Recalibrated once: the timeline grid of a partial last epoch and the export share it.
        generator = self.ema_generator()
        if self.step % self.steps_per_epoch != 0 or self.step == 0:
            self.write_timeline_grid(math.ceil(self.step / self.steps_per_epoch), generator)
        generator = generator.cpu().to(memory_format=torch.contiguous_format)
        discriminator = copy.deepcopy(self.discriminator).cpu().eval().to(memory_format=torch.contiguous_format)
        self.export(generator, discriminator)
        log_path = self.out_dir / LOG_NAME
        if log_path.exists():
            plots.plot_losses(log_path, self.out_dir / "loss.png")
        with torch.no_grad():
            images = generator(self.fixed_noise.cpu())
        render.save_png(render.make_grid(render.to_numpy_images(images), ncols=8), self.out_dir / "samples.png")

    def export(self, generator: Generator, discriminator: Discriminator, metrics: dict | None = None) -> None:
        config = self.config
        data_note = describe_data(self.data_info)
        common = dict(
            dataset=config.dataset,
            data_note=data_note,
            command="\n".join(self.commands) or "python -m gan_core.train ...",
            steps=self.step,
            epochs=self.step / self.steps_per_epoch,
            metrics=metrics,
        )
        hub.save_model(generator, self.out_dir / "generator", hub.model_card(
            title=f"DCGAN generator: {config.dataset} {config.image_size}x{config.image_size}",
            role="generator (the EMA of G's weights, decay "
            f"{config.ema_decay}, with BatchNorm statistics re-estimated over {config.bn_calibration_batches} noise batches)",
            config=dict(generator._hub_mixin_config), **common))
        hub.save_model(discriminator, self.out_dir / "discriminator", hub.model_card(
            title=f"DCGAN discriminator: {config.dataset} {config.image_size}x{config.image_size}",
            role="discriminator (returns logits; sigmoid gives P(real))",
            config=dict(discriminator._hub_mixin_config), **common))


def describe_data(data: ImageData) -> str:
    return f"{len(data):,} training images ({data.channels} channel(s), {data.image_size}x{data.image_size}) from `{data.source}`."


def check_resume_compatible(saved: dict, current: dict) -> None:
    """Raise ValueError naming every field where a checkpoint's config differs from this run's."""
    diffs = [f"{k}: checkpoint {saved.get(k)!r} vs now {current.get(k)!r}" for k in RESUME_KEYS if saved.get(k) != current.get(k)]
    if diffs:
        raise ValueError("The resume checkpoint was written by a different config:\n  " + "\n  ".join(diffs) + "\nResume with the same settings, or start a new run in another --out-dir.")


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint safely (weights_only=True). Raises FileNotFoundError/ValueError with the path."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint at {path}; a run writes {CHECKPOINT_NAME} in its --out-dir.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means the file is not ours
        raise ValueError(f"{path} is not a readable gan_core checkpoint: {err}") from err
    if not isinstance(state, dict) or state.get("format") != 1:
        raise ValueError(f"{path} is not a gan_core checkpoint (format 1).")
    return state
