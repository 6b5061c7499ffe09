"""What every benchmark records: the machine, the command, the date; and how it writes and prints results."""

from __future__ import annotations

import datetime
import json
import os
import platform
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def machine() -> str:
    """CPU model, core count, GPU (if any) and torch version, e.g. 'AMD EPYC, 2 cores, torch 2.13.0+cpu'."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return f"{cpu}, {os.cpu_count()} cores{gpu}, torch {torch.__version__}"


def header(benchmark: str, script: str, argv: list[str] | None) -> dict:
    """The provenance fields of a result: benchmark name, machine, the exact command, UTC date."""
    return {
        "benchmark": benchmark,
        "machine": machine(),
        "command": f"python benchmarks/{script} " + shlex.join(sys.argv[1:] if argv is None else argv),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def write_result(result: dict, out: str | os.PathLike | None, default_name: str) -> Path:
    path = Path(out) if out else RESULTS / default_name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def print_scores(scores: dict[str, dict], floor: dict) -> None:
    """One line per scored model, then the floor."""
    width = max(len(name) for name in [*scores, "floor (real test)"])
    for name, s in [*scores.items(), ("floor (real test)", floor)]:
        print(f"{name:{width}s}  FID {s['fid']:8.3f}  KID {s['kid']:.4g}  precision {s['precision']:.3f}  recall {s['recall']:.3f}  classes hit {s['classes_hit']}")
