"""Generation latency of a trained generator: 1 image and a 64-image grid, noise to PNG bytes.

    flock /tmp/cpu_bench.lock python benchmarks/generation_latency.py weights/fashion-mnist/generator

Times what the app does per request, through ``GanPipeline``: draw z for a seed, run G (eval
mode, no grad), turn the output into uint8, tile the grid, encode a PNG. Reports the median and
90th percentile over --repeats runs after --warmup runs. Writes benchmarks/results/generation_latency_<device>.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
from common import header, write_result

from gan_core import GanPipeline
from gan_core.core import images


def render_png(pipeline: GanPipeline, seed: int, count: int) -> bytes:
    """z for ``seed`` -> G -> uint8 -> (grid) -> PNG bytes; the pictures reach the host before it returns."""
    pictures = pipeline.generate(count, seed).images  # (count, H, W[, 3]) uint8, copied to the host
    picture = pictures[0] if count == 1 else images.make_grid(pictures, ncols=8)
    return images.png_bytes(picture)


def time_it(fn, repeats: int, warmup: int) -> dict:
    for i in range(warmup):
        fn(i)
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        fn(warmup + i)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"median_ms": round(statistics.median(times), 3), "p90_ms": round(times[int(0.9 * (len(times) - 1))], 3), "repeats": repeats}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="generator folder (or a folder holding generator/)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeats", type=int, default=100)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--out", help="result JSON (default benchmarks/results/generation_latency_<device>.json)")
    args = p.parse_args(argv)
    if args.repeats < 1 or args.warmup < 0:
        p.error("--repeats must be at least 1 and --warmup at least 0")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    pipeline = GanPipeline.from_pretrained(args.model, device=device)
    result = {
        **header("generation_latency", "generation_latency.py", argv),
        "model": args.model,
        "device": args.device,
        "threads": torch.get_num_threads(),
        "one_image": time_it(lambda seed: render_png(pipeline, seed, 1), args.repeats, args.warmup),
        "grid_64": time_it(lambda seed: render_png(pipeline, seed, 64), args.repeats, args.warmup),
    }
    out = write_result(result, args.out, f"generation_latency_{device.type}.json")
    print(f"1 image: {result['one_image']['median_ms']:.2f} ms median; 64-image grid: {result['grid_64']['median_ms']:.2f} ms median; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
