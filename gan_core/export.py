"""Export trained models to ONNX for the browser: ``python -m gan_core.export MODEL_DIR [MODEL_DIR ...]``.

Each MODEL_DIR holds ``generator/`` (and optionally ``discriminator/``), as a finished run or a
shipped model does, or is a generator folder itself. ``model.onnx`` is written beside each part's
``model.safetensors``: one self-contained file per network, BatchNorm folded, any batch size.
Generator: ``z`` (B, latent_dim) -> ``images`` (B, C, H, W) in [-1, 1]; discriminator:
``images`` -> ``logits`` (B,). Every folder is checked before anything is exported.

The generator's weights are stored as fp16 (half the bytes a visitor downloads, computed in fp32) where that keeps
every picture of 2,000 latents within one grey level of the network's own and D's verdict within half a
percentage point; otherwise, or with ``--fp32``, as fp32.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from gan_core.core.onnx_export import export_model_folder, export_parts, has_fp16_weights


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan_core.export", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", metavar="MODEL_DIR", help="a folder holding generator/ (and discriminator/), or a generator folder")
    parser.add_argument("--fp32", action="store_true", help="store the generator's weights as fp32 even where fp16 would keep its pictures")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        for folder in args.models:
            export_parts(folder)  # refuse a bad folder before exporting anything
        written = [path for folder in args.models for path in export_model_folder(folder, allow_fp16=not args.fp32)]
    except (FileNotFoundError, ValueError) as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
    for path in written:
        size = Path(path).stat().st_size
        weights = "fp16 weights" if has_fp16_weights(path) else "fp32 weights"
        print(f"wrote {path} ({size:,d} bytes, {size / 1e6:.2f} MB, {weights})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
