"""Give a model's discriminator the BatchNorm statistics of real pictures, so that its verdict on one picture reads as
it did in training: ``python -m gan_core.calibrate_discriminator MODEL_DIR --data-dir data``.

Training does this for every run it exports (see :mod:`gan_core.training.calibration`); this command does it for a
model exported before, or again. It reads the training set as training read it (the dataset in the model's run.json,
at the model's size and channels), re-estimates D's BatchNorm statistics over --batches batches of real training
pictures (DiffAugment'ed when the run augmented), measures D's verdicts one picture at a time on real held-out test
pictures (training pictures for a folder, which has no test split) and on G's, and writes D's model.safetensors,
both parts' run.json (``verdicts``) and cards, and both model.onnx files. An encoder's anomaly reference depends on
D's features: rescore it afterwards with ``python -m gan_core.train_encoder MODEL_DIR --reference-only``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gan_core.core.cli import add_threads_flag, start_command
from gan_core.training.calibration import BATCHES, VERDICT_COUNT, calibrate_model_folder


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gan_core.calibrate_discriminator", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model_dir", metavar="MODEL_DIR", help="a local model folder holding generator/ and discriminator/ with their run.json, e.g. weights/mnist")
    p.add_argument("--data-dir", help="folder holding the dataset's files (e.g. data)")
    p.add_argument("--batches", type=int, default=BATCHES, help="batches of real training pictures (default %(default)s)")
    p.add_argument("--count", type=int, default=VERDICT_COUNT, help="real pictures and G's pictures each whose verdicts are measured (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the batches, the measured pictures and G's noise (default %(default)s)")
    add_threads_flag(p)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = start_command(parser, argv)
    try:
        verdicts = calibrate_model_folder(args.model_dir, args.data_dir, batches=args.batches, count=args.count, seed=args.seed)
    except (ValueError, FileNotFoundError) as err:
        parser.exit(2, f"error: {err}\n")
    print(
        f"{args.model_dir}: D now gives real {verdicts['pictures']} pictures {verdicts['real']:.1%} on average and G's {verdicts['generated']:.1%}, "
        f"one picture at a time, and rates the real one higher in {verdicts['ranked']:.1%} of pairs"
    )
    if (Path(args.model_dir) / "encoder").is_dir():
        print(f"  its encoder's anomaly reference depends on D's features: python -m gan_core.train_encoder {args.model_dir} --reference-only")
    return 0


if __name__ == "__main__":
    sys.exit(main())
