"""Score a generator: ``python -m gan_core.evaluate MODEL_DIR --dataset fashion-mnist``.

Draws ``--num`` samples (default 10,000, capped at the size of the smaller data split), scores
them with the metrics of ``gan_core.metrics`` against real training images, and prints every
metric beside its floor: the same metric for real test images against the same training images.
Prints a table and the JSON (also written to ``--json FILE``); ``--write-card`` puts the numbers
into MODEL_DIR's model card (README.md).

The feature extractor is the dataset's evaluation classifier (``weights/classifiers/<dataset>``,
trained by ``python -m gan_core.classifier``); pass another with ``--classifier DIR``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import math
import re
import shlex
import sys
import time
from pathlib import Path

import torch

from gan_core import hub
from gan_core.classifier import Classifier, load_classifier
from gan_core.data import dataset_names, load_dataset
from gan_core.metrics import METRIC_INFO, Reference
from gan_core.models import Generator
from gan_core.sample import generate, resolve_generator_path

logger = logging.getLogger(__name__)

CLASSIFIER_ROOT = Path(__file__).resolve().parent.parent / "weights" / "classifiers"
MAX_NUM = 100_000


def _shown_path(path: Path) -> str:
    """``path`` relative to the working directory when inside it, so cards and JSON carry no machine paths."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def default_classifier_dir(dataset: str) -> Path:
    return CLASSIFIER_ROOT / dataset


def build_reference(
    dataset: str,
    classifier: Classifier,
    *,
    data_dir: str | None = None,
    num: int = 10_000,
    seed: int = 0,
    download: bool = False,
    **reference_kwargs,
) -> Reference:
    """Load both splits of ``dataset`` and draw the reference (train) and floor (test) samples."""
    train = load_dataset(dataset, split="train", data_dir=data_dir, download=download)
    test = load_dataset(dataset, split="test", data_dir=data_dir, download=download)
    if classifier.channels != train.channels:
        raise ValueError(f"the classifier takes {classifier.channels}-channel images, but {dataset} has {train.channels}.")
    return Reference.build(classifier, train.images, test.images, num, seed=seed, **reference_kwargs)


def sample_uint8(generator: Generator, num: int, seed: int, noise: str | None = None) -> torch.Tensor:
    """``num`` samples of ``generator`` (eval mode) as uint8 (N, C, H, W), deterministic in (seed, num).

    ``noise`` defaults to the distribution the generator records in its config."""
    array = torch.from_numpy(generate(generator.eval(), num, seed, noise))
    return array.unsqueeze(1) if array.dim() == 3 else array.permute(0, 3, 1, 2).contiguous()


def check_compatible(generator: Generator, reference: Reference, dataset: str) -> None:
    shape = tuple(reference.train_sample.shape[1:])
    made = (generator.channels, generator.image_size, generator.image_size)
    if made != shape:
        raise ValueError(
            f"the generator makes {made[0]}x{made[1]}x{made[2]} images but {dataset} images are "
            f"{shape[0]}x{shape[1]}x{shape[2]}; evaluate a generator trained on {dataset}."
        )


def evaluate(generator: Generator, reference: Reference, seed: int = 0, noise: str | None = None) -> dict:
    """Metrics of ``reference.num`` samples of ``generator`` and of the real floor: {"generated", "floor"}."""
    images = sample_uint8(generator, reference.num, seed, noise)
    return {"generated": reference.score(images), "floor": reference.floor()}


def _fmt(name: str, value) -> str:
    if isinstance(value, bool) or isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4g}" if name == "kid" else f"{value:.4f}" if abs(value) < 100 else f"{value:.1f}"


def format_table(result: dict, markdown: bool = False) -> str:
    """A metric | generated | floor table (``result`` as returned by :func:`evaluate`)."""
    rows = [("metric", "better", "generated", "floor (real test)")]
    for name, (label, better) in METRIC_INFO.items():
        rows.append((label, better, _fmt(name, result["generated"][name]), _fmt(name, result["floor"][name])))
    rows.append(("memorisation flag", "False", str(result["generated"]["memorisation_flag"]), str(result["floor"]["memorisation_flag"])))
    if markdown:
        lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows[1:]])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows)


