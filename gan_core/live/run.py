"""A small DCGAN trained while a person watches: the app's "Watch it train" image run.

:class:`LiveRun` owns one short run of the project's real trainer (:class:`~gan_core.training.trainer.Trainer`,
stepped with :meth:`~gan_core.training.trainer.Trainer.run_steps`; there is no second GAN loop here) on a
small image set, by default the 4,096 MNIST digits shipped in ``weights/live/mnist-4096``. Its
:meth:`LiveRun.snapshots` runs the trainer in short chunks and, after each, yields a :class:`Snapshot` of plain
values: the same fixed z through G as one uint8 grid, the curves so far, the step count, a sentence saying
what the game is doing and the phases it went through (:class:`PhaseTracker`: a phase must hold for a few
snapshots before the sentence changes, and many to step back, so noise does not flip it). :meth:`LiveRun.stop`
ends it between two chunks (from any thread); :meth:`LiveRun.export` writes the result as an ordinary model
folder (generator/, discriminator/, train_log.jsonl, and timeline/ with G's grid at every epoch's end) that
:meth:`GanPipeline.from_pretrained` opens.

The run computes in the calling thread with torch's intra-op threads as the caller set them (the app sets
one per process, so a run uses one core and serving keeps the others); it writes only in its ``out_dir``.
Its limits (:class:`LiveConfig`: steps and seconds) keep a shared server healthy.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from gan_core.core import hub, images
from gan_core.core.checks import check_positive_int, shown
from gan_core.core.data import ImageData, read_idx
from gan_core.training.config import TrainConfig
from gan_core.training.trainer import Trainer

logger = logging.getLogger(__name__)

SUBSET_IMAGES = "train-images-idx3-ubyte.gz"
GRID_COLUMNS = 8
GRID_SCALE = 3  # the grid's pixels are upscaled (nearest) so it stays crisp in the page
WINDOW = 4  # snapshots that count as "recent" for the phase sentence
COLLAPSED = 0.08  # grid_diversity below this: G draws (nearly) one picture for every z
EARLY_STEPS = 200  # before this step low diversity is G's starting blur, not a collapse
DRIFT = 0.1  # D's two outputs this much closer than at D's strongest: the drift toward 0.5 ...
LEAVE_DRIFT = 0.05  # ... which holds until they are back within this of their widest gap (hysteresis)
EQUILIBRIUM = 0.15  # both of D's outputs this close to 0.5: near the equilibrium ...
LEAVE_EQUILIBRIUM = 0.22  # ... which holds until one of them is this far from 0.5 (hysteresis)
# Before the sentence changes, the statistics must have shown the new phase for at least HOLD_SHARE of the last
# HOLD_STEPS steps, and for a step back in PHASE_ORDER (the drift back to D winning, say) of the last HOLD_BACK_STEPS:
# steps, not seconds or snapshots, so that the rule is the same on a slow CPU and a fast GPU; a share, not every
# record in a row, because early on the statistics flip between neighbouring phases every few dozen steps.
HOLD_SHARE = 0.5
HOLD_STEPS = 100
HOLD_BACK_STEPS = 600

# What each phase is called in the list of phases so far. PHASE_ORDER is the usual course of a run; the others
# (G ahead, a collapse, D winning outright, divergence) may come at any time.
PHASE_NAMES = {
    "start": "starting",
    "blur": "G's starting blur",
    "d-winning": "D winning early",
    "drift": "drifting toward 0.5",
    "equilibrium": "near the equilibrium",
    "fooling": "G fooling D",
    "collapse": "mode collapse",
    "d-won": "D winning outright",
    "diverged": "diverged",
}
PHASE_ORDER = ("blur", "d-winning", "drift", "equilibrium")


@dataclass
class LiveConfig:
    """A live run: the networks, the optimisation and the limits.

    The defaults were tuned to show recognisable digits fast on one CPU thread (BENCHMARKS.md, "Live
    training"): 32-wide G and D, batch 64, Adam lr 5e-4 (the paper's 2e-4 needed about twice as long),
    bf16 autocast where the CPU computes it in hardware (the trainer's ``amp="auto"``).
    """

    g_features: int = 32
    d_features: int = 32
    latent_dim: int = 100
    batch_size: int = 64
    lr: float = 5e-4
    seed: int = 0
    grid: int = 64  # fixed z in the grid (GRID_COLUMNS wide)
    max_steps: int = 4000  # the run ends at this step ...
    max_seconds: float = 180.0  # ... or after this many seconds (wall clock), whichever comes first
    snapshot_seconds: float = 0.5  # about this long between two snapshots
    amp: str = "auto"
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("g_features", "d_features", "latent_dim", "batch_size", "grid", "max_steps"):
            check_positive_int(getattr(self, name), name)
        for name in ("max_seconds", "snapshot_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a positive number of seconds, got {shown(value)}.")

    def train_config(self, out_dir: str | os.PathLike) -> TrainConfig:
        """The trainer's config for this run: the same procedure as ``python -m gan_core.train``, written to ``out_dir``."""
        return TrainConfig.from_flat(
            dataset="mnist", download=False, latent_dim=self.latent_dim, g_features=self.g_features, d_features=self.d_features,
            batch_size=self.batch_size, lr=self.lr, seed=self.seed, steps=self.max_steps, device=self.device, amp=self.amp,
            out_dir=str(out_dir), num_fixed=self.grid, progress=False, onnx=False, bn_calibration_batches=8,
        )  # fmt: skip


def load_subset(folder: str | os.PathLike) -> ImageData:
    """The images of a live run: ``folder``/train-images-idx3-ubyte.gz as (N, 1, H, W) uint8 (FileNotFoundError/ValueError naming it)."""
    path = Path(folder) / SUBSET_IMAGES
    if not path.is_file():
        raise FileNotFoundError(f"No training images for the live run at {path}; the app ships them in weights/live/mnist-4096/.")
    pictures = read_idx(path)
    if pictures.ndim != 3:
        raise ValueError(f"{path} holds an array of shape {pictures.shape}, not (N, H, W) pictures.")
    return ImageData("mnist", torch.from_numpy(np.ascontiguousarray(pictures)).unsqueeze(1), source=str(path))


def _recent(history: list[dict]) -> dict[str, float]:
    """The means of the last WINDOW records' "d_real", "d_fake" and "loss_d"."""
    recent = history[-WINDOW:]
    return {key: sum(r[key] for r in recent) / len(recent) for key in ("d_real", "d_fake", "loss_d")}


def classify_phase(history: list[dict], diversity: float | None = None, current: str | None = None) -> str:
    """Which phase (a key of PHASE_NAMES) the recent statistics show (a pure function).

    ``history``: the records so far, oldest first, each with "step", "loss_d", "loss_g", "d_real" and
    "d_fake" (D's mean outputs in [0, 1]). ``diversity``: how different G's fixed-z pictures are from each
    other (:func:`grid_diversity`: 0 all identical, about 0.37 for real MNIST digits), when known.
    ``current``: the phase shown now; the equilibrium is left only beyond LEAVE_EQUILIBRIUM, not EQUILIBRIUM, and
    the drift only when D's two outputs are back within LEAVE_DRIFT of their widest gap, not DRIFT.
    """
    if not history:
        return "start"
    if not all(math.isfinite(r[key]) for r in history[-WINDOW:] for key in ("loss_d", "loss_g", "d_real", "d_fake")):
        return "diverged"
    means = _recent(history)
    d_real, d_fake = means["d_real"], means["d_fake"]
    if diversity is not None and diversity < COLLAPSED:
        return "blur" if history[-1]["step"] < EARLY_STEPS else "collapse"
    if d_real > 0.97 and d_fake < 0.03 and means["loss_d"] < 0.1 and len(history) > 2 * WINDOW:
        return "d-won"
    band = LEAVE_EQUILIBRIUM if current == "equilibrium" else EQUILIBRIUM
    if abs(d_real - 0.5) < band and abs(d_fake - 0.5) < band:
        return "equilibrium"  # before "G ahead": near 0.5 the two outputs cross back and forth on noise
    if d_fake > d_real:
        return "fooling"
    # How far apart D's two outputs were at D's strongest (means over WINDOW records), against now.
    gaps = [r["d_real"] - r["d_fake"] for r in history]
    peak = max(sum(gaps[i : i + WINDOW]) / WINDOW for i in range(len(gaps) - WINDOW + 1)) if len(gaps) >= WINDOW else gaps[-1]
    if len(history) >= 2 * WINDOW and d_real - d_fake < peak - (LEAVE_DRIFT if current == "drift" else DRIFT):
        return "drift"
    return "d-winning"


def phase_sentence(phase: str, history: list[dict]) -> str:
    """The sentence for ``phase`` (a key of PHASE_NAMES), with D's recent mean outputs from ``history``."""
    if phase == "start" or not history:
        return "Starting: G draws noise and D has not seen anything yet."
    if phase == "diverged":
        return f"The losses are no longer finite at step {history[-1]['step']}: training diverged; stop and start again."
    means = _recent(history)
    numbers = f"(D(x) {means['d_real']:.2f}, D(G(z)) {means['d_fake']:.2f})"
    sentences = {
        "blur": f"G starts from almost the same blur for every z {numbers}; D already rejects it, and its gradients pull G's pictures apart.",
        "collapse": (
            f"Mode collapse: G draws nearly the same picture for every z {numbers}. It may escape once D learns to "
            "reject that one picture; if it lasts, the run has failed."
        ),
        "d-won": f"D has won outright {numbers}: it rejects every picture of G, and G learns little from such a confident D.",
        "fooling": f"G is fooling D for now {numbers}: D rates G's pictures above real ones, and will correct itself.",
        "equilibrium": f"Near the equilibrium {numbers}: D can hardly tell real from fake, so G's improvements are now in the details.",
        "drift": (
            f"Drifting toward 0.5 {numbers}: G's pictures are getting harder to reject, so D's two outputs move "
            "together (they would meet at 0.5, where D cannot tell)."
        ),
        "d-winning": f"D is winning, as it does early {numbers}: it tells real digits from G's attempts easily; G learns from being rejected.",
    }
    return sentences[phase]


def describe_phase(history: list[dict], diversity: float | None = None) -> str:
    """One sentence on what the game is doing, from the recent statistics alone (a pure function; a run shows
    :class:`PhaseTracker`'s steadier one). ``history`` and ``diversity`` as for :func:`classify_phase`."""
    return phase_sentence(classify_phase(history, diversity), history)


class PhaseTracker:
    """The phase a run shows, steadied: the first one at once, then a new phase only when the statistics showed it for
    HOLD_SHARE of the last HOLD_STEPS steps, a step back in PHASE_ORDER only of the last HOLD_BACK_STEPS, divergence at
    once. ``seen`` lists the phases shown so far, in order (a phase comes again when the run goes back to it)."""

    def __init__(self) -> None:
        self.phase = "start"
        self.seen: list[str] = []
        self._votes: list[tuple[int, int, str]] = []  # (first step, last step, phase) of each record: what it showed
        self._records = 0

    def update(self, history: list[dict], diversity: float | None = None) -> str:
        """Look at the run after a new record (an unchanged history changes nothing) and return the shown phase's sentence."""
        if history and len(history) != self._records:
            self._records = len(history)
            candidate = classify_phase(history, diversity, self.phase)
            step = history[-1]["step"]
            previous = history[-2]["step"] if len(history) > 1 else 0
            self._votes = [vote for vote in self._votes if vote[1] > step - HOLD_BACK_STEPS] + [(previous, step, candidate)]
            if candidate != self.phase and (self.phase == "start" or candidate == "diverged" or self._held(candidate, step)):
                self._show(candidate)
        return phase_sentence(self.phase, history)

    def _held(self, candidate: str, step: int) -> bool:
        """Whether the statistics showed ``candidate`` for HOLD_SHARE of the last HOLD_STEPS (a step back: HOLD_BACK_STEPS) steps."""
        span = HOLD_BACK_STEPS if self._backwards(candidate) else HOLD_STEPS
        start = step - span
        if start < 0:
            return False
        shown = sum(min(last, step) - max(first, start) for first, last, phase in self._votes if phase == candidate and last > start)
        return shown >= HOLD_SHARE * span

    def _backwards(self, candidate: str) -> bool:
        return self.phase in PHASE_ORDER and candidate in PHASE_ORDER and PHASE_ORDER.index(candidate) < PHASE_ORDER.index(self.phase)

    def _show(self, phase: str) -> None:
        self.phase = phase
        if not self.seen or self.seen[-1] != phase:
            self.seen.append(phase)

    @property
    def names(self) -> list[str]:
        """The phases so far in words: ["G's starting blur", "D winning early", ...]."""
        return [PHASE_NAMES[phase] for phase in self.seen]


def grid_diversity(pictures: np.ndarray) -> float:
    """How different a batch of uint8 pictures (B, ...) are from each other: the mean per-pixel standard deviation
    over the batch, in [0, 1] of the pixel range (0: all identical). One number for :func:`describe_phase`."""
    values = pictures.reshape(pictures.shape[0], -1).astype(np.float32) / 255.0
    return float(values.std(axis=0).mean()) * 2.0  # std of a [0, 1] value is at most 0.5


@dataclass
class Snapshot:
    """What the page shows after a chunk of steps, as plain values.

    ``grid``: uint8 (H, W) or (H, W, 3), the fixed z through G, upscaled; ``losses`` and ``outputs``: long-format
    rows {"step", "value", "series"} of all curves so far; ``reason``: "running", or why the run ended
    ("steps", "time", "stopped").
    """

    step: int
    seconds: float
    grid: np.ndarray
    loss_d: float
    loss_g: float
    d_real: float
    d_fake: float
    phase: str
    losses: list[dict] = field(default_factory=list)
    outputs: list[dict] = field(default_factory=list)
    reason: str = "running"
    phases: list[str] = field(default_factory=list)  # the phases so far, in words (PhaseTracker.names)

    @property
    def done(self) -> bool:
        return self.reason != "running"

    def status(self, max_steps: int) -> str:
        """Markdown: the step count and D's two outputs, the phase sentence, and the phases so far."""
        head = {"running": "Training", "steps": "Finished (step limit)", "time": "Finished (time limit)", "stopped": "Stopped"}[self.reason]
        phases = f"\n\nPhases so far: {' → '.join(self.phases)}" if self.phases else ""
        return (
            f"**{head}** · step {self.step:,} of at most {max_steps:,} · {self.seconds:.0f} s · Loss_D {self.loss_d:.3f} · "
            f"Loss_G {self.loss_g:.3f} · D(x) {self.d_real:.2f} · D(G(z)) {self.d_fake:.2f}\n\n{self.phase}{phases}"
        )


class LiveRun:
    """One small training run that yields :class:`Snapshot` s while it trains (see the module docstring).

    ``data``: the training images (:func:`load_subset`); ``out_dir``: the run's own folder, which it writes into
    (a temporary folder in the app, never a shipped model's).
    """

    def __init__(self, data: ImageData, out_dir: str | os.PathLike, config: LiveConfig | None = None):
        self.config = config or LiveConfig()
        self.out_dir = Path(out_dir)
        self.trainer = Trainer.create(self.config.train_config(self.out_dir), data=data)
        self.history: list[dict] = []  # one record per chunk of steps: the means over it
        self.phases = PhaseTracker()
        self.epoch_grids: dict[int, np.ndarray] = {}  # epoch -> G's fixed-z grid (not upscaled) when it ended; 0: at the start
        self.seconds = 0.0  # wall-clock seconds since the run started: training and snapshots
        self._stop = threading.Event()

    def stop(self) -> None:
        """End the run after the current chunk (safe from any thread); :meth:`snapshots` then yields its last."""
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def step(self) -> int:
        return self.trainer.step

    def pictures(self) -> np.ndarray:
        """The fixed z through the current G (eval mode, its running BatchNorm statistics): uint8 (B, H, W) or (B, H, W, 3)."""
        generator = self.trainer.generator
        with torch.inference_mode():
            generator.eval()
            pictures = images.to_uint8(generator(self.trainer.fixed_noise).float()).cpu().numpy()  # (B, C, H, W)
            generator.train()
        return pictures[:, 0] if pictures.shape[1] == 1 else pictures.transpose(0, 2, 3, 1)

    def snapshot(self, reason: str = "running") -> Snapshot:
        """The run as it is now."""
        pictures = self.pictures()
        plain = images.make_grid(pictures, ncols=GRID_COLUMNS)
        if self.step == 0:
            self.epoch_grids.setdefault(0, plain)
        grid = images.upscale(plain, GRID_SCALE)
        last = self.history[-1] if self.history else {"loss_d": math.nan, "loss_g": math.nan, "d_real": math.nan, "d_fake": math.nan}
        losses, outputs = [], []
        for record in self.history:
            losses += [
                {"step": record["step"], "value": record["loss_d"], "series": "Loss_D"},
                {"step": record["step"], "value": record["loss_g"], "series": "Loss_G"},
            ]
            outputs += [
                {"step": record["step"], "value": record["d_real"], "series": "D(x) on real"},
                {"step": record["step"], "value": record["d_fake"], "series": "D(G(z)) on fake"},
            ]
        return Snapshot(
            step=self.step, seconds=self.seconds, grid=grid, loss_d=last["loss_d"], loss_g=last["loss_g"], d_real=last["d_real"], d_fake=last["d_fake"],
            phase=self.phases.update(self.history, grid_diversity(pictures)), losses=losses, outputs=outputs, reason=reason,
            phases=self.phases.names,
        )  # fmt: skip

    def snapshots(self) -> Iterator[Snapshot]:
        """Train, yielding a snapshot about every ``snapshot_seconds`` until a limit or :meth:`stop`; the last one is ``done``.

        Chunks grow while they take less than half of ``snapshot_seconds`` (a GPU steps much faster than a CPU
        thread), so snapshots come at a steady rate on any device.
        """
        config = self.config
        chunk = 4
        start = time.perf_counter() - self.seconds
        yield self.snapshot()
        while True:
            if self._stop.is_set():
                reason = "stopped"
            elif self.step >= config.max_steps:
                reason = "steps"
            elif self.seconds >= config.max_seconds:
                reason = "time"
            else:
                reason = None
            if reason is not None:
                logger.info("live run ended at step %d after %.1f s (%s)", self.step, self.seconds, reason)
                yield self.snapshot(reason)
                return
            count = min(chunk, config.max_steps - self.step)
            chunk_start = time.perf_counter()
            self._run_steps(count)
            took = time.perf_counter() - chunk_start
            if took < config.snapshot_seconds / 2:
                chunk *= 2
            elif took > config.snapshot_seconds * 1.5 and chunk > 1:
                chunk //= 2
            self.seconds = time.perf_counter() - start
            yield self.snapshot()

    def _run_steps(self, count: int) -> None:
        """``count`` steps of the trainer, split where an epoch ends so that G's grid is kept there (one history record per part)."""
        steps_per_epoch = self.trainer.steps_per_epoch
        while count > 0:
            part = min(count, steps_per_epoch - self.step % steps_per_epoch)
            record = self.trainer.run_steps(part)
            self.history.append({key: round(value, 5) if isinstance(value, float) else value for key, value in record.items()})
            count -= part
            if self.step % steps_per_epoch == 0:
                self.epoch_grids[self.step // steps_per_epoch] = images.make_grid(self.pictures(), ncols=GRID_COLUMNS)

    def export(self) -> Path:
        """Write the run as a model folder in ``out_dir`` (the EMA generator, D, the curves' log, and its timeline: G's
        fixed-z grid at the start and at every epoch's end as the page showed it, then the exported EMA generator's at the
        last step) and return ``out_dir``, for :meth:`GanPipeline.from_pretrained`. Needs at least one step."""
        if self.step == 0:
            raise ValueError(
                "The live run has not trained a single step yet, so there is no model to open; start it and let it run a moment."
            )
        trainer = self.trainer
        self.out_dir.mkdir(parents=True, exist_ok=True)
        log = "".join(json.dumps(record | {"epoch": round(record["step"] / trainer.steps_per_epoch, 4)}) + "\n" for record in self.history)
        (self.out_dir / hub.LOG_NAME).write_text(log)
        timeline = self.out_dir / hub.TIMELINE_DIR
        timeline.mkdir(exist_ok=True)
        for epoch, grid in self.epoch_grids.items():
            images.save_png(grid, timeline / f"epoch_{epoch:03d}.png")
        trainer.finish()  # the EMA generator and D exported as any run exports them, with its timeline grid and plots
        return self.out_dir
