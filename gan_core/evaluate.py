"""Score a generator: ``python -m gan_core.evaluate MODEL_DIR``.

Draws ``--num`` samples (default 10,000, capped at the size of the smaller data split), scores
them with the metrics of ``gan_core.evaluation.metrics`` against real training images, and prints
every metric beside its floor: the same metric for real test images against the same training
images. The dataset is the one the model's run manifest (run.json) names; ``--dataset`` overrides
it. Prints a table and the JSON (also written to ``--json FILE``); ``--write-card`` records the
numbers in the model's run.json and model card (README.md).

The feature extractor is the dataset's evaluation classifier (``weights/classifiers/<dataset>``,
trained by ``python -m gan_core.train_classifier``); pass another with ``--classifier DIR``.

A folder of pictures (``folder:PATH``) has no labels, so no classifier: it is scored without labels
(``--features random``, its default; see ``gan_core.evaluation.label_free``): FID, KID, precision,
recall, density and coverage in the features of a fixed, randomly initialised CNN, and memorisation,
against a fixed 20% of the folder held out for the floor. ``--features random`` does the same for a
dataset with labels whose classifier is missing.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import sys
import time
from pathlib import Path

from gan_core.core import hub
from gan_core.core.cli import command_line
from gan_core.core.data import dataset_names
from gan_core.core.latent import NOISE_KINDS
from gan_core.core.manifest import read_manifest, render_card, write_manifest
from gan_core.evaluation.classifier import load_classifier
from gan_core.evaluation.label_free import LabelFreeReference
from gan_core.evaluation.quality import (
    build_label_free_reference,
    build_reference,
    card_section,
    check_compatible,
    classifier_accuracy,
    default_classifier_dir,
    evaluate,
    folder_path,
    format_table,
    is_folder,
    manifest_record,
    not_available,
    reading,
    shown_path,
    update_card,
)
from gan_core.pipeline import GanPipeline

logger = logging.getLogger("gan_core.evaluate")

MAX_NUM = 100_000


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m gan_core.evaluate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("model", help="generator folder, a run/weights folder holding generator/, or a Hub repo id")
    p.add_argument(
        "--dataset", help=f"the dataset to compare with: {', '.join(dataset_names())} (default: the one in the model's run.json)"
    )
    p.add_argument("--data-dir", help="folder holding the dataset's IDX files")
    p.add_argument("--classifier", help="evaluation classifier folder (default weights/classifiers/DATASET)")
    p.add_argument(
        "--features",
        choices=("auto", "classifier", "random"),
        default="auto",
        help="feature space: the dataset's classifier, or a fixed random CNN (no labels needed); auto: random for folder:PATH, else classifier",
    )
    p.add_argument("--num", type=int, default=10_000, help="samples, reference and floor size (default 10000; capped at the smaller split)")
    p.add_argument("--seed", type=int, default=0, help="noise and reference-sampling seed (default 0)")
    p.add_argument("--noise", choices=NOISE_KINDS, help="override the noise the generator records in its config")
    p.add_argument("--kid-subsets", type=int, default=100, help="KID subsets (default 100)")
    p.add_argument("--json", dest="json_path", help="also write the results to this JSON file")
    p.add_argument("--write-card", action="store_true", help="record the metrics in MODEL's run.json and README.md model card")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if not 2 <= args.num <= MAX_NUM:
        parser.error(f"--num must be between 2 and {MAX_NUM}, got {args.num}")
    if args.kid_subsets < 1:
        parser.error(f"--kid-subsets must be at least 1, got {args.kid_subsets}")
    try:
        import torchmetrics  # noqa: F401  (FID and KID; the eval extra, not the app's requirements)
    except ImportError:
        parser.exit(2, 'error: evaluating needs torchmetrics, which the app\'s requirements leave out: pip install -e ".[eval]"\n')
    start = time.perf_counter()
    try:
        model_dir = hub.locate(args.model).generator
        pipeline = GanPipeline.from_pretrained(args.model)
        dataset = args.dataset or pipeline.dataset
        if dataset is None:
            raise ValueError(f"{model_dir} has no run.json naming its dataset; pass --dataset NAME ({', '.join(dataset_names())}).")
        features = choose_features(args, dataset)
        if args.dataset is None and is_folder(dataset) and not folder_path(dataset).is_dir():
            raise FileNotFoundError(
                f"{model_dir} was trained on {dataset}, which is not a folder here any more; pass --dataset folder:PATH with the same pictures."
            )
        if features == "classifier":
            classifier_dir = Path(args.classifier) if args.classifier else default_classifier_dir(dataset)
            classifier = load_classifier_or_explain(classifier_dir)
            reference = build_reference(
                dataset, classifier, data_dir=args.data_dir, num=args.num, seed=args.seed, kid_subsets=args.kid_subsets
            )
        else:
            reference, real_sides = build_label_free_reference(
                dataset,
                image_size=pipeline.image_size,
                channels=pipeline.channels,
                data_dir=args.data_dir,
                num=args.num,
                seed=args.seed,
                kid_subsets=args.kid_subsets,
            )
        check_compatible(pipeline, reference, dataset)
    except (ValueError, FileNotFoundError) as err:
        parser.exit(2, f"error: {err}\n")
    if isinstance(reference, LabelFreeReference):
        measured_with = {
            "features": "random",
            "feature_space": reference.feature_space,
            "real_sides": real_sides,
            "not_available": not_available(dataset),
        }
    else:
        measured_with = {
            "features": "classifier",
            "feature_space": f"classifier {shown_path(classifier_dir)} ({classifier.embed_dim}-d penultimate activations)",
            "classifier": shown_path(classifier_dir),
            "classifier_test_accuracy": classifier_accuracy(classifier_dir),
        }
    result = {
        "model": shown_path(model_dir),
        "dataset": dataset,
        "num": reference.num,
        "num_requested": args.num,
        "seed": args.seed,
        **measured_with,
        **evaluate(pipeline, reference, args.seed, args.noise),
        "command": command_line(parser, argv),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "seconds": round(time.perf_counter() - start, 1),
    }
    print(f"feature space: {result['feature_space']}")
    if reference.num < args.num:
        side = "held-out side" if is_folder(dataset) else "smaller split"
        print(f"using {reference.num:,} samples, not --num {args.num:,}: the {side} of {dataset} has only that many pictures")
    print(format_table(result))
    if "not_available" in result:
        print(f"not available: {result['not_available']}")
    manifest = model_manifest(model_dir)
    augmented = manifest is not None and manifest.training.get("optim", {}).get("augment") == "on"
    result["reading"] = reading(result, manifest.num_images if manifest is not None else None, augmented)
    print(json.dumps(result, indent=2))
    if args.json_path:
        Path(args.json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_path).write_text(json.dumps(result, indent=2) + "\n")
    if args.write_card:
        write_metrics(model_dir, result)
        print(f"wrote the metrics into {model_dir / hub.CARD_NAME}")
    print(result["reading"])
    return 0


def model_manifest(model_dir: Path):
    """The model's run.json (in the folder or its generator/), None when it has none or it is damaged."""
    for folder in (model_dir, model_dir / "generator"):
        try:
            manifest = read_manifest(folder)
        except ValueError:
            return None
        if manifest is not None:
            return manifest
    return None


