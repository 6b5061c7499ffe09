"""Training throughput on 1, 2, ... processes (torchrun + DDP) and the scaling efficiency.

    flock /tmp/cpu_bench.lock python benchmarks/scaling.py --device cpu --processes 1 2 --modes weak strong
    python benchmarks/scaling.py --device cuda --data-dir data          # 1, 2, 4, ... up to the GPUs present

Every count runs the real command: ``python -m gan_core.train`` for one process, ``torchrun --standalone
--nproc_per_node=N -m gan_core.train`` for more, on the same data and model, for ``--window`` x
(``--warmup`` + ``--windows``) steps. Images per second come from each run's train_log.jsonl (process 0's
clock, the whole job's images per window); the warm-up windows are dropped and the median of the rest is
reported. Scaling efficiency = images/s on N processes / (N x images/s on one).

- ``weak`` (the default): each process trains ``--batch-per-process`` images per step, so the global
  batch (``--batch-size``) is N times that: how more GPUs make an epoch faster.
- ``strong``: the global batch stays ``--batch-per-process``, split over the N processes: the same
  training trajectory, each process doing 1/N of the work.

Every process gets the same number of intra-op threads (``--threads``, default: cores / the largest count),
so N processes use N times the cores of one, as N GPUs are N times one GPU: the efficiency then says what
the gradient exchange and the split cost. (One process with all the cores is another reference: run
``--processes 1 --threads CORES``.)
``--train-args`` passes more flags to gan_core.train (e.g. "--compile --g-features 64 --d-features 64").
Writes benchmarks/results/scaling_<device>.json.
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
import time
from pathlib import Path

import torch
from common import ROOT, header, write_result


def train_command(processes: int) -> list[str]:
    if processes == 1:
        return [sys.executable, "-m", "gan_core.train"]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}", "-m", "gan_core.train"]


def measure(args, processes: int, mode: str, work: Path) -> dict:
    """One run on ``processes`` processes: its median images/s over the timed windows."""
    global_batch = args.batch_per_process * processes if mode == "weak" else args.batch_per_process
    threads = args.threads
    out = work / f"{mode}_{processes}"
    steps = args.window * (args.warmup + args.windows)
    command = [*train_command(processes), "--dataset", args.dataset, "--steps", str(steps), "--log-every", str(args.window),
               "--batch-size", str(global_batch), "--out-dir", str(out), "--no-progress", "--device", args.device, "--seed", "0",
               "--no-onnx", "--bn-calibration-batches", "1", "--num-fixed", "16", *shlex.split(args.train_args)]  # fmt: skip
    if args.data_dir:
        command += ["--data-dir", args.data_dir]
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS=str(threads))
    start = time.perf_counter()
    done = subprocess.run(command, check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=args.timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{shlex.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    records = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines() if line.strip()]
    rates = [r["images_per_sec"] for r in records][args.warmup :]
    if not rates:
        raise RuntimeError(f"no timed windows: {len(records)} log records, {args.warmup} of them warm-up")
    return {
        "processes": processes, "mode": mode, "global_batch": global_batch, "batch_per_process": global_batch // processes,
        "threads_per_process": threads, "images_per_sec": round(statistics.median(rates), 1), "windows": [round(r, 1) for r in rates],
        "min": min(rates), "max": max(rates), "wall_sec": round(time.perf_counter() - start, 1),
    }  # fmt: skip


def report(run: dict) -> None:
    print(f"{run['mode']:9s} {run['processes']} process(es), global batch {run['global_batch']}, {run['threads_per_process']} thread(s) each: "
          f"{run['images_per_sec']:.0f} images/s, efficiency {run['efficiency']:.2f}")  # fmt: skip


def default_counts(device: str) -> list[int]:
    """1, 2, 4, ... up to the GPUs present (CUDA), or 1 and 2 (CPU)."""
    available = torch.cuda.device_count() if device.startswith("cuda") else 2
    counts, n = [], 1
    while n <= max(available, 1):
        counts.append(n)
        n *= 2
    if available > 1 and counts[-1] != available:
        counts.append(available)
    return counts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--data-dir")
    p.add_argument("--device", default="cpu", help="cpu (gloo) or cuda (NCCL, one GPU per process)")
    p.add_argument("--processes", type=int, nargs="+", help="process counts (default: 1, 2, 4, ... up to the GPUs; 1 2 on the CPU)")
    p.add_argument("--modes", nargs="+", choices=("weak", "strong"), default=["weak"], help="weak: fixed batch per process; strong: fixed global batch (default weak)")
    p.add_argument("--batch-per-process", type=int, default=128, help="images per process per step (weak), or the global batch (strong); default 128")
    p.add_argument("--window", type=int, default=20, help="steps per timed window (default 20)")
    p.add_argument("--warmup", type=int, default=1, help="windows dropped as warm-up (default 1)")
    p.add_argument("--windows", type=int, default=5, help="timed windows per run (default 5)")
    p.add_argument("--threads", type=int, help="intra-op threads per process (default: cores / the largest process count)")
    p.add_argument("--train-args", default="", help='more flags for gan_core.train, e.g. "--compile --g-features 64"')
    p.add_argument("--timeout", type=float, default=600, help="seconds one run may take (default 600)")
    p.add_argument("--out", help="result JSON (default benchmarks/results/scaling_<device>.json)")
    args = p.parse_args(argv)
    counts = sorted(set(args.processes or default_counts(args.device)))
    if min(counts) < 1 or min(args.window, args.windows, args.batch_per_process) < 1 or args.warmup < 0:
        p.error("--processes, --window, --windows and --batch-per-process must be at least 1, --warmup at least 0")
    if args.device.startswith("cuda") and max(counts) > torch.cuda.device_count():
        p.error(f"--processes {max(counts)} asks for more GPUs than the {torch.cuda.device_count()} present")
    args.threads = args.threads or max(1, (os.cpu_count() or 1) // max(counts))
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        # One process is the same run in both modes (global batch = batch per process): the reference of the efficiency.
        single = measure(args, 1, "weak" if "weak" in args.modes else "strong", Path(tmp))
        single.update(mode="reference", efficiency=1.0)
        runs.append(single)
        report(single)
        for mode in args.modes:
            for n in (n for n in counts if n > 1):
                if mode == "strong" and args.batch_per_process % n:
                    print(f"skipped {n} processes (strong): a global batch of {args.batch_per_process} does not split over {n}")
                    continue
                run = measure(args, n, mode, Path(tmp))
                run["efficiency"] = round(run["images_per_sec"] / (n * single["images_per_sec"]), 3)
                runs.append(run)
                report(run)
    result = {
        **header("scaling", "scaling.py", argv),
        "dataset": args.dataset,
        "device": args.device,
        "window": args.window,
        "warmup": args.warmup,
        "train_args": args.train_args,
        "runs": runs,
    }
    out = write_result(result, args.out, f"scaling_{args.device.split(':')[0]}.json")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
