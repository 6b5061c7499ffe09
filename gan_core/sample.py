"""Sample a trained generator: ``python -m gan_core.sample MODEL_DIR --num 64 --seed 0 --out samples.png``.

``--out`` ending in .png writes a grid; ending in .npy writes a uint8 array (N, H, W) for grey
models or (N, H, W, 3) for colour ones. The same seed always gives the same images.
MODEL_DIR is a generator folder (config.json + model.safetensors), a run/weights folder that
holds ``generator/``, or a Hugging Face Hub repo id.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path

import numpy as np

from gan_core.core import images
from gan_core.core.latent import NOISE_KINDS
from gan_core.pipeline import GanPipeline

MAX_SAMPLES = 100_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan_core.sample", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="generator folder, a folder holding generator/, or a Hub repo id")
    parser.add_argument("--num", type=int, default=64, help="number of samples (default 64)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    parser.add_argument("--out", required=True, help="output file: .png (grid) or .npy (uint8 array)")
    parser.add_argument("--noise", choices=NOISE_KINDS, default=None, help="override the noise distribution (default: the one in the model's config)")
    parser.add_argument("--truncation", type=float, default=1.0, help="scale z by this factor, 0 < psi <= 2 (default 1)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, mps (default cpu)")
    parser.add_argument("--ncols", type=int, default=None, help="grid columns for .png (default: square)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    out = Path(args.out)
    if not 1 <= args.num <= MAX_SAMPLES:
        parser.error(f"--num must be between 1 and {MAX_SAMPLES}, got {args.num}")
    if out.suffix.lower() not in (".png", ".npy"):
        parser.error(f"--out must end in .png (a grid) or .npy (a uint8 array), got {args.out!r}")
    if not (0 < args.truncation <= 2 and math.isfinite(args.truncation)):
        parser.error(f"--truncation must be in (0, 2], got {args.truncation}")
    try:
        pipeline = GanPipeline.from_pretrained(args.model, device=args.device)
        samples = pipeline.generate(args.num, args.seed, args.truncation, noise=args.noise).images
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        parser.exit(2, f"error: {err}\n")
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".npy":
        np.save(out, samples)
    else:
        images.save_png(images.make_grid(samples, ncols=args.ncols), out)
    print(f"wrote {args.num} samples of shape {samples.shape[1:]} to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
