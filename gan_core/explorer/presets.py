"""Vector arithmetic presets that mean something: "bold 3 − thin 3 + thin 8", chosen with the classifier and the picture measures.

The DCGAN paper's "smiling woman − neutral woman + neutral man = smiling man" transfers one attribute (a smile) from
one kind of picture to another. A preset here does the same with what can be measured: A and B are the same *kind*
(a class the dataset's classifier reads confidently; for a model without a classifier, one end of a picture measure,
e.g. wide) and differ in a *style* (one picture measure of :mod:`gan_core.evaluation.measures`: bold against thin
strokes, bright against dark); C is another kind with B's style. A − B + C should then be C's kind with A's style:
"bold 3 − thin 3 + thin 8 = bold 8". Each term is the mean z of 3 seeds, as in the paper.

:func:`choose_presets` tries every pair of kinds and every style on a pool of seeds, computes each candidate's result and
*checks* it: the classifier must read it as C's class (probability at least :data:`CLASS_CONFIDENCE`; for measure
kinds, the result must lie on C's side), its style must be at least :data:`STYLE_PERCENTILE` % of the way up among
the pool's pictures of C's kind, and, when the model has a D, D must not find it among G's least real quarter of pictures
(:data:`REALISM_PERCENTILE`); the more real, the higher it ranks. It keeps the best that pass, varied in style and kinds. The presets are written to
``presets.json`` beside the model (``python -m gan_core.choose_presets MODEL_DIR``), tied to G's weights by a hash like
the named directions, with each check's numbers; :func:`check_preset` checks a preset again.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from gan_core.core import latent
from gan_core.core.checks import check_count, shown
from gan_core.evaluation.classifier import Classifier, predict
from gan_core.evaluation.measures import Figure, Measure, draws_strokes, suited_measures
from gan_core.explorer import directions as named
from gan_core.inversion.anomaly import dataset_nouns
from gan_core.pipeline import GanPipeline

logger = logging.getLogger(__name__)

PRESETS_FILE = "presets.json"
FORMAT = 1
SEEDS_PER_TERM = 3  # the DCGAN paper averaged 3 z per concept
POOL = 2000  # seeds 0 .. POOL - 1 are read to choose from
CONFIDENT = 0.9  # a seed is of a class when the classifier reads it so with at least this probability
CLASS_CONFIDENCE = 0.8  # a preset's result must be read as C's class with at least this probability
STYLE_PERCENTILE = 75.0  # ... and its style at least this far up (or down) among the pool's pictures of C's kind
STYLE_SHARE = 0.2  # A's seeds come from the top fifth of their kind in the style, B's and C's from the bottom fifth
REALISM_PERCENTILE = 25.0  # with a D, the result's P(real) must be at least this far up among the pool's (not among G's least real quarter)
# The words for each end of a measure, as adjectives: (high, low).
ADJECTIVES = {
    "thickness": ("bold", "thin"),
    "brightness": ("bright", "dark"),
    "width": ("wide", "narrow"),
    "height": ("tall", "short"),
    "slant": ("right-leaning", "left-leaning"),
    "warmth": ("warm", "cool"),
    "colourfulness": ("colourful", "grey"),
}
COMPARATIVES = {
    "thickness": ("bolder", "thinner"),
    "brightness": ("brighter", "darker"),
    "width": ("wider", "narrower"),
    "height": ("taller", "shorter"),
    "slant": ("leaning more to the right", "leaning more to the left"),
    "warmth": ("warmer", "cooler"),
    "colourfulness": ("more colourful", "greyer"),
}
STYLE_ORDER = ("thickness", "warmth", "colourfulness", "brightness", "width", "height", "slant")  # the first presets show these first
EXPLANATION = (
    "Each preset takes A and B of one kind that differ in one style (bold against thin strokes, bright against dark) "
    "and C of another kind in B's style: A − B + C should be C's kind in A's style. Each was checked: the classifier "
    "(where the dataset has one) reads the result as C's kind, and its style is well up among G's pictures of that kind."
)


@dataclass(frozen=True)
class Preset:
    """One meaningful A − B + C: its seeds, what it should give, and what the check read."""

    name: str  # "bold 3 − thin 3 + thin 8"
    result: str  # "bold 8": what A − B + C should be
    a: tuple[int, ...]
    b: tuple[int, ...]
    c: tuple[int, ...]
    style: str  # the measure that differs: "thickness"
    high: bool  # A's style is the high end of it (bold), else the low end (thin)
    kind_by: str  # "class" (the classifier's) or the measure of the kind ("width")
    kind_from: str  # A's and B's kind: "3", or "wide"
    kind_to: str  # C's and the result's kind: "8", or "narrow"
    check: dict  # {"class", "probability" (the classifier's reading of the result, or None), "kind_percentile", "style_percentile", "passed"}

    def terms(self) -> tuple[str, str, str]:
        """The seeds of A, B and C as the tab's text boxes hold them: ('12, 40, 77', ...)."""
        return tuple(", ".join(str(s) for s in seeds) for seeds in (self.a, self.b, self.c))

    def to_dict(self) -> dict:
        return {**asdict(self), "a": list(self.a), "b": list(self.b), "c": list(self.c)}

    @classmethod
    def from_dict(cls, values: dict) -> Preset:
        return cls(**{**values, "a": tuple(values["a"]), "b": tuple(values["b"]), "c": tuple(values["c"])})

    @property
    def description(self) -> str:
        """The preset and its check in words, for the page: 'bold 3 − thin 3 + thin 8 = bold 8. Checked: the classifier
        reads the result as 8 (97%), bolder than 91% of G's 8s.'"""
        check = self.check
        share = check["style_percentile"] if self.high else 100 - check["style_percentile"]
        style = f"{COMPARATIVES[self.style][0 if self.high else 1]} than {share:.0f}% of {_plural_of_kind(self.kind_by, self.kind_to)}"
        if check.get("probability") is not None:
            return f"{self.name} = {self.result}. Checked: the classifier reads the result as {check['class']} ({100 * check['probability']:.0f}%), {style}."
        up = self.kind_to == ADJECTIVES[self.kind_by][0]
        kind_share = check["kind_percentile"] if up else 100 - check["kind_percentile"]
        return f"{self.name} = {self.result}. Checked: the result is {COMPARATIVES[self.kind_by][0 if up else 1]} than {kind_share:.0f}% of G's pictures, {style}."


