"""The f-AnoGAN anomaly score (Schlegl et al. 2019) and where a score falls among real test pictures.

For a picture x in [-1, 1] and a z for it::

    A(x) = mean (x - G(z))^2  +  kappa * mean (f_D(x) - f_D(G(z)))^2

As in f-AnoGAN, z = E(x) when the model ships an encoder, not the refined z* that the app shows and
edits. Measured (benchmarks/inversion.py, results in benchmarks/results/inversion_*.json): the Fashion-MNIST
model tells 200 MNIST digits from 200 of its own test pictures with ROC AUC 0.977 at E(x), 0.943 at z*, because
refinement also finds z for pictures unlike the training data (a "1" becomes trousers); E, trained only on
the training data, does not generalise to them. For the MNIST model both reach 0.9999. Without an encoder
the refined z is used (``score_from`` says which).

The first term is the pixel residual: how much of x G cannot draw. The second is the residual in D's
features (the activations before D's last convolution): how differently D sees the two. A picture
like the training data is drawn back closely and scores low; a digit shown to a clothing model, noise
or a blank canvas cannot be drawn and scores high. A raw score means little on its own, so
``encoder/reference_scores.json`` stores the sorted scores of real held-out test pictures of the model's
dataset, computed the same way, and :meth:`Reference.percentile` places a score among them without the
dataset at run time. :meth:`Reference.reading` says where a score falls in plain words ("This does not look like a
digit: it is more unusual than every one of 1,000 real test digits") and :meth:`Reference.scale` gives the histogram of
the reference scores with the picture's score marked on it, for the page to draw.
"""

from __future__ import annotations

import bisect
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from gan_core.core.checks import check_number, shown
from gan_core.core.encoder import discriminator_features
from gan_core.core.models import Discriminator, Generator

KAPPA = 1.0  # f-AnoGAN's weight of the feature residual
REFERENCE_NAME = "reference_scores.json"
SCORE_FORMULA = "mean((x - G(z))^2) + kappa * mean((f_D(x) - f_D(G(z)))^2), z = E(x), x and G(z) in [-1, 1], f_D = D.net[:-1]"
MAX_REFERENCE = 100_000
SCALE_BINS = 24  # bars of the histogram of reference scores the page draws
SCALE_SPAN = 3.0  # the scale reaches at most this many times the highest reference score; a score beyond is "off the scale"
# What one picture of a dataset is called in sentences (singular, plural); other datasets: "<name> picture(s)".
DATASET_NOUNS = {"mnist": ("digit", "digits"), "fashion-mnist": ("garment", "garments")}
NO_REFERENCE_READING = "This model ships no scores of real pictures to compare with, so the score cannot be read in words: higher is more unusual."


