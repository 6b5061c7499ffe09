"""Does the label-free FID rank generators as the classifier FID does? Checked on Fashion-MNIST.

    python benchmarks/label_free_check.py --data-dir data/fashion-mnist

A folder of the user's pictures is scored in the features of a fixed random CNN
(``gan_core.evaluation.embedding``), because it has no labels to train a classifier on. On
Fashion-MNIST we have both: this script scores the same sets with the classifier FID
(``weights/classifiers/fashion-mnist``) and the random-CNN FID, against the same real training
sample, and says whether the two orderings agree. The sets: real test images (the floor), the
shipped generator (weights/fashion-mnist), two short training runs (100 and 500 steps, trained here
into --work-dir unless already there) and, as a mode-dropping case no generator here shows, real
test images of 5 of the 10 classes only. Writes benchmarks/results/label_free_check.json.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import torch
from common import ROOT, header, write_result

from gan_core.core.data import load_dataset
from gan_core.evaluation import quality
from gan_core.evaluation.classifier import load_classifier
from gan_core.evaluation.label_free import embed, frechet_distance
from gan_core.pipeline import GanPipeline

DATASET = "fashion-mnist"


def short_run(work_dir: Path, steps: int, data_dir: str | None) -> Path:
    """The generator of a ``steps``-step training run in work_dir/steps<N> (trained now unless already there)."""
    out = work_dir / f"steps{steps}"
    if not (out / "generator" / "model.safetensors").is_file():
        command = [
            sys.executable,
            "-m",
            "gan_core.train",
            "--dataset",
            DATASET,
            "--steps",
            str(steps),
            "--out-dir",
            str(out),
            "--no-progress",
            "--no-onnx",
        ]
        command += ["--data-dir", data_dir] if data_dir else []
        subprocess.run(command, check=True, cwd=ROOT)
    return out / "generator"


def ranks(values: list[float]) -> list[int]:
    order = sorted(range(len(values)), key=values.__getitem__)
    out = [0] * len(values)
    for rank, index in enumerate(order):
        out[index] = rank
    return out


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation (no ties expected)."""
    n, ra, rb = len(a), ranks(a), ranks(b)
    return 1 - 6 * sum((x - y) ** 2 for x, y in zip(ra, rb)) / (n * (n * n - 1))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", help="folder holding the Fashion-MNIST IDX files (e.g. data/fashion-mnist)")
    p.add_argument("--num", type=int, default=5000, help="samples and real images per set (default %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work-dir", default="/tmp/label_free_check", help="where the short runs are trained (reused when there)")
    p.add_argument("--out", help="result JSON (default benchmarks/results/label_free_check.json)")
    args = p.parse_args(argv)
    start = time.perf_counter()
    work_dir = Path(args.work_dir)
    generators = {
        "shipped (15 epochs)": ROOT / "weights" / DATASET / "generator",
        "500 steps": short_run(work_dir, 500, args.data_dir),
        "100 steps": short_run(work_dir, 100, args.data_dir),
    }
    classifier = load_classifier(quality.default_classifier_dir(DATASET))
    by_classifier = quality.build_reference(DATASET, classifier, data_dir=args.data_dir, num=args.num, seed=args.seed, kid_subsets=1)
    label_free, _ = quality.build_label_free_reference(
        DATASET, image_size=28, channels=1, data_dir=args.data_dir, num=args.num, seed=args.seed
    )
    assert torch.equal(by_classifier.train_sample, label_free.train_sample)  # the same real sample on both sides

    test = load_dataset(DATASET, split="test", data_dir=args.data_dir, download=False)
    five_classes = test.images[test.labels < 5][: args.num]
    sets = {
        "real test (floor)": label_free.test_sample,
        **{name: GanPipeline.from_pretrained(path).generate(args.num, args.seed).uint8 for name, path in generators.items()},
    }
    sets["real test, 5 of 10 classes"] = five_classes
    rows = []
    for name, images in sets.items():
        fid_classifier = by_classifier.fid_kid(images)["fid"]
        fid_random = frechet_distance(label_free.real_features, embed(label_free.embedding, images))
        rows.append({"set": name, "fid_classifier": fid_classifier, "fid_random_cnn": fid_random, "num": len(images)})
        print(f"{name:28s}  classifier FID {fid_classifier:9.3f}   random-CNN FID {fid_random:9.3f}", flush=True)
    order_classifier = [r["set"] for r in sorted(rows, key=lambda r: r["fid_classifier"])]
    order_random = [r["set"] for r in sorted(rows, key=lambda r: r["fid_random_cnn"])]
    generator_rows = [r for r in rows if r["set"] in generators]
    agree_generators = ranks([r["fid_classifier"] for r in generator_rows]) == ranks([r["fid_random_cnn"] for r in generator_rows])
    rho = spearman([r["fid_classifier"] for r in rows], [r["fid_random_cnn"] for r in rows])
    print("classifier order: " + " < ".join(order_classifier))
    print("random-CNN order: " + " < ".join(order_random))
    print(f"generators ranked the same: {agree_generators}; Spearman over all {len(rows)} sets: {rho:.3f}")
    result = {
        **header("label_free_check", "label_free_check.py", argv),
        "num": args.num,
        "feature_space": label_free.feature_space,
        "classifier": quality.shown_path(quality.default_classifier_dir(DATASET)),
        "rows": rows,
        "order_classifier": order_classifier,
        "order_random_cnn": order_random,
        "generators_ranked_the_same": agree_generators,
        "spearman_all_sets": rho,
        "seconds": round(time.perf_counter() - start, 1),
    }
    print(f"wrote {write_result(result, args.out, 'label_free_check.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