def _plural_of_kind(by: str, kind: str) -> str:
    """"G's 8s", "G's sandals", "G's dresses", "G's narrow pictures"."""
    if by != "class":
        return f"G's {kind} pictures"
    return f"G's {kind}es" if kind.endswith(("s", "sh", "ch", "x")) else f"G's {kind}s"


def display_class(name: str) -> str:
    """A class name as it reads in a sentence: 'T-shirt/top' -> 'T-shirt', 'Ankle boot' -> 'ankle boot', '3' -> '3'."""
    name = name.split("/")[0]
    return name if name.startswith("T-") else name.lower()


def _percentile_within(values: torch.Tensor, value: float) -> float:
    """Share (0..100) of ``values`` below ``value``."""
    return 100.0 * float((values < value).double().mean()) if len(values) else 50.0


@torch.inference_mode()
def choose_presets(
    pipeline: GanPipeline, classifier: Classifier | None, *, count: int = 4, pool: int = POOL, seed_offset: int = 0
) -> list[Preset]:
    """Up to ``count`` presets that pass their check, best first (see the module's docstring). Deterministic.

    ``classifier``: the dataset's (class kinds) or None (kinds are the two ends of a picture measure). Reads seeds
    ``seed_offset`` .. ``seed_offset + pool - 1``. Empty when nothing passes.
    """
    count = check_count(count, "count", 1, 64)
    pool = check_count(pool, "pool", 4 * SEEDS_PER_TERM, 100_000)
    seeds = torch.arange(seed_offset, seed_offset + pool)
    drawn = pipeline(pipeline.latents(seeds.tolist()))
    pictures = drawn.uint8  # (P, C, H, W)
    measures = _measures(pictures)
    figure = Figure.of(pictures)
    values = {m.key: m.function(figure).float() for m in measures}  # key -> (P,)
    groups = _kinds(pictures, classifier, measures, values)
    noun = "" if classifier is not None else dataset_nouns(pipeline.dataset)[0].removesuffix(" picture")

    candidates = []
    for style in measures:
        for high in (True, False):
            for (by_x, x, in_x), (by_y, y, in_y) in ((gx, gy) for gx in groups for gy in groups if gx[0] == gy[0] and gx[1] != gy[1]):
                if by_x == style.key:
                    continue  # a kind and a style of the same measure say the same thing twice
                terms = _terms(seeds, values[style.key], in_x, in_y, high)
                if terms is not None:
                    candidates.append((style, high, by_x, x, y, in_y, terms))
    if not candidates:
        return []
    z = torch.stack([latent.arithmetic(*(pipeline.seed_noise(t) for t in terms)) for *_, terms in candidates])  # (K, D)
    judged = pipeline(z)
    results = judged.uint8
    realism = _realism(drawn.p_real, judged.p_real)
    probs = predict(classifier, results)[1] if classifier is not None else None
    result_figure = Figure.of(results)
    result_values = {m.key: m.function(result_figure).float() for m in measures}
    presets = []
    for index, (style, high, by, x, y, in_y, terms) in enumerate(candidates):
        check = _check(index, style.key, high, by, y, in_y, values, result_values, probs, classifier, realism[index])
        if check["passed"]:
            presets.append(_preset(style, high, by, x, y, terms, check, noun))
    return _varied(sorted(presets, key=_strength, reverse=True), count)


