"""Would fp16 weights shrink a first visit without changing the pictures? Each model's exported generator with its
weights stored as fp16 (cast back to fp32 when the session starts, so it computes in fp32 as before), against the fp32
file, on the same latents, in onnxruntime (the browser's runtime is the same code compiled to WebAssembly).

    python benchmarks/fp16_weights.py [--model weights/mnist ...] [--num 2000] [--json benchmarks/results/fp16_weights.json]

Latents: N(0, I) scaled by a truncation psi drawn uniformly from [0, 2] (the app's range). A picture's grey levels are
gan_core's round((clamp(x, -1, 1) + 1) * 127.5). The app promises the page's picture within one grey level of the
server's; fp16 weights are worth it only if they keep that.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper

from common import ROOT

MODELS = ["weights/mnist", "weights/fashion-mnist", "weights/emoji"]


def fp16_weights(model: onnx.ModelProto) -> bytes:
    """``model`` with every float32 initializer of more than 16 values stored as fp16 and cast back by a Cast node."""
    graph = model.graph
    kept, casts = [], []
    for tensor in graph.initializer:
        values = numpy_helper.to_array(tensor)
        if values.dtype == np.float32 and values.size > 16:
            kept.append(numpy_helper.from_array(values.astype(np.float16), tensor.name + "_fp16"))
            casts.append(helper.make_node("Cast", [tensor.name + "_fp16"], [tensor.name], to=TensorProto.FLOAT))
        else:
            kept.append(tensor)
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    return model.SerializeToString()


def grey(x: np.ndarray) -> np.ndarray:
    return np.round((np.clip(x, -1, 1) + 1) * np.float32(127.5)).astype(int)


def compare(folder: Path, num: int) -> dict:
    path = folder / "generator" / "model.onnx"
    fp32 = path.read_bytes()
    fp16 = fp16_weights(onnx.load(str(path)))
    sessions = [onnxruntime.InferenceSession(data) for data in (fp32, fp16)]
    latent_dim = sessions[0].get_inputs()[0].shape[1]
    rng = np.random.default_rng(0)
    z = (rng.standard_normal((num, latent_dim)) * rng.uniform(0, 2, (num, 1))).astype(np.float32)
    a, b = (grey(session.run(None, {"z": z})[0]) for session in sessions)
    diff = np.abs(a - b)
    return {"model": folder.name, "pictures": num, "fp32_bytes": len(fp32), "fp16_bytes": len(fp16), "fp16_gzip_bytes": len(gzip.compress(fp16, 6)),
            "max_grey_levels": int(diff.max()), "pixels_changed": float((diff > 0).mean()), "pictures_over_one_level": int((diff.reshape(num, -1).max(1) > 1).sum())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=None, help=f"model folder (repeatable; default {', '.join(MODELS)})")
    parser.add_argument("--num", type=int, default=2000)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    rows = [compare(ROOT / model if not Path(model).is_absolute() else Path(model), args.num) for model in args.model or MODELS]
    print("| model | G fp32 | G fp16 weights (gzip) | most grey levels apart | pixels changed | pictures more than 1 level apart |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['fp32_bytes'] / 1e6:.2f} MB | {r['fp16_bytes'] / 1e6:.2f} MB ({r['fp16_gzip_bytes'] / 1e6:.2f} MB) | {r['max_grey_levels']} | "
              f"{100 * r['pixels_changed']:.2f}% | {r['pictures_over_one_level']} of {r['pictures']} |")
    if args.json:
        report = {"benchmark": "fp16_weights", "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                  "command": "python benchmarks/fp16_weights.py " + " ".join(sys.argv[1:] if argv is None else argv), "results": rows}
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
