"""What every benchmark shares: the machine, the command, the date; how results are written and
printed; and how a generator is sampled and scored.

Benchmarks run as scripts (``python benchmarks/NAME.py``, so benchmarks/ is on ``sys.path``) and
import this module before ``gan_core``: importing it puts the repository on ``sys.path``, so
``gan_core`` imports without being installed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch

from gan_core import GanPipeline, Generator
from gan_core.evaluation import quality
from gan_core.evaluation.classifier import Classifier, load_classifier
from gan_core.evaluation.metrics import Reference


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo, e.g. 'AMD EPYC 7B13' (else what platform knows)."""
    try:
        with open("/proc/cpuinfo") as handle:
            return next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def machine() -> str:
    """CPU model, core count, GPU (if any) and torch version, e.g. 'AMD EPYC, 2 cores, torch 2.13.0+cpu'."""
    gpu = f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return f"{cpu_name()}, {os.cpu_count()} cores{gpu}, torch {torch.__version__}"


def header(benchmark: str, script: str, argv: list[str] | None) -> dict:
    """The provenance fields of a result: benchmark name, machine, the exact command, UTC date."""
    return {
        "benchmark": benchmark,
        "machine": machine(),
        "threads": torch.get_num_threads(),
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


# ---------------------------------------------------------------------- scoring generators


def classifier_from_args(args: argparse.Namespace) -> Classifier:
    """The feature extractor of the metrics: ``--classifier``, else the dataset's (weights/classifiers/DATASET)."""
    return load_classifier(args.classifier or quality.default_classifier_dir(args.dataset))


def reference_from_args(args: argparse.Namespace, classifier: Classifier | None = None) -> Reference:
    """The one fixed reference every model of a benchmark is scored against, from ``--dataset``,
    ``--data-dir``, ``--num`` and ``--seed`` (``classifier``: default :func:`classifier_from_args`)."""
    classifier = classifier if classifier is not None else classifier_from_args(args)
    return quality.build_reference(args.dataset, classifier, data_dir=args.data_dir, num=args.num, seed=args.seed)


def eval_samples(generator: Generator, num: int, seed: int) -> torch.Tensor:
    """``num`` samples of ``generator`` in eval mode, drawn as ``gan_core.evaluate`` draws them
    (the noise stream of ``seed``, deterministic in (seed, num)): uint8 (N, C, H, W) on the CPU."""
    return GanPipeline(generator.eval()).generate(num, seed).uint8


# ---------------------------------------------------------------------- timing helpers


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (0 < q <= 1) of ``values``, e.g. q=0.95 for p95."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system, all threads) a live process has used so far, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime and stime, fields 14 and 15 of stat(5)


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, summed over its cores, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # user nice system idle iowait irq softirq steal (guest time is inside user)
    return (total - idle) / os.sysconf("SC_CLK_TCK"), total / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds used so far by the live processes of ``root``'s process tree (root included),
    e.g. a benchmark with its browser and servers: the machine's busy time minus this is what
    other work on the machine took."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # the process ended while we looked
        children.setdefault(parent, []).append(int(stat.parent.name))
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        try:
            total += process_cpu_seconds(pid)
        except OSError:
            continue
        todo += children.get(pid, [])
    return total