def _measures(pictures: torch.Tensor) -> list[Measure]:
    """The measures that make styles and kinds of these pictures: slant only for strokes (a garment does not lean)."""
    strokes = draws_strokes(pictures)
    return [m for m in suited_measures(pictures) if m.key in ADJECTIVES and (strokes or m.key != "slant")]


def _kinds(pictures, classifier, measures: list[Measure], values: dict) -> list[tuple[str, str, torch.Tensor]]:
    """The kinds pictures come in: (by, name, mask over the pool). By class when there is a classifier (confident readings
    only), else by the two ends (thirds) of each measure."""
    if classifier is not None:
        probs = predict(classifier, pictures)[1]
        best, top = probs.max(1)
        return [(named.CLASS_PREFIX.rstrip(":"), display_class(name), (top == k) & (best >= CONFIDENT)) for k, name in enumerate(classifier.class_names)]
    kinds = []
    for m in measures:
        low, high = torch.quantile(values[m.key], torch.tensor([1 / 3, 2 / 3]))
        kinds += [(m.key, ADJECTIVES[m.key][0], values[m.key] >= high), (m.key, ADJECTIVES[m.key][1], values[m.key] <= low)]
    return kinds


def _terms(seeds, style_values, in_x, in_y, high: bool) -> tuple[list[int], list[int], list[int]] | None:
    """The lowest seeds of: X at A's end of the style, X at B's end, Y at B's end (each end its kind's top or bottom fifth)."""

    def end(mask: torch.Tensor, top: bool) -> list[int] | None:
        rows = mask.nonzero().flatten()
        if len(rows) < SEEDS_PER_TERM / STYLE_SHARE:
            return None
        within = style_values[rows]
        cut = torch.quantile(within, 1 - STYLE_SHARE if top else STYLE_SHARE)
        chosen = rows[within >= cut] if top else rows[within <= cut]
        return seeds[chosen[:SEEDS_PER_TERM]].tolist() if len(chosen) >= SEEDS_PER_TERM else None

    a, b, c = end(in_x, high), end(in_x, not high), end(in_y, not high)
    return None if a is None or b is None or c is None else (a, b, c)


def _realism(pool: list, results: list) -> list[float | None]:
    """Each result's P(real) as a percentile among the pool's (None without a D)."""
    if not pool or pool[0] is None:
        return [None] * len(results)
    reference = torch.tensor(pool)
    return [round(_percentile_within(reference, value), 1) for value in results]


def _check(index, style, high, by, y, in_y, values, result_values, probs, classifier, realism: float | None = None) -> dict:
    """Whether result ``index`` is Y's kind in A's style, and (with a D) not among G's least real pictures (see the module's docstring)."""
    style_percentile = _percentile_within(values[style][in_y], float(result_values[style][index]))
    style_ok = style_percentile >= STYLE_PERCENTILE if high else style_percentile <= 100 - STYLE_PERCENTILE
    style_ok = style_ok and (realism is None or realism >= REALISM_PERCENTILE)
    if probs is not None:
        names = [display_class(n) for n in classifier.class_names]
        read = int(probs[index].argmax())
        probability = float(probs[index, read])
        kind_ok = names[read] == y and probability >= CLASS_CONFIDENCE
        return {"class": names[read], "probability": round(probability, 4), "kind_percentile": None, "style_percentile": round(style_percentile, 1), "realism_percentile": realism, "passed": bool(kind_ok and style_ok)}
    kind_percentile = _percentile_within(values[by], float(result_values[by][index]))
    kind_ok = kind_percentile >= 50 if y == ADJECTIVES[by][0] else kind_percentile <= 50
    return {"class": None, "probability": None, "kind_percentile": round(kind_percentile, 1), "style_percentile": round(style_percentile, 1), "realism_percentile": realism, "passed": bool(kind_ok and style_ok)}


def _preset(style: Measure, high: bool, by: str, x: str, y: str, terms, check: dict, noun: str = "") -> Preset:
    """The preset's words: 'bold 3 − thin 3 + thin 8' = 'bold 8'; with measure kinds the dataset's noun ('warm wide emoji')."""
    up, down = ADJECTIVES[style.key] if high else ADJECTIVES[style.key][::-1]
    one, other = (f"{x} {noun}", f"{y} {noun}") if noun else (x, y)
    return Preset(f"{up} {one} − {down} {one} + {down} {other}", f"{up} {other}", *(tuple(t) for t in terms), style.key, high, by, x, y, check)


