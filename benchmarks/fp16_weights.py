"""Do fp16 weights shrink a first visit without changing the pictures? Each model's generator exported twice, with its
weights stored as fp32 and as fp16 (cast back to fp32 when the session starts, so it computes in fp32 as before), run
on the same latents in onnxruntime (the browser's runtime is the same code compiled to WebAssembly); and the check
gan_core.export makes before it stores fp16 weights (the network's own pictures and D's verdict against the rounded
network's, in torch), with its choice.

    python benchmarks/fp16_weights.py [--model weights/mnist ...] [--num 2000] [--json benchmarks/results/fp16_weights.json]

Latents: N(0, I) scaled by a truncation psi drawn uniformly from [0, 2] (the app's range). A picture's grey levels are
gan_core's round((clamp(x, -1, 1) + 1) * 127.5). The app promises the page's picture within one grey level of the
server's; the exporter stores fp16 weights only for a model where its check finds that kept.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import onnx
import onnxruntime

from common import ROOT

from gan_core.core.hub import load_part, locate
from gan_core.core.models import Discriminator, Generator
from gan_core.core.onnx_export import check_fp16_weights, export_onnx

MODELS = ["weights/mnist", "weights/fashion-mnist", "weights/emoji"]


def grey(x: np.ndarray) -> np.ndarray:
    return np.round((np.clip(x, -1, 1) + 1) * np.float32(127.5)).astype(int)


def compare(folder: Path, num: int) -> dict:
    files = locate(folder)
    generator = load_part(Generator, files.generator)
    discriminator = load_part(Discriminator, files.discriminator) if files.discriminator else None
    with tempfile.TemporaryDirectory() as scratch:
        fp32, fp16 = (export_onnx(generator, Path(scratch) / kind / "model.onnx", fp16_weights=kind == "fp16").read_bytes() for kind in ("fp32", "fp16"))
    check = check_fp16_weights(generator, discriminator)
    sessions = [onnxruntime.InferenceSession(data) for data in (fp32, fp16)]
    latent_dim = sessions[0].get_inputs()[0].shape[1]
    rng = np.random.default_rng(0)
    z = (rng.standard_normal((num, latent_dim)) * rng.uniform(0, 2, (num, 1))).astype(np.float32)
    a, b = (grey(session.run(None, {"z": z})[0]) for session in sessions)
    diff = np.abs(a - b)
    return {"model": folder.name, "pictures": num, "fp32_bytes": len(fp32), "fp16_bytes": len(fp16), "fp16_gzip_bytes": len(gzip.compress(fp16, 6)),
            "max_grey_levels": int(diff.max()), "pixels_changed": float((diff > 0).mean()), "pictures_over_one_level": int((diff.reshape(num, -1).max(1) > 1).sum()),
            "check_grey_levels": check.grey_levels, "check_verdict_change": check.verdict_change, "exporter_stores_fp16": check.keeps_promise}


def verdict(change: float | None) -> str:
    return "-" if change is None else f"{100 * change:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=None, help=f"model folder (repeatable; default {', '.join(MODELS)})")
    parser.add_argument("--num", type=int, default=2000)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    rows = [compare(ROOT / model if not Path(model).is_absolute() else Path(model), args.num) for model in args.model or MODELS]
    print("| model | G fp32 | G fp16 weights (gzip) | most grey levels apart | pixels changed | pictures more than 1 level apart "
          "| exporter's check: grey levels, D's verdict (points) | exporter stores |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['fp32_bytes'] / 1e6:.2f} MB | {r['fp16_bytes'] / 1e6:.2f} MB ({r['fp16_gzip_bytes'] / 1e6:.2f} MB) | {r['max_grey_levels']} | "
              f"{100 * r['pixels_changed']:.2f}% | {r['pictures_over_one_level']} of {r['pictures']} | {r['check_grey_levels']}, "
              f"{verdict(r['check_verdict_change'])} | {'fp16' if r['exporter_stores_fp16'] else 'fp32'} |")
    if args.json:
        report = {"benchmark": "fp16_weights", "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                  "command": "python benchmarks/fp16_weights.py " + " ".join(sys.argv[1:] if argv is None else argv), "results": rows}
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