@torch.no_grad()
def residuals(generator: Generator, discriminator: Discriminator | None, images: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """(pixel residual (N,), feature residual (N,) or None without D, G(z) (N, C, H, W)) for images (N, C, H, W) in [-1, 1] and z (N, D)."""
    device = next(generator.parameters()).device
    images = images.to(device, torch.float32)
    drawn = generator(z.to(device, torch.float32))
    pixel = (images - drawn).pow(2).flatten(1).mean(1)
    feature = None
    if discriminator is not None:
        feature = (discriminator_features(discriminator, images) - discriminator_features(discriminator, drawn)).pow(2).mean(1)
    return pixel.cpu(), None if feature is None else feature.cpu(), drawn


def combine(pixel: torch.Tensor, feature: torch.Tensor | None, kappa: float = KAPPA) -> torch.Tensor:
    """A(x) = pixel + kappa * feature (feature residual left out without a D)."""
    return pixel if feature is None else pixel + kappa * feature


@dataclass(frozen=True)
class Reference:
    """Sorted anomaly scores of real held-out pictures, and how they were computed."""

    dataset: str
    split: str
    scores: tuple[float, ...]  # ascending
    kappa: float = KAPPA
    formula: str = SCORE_FORMULA
    inversion: dict = field(default_factory=dict)  # the refinement settings used (steps, restarts, seed, encoder)
    command: str = ""
    date: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.scores, (list, tuple)) or not 1 <= len(self.scores) <= MAX_REFERENCE:
            raise ValueError(f"reference scores must be a list of 1 to {MAX_REFERENCE} numbers, got {shown(self.scores)}.")
        scores = tuple(sorted(check_number(s, "a reference score", 0.0) for s in self.scores))
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "kappa", check_number(self.kappa, "kappa", 0.0))

    def __len__(self) -> int:
        return len(self.scores)

    def percentile(self, score: float) -> float:
        """The share (0..100) of reference pictures scoring lower than ``score`` (ties count half)."""
        below = bisect.bisect_left(self.scores, score)
        equal = bisect.bisect_right(self.scores, score) - below
        return 100.0 * (below + 0.5 * equal) / len(self.scores)

    def describe(self, score: float) -> str:
        """One sentence for people: 'More unusual than 97% of 500 real mnist test pictures.'"""
        share = self.percentile(score)
        return f"More unusual than {share:.0f}% of {len(self)} real {self.dataset} {self.split} pictures."

    @property
    def nouns(self) -> tuple[str, str]:
        """What one picture of the dataset is called, and many (after 'real test'): ('digit', 'digits') for MNIST."""
        return dataset_nouns(self.dataset)

    def reading(self, score: float) -> str:
        """The score in plain words, placed among the reference pictures by how many score lower.

        'This does not look like a digit: it is more unusual than every one of 1,000 real test digits.' above them all;
        'This hardly looks like a digit' (the top 1%), 'an unusual digit' (the top 10%), 'an ordinary digit', 'a very
        typical digit' (the lowest 10%) below.
        """
        one, many = self.nouns
        count, split = len(self), self.split
        lower = bisect.bisect_left(self.scores, score)  # reference pictures scoring lower
        share = self.percentile(score)
        real = f"{count:,} real {split} {many}"
        if score > self.scores[-1]:
            return f"This does not look like {article(one)}: it is more unusual than every one of {real}."
        if share >= 99:
            higher = count - lower
            return f"This hardly looks like {article(one)}: only {higher:,} of {real} {'is' if higher == 1 else 'are'} as unusual."
        if share >= 90:
            return f"This looks like an unusual {one}: it is more unusual than {lower:,} of {real}."
        if share >= 10:
            return f"This looks like an ordinary {one}: it is more unusual than {lower:,} of {real} and less than the rest."
        if lower == 0:
            return f"This looks like a very typical {one}: it is less unusual than every one of {real}."
        return f"This looks like a very typical {one}: it is less unusual than {count - lower:,} of {real}."

    def scale(self, score: float, bins: int = SCALE_BINS) -> dict:
        """The histogram of the reference scores with ``score`` marked, for the page to draw.

        The axis runs from 0 to the highest reference score, or on to ``score`` when it is higher (at most SCALE_SPAN
        times the highest; a score beyond is ``off_scale``, marked at the end). {"counts" (bins,), "edges" (bins + 1,),
        "low", "high", "score", "position" (where the mark sits, 0..1 along the axis), "off_scale", "percentile",
        "median", "highest", "count", "of" ('1,000 real test digits')}.
        """
        top = self.scores[-1]
        high = max(top, min(score, SCALE_SPAN * top)) or 1.0
        width = high / bins
        counts = [0] * bins
        for value in self.scores:
            counts[min(int(value / width), bins - 1)] += 1
        return {
            "counts": counts,
            "edges": [round(i * width, 6) for i in range(bins + 1)],
            "low": 0.0,
            "high": round(high, 6),
            "score": score,
            "position": round(min(max(score / high, 0.0), 1.0), 4),
            "off_scale": score > high,
            "percentile": self.percentile(score),
            "median": self.scores[len(self) // 2],
            "highest": top,
            "count": len(self),
            "of": f"{len(self):,} real {self.split} {self.nouns[1]}",
        }

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.write_text(json.dumps({"count": len(self), **asdict(self), "scores": [round(s, 6) for s in self.scores]}, indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Reference:
        """Read a reference_scores.json; ValueError naming the file when it is damaged."""
        path = Path(path)
        try:
            values = json.loads(path.read_text())
            if not isinstance(values, dict):
                raise ValueError(f"it holds {shown(values)}, not an object")  # noqa: TRY004 - a damaged file, reported as such
            values.pop("count", None)
            known = {"dataset", "split", "scores", "kappa", "formula", "inversion", "command", "date"}
            return cls(**{k: v for k, v in values.items() if k in known})
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, TypeError, ValueError) as err:
            raise ValueError(f"{path} is not a valid reference of anomaly scores ({str(err)[:120]}).") from None


def dataset_nouns(dataset: str | None) -> tuple[str, str]:
    """What one picture of ``dataset`` is called in sentences, and many: ('digit', 'digits'), ('emoji picture', 'emoji
    pictures') for folder:data/emoji, ('picture', 'pictures') for none."""
    if not dataset:
        return "picture", "pictures"
    if dataset in DATASET_NOUNS:
        return DATASET_NOUNS[dataset]
    name = Path(dataset.split(":", 1)[1]).name if dataset.startswith("folder:") else dataset
    return f"{name} picture", f"{name} pictures"


def article(noun: str) -> str:
    """'a digit', 'an emoji picture'."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def read_score(reference: Reference | None, score: float) -> tuple[str, dict | None]:
    """(the score in plain words, its scale) for a model's reference, or a sentence and None for a model without one."""
    if reference is None:
        return NO_REFERENCE_READING, None
    return reference.reading(score), reference.scale(score)
