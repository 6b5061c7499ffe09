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
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import gan_core
from gan_core.core import hub, images
from gan_core.core.data import ImageData, load_dataset
from gan_core.core.latent import sample_noise
from gan_core.core.manifest import RunManifest, render_card, write_manifest
from gan_core.core.models import Discriminator, Generator
from gan_core.core.onnx_export import export_model
from gan_core.pipeline import GanPipeline
from gan_core.training.config import TrainConfig, check_resume

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"
CHECKPOINT_FORMAT = 2  # 2: the config is stored in sections (model, optim, data, run)


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
    """Owns one training run. ``Trainer(config).train()`` runs it to its limits and exports.

    ``checkpoint`` (from :func:`load_checkpoint`) continues a run: it is checked against ``config``
    before any data is loaded (model, optimisation and data must match, else ValueError) and
    restored once the networks are built.
    """

    def __init__(self, config: TrainConfig, data: ImageData | None = None, command: str = "", checkpoint: dict | None = None):
        if checkpoint is not None:
            check_resume(TrainConfig.from_dict(checkpoint["config"]), config)
        self.commands = [command] if command else []  # every invocation of this run, for the manifest
        run = config.run
        self.device = resolve_device(run.device)
        self.out_dir = Path(run.out_dir)
        if data is None:
            data = load_dataset(config.data.dataset, data_dir=config.data.data_dir, image_size=config.model.image_size, channels=config.model.channels, download=config.data.download)
        self.data_info = data
        # The data decides what the config left open; the resolved config is what checkpoints and manifests record.
        model = replace(config.model, image_size=config.model.image_size or data.image_size, channels=config.model.channels or data.channels)
        self.config = config = replace(config, model=model)
        if (data.image_size, data.channels) != (model.image_size, model.channels):
            raise ValueError(f"data is {data.channels}x{data.image_size}px, config asks {model.channels}x{model.image_size}px.")
        batch_size = config.optim.batch_size
        if len(data) < batch_size:
            raise ValueError(f"{config.data.dataset} has {len(data)} images, fewer than one batch of {batch_size}; lower --batch-size.")

        cuda = self.device.type == "cuda"
        self.amp_dtype = torch.bfloat16 if (run.amp == "bf16" or (run.amp == "auto" and cuda)) else None
        self.memory_format = torch.channels_last if (run.channels_last == "on" or (run.channels_last == "auto" and cuda)) else torch.contiguous_format
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
        self._step_fn = torch.compile(self._train_step) if run.compile else self._train_step
        if checkpoint is not None:
            self._restore(checkpoint)

    # ------------------------------------------------------------------ randomness
    def _epoch_permutation(self, epoch: int) -> torch.Tensor:
        rng = torch.Generator().manual_seed(self.config.optim.seed * 1_000_003 + epoch)
        return torch.randperm(len(self.images), generator=rng).to(self.device)

    def _step_generator(self, step: int) -> torch.Generator:
        return torch.Generator(device=self.device).manual_seed(self.config.optim.seed * 1_000_003 + 7_919 * step + 1)

    # ------------------------------------------------------------------ one step
    def _train_step(self, real_uint8: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        generator, discriminator = self.generator, self.discriminator
        real = images.to_model_range(real_uint8).contiguous(memory_format=self.memory_format)  # (B, C, H, W) in [-1, 1]
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
            "rng": {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
        }

    def _restore(self, state: dict) -> None:
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
        folder.mkdir(parents=True, exist_ok=True)
        if generator is None:
            generator = self.ema_generator()
        if self.config.run.keep_snapshots:
            snapshot = copy.deepcopy(generator).cpu().to(memory_format=torch.contiguous_format)
            hub.save_model(snapshot, self.out_dir / hub.SNAPSHOT_DIR / f"epoch_{epoch:03d}")
        path = folder / f"epoch_{epoch:03d}.png"
        images.save_png(self.fixed_noise_grid(generator), path)
        return path

    def _drop_log_records_after(self, step: int) -> None:
        """A run killed after its last checkpoint logged steps that the resumed run will replay: drop them."""
        log_path = self.out_dir / hub.LOG_NAME
        if not log_path.exists():
            return
        kept = [line for line in log_path.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= step]
        tmp = log_path.with_name(log_path.name + ".tmp")
        tmp.write_text("".join(line + "\n" for line in kept))
        os.replace(tmp, log_path)

    def _log(self, record: dict) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with open(self.out_dir / hub.LOG_NAME, "a") as handle:
            handle.write(json.dumps(record) + "\n")

    # ------------------------------------------------------------------ the loop
    def target_steps(self) -> int | None:
        """The step at which this run ends (None: only the time limit ends it)."""
        return self.config.run.target_steps(self.steps_per_epoch)

    def request_stop(self) -> None:
        """Stop after the current step (safe to call from a signal handler): checkpoint, no export."""
        self.stop_requested = True

    def train(self) -> dict:
        """Run until the first limit (epochs, steps, max_minutes) or a stop request; checkpoint and export.

        Returns a summary dict; ``summary["interrupted"]`` is True when :meth:`request_stop` ended
        the run early (the checkpoint is written, nothing is exported). A stop request takes effect
        between steps, so the checkpoint never holds half a step. An exception (a second Ctrl-C raises
        KeyboardInterrupt at once) propagates without a new checkpoint; the last epoch's one remains.
        """
        from tqdm.auto import tqdm

        run, batch_size = self.config.run, self.config.optim.batch_size
        if not run.has_limit:
            raise ValueError("Give at least one limit: epochs, steps or max_minutes.")
        target = self.target_steps()
        deadline = time.monotonic() + run.max_minutes * 60 if run.max_minutes else None
        bar = tqdm(total=target, initial=self.step, disable=not run.progress, unit="step", dynamic_ncols=True)
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
                index = self._perm[position * batch_size : (position + 1) * batch_size]
                noise = sample_noise(batch_size, self.config.model.latent_dim, self._step_generator(self.step), self.config.model.noise, self.device)
                stats.sums += self._step_fn(self.images[index], noise)
                stats.count += 1
                self.ema.update(self.generator, self.step)
                self.step += 1
                bar.update(1)

                if self.step % run.log_every == 0:
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
            "images_per_sec": round((self.step - window_step) * self.config.optim.batch_size / max(seconds, 1e-9), 1),
            "elapsed_sec": round(self.elapsed, 2),
        }
        for name in ("loss_d", "loss_g"):
            if not math.isfinite(record[name]):
                logger.error("%s is %s at step %d: training diverged", name, record[name], self.step)
        self._log(record)
        bar.set_postfix(Loss_D=f"{values[0]:.3f}", Loss_G=f"{values[1]:.3f}", **{"D(x)": f"{values[2]:.2f}", "D(G(z))": f"{values[3]:.2f}/{values[4]:.2f}"})

    def finish(self) -> None:
        """Export the EMA generator and D with the run manifest and model cards, plus plots and a final grid."""
        from gan_core.training import plots

        # Recalibrated once: the timeline grid of a partial last epoch and the export share it.
        generator = self.ema_generator()
        if self.step % self.steps_per_epoch != 0 or self.step == 0:
            self.write_timeline_grid(math.ceil(self.step / self.steps_per_epoch), generator)
        generator = generator.cpu().to(memory_format=torch.contiguous_format)
        discriminator = copy.deepcopy(self.discriminator).cpu().eval().to(memory_format=torch.contiguous_format)
        self.export(generator, discriminator)
        log_path = self.out_dir / hub.LOG_NAME
        if log_path.exists():
            plots.plot_losses(log_path, self.out_dir / "loss.png")
        images.save_png(self.fixed_noise_grid(generator), self.out_dir / "samples.png")

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
            folder = hub.save_model(model, self.out_dir / part)
            write_manifest(folder, manifest)
            (folder / hub.CARD_NAME).write_text(render_card(manifest, part, dict(model._hub_mixin_config)))
        if self.config.run.onnx:
            try:
                export_model(generator, discriminator, self.out_dir)
            except ImportError as err:  # torch.onnx needs the onnx and onnxscript packages
                logger.warning("model.onnx not written (%s): pip install 'dcgan-latent-explorer[onnx]', then python -m gan_core.export %s", err, self.out_dir)


def describe_data(data: ImageData) -> str:
    return f"{len(data):,} training images ({data.channels} channel(s), {data.image_size}x{data.image_size}) from `{data.source}`."


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint safely (weights_only=True). Raises FileNotFoundError/ValueError with the path."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint at {path}; a run writes {CHECKPOINT_NAME} in its --out-dir.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # any unpickling failure means the file is not ours
        raise ValueError(f"{path} is not a readable gan_core checkpoint: {err}") from err
    if not isinstance(state, dict) or state.get("format") not in (1, CHECKPOINT_FORMAT):
        raise ValueError(f"{path} is not a gan_core checkpoint (format 1 or {CHECKPOINT_FORMAT}).")
    return state
