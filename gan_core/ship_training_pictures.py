"""Ship a model's training pictures beside it, so the explorer can show the nearest ones to any picture:
``python -m gan_core.ship_training_pictures MODEL_DIR --data-dir data``.

Writes ``MODEL_DIR/training_pictures.png`` (the pictures, lossless, 100 to a row) and ``training_pictures.json``
(which pictures, and the yardstick: how far each of --test-pictures real held-out test pictures lies from its nearest
shipped training picture; see :mod:`gan_core.explorer.nearest`). The training set is read as training read it (the
dataset in the model's run.json, at the model's size and channels). A Hugging Face Space takes files under 10 MB:
when all the pictures would not fit, the command says how many would, and ``--max-pictures N`` ships a random N
(seeded; the yardstick then measures against the same N, so the comparison stays fair). It also measures G's own
samples the same way (--samples) and prints how close they come.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from gan_core.core.checks import check_count
from gan_core.core.cli import add_threads_flag, command_line, start_command
from gan_core.core.data import load_dataset, parse_dataset_name
from gan_core.explorer import nearest
from gan_core.pipeline import GanPipeline
from gan_core.train_encoder import held_out_order


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gan_core.ship_training_pictures", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model_dir", metavar="MODEL_DIR", help="a local model folder holding generator/ with its run.json, e.g. weights/mnist")
    p.add_argument("--dataset", help="the dataset it trained on (default: the one in its run manifest)")
    p.add_argument("--data-dir", help="folder holding the dataset's files (e.g. data)")
    p.add_argument("--max-pictures", type=int, help="ship a random subset of this many training pictures (default: all)")
    p.add_argument("--test-pictures", type=int, default=1000, help="held-out test pictures the yardstick measures (default %(default)s)")
    p.add_argument("--samples", type=int, default=1000, help="G's samples (seed 0) measured for the record (default %(default)s; 0: none)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random subset (default %(default)s)")
    p.add_argument("--max-megabytes", type=float, default=nearest.MAX_FILE_BYTES / 1e6, help="refuse a PNG of this size or more (default %(default)s)")
    add_threads_flag(p)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = start_command(parser, argv)
    try:
        if not Path(args.model_dir).expanduser().is_dir():
            raise FileNotFoundError(f"{args.model_dir} is not a folder; MODEL_DIR is a local model folder holding generator/, e.g. weights/mnist.")
        check_count(args.test_pictures, "--test-pictures", 1, 100_000)
        check_count(args.samples, "--samples", 0, 100_000)
        pipeline = GanPipeline.from_pretrained(args.model_dir)
        dataset = args.dataset or pipeline.dataset
        if dataset is None:
            raise ValueError(f"{args.model_dir} records no dataset (its generator has no run.json); pass --dataset NAME.")
        shape = {"image_size": pipeline.image_size, "channels": pipeline.channels}
        train = load_dataset(dataset, split="train", data_dir=args.data_dir, **shape).images
        total = len(train)
        test = None
        if parse_dataset_name(dataset).key not in ("folder", "synthetic"):  # a folder has no test split: the yardstick is leave-one-out
            split = load_dataset(dataset, split="test", data_dir=args.data_dir, **shape).images
            test = split[held_out_order(len(split))[: args.test_pictures]]
        rows = ()
        if args.max_pictures is not None and args.max_pictures < len(train):
            check_count(args.max_pictures, "--max-pictures", 1, len(train))
            rows = torch.randperm(len(train), generator=torch.Generator().manual_seed(args.seed))[: args.max_pictures].sort().values
            train = train[rows]
        samples = pipeline.generate(args.samples, seed=0).uint8 if args.samples else None
        shipped = nearest.build(train, test, dataset, total=total, rows=rows.tolist() if len(rows) else (), samples_uint8=samples, command=command_line(parser, argv))
        png, record = shipped.save(pipeline.files.root, max_bytes=int(args.max_megabytes * 1e6))
    except (ValueError, FileNotFoundError) as err:
        parser.exit(2, f"error: {err}\n")
    print(f"{dataset}: shipped {shipped.searched} to {png} ({png.stat().st_size / 1e6:.2f} MB) and {record.name}")
    print(f"  yardstick: {shipped.compared_with}, median distance to the nearest {shipped.typical:.3f}")
    if shipped.samples:
        s = shipped.samples
        print(f"  G's {s['count']} samples: median distance to the nearest {s['median']:.3f} ({s['ratio_to_yardstick']:.2f} x the yardstick's); near copies {100 * s['near_copies']:.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
