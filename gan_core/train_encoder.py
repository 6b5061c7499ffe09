"""Train the encoder E of a model (picture -> z) and store real test pictures' anomaly scores beside it.

    python -m gan_core.train_encoder weights/mnist --data-dir data --max-minutes 12

E is trained against the model's frozen generator and discriminator on the training split of the
model's dataset (from its run manifest; ``--dataset`` overrides), as f-AnoGAN's izi_f encoder plus a
latent term on G's own samples (see ``gan_core.inversion.training``). Then ``--reference-count``
held-out test pictures are scored as the app scores a picture (the f-AnoGAN score at E(x)) and the
scores stored, so the app can say how unusual a picture is without the dataset; the first
``--quality-count`` of them are also refined, to record how well pictures are reconstructed. Writes
MODEL_DIR/encoder/: config.json, model.safetensors, training.json (the record), reference_scores.json
and a README.md card. ``--reference-only`` keeps the encoder and only rescores.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import shutil
import sys
import time
from pathlib import Path

import torch

from gan_core.core import hub
from gan_core.core.cli import add_threads_flag, command_line, start_command
from gan_core.core.data import load_dataset, parse_dataset_name
from gan_core.inversion.anomaly import KAPPA, REFERENCE_NAME, Reference
from gan_core.inversion.invert import RefineConfig
from gan_core.inversion.training import EncoderConfig, encoder_card, train_encoder
from gan_core.pipeline import GanPipeline

ENCODER_DIR = "encoder"
RECORD_NAME = "training.json"
logger = logging.getLogger("gan_core.train_encoder")
REFERENCE_SEED = 0  # the held-out order: the reference takes its first pictures, benchmarks/inversion.py its last


def held_out_order(count: int, seed: int = REFERENCE_SEED) -> torch.Tensor:
    """A fixed shuffle of a test split's indices: the reference uses the first N, the benchmark the last."""
    return torch.randperm(count, generator=torch.Generator().manual_seed(seed))


