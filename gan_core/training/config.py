"""The configuration of a training run, in four parts that mirror what they configure.

- :class:`ModelConfig`: exactly the constructor arguments of ``Generator`` and ``Discriminator``.
- :class:`OptimConfig`: what decides the optimisation trajectory (batch, Adam, EMA, seed).
- :class:`DataConfig`: which data, and where to find it.
- :class:`RunConfig`: limits, device and outputs; free to change between invocations of a run.

A checkpoint may resume a run when model, optimisation and data agree (:func:`check_resume`), and start a branch
(another optimisation recipe, in a new folder) when model and data do.
The command line is generated from these dataclasses (:func:`add_arguments`), so each flag's
help states the real default. Every section validates itself in ``__post_init__``.
"""

from __future__ import annotations

import argparse
import math
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields, replace

from gan_core.core.checks import check_choice, check_fraction, check_positive_int, shown
from gan_core.core.data import dataset_names, parse_dataset_name
from gan_core.core.latent import NOISE_KINDS, check_noise_kind
from gan_core.core.models import check_channels, plan_stack

DEFAULT_EPOCHS = 5  # the command line's limit when none (epochs, steps, max_minutes) is given
# DiffAugment is off unless asked: at an equal CPU budget it trained worse on 200, 1,000 and 8,000 pictures
# (FID 1.41x, 1.31x, 1.14x of the run without it; BENCHMARKS.md, "Small image sets").
AUGMENT_CHOICES = ("on", "off")
DEFAULT_BATCH = 128  # DCGAN's batch
MIN_STEPS_PER_EPOCH = 8  # a small data set gets a smaller batch rather than one step per epoch


def default_batch_size(num_images: int) -> int:
    """128 (DCGAN's), or for a small data set the largest power of two that gives at least 8 steps per
    epoch (a 200-picture folder: 16), never below 8 pictures (BatchNorm needs a few) nor above the data."""
    if num_images >= DEFAULT_BATCH * MIN_STEPS_PER_EPOCH:
        return DEFAULT_BATCH
    fitting = max(1, num_images // MIN_STEPS_PER_EPOCH)
    return min(num_images, max(8, 1 << (fitting.bit_length() - 1)))


def describe_batch(asked: int | None, batch_size: int, num_images: int) -> str:
    """'batch 16 (auto: 200 pictures, 12 steps per epoch)': the batch a run trains with, and why when the data chose it
    (``asked``: the batch the config gave, None to let the data decide)."""
    return f"batch {batch_size}" + (f" (auto: {num_images:,} pictures, {num_images // batch_size} steps per epoch)" if asked is None else "")


def _field(default, help: str, *, default_help: str | None = None, choices=None, flag: str | None = None):
    """A dataclass field with what its command-line flag needs: help, choices, the shown default."""
    metadata = {"help": help, "choices": choices, "default_help": default_help, "flag": flag}
    return field(default=default, metadata=metadata)


@dataclass
class ModelConfig:
    """The networks: the union of ``Generator`` and ``Discriminator`` constructor arguments."""

    latent_dim: int = _field(100, "size of z")
    image_size: int | None = _field(None, "side in pixels, base*2^k with base 4..8 (8, 16, 28, 32, 64, ...)", default_help="the dataset's")
    channels: int | None = _field(None, "1 grey or 3 RGB", default_help="the dataset's", choices=(1, 3))
    # 32, not pytorch/examples' 64: at 28 px the narrower pair reached a clearly better FID in the same
    # 12 CPU minutes (BENCHMARKS.md, "Quality at an equal time budget").
    g_features: int = _field(32, "G's base width")
    d_features: int = _field(32, "D's base width")
    noise: str = _field("normal", "z ~ N(0, 1) (normal) or U(-1, 1) (uniform)", choices=NOISE_KINDS)

    def __post_init__(self) -> None:
        for name in ("latent_dim", "g_features", "d_features"):
            check_positive_int(getattr(self, name), name)
        if self.image_size is not None:
            plan_stack(self.image_size)
        if self.channels is not None:
            check_channels(self.channels)
        check_noise_kind(self.noise)

    @property
    def resolved(self) -> bool:
        return self.image_size is not None and self.channels is not None

    def generator_kwargs(self) -> dict:
        """``Generator(**kwargs)``; needs image_size and channels resolved."""
        assert self.resolved, "resolve image_size and channels from the data first"
        return dict(latent_dim=self.latent_dim, image_size=self.image_size, channels=self.channels, g_features=self.g_features, noise=self.noise)

    def discriminator_kwargs(self) -> dict:
        """``Discriminator(**kwargs)``; needs image_size and channels resolved."""
        assert self.resolved, "resolve image_size and channels from the data first"
        return dict(image_size=self.image_size, channels=self.channels, d_features=self.d_features)


@dataclass
class OptimConfig:
    """The optimisation: together with model and data it fixes every step of the run."""

    batch_size: int | None = _field(
        None, "images per step", default_help=f"{DEFAULT_BATCH}, or fewer for a small data set: at least {MIN_STEPS_PER_EPOCH} steps per epoch"
    )
    lr: float = _field(2e-4, "Adam learning rate")
    beta1: float = _field(0.5, "Adam beta1")
    beta2: float = _field(0.999, "Adam beta2")
    ema_decay: float = _field(0.999, "decay of the exported EMA generator")
    seed: int = _field(0, "seed of the initialisation, data order and noise")
    augment: str = _field(
        "off", "DiffAugment (colour, translation, cutout) on every picture D sees, real and fake (off by default: it measured worse "
        "on 200 to 8,000 pictures at CPU budgets of minutes; see BENCHMARKS.md)",
        choices=AUGMENT_CHOICES,
    )
    top_k: float = _field(
        1.0, "fraction of each batch's fakes that G's update learns from, those D rates most real (top-k training, Sinha et al. "
        "2020: the worst fakes' gradients point away from the data); 1: all of them, DCGAN's loss",
    )

    def __post_init__(self) -> None:
        if self.batch_size is not None:
            check_positive_int(self.batch_size, "batch_size")
        check_choice(self.augment, "augment", AUGMENT_CHOICES)
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive number, got {shown(self.lr)}.")
        for name in ("beta1", "beta2", "ema_decay"):
            check_fraction(getattr(self, name), name)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a whole number of at least 0, got {shown(self.seed)}.")
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, (int, float)) or not 0 < self.top_k <= 1:
            raise ValueError(f"top_k must be a fraction of the batch above 0 and at most 1, got {shown(self.top_k)}.")


