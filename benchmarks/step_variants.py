"""One training step of our G and D under each speed setting: fp32, channels_last, bf16 autocast, both, and
torch.compile, in one run.

    flock /tmp/cpu_bench.lock python benchmarks/step_variants.py --widths 32 64 --threads 1

Times ``Trainer._train_step`` (D update + G update, batch 128, Fashion-MNIST 28x28 from ``--data-dir``) after
``--warmup`` steps (compilation happens there), median of ``--steps`` timed steps, images per second. Ratios
are against plain fp32 at the same width, measured in the same run.
Writes benchmarks/results/step_variants.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time

import torch
from common import header, write_result

from gan_core.core.data import load_dataset
from gan_core.core.latent import sample_noise
from gan_core.training import TrainConfig, Trainer

# name -> (amp, channels_last, compile)
VARIANTS = {
    "fp32": ("off", "off", False),
    "channels_last": ("off", "on", False),
    "bf16": ("bf16", "off", False),
    "bf16 + channels_last (our CPU default here)": ("bf16", "on", False),
    "bf16 + channels_last + torch.compile": ("bf16", "on", True),
}


def time_variant(data, width: int, amp: str, channels_last: str, compile_: bool, warmup: int, steps: int) -> dict:
    with tempfile.TemporaryDirectory() as out:
        config = TrainConfig.from_flat(dataset="fashion-mnist", out_dir=out, g_features=width, d_features=width, amp=amp, channels_last=channels_last,
                                       compile=compile_, steps=1, progress=False, onnx=False)
        trainer = Trainer.create(config, data=data)
        rng = torch.Generator().manual_seed(0)
        times = []
        start = time.perf_counter()
        for i in range(warmup + steps):
            rows = torch.randint(0, len(trainer.images), (128,), generator=rng)
            noise = sample_noise(128, config.model.latent_dim, rng, config.model.noise)
            t0 = time.perf_counter()
            trainer._train_step(trainer.images[rows], noise)
            times.append(time.perf_counter() - t0)
            if i == warmup - 1:
                warm_seconds = time.perf_counter() - start
    median = statistics.median(times[warmup:])
    return {"images_per_sec": round(128 / median, 1), "median_step_ms": round(median * 1000, 2), "warmup_seconds": round(warm_seconds, 1)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default="data/fashion-mnist")
    p.add_argument("--widths", type=int, nargs="+", default=[32, 64])
    p.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--out", help="result JSON (default benchmarks/results/step_variants.json)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    data = load_dataset("fashion-mnist", data_dir=args.data_dir, download=False)
    rows = []
    for width in args.widths:
        base = None
        for name, (amp, channels_last, compile_) in VARIANTS.items():
            row = {"width": width, "variant": name, **time_variant(data, width, amp, channels_last, compile_, args.warmup, args.steps)}
            base = base or row["images_per_sec"]
            row["vs_fp32"] = round(row["images_per_sec"] / base, 2)
            rows.append(row)
            print(f"width {width:3d}  {name:45s} {row['images_per_sec']:8.0f} img/s  x{row['vs_fp32']:.2f}  (warm-up {row['warmup_seconds']} s)", flush=True)
    result = {**header("step_variants", "step_variants.py", argv), "batch_size": 128, "rows": rows}
    print(f"wrote {write_result(result, args.out, 'step_variants.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
