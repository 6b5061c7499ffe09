"""The training-quality curve: metrics at each epoch of a real run, as a PNG plot.

    python benchmarks/quality_curve.py runs/fashion-mnist --dataset fashion-mnist

Reads RUN/snapshots/epoch_NNN/ (the exported EMA generator of every epoch, written by
``python -m gan_core.train --keep-snapshots``), scores each with ``gan_core.evaluate``'s metrics
against one fixed reference, and plots FID, KID, precision/recall and class KL / IS against the
epoch, each with its real-data floor as a dashed line. Writes
benchmarks/results/quality_curve_<dataset>.{json,png}.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

from common import RESULTS, eval_samples, header, reference_from_args, write_result

from gan_core.core import hub

CURVES = (
    ("fid", "FID (classifier features)"),
    ("kid", "KID"),
    (("precision", "recall"), "precision / recall (k=3)"),
    (("class_kl", "inception_score"), "class KL (test vs samples) / IS analogue"),
)


def snapshot_dirs(run: Path, every: int) -> list[tuple[int, Path]]:
    folder = run / hub.SNAPSHOT_DIR
    found = sorted((int(m.group(1)), d) for d in folder.glob("epoch_*") if (m := re.fullmatch(r"epoch_(\d+)", d.name)) and (d / hub.WEIGHTS_NAME).is_file())
    if not found:
        raise FileNotFoundError(f"No snapshots in {folder}; train with `python -m gan_core.train --keep-snapshots`.")
    last = found[-1][0]
    return [(epoch, d) for epoch, d in found if epoch % every == 0 or epoch == 1 or epoch == last]


def plot(rows: list[dict], floor: dict, title: str, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in rows]
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.8), dpi=100)
    for ax, (keys, label) in zip(axes, CURVES):
        keys = keys if isinstance(keys, tuple) else (keys,)
        for key, colour in zip(keys, ("#0275d8", "#d9534f")):
            line = ax.plot(epochs, [r[key] for r in rows], marker=".", color=colour, label=key)[0]
            ax.axhline(floor[key], color=line.get_color(), ls="--", lw=0.9, label=f"{key} floor (real test)")
        if keys[0] == "fid":
            ax.set_yscale("log")
        elif keys[0] == "kid":  # KID is unbiased, so the floor can be slightly negative
            ax.set_yscale("symlog", linthresh=1e-2)
            ax.set_ylim(bottom=min(0.0, floor["kid"]) * 1.5)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="a run folder holding snapshots/epoch_NNN/")
    p.add_argument("--dataset", required=True)
    p.add_argument("--data-dir")
    p.add_argument("--num", type=int, default=5_000, help="samples per epoch (default 5000; capped at the smaller split)")
    p.add_argument("--every", type=int, default=1, help="score every N-th epoch (the first and last always)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--classifier")
    p.add_argument("--out", help="output stem (default benchmarks/results/quality_curve_<dataset>)")
    p.add_argument("--replot", metavar="JSON", help="only redraw the PNG from a result JSON this script wrote")
    args = p.parse_args(argv)
    if args.every < 1:
        p.error("--every must be at least 1")
    if args.replot:
        saved = json.loads(Path(args.replot).read_text())
        out = Path(args.replot).with_suffix(".png")
        plot(saved["epochs"], saved["floor"], f"{saved['dataset']}: quality per epoch of {saved['run']} ({saved['num']} samples)", out)
        print(f"wrote {out}")
        return 0
    snapshots = snapshot_dirs(Path(args.run), args.every)
    reference = reference_from_args(args)
    floor = reference.floor()
    rows = []
    for epoch, folder in snapshots:
        start = time.perf_counter()
        scores = reference.score(eval_samples(hub.load_generator(folder), reference.num, args.seed))
        rows.append({"epoch": epoch, **{k: v for k, v in scores.items() if k != "class_histogram"}})
        print(f"epoch {epoch:3d}: FID {scores['fid']:8.3f}  KID {scores['kid']:.4g}  P {scores['precision']:.3f}  R {scores['recall']:.3f}  "
              f"KL {scores['class_kl']:.3f}  IS {scores['inception_score']:.2f}  ({time.perf_counter() - start:.0f} s)", flush=True)
    stem = Path(args.out) if args.out else RESULTS / f"quality_curve_{args.dataset}"
    stem.parent.mkdir(parents=True, exist_ok=True)
    best = min(rows, key=lambda r: r["fid"])
    result = {
        **header("quality_curve", "quality_curve.py", argv),
        "run": args.run,
        "dataset": args.dataset,
        "num": reference.num,
        "floor": {k: v for k, v in floor.items() if k != "class_histogram"},
        "best_fid_epoch": best["epoch"],
        "epochs": rows,
    }
    write_result(result, f"{stem}.json", "")
    plot(rows, floor, f"{args.dataset}: quality per epoch of {args.run} ({reference.num} samples)", Path(f"{stem}.png"))
    print(f"best FID at epoch {best['epoch']} ({best['fid']:.3f}; floor {floor['fid']:.3f}); wrote {stem}.json and {stem}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
