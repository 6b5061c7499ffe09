"""Named directions: what each slider does to the pictures, in a word, and how strongly.

For each of a model's strongest directions (SeFa or GANSpace, see :meth:`GanPipeline.directions`), many
random latents are moved along it by a few amounts (-3 .. +3 by default), the pictures are measured
(:mod:`gan_core.evaluation.measures`: brightness, width, height, slant, stroke thickness for models that draw
strokes (digits), warmth and colourfulness for colour models) and, where the model's dataset has an evaluation classifier
(``weights/classifiers/<dataset>/``), read by it. The classifier's reading is one more measure, the *class
change* A → B: B is the class whose probability grows most along the move, A the one whose probability
shrinks most, and the measure is P(B) - P(A) of each picture (one class's probability alone would be diluted:
a move that turns 7s into 0s changes P(7) only for the pictures that were 7s). The direction is named after
the measure that changes most as the amount grows: "thicker", "wider", "warmer", or "7 → 0".

**Effect size.** The measures have different units (pixels, fractions, probabilities), so each change is
standardised as Cohen's d: the change of the measure's mean from the lowest to the highest amount (read off
a least-squares line through the means at every amount) divided by the measure's standard deviation among
pictures at the same amount (pooled over the amounts). It says how far apart the pictures at -3 and +3 are
compared with how much ordinary pictures differ in that measure, whatever its unit, so a d of 1.0 in thickness
and one of 1.0 in a class change are equally large moves; by Cohen's convention 0.5 is medium and 0.8 large. A direction whose
largest |d| is below :attr:`NamingConfig.threshold` is called "no clear change".

The names are computed once per model (seconds on one CPU thread) and kept beside it in
``directions.json`` (:data:`NAMES_FILE`), written by ``python -m gan_core.name_directions MODEL_DIR`` and
tied to the generator's weights by a hash; the explorer reads that file, or computes the names on first use.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import torch
from tqdm.auto import tqdm

from gan_core.core import latent
from gan_core.core.checks import check_count, check_number, check_seed
from gan_core.evaluation.classifier import Classifier, load_classifier, predict
from gan_core.evaluation.measures import Figure, measures_for, suited_measures
from gan_core.evaluation.quality import default_classifier_dir, shown_path
from gan_core.pipeline import GanPipeline

logger = logging.getLogger(__name__)

NAMES_FILE = "directions.json"
FORMAT = 1
CLASS_PREFIX = "class:"  # effects of the classifier's probabilities are keyed "class:<name>"
NO_CLEAR_CHANGE = "no clear change"

NAMES_EXPLANATION = (
    "Each direction is named after what changes most when its slider moves right: random pictures were moved "
    "from −3 to +3 along it and measured (brightness, stroke thickness, width, height, slant, colour) "
    "and, where the dataset has one, read by a classifier (\"7 → 0\": 7s turn into 0s). The effect is Cohen's d: "
    "how far apart the pictures at −3 and +3 are, in standard deviations of how much pictures at one point differ "
    "(0.5 is medium, 0.8 large)."
)


@dataclass(frozen=True)
class NamingConfig:
    """How directions are named: ``seeds`` random latents (drawn from ``seed``) moved by each of ``amounts`` along the
    ``num_directions`` strongest directions; below ``threshold`` (Cohen's d) a direction has no clear effect."""

    seeds: int = 128
    amounts: tuple[float, ...] = (-3.0, -1.5, 0.0, 1.5, 3.0)
    seed: int = 0
    num_directions: int = 8
    threshold: float = 0.5

    def __post_init__(self) -> None:
        object.__setattr__(self, "seeds", check_count(self.seeds, "seeds", 8, 4096))
        object.__setattr__(self, "seed", check_seed(self.seed))
        object.__setattr__(self, "num_directions", check_count(self.num_directions, "num_directions", 1, 4096))
        object.__setattr__(self, "threshold", check_number(self.threshold, "threshold", 0.0))
        amounts = tuple(check_number(a, "each amount", -100.0, 100.0) for a in self.amounts)
        if list(amounts) != sorted(set(amounts)) or 0.0 not in amounts or amounts[0] >= 0 or amounts[-1] <= 0:
            raise ValueError(f"amounts must be increasing, distinct, hold 0 and go below and above it, like (-3, -1.5, 0, 1.5, 3); got {self.amounts}.")
        object.__setattr__(self, "amounts", amounts)


@dataclass(frozen=True)
class DirectionName:
    """What moving along one direction (to the right, positive amounts) does to the pictures."""

    index: int  # 0 = the strongest direction
    name: str  # "thicker", "7 → 9", "no clear change"
    effect: float  # |Cohen's d| of the measure the name comes from
    measure: str  # its key: "thickness", ..., or "class" for the class change
    effects: dict[str, float]  # every measure's signed Cohen's d, each class's probability as "class:<name>"
    pixel_change: float  # mean |change| of a pixel (0..1 scale) per unit amount
    class_change: str | None  # "7 → 0": the classifier's reading, whether or not it names the direction; None without a classifier
    class_effect: float | None  # Cohen's d of P(B) - P(A) for that change A → B
    class_flips: float | None  # share of latents whose class (the classifier's top reading) differs at the two ends

    @property
    def label(self) -> str:
        """The text beside a slider: '7 → 9 · effect 2.1'."""
        return self.name if self.name == NO_CLEAR_CHANGE else f"{self.name} · effect {self.effect:.1f}"


@dataclass(frozen=True)
class DirectionNames:
    """The names of one kind of directions of one model, and how they were found."""

    kind: str  # "sefa" or "ganspace"
    directions: list[DirectionName]
    config: NamingConfig
    classifier: str | None  # the classifier folder that read the pictures, None for none
    seconds: float  # how long naming took

    @property
    def labels(self) -> list[str]:
        return [d.label for d in self.directions]

    def to_dict(self) -> dict:
        config = asdict(self.config)
        config["amounts"] = list(config["amounts"])
        return {
            "kind": self.kind,
            "config": config,
            "classifier": self.classifier,
            "seconds": round(self.seconds, 3),
            "directions": [
                {
                    **asdict(d),
                    "effect": round(d.effect, 4),
                    "effects": {k: round(v, 4) for k, v in d.effects.items()},
                    "pixel_change": round(d.pixel_change, 6),
                    "class_effect": None if d.class_effect is None else round(d.class_effect, 4),
                    "class_flips": None if d.class_flips is None else round(d.class_flips, 4),
                }
                for d in self.directions
            ],
        }

    @classmethod
    def from_dict(cls, values: dict) -> DirectionNames:
        """The inverse of :meth:`to_dict`; ValueError (KeyError, TypeError) for a record that is not one."""
        config = NamingConfig(**{**values["config"], "amounts": tuple(values["config"]["amounts"])})
        directions = [DirectionName(**d) for d in values["directions"]]
        return cls(latent.check_direction_kind(values["kind"]), directions, config, values["classifier"], float(values["seconds"]))


# ----------------------------------------------------------------------------- the numbers


def effect_size(values: torch.Tensor, amounts: torch.Tensor) -> float:
    """Cohen's d of a measure along a direction: values (A, S), the measure of S latents at each of A amounts.

    The change of the mean from amounts[0] to amounts[-1], from a least-squares line through the A means, over the
    standard deviation among the S pictures at one amount, pooled over the amounts. Signed; 0 when nothing varies,
    and at most 99 in size (a measure that no picture varies in but the move changes).
    """
    means = values.mean(1)  # (A,)
    centred = amounts - amounts.mean()
    slope = (centred * (means - means.mean())).sum() / (centred**2).sum()
    change = float(slope * (amounts[-1] - amounts[0]))
    spread = math.sqrt(float(values.var(1).mean()))
    if spread < 1e-12:
        return 0.0 if abs(change) < 1e-12 else math.copysign(99.0, change)
    return max(-99.0, min(99.0, change / spread))


def class_change(effects: dict[str, float]) -> tuple[str, str] | None:
    """(A, B) of the class change read off the classes' effects ("class:<name>" keys): B grows most, A shrinks most; None without two classes."""
    classes = {k[len(CLASS_PREFIX):]: v for k, v in effects.items() if k.startswith(CLASS_PREFIX)}
    if len(classes) < 2:
        return None
    grows = max(classes, key=classes.get)
    shrinks = min((c for c in classes if c != grows), key=classes.get)
    return shrinks, grows


def name_of(effects: dict[str, float], threshold: float, change: tuple[str, float] | None = None) -> tuple[str, str, float]:
    """(name, measure key, |d|) of the largest effect among ``effects``' measures (class probabilities left out) and the
    class ``change`` ("7 → 0", its d), if any. A measure is named by its word for the sign of its change; below
    ``threshold`` nothing is clear."""
    candidates = {k: v for k, v in effects.items() if not k.startswith(CLASS_PREFIX)}
    if change is not None:
        candidates["class"] = change[1]
    key, d = max(candidates.items(), key=lambda item: abs(item[1]))
    if abs(d) < threshold:
        return NO_CLEAR_CHANGE, key, abs(d)
    if key == "class":
        return change[0], key, abs(d)
    words = {m.key: (m.more, m.less) for m in measures_for(3)}
    return words[key][0 if d > 0 else 1], key, abs(d)


@lru_cache(maxsize=8)
def _load_classifier(path: str) -> Classifier:
    return load_classifier(path)


def classifier_for(pipeline: GanPipeline) -> tuple[Classifier, str] | None:
    """The evaluation classifier of the model's dataset (``weights/classifiers/<dataset>/``) and its folder, or None.

    None for a model whose dataset is unknown or has no classifier (a folder of pictures), or whose pictures have
    another number of channels than the classifier takes.
    """
    try:
        folder = default_classifier_dir(pipeline.dataset) if pipeline.dataset else None
    except ValueError:  # a dataset name this version does not know
        folder = None
    if folder is None or not (folder / "model.safetensors").is_file():
        return None
    classifier = _load_classifier(str(folder))
    if classifier.channels != pipeline.channels:
        return None
    return classifier, shown_path(folder)


@torch.inference_mode()
def name_directions(
    pipeline: GanPipeline,
    kind: str = "sefa",
    *,
    config: NamingConfig | None = None,
    classifier: Classifier | str | None = "auto",
    progress: bool = False,
) -> DirectionNames:
    """Name the ``config.num_directions`` strongest directions of ``kind`` (see the module's docstring).

    ``classifier``: "auto" (the dataset's shipped one, :func:`classifier_for`), None (measures only) or a
    :class:`~gan_core.evaluation.classifier.Classifier`. Deterministic in ``config.seed``. 1.4 to 8 s per kind on one
    CPU thread for the shipped models, most of it the classifier (BENCHMARKS.md, "Named directions").
    """
    began = time.perf_counter()
    config = config or NamingConfig()
    kind = latent.check_direction_kind(kind)
    if classifier == "auto":
        found = classifier_for(pipeline)
        classifier, classifier_name = found if found else (None, None)
    else:
        classifier_name = type(classifier).__name__ if classifier is not None else None
    directions, _ = pipeline.directions(kind)
    count = min(config.num_directions, directions.shape[0])
    amounts = torch.tensor(config.amounts, dtype=torch.float64)
    others = [a for a in config.amounts if a != 0]
    z0 = latent.noise_for_seed(config.seed, pipeline.latent_dim, pipeline.noise, config.seeds)  # (S, D)
    start = pipeline(z0, verdict=False).uint8  # (S, C, H, W): every direction's amount 0
    measures = suited_measures(start)
    class_names = [CLASS_PREFIX + name for name in classifier.class_names] if classifier is not None else []

    def read(pictures: torch.Tensor) -> torch.Tensor:
        """uint8 pictures (N, C, H, W) -> every measure and class probability, (N, M) float64."""
        figure = Figure.of(pictures)
        columns = [m.function(figure) for m in measures]
        if classifier is not None:
            columns += list(predict(classifier, pictures)[1].double().T)
        return torch.stack(columns, 1)

    at_start = read(start)
    names = []
    for k in tqdm(range(count), desc=f"naming {kind} directions", disable=not progress):
        moved_z = torch.cat([z0 + a * directions[k] for a in others])  # (len(others) * S, D)
        moved = pipeline(moved_z, verdict=False).uint8.reshape(len(others), config.seeds, *start.shape[1:])
        values = read(moved.flatten(0, 1)).reshape(len(others), config.seeds, -1)
        rows = iter(values)  # in amount order, amount 0 left out
        table = torch.stack([at_start if a == 0 else next(rows) for a in config.amounts])  # (A, S, M)
        keys = [m.key for m in measures] + class_names
        effects = {key: effect_size(table[:, :, j], amounts) for j, key in enumerate(keys)}
        change = class_change(effects)
        change_name = change_effect = flips = None
        if change is not None:
            shrinks, grows = (keys.index(CLASS_PREFIX + c) for c in change)
            change_name, change_effect = f"{change[0]} → {change[1]}", effect_size(table[:, :, grows] - table[:, :, shrinks], amounts)
            ends = table[[0, -1], :, len(measures):].argmax(-1)  # (2, S): the class read at each end
            flips = (ends[0] != ends[1]).double().mean().item()
        name, key, size = name_of(effects, config.threshold, None if change is None else (change_name, change_effect))
        pixel_change = sum((moved[i].double() - start.double()).abs().mean().item() / 255 / abs(a) for i, a in enumerate(others)) / len(others)
        names.append(DirectionName(k, name, size, key, effects, pixel_change, change_name, change_effect, flips))
    return DirectionNames(kind, names, config, classifier_name, time.perf_counter() - began)


# ----------------------------------------------------------------------------- kept beside the model


def generator_hash(pipeline: GanPipeline) -> str:
    """sha256 of G's weights (names, shapes and bytes, in state-dict order): ties a names file to the G it describes."""
    digest = hashlib.sha256()
    for name, tensor in pipeline.generator.state_dict().items():
        digest.update(f"{name}{tuple(tensor.shape)}{tensor.dtype}".encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def names_path(pipeline: GanPipeline) -> Path | None:
    """Where the model's names are kept: ``directions.json`` in its folder (None for a model made in memory)."""
    return pipeline.files.root / NAMES_FILE if pipeline.files is not None else None


def read_names(path: Path, generator: str, kind: str, config: NamingConfig | None = None) -> DirectionNames | None:
    """The names of ``kind`` kept in ``path`` for the generator hashed ``generator`` (and ``config``), else None.

    A missing file, another generator, another config or a kind not in it is None; a damaged file is None too,
    with a warning, so a model still opens (its names are computed again).
    """
    if not path.is_file():
        return None
    try:
        stored = json.loads(path.read_text())
        if stored.get("format") != FORMAT or stored.get("generator") != generator or kind not in stored.get("kinds", {}):
            return None
        names = DirectionNames.from_dict(stored["kinds"][kind])
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as err:
        logger.warning("%s could not be read (%s: %s); the direction names are computed again.", path, type(err).__name__, err)
        return None
    if config is not None and names.config != config:
        return None
    return names


def write_names(path: Path, generator: str, names: list[DirectionNames]) -> None:
    """Keep ``names`` (one per kind) in ``path``, beside the kinds already kept there for the same generator."""
    kinds = {}
    if path.is_file():
        try:
            stored = json.loads(path.read_text())
            if stored.get("format") == FORMAT and stored.get("generator") == generator:
                kinds = dict(stored.get("kinds", {}))
        except (ValueError, UnicodeDecodeError, AttributeError):
            kinds = {}
    kinds.update({n.kind: n.to_dict() for n in names})
    record = {"format": FORMAT, "generator": generator, "explanation": NAMES_EXPLANATION, "kinds": dict(sorted(kinds.items()))}
    path.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")


def names_for(pipeline: GanPipeline, kind: str = "sefa", config: NamingConfig | None = None) -> DirectionNames:
    """The model's names of ``kind``: read from its ``directions.json`` when that file describes this generator, else
    computed (and not written: ``python -m gan_core.name_directions`` writes)."""
    kind = latent.check_direction_kind(kind)
    path = names_path(pipeline)
    if path is not None:
        kept = read_names(path, generator_hash(pipeline), kind, config)
        if kept is not None:
            return kept
    return name_directions(pipeline, kind, config=config)

