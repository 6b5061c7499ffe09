"""Small image sets: DiffAugment on against off, the same wall-clock budget each.

    nohup flock /tmp/cpu_bench.lock python benchmarks/small_data.py --data-dir data --minutes 5 &

For each set (default: MNIST's 8,000 training digits, the shipped MNIST model's data, and a
1,000-picture subset of Fashion-MNIST drawn with a fixed seed) trains our defaults twice for
``--minutes`` each, with ``--augment on`` and ``--augment off``, and scores both exported generators
with ``gan_core.evaluate``'s metrics against the *whole* training split (how well the model learnt
the distribution, not the subset) plus memorisation against the pictures it trained on (copy
fraction: share of samples nearer to a training picture than 99% of real test pictures are).

Writes benchmarks/results/small_data.json and prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from common import classifier_from_args, eval_samples, header, write_result
from report import HEADER, metric_row, provenance

from gan_core.core.data import ImageData, load_dataset
from gan_core.evaluation import metrics, quality
from gan_core.training import TrainConfig, Trainer


def subset(data: ImageData, size: int, seed: int) -> ImageData:
    """``size`` pictures of ``data`` drawn without replacement with ``seed`` (all of it when smaller)."""
    if size >= len(data):
        return data
    rows = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:size]
    return ImageData(name=f"{data.name}[{size}]", images=data.images[rows], labels=None if data.labels is None else data.labels[rows], source=data.source)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sets", nargs="+", default=["mnist:8000", "fashion-mnist:1000"], help="DATASET:SIZE pairs (default mnist:8000 fashion-mnist:1000)")
    p.add_argument("--data-dir", default="data", help="folder holding one folder of IDX files per dataset (default data)")
    p.add_argument("--minutes", type=float, default=5.0, help="training budget per run (default 5)")
    p.add_argument("--num", type=int, default=5000, help="samples scored per model (default 5000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work-dir", default="runs/small_data")
    p.add_argument("--out", help="result JSON (default benchmarks/results/small_data.json)")
    args = p.parse_args(argv)
    rows = []
    for spec in args.sets:
        dataset, _, size = spec.partition(":")
        data_dir = str(Path(args.data_dir) / dataset)
        full = load_dataset(dataset, data_dir=data_dir, download=False)
        train = subset(full, int(size or len(full)), args.seed)
        classifier = classifier_from_args(argparse.Namespace(classifier=None, dataset=dataset))
        reference = quality.build_reference(dataset, classifier, data_dir=data_dir, num=args.num, seed=args.seed)
        test = load_dataset(dataset, split="test", data_dir=data_dir, download=False).images[: args.num]
        test_nn = metrics.nearest_distances(test[:2000], train.images)
        for augment in ("on", "off"):
            out = Path(args.work_dir) / f"{dataset}_{len(train)}_augment_{augment}"
            config = TrainConfig.from_flat(dataset=dataset, data_dir=data_dir, max_minutes=args.minutes, seed=args.seed, augment=augment,
                                           out_dir=str(out), progress=False, onnx=False)
            start = time.perf_counter()
            trainer = Trainer.create(config, data=train, command="benchmarks/small_data.py", overwrite=True)
            summary = trainer.train()
            seconds = time.perf_counter() - start
            samples = eval_samples(trainer.ema_generator().cpu(), reference.num, args.seed)
            scores = reference.score(samples)
            scores |= metrics.memorisation(metrics.nearest_distances(samples[:2000], train.images), test_nn)
            row = {"dataset": dataset, "train_images": len(train), "augment": augment, "steps": summary["step"], "epochs": round(summary["epochs"], 1),
                   "seconds": round(seconds, 1), "scores": scores, "floor": reference.floor()}
            rows.append(row)
            print(f"{dataset} {len(train)} augment {augment}: {summary['step']} steps, FID {scores['fid']:.3f}, copy fraction {scores['copy_fraction']:.3f}", flush=True)
    result = {**header("small_data", "small_data.py", argv), "minutes_each": args.minutes, "num": args.num, "rows": rows}
    path = write_result(result, args.out, "small_data.json")
    print(markdown(result))
    print(f"wrote {path}")
    return 0


def markdown(result: dict) -> str:
    lines = [f"### DiffAugment on small sets, {result['minutes_each']:g} minutes of training each (cpu, {result['num']} samples)", ""]
    for dataset_rows in _by_set(result["rows"]):
        first = dataset_rows[0]
        lines += [f"**{first['dataset']}, {first['train_images']:,} training pictures** (FID etc. against the whole training split; "
                  "NN ratio and copy fraction against the pictures trained on)", "", HEADER]
        for row in dataset_rows:
            lines.append(metric_row(f"augment {row['augment']} ({row['steps']} steps, {row['epochs']} epochs)", row["scores"]))
        lines += [metric_row("floor (real test vs train)", first["floor"]), ""]
        fid = {row["augment"]: row["scores"]["fid"] for row in dataset_rows}
        lines += [f"FID augment on / off = **{fid['on'] / fid['off']:.2f}**.", ""]
    return "\n".join(lines) + provenance(result)


def _by_set(rows: list[dict]) -> list[list[dict]]:
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["dataset"], row["train_images"]), []).append(row)
    return list(groups.values())


if __name__ == "__main__":
    sys.exit(main())