def card_section(result: dict) -> str:
    """The ``## Metrics`` section of a model card: the table plus how it was measured."""
    return (
        "## Metrics\n"
        f"Measured on {result['num']:,} samples (seed {result['seed']}) against {result['num']:,} real "
        f"{result['dataset']} training images, with the evaluation classifier `{result['classifier']}` "
        f"(test accuracy {result['classifier_test_accuracy']}) as feature extractor. The floor is the same "
        "metric for real test images: the best a generator can be expected to reach.\n\n"
        f"{format_table(result, markdown=True)}\n\n"
        f"```\n{result['command']}\n```\n({result['date']})\n"
    )


def update_card(card: str, section: str) -> str:
    """Replace the card's ``## Metrics`` section (up to the next ``## `` heading) or append one."""
    pattern = re.compile(r"^## Metrics\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(card):
        return pattern.sub(lambda _: section + "\n", card, count=1)
    return card.rstrip("\n") + "\n\n" + section


def classifier_accuracy(classifier_dir: Path) -> str:
    """The test accuracy stated in a classifier's card, or 'unknown'."""
    card = classifier_dir / hub.CARD_NAME
    found = re.search(r"\*\*([0-9.]+%)\*\* on the", card.read_text()) if card.is_file() else None
    return found.group(1) if found else "unknown"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gan_core.evaluate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="generator folder, a run/weights folder holding generator/, or a Hub repo id")
    p.add_argument("--dataset", required=True, help=f"the dataset the generator was trained on: {', '.join(dataset_names())}")
    p.add_argument("--data-dir", help="folder holding the dataset's IDX files")
    p.add_argument("--classifier", help="evaluation classifier folder (default weights/classifiers/DATASET)")
    p.add_argument("--num", type=int, default=10_000, help="samples, reference and floor size (default 10000; capped at the smaller split)")
    p.add_argument("--seed", type=int, default=0, help="noise and reference-sampling seed (default 0)")
    p.add_argument("--noise", choices=("normal", "uniform"), help="override the noise the generator records in its config")
    p.add_argument("--kid-subsets", type=int, default=100, help="KID subsets (default 100)")
    p.add_argument("--json", dest="json_path", help="also write the results to this JSON file")
    p.add_argument("--write-card", action="store_true", help="write the metrics into MODEL's README.md model card")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if not 2 <= args.num <= MAX_NUM:
        parser.error(f"--num must be between 2 and {MAX_NUM}, got {args.num}")
    if args.kid_subsets < 1:
        parser.error(f"--kid-subsets must be at least 1, got {args.kid_subsets}")
    start = time.perf_counter()
    try:
        model_dir = Path(resolve_generator_path(args.model))
        generator = hub.load_generator(model_dir)
        classifier_dir = Path(args.classifier) if args.classifier else default_classifier_dir(args.dataset.partition(":")[0])
        classifier = load_classifier(classifier_dir)
        reference = build_reference(args.dataset, classifier, data_dir=args.data_dir, num=args.num, seed=args.seed, kid_subsets=args.kid_subsets)
        check_compatible(generator, reference, args.dataset)
    except (ValueError, FileNotFoundError) as err:
        parser.exit(2, f"error: {err}\n")
    result = {
        "model": str(model_dir),
        "dataset": args.dataset,
        "num": reference.num,
        "seed": args.seed,
        "classifier": _shown_path(classifier_dir),
        "classifier_test_accuracy": classifier_accuracy(classifier_dir),
        **evaluate(generator, reference, args.seed, args.noise),
        "command": "python -m gan_core.evaluate " + shlex.join(sys.argv[1:] if argv is None else argv),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "seconds": round(time.perf_counter() - start, 1),
    }
    if reference.num < args.num:
        logger.warning("using %d samples: the smaller split of %s has only that many images", reference.num, args.dataset)
    print(format_table(result))
    print(json.dumps(result, indent=2))
    if args.json_path:
        Path(args.json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_path).write_text(json.dumps(result, indent=2) + "\n")
    if args.write_card:
        card_path = model_dir / hub.CARD_NAME
        card = card_path.read_text() if card_path.is_file() else ""
        hub.write_card(model_dir, update_card(card, card_section(result)))
        print(f"wrote the metrics into {card_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