def build_parser() -> argparse.ArgumentParser:
    defaults = EncoderConfig()
    p = argparse.ArgumentParser(prog="python -m gan_core.train_encoder", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model_dir", metavar="MODEL_DIR", help="a local model folder holding generator/ (and discriminator/), e.g. weights/mnist")
    p.add_argument("--dataset", help="dataset to train on (default: the one in the model's run manifest)")
    p.add_argument("--data-dir", help="folder holding the dataset's files (e.g. data)")
    p.add_argument("--epochs", type=float, default=defaults.epochs, help="passes over the training set (default %(default)s)")
    p.add_argument("--max-minutes", type=float, help="stop training after this many minutes (the reference is computed after)")
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    p.add_argument("--lr", type=float, default=defaults.lr)
    p.add_argument("--kappa", type=float, default=defaults.kappa, help="weight of the D-feature residual in E's loss")
    p.add_argument("--latent-weight", type=float, default=defaults.latent_weight, help="weight of the E(G(z)) = z term")
    p.add_argument("--e-features", type=int, default=defaults.e_features, help="width of E's first convolution")
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--reference-count", type=int, default=1000, help="held-out test pictures scored for the reference (default %(default)s)")
    p.add_argument("--quality-count", type=int, default=200, help="of them, how many are also refined to measure reconstruction (default %(default)s)")
    p.add_argument("--reference-only", action="store_true", help="keep the encoder; only rescore the held-out pictures (reference and quality)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing MODEL_DIR/encoder/")
    add_threads_flag(p)
    p.add_argument("--no-progress", dest="progress", action="store_false")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = start_command(parser, argv)
    try:
        config = EncoderConfig(
            epochs=args.epochs, max_minutes=args.max_minutes, batch_size=args.batch_size, lr=args.lr, kappa=args.kappa,
            latent_weight=args.latent_weight, e_features=args.e_features, seed=args.seed,
        )  # fmt: skip
        for flag, value in (("--reference-count", args.reference_count), ("--quality-count", args.quality_count)):
            if not 1 <= value <= 100_000:
                raise ValueError(f"{flag} must be a whole number from 1 to 100000, got {value}.")
        if not Path(args.model_dir).expanduser().is_dir():
            raise FileNotFoundError(f"{args.model_dir} is not a folder; MODEL_DIR is a local model folder holding generator/, e.g. weights/mnist.")
        pipeline = GanPipeline.from_pretrained(args.model_dir)
        target = pipeline.files.root / ENCODER_DIR
        if args.reference_only:
            if pipeline.encoder is None:
                raise FileNotFoundError(f"{target} holds no encoder to score with; train one first (leave out --reference-only).")
            record = json.loads((target / RECORD_NAME).read_text()) if (target / RECORD_NAME).is_file() else {}
        elif target.exists() and not args.overwrite:
            raise ValueError(f"{target} already exists; pass --overwrite to replace that encoder (or --reference-only to rescore with it).")
        pipeline.reference = None
        recorded = record.get("dataset") if args.reference_only else None
        dataset = args.dataset or recorded or pipeline.dataset
        if dataset is None:
            raise ValueError(f"{args.model_dir} records no dataset (its generator has no run.json); pass --dataset NAME.")
        parse_dataset_name(dataset)
        shape = {"image_size": pipeline.image_size, "channels": pipeline.channels}
        train = None if args.reference_only else load_dataset(dataset, split="train", data_dir=args.data_dir, **shape)
        test_split = "test" if parse_dataset_name(dataset).key != "folder" else "train"
        test = load_dataset(dataset, split=test_split, data_dir=args.data_dir, **shape)
    except (ValueError, FileNotFoundError) as err:
        parser.exit(2, f"error: {err}\n")
    if pipeline.discriminator is None:
        logger.warning("%s ships no discriminator: E learns pixels and latents only, and anomaly scores have no feature term.", args.model_dir)

    command = command_line(parser, argv)
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    if not args.reference_only:
        run = train_encoder(pipeline.generator, pipeline.discriminator, train, config, progress=args.progress)
        pipeline.encoder = run.encoder
        record = training_record(pipeline, dataset, len(train), config, run, command, date)
    reference, quality, seconds = score_held_out(pipeline, test.images, args.reference_count, args.quality_count, test_split)
    reference = Reference(dataset=dataset, split=test_split, scores=reference.scores, inversion=reference.inversion, command=command, date=date)
    record["quality"] = quality
    record["reference"] = {"file": REFERENCE_NAME, "count": len(reference), "seconds": round(seconds, 1), "median_score": reference.scores[len(reference) // 2]}
    if args.reference_only:
        record["reference"]["command"] = command
    if not args.reference_only:
        if target.exists():
            shutil.rmtree(target)
        hub.save_model(pipeline.encoder, target)
    (target / RECORD_NAME).write_text(json.dumps(record, indent=1) + "\n")
    reference.save(target / REFERENCE_NAME)
    if "config" in record:
        (target / "README.md").write_text(encoder_card(record))
    errors = ", ".join(f"{k.split('), ')[-1]} {v}" for k, v in quality.items() if k.startswith("mean"))
    what = "rescored with its encoder" if args.reference_only else f"encoder trained {run.steps} steps ({run.epochs:.2f} epochs, {run.seconds / 60:.1f} min)"
    print(f"{dataset}: {what}; held-out pixel error: {errors}; {len(reference)} reference scores; saved to {target}")
    return 0


def training_record(pipeline: GanPipeline, dataset: str, num_images: int, config: EncoderConfig, run, command: str, date: str) -> dict:
    """What training.json says about the run (quality and reference are added by :func:`score_held_out`'s caller)."""
    from gan_core import __version__

    return {
        "dataset": dataset,
        "image_size": pipeline.image_size,
        "channels": pipeline.channels,
        "latent_dim": pipeline.latent_dim,
        "noise": pipeline.noise,
        "num_images": num_images,
        "config": config.to_dict(),
        "steps": run.steps,
        "epochs": run.epochs,
        "seconds": round(run.seconds, 1),
        "stopped_by_time": run.stopped_by_time,
        "device": str(pipeline.device),
        "threads": torch.get_num_threads(),
        "command": command,
        "library_version": __version__,
        "date": date,
        "log": run.log,
    }


def score_held_out(pipeline: GanPipeline, test_images: torch.Tensor, reference_count: int, quality_count: int, split: str) -> tuple[Reference, dict, float]:
    """The anomaly scores of the first ``reference_count`` held-out pictures (E(x) alone, as the app scores), and
    the reconstruction quality of E alone and of E + refinement on the first ``quality_count`` of them."""
    held_out = test_images[held_out_order(len(test_images))[:reference_count]]
    started = time.perf_counter()
    alone = pipeline.invert_images(held_out, steps=0, restarts=0)
    seconds = time.perf_counter() - started
    refine = RefineConfig()
    sample = held_out[:quality_count]
    refined = pipeline.invert_images(sample, seed=0)
    quality = {
        "held-out pictures": f"the first {len(sample)} of the reference's {len(held_out)} {split} pictures",
        "mean |x - G(E(x))| (0..1), encoder alone": round(float(alone.pixel_error[: len(sample)].mean()), 4),
        f"mean |x - G(z*)| (0..1), encoder + {refine.restarts} random starts, {refine.steps} refinement steps": round(float(refined.pixel_error.mean()), 4),
    }
    inversion = {"z": "E(x), projected onto the prior's support (no refinement)", "steps": 0, "restarts": 0}
    return Reference(dataset="", split=split, scores=alone.scores.tolist(), kappa=KAPPA, inversion=inversion), quality, seconds


if __name__ == "__main__":
    sys.exit(main())
