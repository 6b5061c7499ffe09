"""Generation latency of a trained generator: 1 image and a 64-image grid, noise to PNG bytes.

    flock /tmp/cpu_bench.lock python benchmarks/generation_latency.py weights/fashion-mnist/generator

Times what the app does per request: draw z for a seed, run G (eval mode, no grad), turn the
output into uint8, tile the grid, encode a PNG. Reports the median and 90th percentile over
--repeats runs after --warmup runs. Writes benchmarks/results/generation_latency_<device>.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import header, write_result  # noqa: E402

from gan_core import render  # noqa: E402
from gan_core.hub import load_generator  # noqa: E402
from gan_core.latent import noise_for_seed  # noqa: E402


@torch.no_grad()
def render_png(generator, seed: int, count: int, device: torch.device) -> bytes:
    """z for ``seed`` -> G -> uint8 -> (grid) -> PNG bytes; synchronises the device before returning."""
    z = noise_for_seed(seed, generator.latent_dim, "normal", count).to(device)
    images = render.to_numpy_images(generator(z))  # (count, H, W[, 3]), copied to the host
    picture = images[0] if count == 1 else render.make_grid(images, ncols=8)
    return render.png_bytes(picture)


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
    generator = load_generator(args.model, device=device)
    result = {
        **header("generation_latency", "generation_latency.py", argv),
        "model": args.model,
        "device": args.device,
        "threads": torch.get_num_threads(),
        "one_image": time_it(lambda seed: render_png(generator, seed, 1, device), args.repeats, args.warmup),
        "grid_64": time_it(lambda seed: render_png(generator, seed, 64, device), args.repeats, args.warmup),
    }
    out = write_result(result, args.out, f"generation_latency_{device.type}.json")
    print(f"1 image: {result['one_image']['median_ms']:.2f} ms median; 64-image grid: {result['grid_64']['median_ms']:.2f} ms median; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
