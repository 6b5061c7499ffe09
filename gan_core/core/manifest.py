"""The run manifest: what made a model, machine-readable, beside its ``config.json``.

``config.json`` says how to rebuild a network; ``run.json`` says what trained it: the dataset, the
image shape, the whole training config, steps, epochs, time, every command of the run, the
library version and, once ``gan_core.evaluate --write-card`` has run, its measured quality. The
model card (README.md) is rendered from it, and ``evaluate`` and the app read the dataset from it.
"""

from __future__ import annotations

import datetime
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from gan_core.core.checks import shown
from gan_core.core.models import PAPER_URL, REPO_URL

MANIFEST_NAME = "run.json"
CARD_NAME = "README.md"
FORMAT = 1


@dataclass
class RunManifest:
    """What made a model. ``training`` is ``TrainConfig.to_dict()``: model, optim, data and run sections."""

    dataset: str
    image_size: int
    channels: int
    num_images: int
    data_note: str
    training: dict
    steps: int
    epochs: float
    elapsed_sec: float = 0.0
    commands: list[str] = field(default_factory=list)
    library_version: str = ""
    exported: str = ""  # UTC date of the export
    notes: str = ""  # free Markdown for the card (how the run was split, what was watched)
    evaluation: dict | None = None  # {"summary", "rows": [[metric, better, generated, floor], ...], "command", "date"}
    # D's verdicts one picture at a time (gan_core.training.calibration.measure_verdicts): {"real", "generated", "ranked",
    # "count", "pictures": "training" or "test", "batches"}; None for a run exported before D's BatchNorm was calibrated.
    verdicts: dict | None = None
    format: int = FORMAT

    def __post_init__(self) -> None:
        if self.format != FORMAT:
            raise ValueError(f"run manifest format {shown(self.format)} is not supported (this gan_core reads format {FORMAT}).")
        for name in ("image_size", "channels", "num_images", "steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"run manifest field {name} must be a whole number, got {shown(value)}.")
        if not isinstance(self.training, dict):
            raise ValueError(f"run manifest field training must be an object, got {shown(self.training)}.")
        if self.verdicts is not None:
            shares = [self.verdicts.get(k) if isinstance(self.verdicts, dict) else None for k in ("real", "generated", "ranked")]
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1 for v in shares):
                raise ValueError(f"run manifest field verdicts must hold real, generated and ranked shares from 0 to 1, got {shown(self.verdicts)}.")

    @staticmethod
    def now() -> str:
        return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_dict(cls, values: dict) -> RunManifest:
        known = {f.name for f in fields(cls)}
        missing = [f.name for f in fields(cls) if f.name in ("dataset", "image_size", "channels", "training") and f.name not in values]
        if missing:
            raise ValueError(f"run manifest lacks {', '.join(missing)}.")
        return cls(**{k: v for k, v in values.items() if k in known})

    def setting(self, section: str, name: str, default=None):
        """One training setting, e.g. ``setting("optim", "lr")``."""
        return self.training.get(section, {}).get(name, default)


def read_manifest(folder: str | os.PathLike) -> RunManifest | None:
    """The manifest of a model folder, None when it has none; ValueError naming the file when it is damaged."""
    path = Path(folder) / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        values = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from err
    if not isinstance(values, dict):
        raise ValueError(f"{path} must hold a JSON object, got {shown(values)}.")
    try:
        return RunManifest.from_dict(values)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path}: {err}") from err


def write_manifest(folder: str | os.PathLike, manifest: RunManifest) -> Path:
    path = Path(folder) / MANIFEST_NAME
    path.write_text(manifest.to_json())
    return path


ROLES = {
    "generator": "generator",
    "discriminator": "discriminator (it returns logits; the sigmoid of a logit is D's probability that the image is real)",
}


def render_card(manifest: RunManifest, part: str, config: dict) -> str:
    """The model card (README.md) of the ``part`` ("generator" or "discriminator") folder of a run."""
    role = ROLES[part]
    batches = manifest.setting("run", "bn_calibration_batches")
    if part == "generator":
        role = (
            f"generator: the exponential moving average of G's weights (decay {manifest.setting('optim', 'ema_decay')}), with its "
            f"BatchNorm statistics re-estimated over {batches} noise batches"
        )
    commands = "\n".join(manifest.commands) or "python -m gan_core.train ..."
    config_md = "\n".join(f"- `{k}`: {v}" for k, v in config.items())
    optim = manifest.training.get("optim", {})
    augment_note = ", DiffAugment (colour, translation, cutout) on every picture D saw" if optim.get("augment") == "on" else ""
    evaluation = manifest.evaluation
    if evaluation:
        header, *rows = evaluation["rows"]
        table = "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(map(str, r)) + " |" for r in rows])
        metrics_md = f"{evaluation['summary']}\n\n{table}\n\n```\n{evaluation['command']}\n```\n({evaluation['date']})"
    elif part == "discriminator":
        metrics_md = "The quality of the generator's pictures is measured in the generator's card (`../generator/README.md`)."
    else:
        metrics_md = "Not measured yet: `python -m gan_core.evaluate MODEL_DIR --write-card` measures it and writes it here."
    notes = f"\n{manifest.notes.strip()}\n" if manifest.notes.strip() else ""
    verdicts_md = ""
    if part == "discriminator" and manifest.verdicts is not None:
        verdicts = manifest.verdicts
        verdicts_md = f"""
## Verdicts
BatchNorm statistics re-estimated over {verdicts.get('batches', batches)} batches of real training pictures, as D saw them in training, so that it
judges one picture at a time as it judged batches of real pictures. One picture at a time it gives real
{verdicts.get('pictures', 'training')} pictures {verdicts['real']:.0%} on average and the generator's {verdicts['generated']:.0%}, and rates the real
one higher in {verdicts['ranked']:.0%} of (real, generated) pairs ({verdicts['count']:,} of each).
"""
    return f"""---
library_name: gan_core
license: mit
tags:
- dcgan
- gan
- unconditional-image-generation
datasets:
- {manifest.dataset}
---

# DCGAN {part}: {manifest.dataset} {manifest.image_size}x{manifest.image_size}

The {role}, of a DCGAN ([Radford et al. 2015]({PAPER_URL})) trained by [`gan_core`]({REPO_URL})
on **{manifest.dataset}**. Everything below is rendered from `{MANIFEST_NAME}` in this folder.

## Data
{manifest.data_note}

## Training
```
{commands}
```
{notes}
{manifest.steps} steps ({manifest.epochs:.2f} epochs, {manifest.elapsed_sec / 60:.1f} minutes of training) with
BCE-with-logits for D and the non-saturating loss for G; Adam (lr {optim.get('lr')}, betas ({optim.get('beta1')}, {optim.get('beta2')})),
batch {optim.get('batch_size')}, seed {optim.get('seed')}{augment_note}; gan_core {manifest.library_version or 'unknown'}, exported {manifest.exported or 'unknown'}.
{verdicts_md}
## Config
{config_md}

## Metrics
{metrics_md}

## Use
```python
from gan_core import GanPipeline
pipeline = GanPipeline.from_pretrained("path/or/repo-id")
pictures = pipeline.generate(num=16, seed=0)   # uint8 images and D's verdicts
```
"""
