"""Render the BENCHMARKS.md tables from benchmarks/results/*.json, each with its machine, command and date.

    python benchmarks/report.py > /tmp/benchmarks_tables.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
KEYS = ("fid", "kid", "precision", "recall", "class_kl", "classes_hit", "inception_score", "nn_ratio", "copy_fraction")
HEADER = "| | FID | KID | precision | recall | class KL | classes hit | IS analogue | NN ratio | copy fraction |\n|---|---|---|---|---|---|---|---|---|---|"


def cell(value) -> str:
    if isinstance(value, bool) or isinstance(value, int):
        return str(value)
    return f"{value:.4g}" if abs(value) < 1e-2 or abs(value) >= 1000 else f"{value:.3f}"


def metric_row(name: str, scores: dict) -> str:
    return f"| {name} | " + " | ".join(cell(scores[k]) for k in KEYS) + " |"


def provenance(result: dict) -> str:
    machine = f"Machine: {result['machine']}. " if "machine" in result else ""
    return f"\n{machine}Date: {result['date']}. Command:\n```\n{result['command']}\n```\n"


def throughput(result: dict) -> str:
    ours = result["ours"]
    lines = [f"### Training throughput ({result['dataset']}, batch {result['batch_size']}, {result['device']})", "",
             "| trainer | images/s (median) | windows min-max | peak RSS | ours / this |", "|---|---|---|---|---|",
             f"| ours (`python -m gan_core.train`) | {ours['images_per_sec']:.0f} | {ours['min']:.0f}-{ours['max']:.0f} | {ours['peak_rss_mib']} MiB | 1.00 |"]
    for b in result["baselines"]:
        lines.append(f"| pytorch/examples loop, {b['workers']} DataLoader workers | {b['images_per_sec']:.0f} | {b['min']:.0f}-{b['max']:.0f} | "
                     f"{b['peak_rss_mib']} MiB | {ours['images_per_sec'] / b['images_per_sec']:.2f} |")
    return "\n".join(lines) + "\n" + provenance(result)


def budget(result: dict) -> str:
    lines = [f"### Quality after {result['minutes_each']:g} minutes of training each ({result['dataset']}, {result['device']}, {result['num']} samples)", "",
             f"Ours: {result['ours_steps']} steps ({result['ours_epochs']} epochs). Baseline: {result['baseline_steps']} steps ({result['baseline_epochs']} epochs).", "",
             HEADER]
    lines += [metric_row(name, scores) for name, scores in result["scores"].items()]
    lines.append(metric_row("floor (real test vs train)", result["floor"]))
    lines.append(f"\nFID ours / best baseline sampling = **{result['fid_ratio_ours_vs_best_baseline']:.2f}**.")
    lines += [f"\n![{key}]({path})" for key, path in result["grids"].items()]
    return "\n".join(lines) + "\n" + provenance(result)


def latency(result: dict) -> str:
    return "\n".join([
        f"### Generation latency ({result['device']}, {result['threads']} threads, `{result['model']}`)", "",
        "| request | median | p90 |", "|---|---|---|",
        f"| 1 image (z -> G -> PNG) | {result['one_image']['median_ms']:.2f} ms | {result['one_image']['p90_ms']:.2f} ms |",
        f"| 64-image grid (z -> G -> grid -> PNG) | {result['grid_64']['median_ms']:.2f} ms | {result['grid_64']['p90_ms']:.2f} ms |",
    ]) + "\n" + provenance(result)


def curve(result: dict) -> str:
    last = result["epochs"][-1]
    best = next(r for r in result["epochs"] if r["epoch"] == result["best_fid_epoch"])
    stem = f"benchmarks/results/quality_curve_{result['dataset']}"
    return "\n".join([
        f"### Quality per epoch: {result['dataset']} (`{result['run']}`, {result['num']} samples per epoch)", "",
        f"![quality curve]({stem}.png)", "", HEADER,
        metric_row(f"epoch {best['epoch']} (best FID)", best), metric_row(f"epoch {last['epoch']} (last)", last),
        metric_row("floor (real test vs train)", result["floor"]),
    ]) + "\n" + provenance(result) + f"All epochs: `{stem}.json`.\n"


def ema(result: dict) -> str:
    lines = [f"### Which generator to export ({result['run']}, step {result['step']}, epoch {result['epoch']}, EMA decay {result['ema_decay']}, {result['num']} samples)", "", HEADER]
    lines += [metric_row(name, scores) for name, scores in result["scores"].items()]
    lines.append(metric_row("floor (real test vs train)", result["floor"]))
    return "\n".join(lines) + "\n" + provenance(result)


def evaluated(result: dict) -> str:
    return "\n".join([
        f"### `python -m gan_core.evaluate` on `{result['model']}` ({result['dataset']}, {result['num']} samples, "
        f"classifier test accuracy {result['classifier_test_accuracy']})", "", HEADER,
        metric_row("generated", result["generated"]), metric_row("floor (real test vs train)", result["floor"]),
    ]) + "\n" + provenance(result)


RENDERERS = {"train_throughput": throughput, "quality_at_budget": budget, "generation_latency": latency, "quality_curve": curve, "ema_vs_raw": ema}


def main() -> int:
    for path in sorted(RESULTS.glob("*.json")):
        result = json.loads(path.read_text())
        renderer = evaluated if "generated" in result else RENDERERS.get(result.get("benchmark"))
        if renderer is not None:
            print(renderer(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