def _strength(preset: Preset) -> float:
    """How clearly a preset passed: the classifier's probability (or the kind's margin), the style's margin and how real D finds
    the result (its percentile among G's pictures), 0..3: a result that reads right but looks broken ranks low."""
    check = preset.check
    style = check["style_percentile"] / 100 if preset.high else 1 - check["style_percentile"] / 100
    real = (check.get("realism_percentile") or 0.0) / 100
    if check["probability"] is not None:
        return check["probability"] + style + real
    kind = check["kind_percentile"] / 100
    return (kind if preset.kind_to == ADJECTIVES[preset.kind_by][0] else 1 - kind) + style + real


def _varied(presets: list[Preset], count: int) -> list[Preset]:
    """Up to ``count`` of ``presets`` (best first), each new one differing from those kept in its style or direction, and
    in its kinds, while there are such."""
    kept: list[Preset] = []
    for strict in (True, False):
        # First one of each style, in STYLE_ORDER (the clearest first: bold against thin), then the strongest of the rest.
        ordered = sorted(presets, key=lambda p: STYLE_ORDER.index(p.style)) if strict else presets
        for preset in ordered:
            if len(kept) == count:
                return kept
            if preset in kept:
                continue
            styles = {(p.style, p.high) for p in kept}
            kinds = {p.kind_from for p in kept} | {p.kind_to for p in kept}
            if not strict or ((preset.style, preset.high) not in styles and preset.kind_from not in kinds and preset.kind_to not in kinds):
                kept.append(preset)
    return kept


@torch.inference_mode()
def check_preset(pipeline: GanPipeline, preset: Preset, classifier: Classifier | None, pool: int = POOL) -> dict:
    """Check ``preset`` again with this pipeline (as :func:`choose_presets` did): the check's dict, "passed" included."""
    seeds = list(range(pool))
    drawn = pipeline(pipeline.latents(seeds))
    pictures = drawn.uint8
    measures = _measures(pictures)
    values = {m.key: m.function(Figure.of(pictures)).float() for m in measures}
    if preset.style not in values or (preset.kind_by != "class" and preset.kind_by not in values):
        return {"passed": False, "reason": f"the measure {preset.style!r} or {preset.kind_by!r} does not suit these pictures"}
    groups = {(by, name): mask for by, name, mask in _kinds(pictures, classifier, measures, values)}
    in_y = groups.get((preset.kind_by, preset.kind_to))
    if in_y is None:
        return {"passed": False, "reason": f"no kind {preset.kind_to!r} here"}
    judged = pipeline(latent.arithmetic(*(pipeline.seed_noise(list(t)) for t in (preset.a, preset.b, preset.c)))[None])
    result = judged.uint8
    probs = predict(classifier, result)[1] if classifier is not None else None
    result_values = {m.key: m.function(Figure.of(result)).float() for m in measures}
    return _check(0, preset.style, preset.high, preset.kind_by, preset.kind_to, in_y, values, result_values, probs, classifier, _realism(drawn.p_real, judged.p_real)[0])


# ----------------------------------------------------------------------------- kept beside the model


def presets_path(pipeline: GanPipeline) -> Path | None:
    return pipeline.files.root / PRESETS_FILE if pipeline.files is not None else None


def write_presets(path: str | os.PathLike, generator: str, presets: list[Preset], classifier: str | None, command: str = "") -> Path:
    path = Path(path)
    record = {
        "format": FORMAT,
        "generator": generator,
        "explanation": EXPLANATION,
        "classifier": classifier,
        "thresholds": {"class_confidence": CLASS_CONFIDENCE, "style_percentile": STYLE_PERCENTILE, "pool": POOL, "seeds_per_term": SEEDS_PER_TERM},
        "command": command,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "presets": [p.to_dict() for p in presets],
    }
    path.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    return path


def read_presets(path: Path | None, generator: str) -> list[Preset]:
    """The presets kept in ``path`` for the generator hashed ``generator``; [] for none, another G or a damaged file (with a warning)."""
    if path is None or not path.is_file():
        return []
    try:
        stored = json.loads(path.read_text())
        if stored.get("format") != FORMAT or stored.get("generator") != generator:
            return []
        return [Preset.from_dict(p) for p in stored["presets"]]
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as err:
        logger.warning("%s could not be read (%s: %s); the arithmetic tab offers no presets.", path, type(err).__name__, shown(str(err)))
        return []


def presets_for(pipeline: GanPipeline) -> list[Preset]:
    """The model's presets from its presets.json when they were chosen for this generator, else []."""
    path = presets_path(pipeline)
    return read_presets(path, named.generator_hash(pipeline)) if path is not None and path.is_file() else []