@dataclass
class DataConfig:
    """Which images to train on. Only ``dataset`` identifies the data; the rest says where it is."""

    dataset: str = _field("fashion-mnist", f"dataset name: {', '.join(dataset_names())}")
    data_dir: str | None = _field(None, "folder holding the IDX files (looked in before $GAN_DATA_DIR, system folders and downloads)", default_help="none")
    download: bool = _field(True, "download IDX files that are not on disk (--no-download: fail instead)")

    def __post_init__(self) -> None:
        parse_dataset_name(self.dataset)


@dataclass
class RunConfig:
    """Limits, device and outputs of one invocation. The first limit reached ends the run."""

    epochs: int | None = _field(None, "total epochs, counted over resumes", default_help=f"{DEFAULT_EPOCHS} when no limit is given")
    steps: int | None = _field(None, "total optimisation steps, counted over resumes", default_help="none")
    max_minutes: float | None = _field(None, "wall-clock minutes for this invocation", default_help="none")
    device: str = _field("auto", "auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N, mps")
    amp: str = _field("auto", "bf16 autocast (auto: on CUDA, and on CPUs that compute bf16 in hardware: AVX-512 BF16, AMX)", choices=("auto", "bf16", "off"))
    channels_last: str = _field("auto", "channels_last memory format (auto: on CUDA and x86 CPUs with AVX2/AVX-512)", choices=("auto", "on", "off"))
    compile: bool = _field(False, "torch.compile G and D (slower on the CPUs we measured: BENCHMARKS.md)")
    out_dir: str = _field("runs/dcgan", "output folder")
    log_every: int = _field(50, "steps per JSONL log record")
    num_fixed: int = _field(64, "fixed noise vectors in the timeline grids")
    bn_calibration_batches: int = _field(32, "noise batches that re-estimate the EMA generator's BatchNorm statistics")
    progress: bool = _field(True, "show a progress bar")
    keep_snapshots: bool = _field(False, "also save the EMA generator of every epoch under OUT_DIR/snapshots/")
    onnx: bool = _field(True, "also export G and D as model.onnx for the in-browser explorer")
    # Several processes (torchrun) only. Off by default: each process normalises with its own share's batch
    # statistics (like DDP's default and pytorch/examples), which costs no communication; on, every BatchNorm
    # forward and backward waits for one all_reduce, and the run follows the single-process trajectory.
    sync_batchnorm: bool = _field(
        False,
        "under torchrun: normalise BatchNorm over the whole global batch (SyncBatchNorm): the single-process run's "
        "trajectory, at one all_reduce per BatchNorm layer and pass; off: each process normalises over its share, "
        "with no extra communication (from about 32 images per process the shares' statistics are good estimates)",
    )
    collective_timeout: float = _field(120.0, "under torchrun: seconds a process waits for the others (a gradient exchange, process 0 writing a checkpoint) before the whole run fails")

    def __post_init__(self) -> None:
        for name in ("epochs", "steps"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValueError(f"{name} must be 0 or more, got {shown(value)}.")
        if self.max_minutes is not None and (isinstance(self.max_minutes, bool) or not isinstance(self.max_minutes, (int, float)) or not self.max_minutes > 0):
            raise ValueError(f"max_minutes must be a positive number, got {shown(self.max_minutes)}.")
        check_choice(self.amp, "amp", ("auto", "bf16", "off"))
        check_choice(self.channels_last, "channels_last", ("auto", "on", "off"))
        for name in ("log_every", "num_fixed"):
            check_positive_int(getattr(self, name), name)
        if isinstance(self.collective_timeout, bool) or not isinstance(self.collective_timeout, (int, float)) or not (self.collective_timeout > 0 and math.isfinite(self.collective_timeout)):
            raise ValueError(f"collective_timeout must be a positive number of seconds, got {shown(self.collective_timeout)}.")
        if isinstance(self.bn_calibration_batches, bool) or not isinstance(self.bn_calibration_batches, int) or self.bn_calibration_batches < 0:
            raise ValueError(f"bn_calibration_batches must be a whole number of at least 0, got {shown(self.bn_calibration_batches)}.")

    @property
    def has_limit(self) -> bool:
        return self.epochs is not None or self.steps is not None or self.max_minutes is not None

    def target_steps(self, steps_per_epoch: int) -> int | None:
        """The step at which the run ends: the smaller of the epoch and step limits (None: time only)."""
        limits = ([] if self.epochs is None else [self.epochs * steps_per_epoch]) + ([] if self.steps is None else [self.steps])
        return min(limits) if limits else None


SECTIONS = {"model": ModelConfig, "optim": OptimConfig, "data": DataConfig, "run": RunConfig}
IDENTITY = ("model", "optim", "data")  # what a resumed run must share with its checkpoint
BRANCH_IDENTITY = ("model", "data")  # what a branch (--branch: another recipe from a checkpoint) must share with it


@dataclass
class TrainConfig:
    """Everything that defines a training run, as four validated sections."""

    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: DataConfig = field(default_factory=DataConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict:
        """{"model": {...}, "optim": {...}, "data": {...}, "run": {...}}: what checkpoints and manifests store."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        """The inverse of :meth:`to_dict`; also reads the flat dicts of checkpoints written before the sections."""
        if not isinstance(values, dict):
            raise ValueError(f"a training config must be a dict, got {shown(values)}.")
        if not any(name in values for name in SECTIONS):
            return cls().override(values, ignore_unknown=True)
        unknown = set(values) - set(SECTIONS)
        if unknown:
            raise ValueError(f"unknown config sections {sorted(unknown)}; expected {', '.join(SECTIONS)}.")
        return cls(**{name: section(**{k: v for k, v in values.get(name, {}).items() if k in _names(section)}) for name, section in SECTIONS.items()})

    @classmethod
    def from_flat(cls, **flat) -> TrainConfig:
        """The defaults with fields replaced by flat name: ``TrainConfig.from_flat(dataset="mnist", lr=1e-3)``."""
        return cls().override(flat)

    def override(self, flat: dict, *, ignore_unknown: bool = False) -> TrainConfig:
        """A copy with fields replaced by flat name (``{"lr": 1e-3, "epochs": 3}``), validated."""
        owner = {name: section for section in SECTIONS for name in _names(SECTIONS[section])}
        unknown = set(flat) - set(owner)
        if unknown and not ignore_unknown:
            raise ValueError(f"unknown config fields {sorted(unknown)}.")
        changes: dict[str, dict] = {}
        for name, value in flat.items():
            if name in owner:
                changes.setdefault(owner[name], {})[name] = value
        return replace(self, **{section: replace(getattr(self, section), **values) for section, values in changes.items()})

    def resolve(self, num_images: int, image_size: int, channels: int) -> TrainConfig:
        """What the data decides where the config left it open (image size, channels, batch size)."""
        model = replace(self.model, image_size=self.model.image_size or image_size, channels=self.model.channels or channels)
        batch_size = self.optim.batch_size or default_batch_size(num_images)
        return replace(self, model=model, optim=replace(self.optim, batch_size=batch_size))

    def identity(self) -> dict:
        """What a checkpoint must share to be resumed: model, optimisation and the dataset's name."""
        values = self.to_dict()
        return {"model": values["model"], "optim": values["optim"], "data": {"dataset": values["data"]["dataset"]}}


def _names(section: type) -> list[str]:
    return [f.name for f in fields(section)]


def check_resume(saved: TrainConfig, current: TrainConfig, sections: tuple[str, ...] = IDENTITY) -> None:
    """Raise ValueError naming every field of ``sections`` (model, optimisation, data) where the two configs differ."""
    before, now = saved.identity(), current.identity()
    diffs = [
        f"{section}.{name}: checkpoint {shown(before[section][name])} vs now {shown(now[section].get(name))}"
        for section in sections
        for name in before[section]
        if before[section][name] != now[section].get(name)
    ]
    if diffs:
        advice = "Branch from it with the same networks and data" if sections == BRANCH_IDENTITY else (
            "Resume with the same settings, branch from it with another recipe (--branch CHECKPOINT --out-dir NEW), or start a new run in another --out-dir"
        )
        raise ValueError("The resume checkpoint was written by a different config:\n  " + "\n  ".join(diffs) + f"\n{advice}.")


# --------------------------------------------------------------------------- the command line


def _flag_type(annotation) -> type:
    """int | None -> int, float -> float, ..."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return args[0] if args else annotation


def add_arguments(parser: argparse.ArgumentParser, titles: dict[str, str] | None = None) -> None:
    """One flag per config field (``--latent-dim``, ``--no-download``), grouped by section.

    Every flag defaults to None (argparse.SUPPRESS for booleans' absence), so :func:`given_values`
    returns only what the user typed: a resumed run keeps its checkpoint's values for the rest.
    """
    titles = titles or {"data": "data", "model": "model", "optim": "optimisation", "run": "limits, device and outputs"}
    for name in ("data", "model", "optim", "run"):
        section = SECTIONS[name]
        group = parser.add_argument_group(titles[name])
        hints = typing.get_type_hints(section)
        for f in fields(section):
            meta = f.metadata
            default = f.default if f.default is not MISSING else None
            shown_default = meta.get("default_help") or default
            flag = meta.get("flag") or "--" + f.name.replace("_", "-")
            kind = _flag_type(hints[f.name])
            if kind is bool:
                group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=f"{meta['help']} (default: {'on' if default else 'off'})")
            else:
                group.add_argument(flag, dest=f.name, type=kind, choices=meta.get("choices"), default=None, help=f"{meta['help']} (default: {shown_default})")


def given_values(args: argparse.Namespace) -> dict:
    """The config fields the user gave on the command line, by flat name."""
    names = {name for section in SECTIONS.values() for name in _names(section)}
    return {k: v for k, v in vars(args).items() if k in names and v is not None}
