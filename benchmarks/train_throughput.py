"""Training throughput, ours vs the pytorch/examples baseline, and our peak RAM, in one run.

    flock /tmp/cpu_bench.lock python benchmarks/train_throughput.py --dataset fashion-mnist

Each trainer runs in its own process on the same data, architecture and batch size (128):
ours is the real CLI (``python -m gan_core.train``), the baseline is ``baseline_dcgan.py`` with
its default 2 DataLoader workers and with 0 workers. Throughput is images per second over timed
windows of ``--window`` steps; the first ``--warmup`` windows are dropped and the median of the
rest is reported. Peak RSS of each process (with its waited-for children) comes from wait4().
Writes benchmarks/results/train_throughput_<device>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import ROOT, header, write_result


def run_measured(command: list[str]) -> tuple[int, float]:
    """Run ``command``; return (exit code, peak RSS in MiB of it and its waited-for children)."""
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{shlex.join(command)} failed:\n{process.stderr.read().decode()[-3000:]}")
    return process.returncode, usage.ru_maxrss / 1024  # Linux reports KiB


def summarise(window_rates: list[float], warmup: int) -> dict:
    timed = window_rates[warmup:]
    if not timed:
        raise RuntimeError(f"no timed windows: got {len(window_rates)} windows, {warmup} of them warm-up")
    return {"images_per_sec": statistics.median(timed), "windows": [round(r, 1) for r in timed], "min": min(timed), "max": max(timed)}


# Our trainer's variants: its defaults (bf16 autocast + channels_last where the hardware has them), and plain fp32.
OURS_VARIANTS = {"defaults": [], "fp32": ["--amp", "off", "--channels-last", "off"]}


def measure_ours(args, steps: int, work: Path, variant: str = "defaults") -> dict:
    out = work / f"ours_{variant}"
    command = [sys.executable, "-m", "gan_core.train", "--dataset", args.dataset, "--steps", str(steps), "--log-every", str(args.window),
               "--out-dir", str(out), "--no-progress", "--device", args.device, "--seed", "0",
               # the baseline's architecture (pytorch/examples' widths), whatever our defaults are
               "--g-features", "64", "--d-features", "64", *OURS_VARIANTS[variant]]
    if args.data_dir:
        command += ["--data-dir", args.data_dir]
    _, rss = run_measured(command)
    records = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines() if line.strip()]
    return {"variant": variant, "peak_rss_mib": round(rss), **summarise([r["images_per_sec"] for r in records], args.warmup)}


def measure_baseline(args, steps: int, workers: int, work: Path) -> dict:
    result = work / f"baseline_{workers}.json"
    command = [sys.executable, __file__, "--as-baseline", str(result), "--dataset", args.dataset, "--device", args.device,
               "--window", str(args.window), "--baseline-steps", str(steps), "--workers", str(workers)]
    if args.data_dir:
        command += ["--data-dir", args.data_dir]
    _, rss = run_measured(command)
    return {"peak_rss_mib": round(rss), "workers": workers, **summarise(json.loads(result.read_text()), args.warmup)}


def baseline_worker(args) -> None:
    """Inside the baseline's own process: train and write the per-window throughputs."""
    from baseline_dcgan import BaselineConfig, train_baseline

    config = BaselineConfig(dataset=args.dataset, data_dir=args.data_dir, workers=args.workers, device=args.device)
    with open(os.devnull, "w") as log:
        run = train_baseline(config, max_steps=args.baseline_steps, log_every=args.window, log=log)
    Path(args.as_baseline).write_text(json.dumps(run.images_per_sec))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--data-dir")
    p.add_argument("--device", default="cpu", help="cpu or cuda (both trainers run there)")
    p.add_argument("--window", type=int, default=20, help="steps per timed window (default 20)")
    p.add_argument("--warmup", type=int, default=2, help="windows dropped as warm-up (default 2)")
    p.add_argument("--windows", type=int, default=8, help="timed windows per trainer (default 8)")
    p.add_argument("--baseline-workers", type=int, nargs="+", default=[2, 0], help="DataLoader workers to measure (default 2 0)")
    p.add_argument("--out", help="result JSON (default benchmarks/results/train_throughput_<device>.json)")
    p.add_argument("--as-baseline", help=argparse.SUPPRESS)
    p.add_argument("--baseline-steps", type=int, help=argparse.SUPPRESS)
    p.add_argument("--workers", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.as_baseline:
        baseline_worker(args)
        return 0
    if min(args.window, args.windows) < 1 or args.warmup < 0:
        p.error("--window and --windows must be at least 1, --warmup at least 0")
    steps = args.window * (args.warmup + args.windows)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ours = measure_ours(args, steps, work)
        variants = [measure_ours(args, steps, work, name) for name in OURS_VARIANTS if name != "defaults"]
        baselines = [measure_baseline(args, steps, workers, work) for workers in args.baseline_workers]
    result = {
        **header("train_throughput", "train_throughput.py", argv),
        "dataset": args.dataset,
        "device": args.device,
        "batch_size": 128,
        "ours": ours,
        "ours_variants": variants,
        "baselines": baselines,
        "ratio_vs_baseline": {f"workers={b['workers']}": round(ours["images_per_sec"] / b["images_per_sec"], 2) for b in baselines},
        "ratio_vs_ours_fp32": {v["variant"]: round(ours["images_per_sec"] / v["images_per_sec"], 2) for v in variants},
    }
    out = write_result(result, args.out, f"train_throughput_{args.device.split(':')[0]}.json")
    print(f"ours: {ours['images_per_sec']:.0f} images/s, peak RSS {ours['peak_rss_mib']} MiB")
    for v in variants:
        print(f"ours ({v['variant']}): {v['images_per_sec']:.0f} images/s; defaults / this = {ours['images_per_sec'] / v['images_per_sec']:.2f}")
    for b in baselines:
        print(f"baseline (workers={b['workers']}): {b['images_per_sec']:.0f} images/s, peak RSS {b['peak_rss_mib']} MiB; "
              f"ours / baseline = {ours['images_per_sec'] / b['images_per_sec']:.2f}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
