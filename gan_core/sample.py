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
import torch

from gan_core import render
from gan_core.hub import find_part, load_generator, resolve_source
from gan_core.latent import NOISE_KINDS, noise_for_seed, truncate

MAX_SAMPLES = 100_000


def resolve_generator_path(model: str) -> str:
    """The generator folder of a model source (generator folder, run/weights folder, Hub repo id)."""
    return str(find_part(resolve_source(model), "generator"))


@torch.no_grad()
def generate(generator: torch.nn.Module, num: int, seed: int, noise: str | None = None, psi: float = 1.0, batch_size: int = 500) -> np.ndarray:
    """``num`` samples for ``seed`` as uint8 (N, H, W) or (N, H, W, 3). Deterministic in (seed, num).

    ``noise`` defaults to the distribution the generator was trained on (its config's ``noise``).
    """
    device = next(generator.parameters()).device
    noise = noise or getattr(generator, "noise", "normal")
    z = truncate(noise_for_seed(seed, generator.latent_dim, noise, num), psi)
    chunks = [render.to_numpy_images(generator(part.to(device))) for part in z.split(batch_size)]
    return np.concatenate(chunks)


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
        generator = load_generator(args.model, device=args.device)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        parser.exit(2, f"error: {err}\n")
    images = generate(generator, args.num, args.seed, args.noise, args.truncation)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".npy":
        np.save(out, images)
    else:
        render.save_png(render.make_grid(images, ncols=args.ncols), out)
    print(f"wrote {args.num} samples of shape {images.shape[1:]} to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
