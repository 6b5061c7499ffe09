"""Train the evaluation classifier of a labelled dataset and save it with a card stating its test accuracy.

    python -m gan_core.train_classifier --dataset fashion-mnist --out weights/classifiers/fashion-mnist
"""

from __future__ import annotations

import argparse
import sys
import time

from gan_core.core import hub
from gan_core.core.cli import add_threads_flag, command_line, start_command
from gan_core.core.data import load_dataset, parse_dataset_name
from gan_core.evaluation.classifier import accuracy
from gan_core.evaluation.classifier_training import ClassifierConfig, classifier_card, train_classifier

LABELLED = ("mnist", "fashion-mnist", "synthetic")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gan_core.train_classifier", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True, help=f"dataset name with labels: {', '.join(LABELLED)}")
    p.add_argument("--data-dir", help="folder holding the IDX files")
    p.add_argument("--out", required=True, help="output folder, e.g. weights/classifiers/fashion-mnist")
    p.add_argument("--epochs", type=int, default=ClassifierConfig.epochs)
    p.add_argument("--batch-size", type=int, default=ClassifierConfig.batch_size)
    p.add_argument("--lr", type=float, default=ClassifierConfig.lr)
    p.add_argument("--features", type=int, default=ClassifierConfig.features, help="width of the first conv stage")
    p.add_argument("--embed-dim", type=int, default=ClassifierConfig.embed_dim, help="size of the penultimate features")
    p.add_argument("--seed", type=int, default=ClassifierConfig.seed)
    add_threads_flag(p)
    p.add_argument("--no-progress", dest="progress", action="store_false")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = start_command(parser, argv)
    try:
        config = ClassifierConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, features=args.features, embed_dim=args.embed_dim, seed=args.seed)
        if parse_dataset_name(args.dataset).key not in LABELLED:
            raise ValueError(f"{args.dataset!r} has no labels; the classifier needs a labelled dataset: {', '.join(LABELLED)}.")
        train = load_dataset(args.dataset, split="train", data_dir=args.data_dir)
        test = load_dataset(args.dataset, split="test", data_dir=args.data_dir)
    except (ValueError, FileNotFoundError) as err:
        parser.exit(2, f"error: {err}\n")
    start = time.perf_counter()
    model = train_classifier(train, config, progress=args.progress)
    seconds = time.perf_counter() - start
    test_accuracy = accuracy(model, test)
    command = command_line(parser, argv)
    card = classifier_card(args.dataset, config, test_accuracy, train, len(test), seconds, command, model)
    hub.save_model(model, args.out, card)
    print(f"{args.dataset}: test accuracy {test_accuracy:.4f} ({len(test)} images), {seconds:.0f} s; saved to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