def choose_features(args: argparse.Namespace, dataset: str) -> str:
    """'classifier' or 'random' for ``--features`` (auto: random for a folder); ValueError for a combination that cannot work."""
    features = args.features
    if features == "auto":
        features = "random" if is_folder(dataset) else "classifier"
    if features == "classifier" and is_folder(dataset):
        raise ValueError(
            f"{dataset} has no labels, so no classifier to take features from; use --features random (the default for folders)."
        )
    if features == "random" and args.classifier:
        raise ValueError("--classifier was given with --features random, which uses no classifier; drop one of them.")
    return features


def load_classifier_or_explain(classifier_dir: Path):
    """:func:`load_classifier`, whose FileNotFoundError also names the label-free way."""
    try:
        return load_classifier(classifier_dir)
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{err} Or measure without one: --features random (label-free metrics).") from err


def write_metrics(model_dir: Path, result: dict) -> None:
    """Record an evaluation: in run.json and the card rendered from it, or (no manifest) in the card's Metrics section."""
    manifest = read_manifest(model_dir)
    card_path = model_dir / hub.CARD_NAME
    if manifest is None:
        card = card_path.read_text() if card_path.is_file() else ""
        card_path.write_text(update_card(card, card_section(result)))
        return
    manifest.evaluation = manifest_record(result)
    write_manifest(model_dir, manifest)
    config = json.loads((model_dir / hub.CONFIG_NAME).read_text())
    card_path.write_text(render_card(manifest, "generator", config))


if __name__ == "__main__":
    sys.exit(main())
