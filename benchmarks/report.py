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


def browser_latency(result: dict) -> str:
    """benchmarks/browser_latency.py: slider move -> picture for each path, the drag, the page load."""
    m = result["machine"]

    def pair(r: dict, key: str) -> str:
        return f"{r[f'{key}_median_ms']:.1f} / {r[f'{key}_p95_ms']:.1f}" if f"{key}_median_ms" in r else "-"

    def mb(n: float) -> str:
        return f"{n / 1e6:.2f} MB"

    lines = ["### Browser latency: a slider move drawn in the page, on the server, and by plain Gradio", "",
             ("| app | new picture in the page (src set), ms median / p95 | first animation frame with it (rAF), ms | decoded, ms | on screen (next frame), ms "
              "| pictures shown in a 2 s drag | POSTs during the drag | first visit: bytes, first picture | app RSS |"),
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in result["results"].items():
        load = r.get("load", {})
        first = load.get("first_browser_frame_ms", load.get("first_picture_ms"))
        what = "first frame drawn in the page" if "first_browser_frame_ms" in load else "first picture"
        visit = f"{mb(load['bytes'])}, {what} at {first / 1000:.2f} s" if "bytes" in load and first is not None else "-"
        lines.append(f"| {name} | {pair(r, 'src')} | {pair(r, 'frame')} | {pair(r, 'decoded')} | {pair(r, 'shown')} | "
                     f"{r['drag_frames_shown']} ({r['drag_fps']:.0f}/s) | {r.get('drag_posts', '-')} | {visit} | {r['rss_mb']:.0f} MB |")
    browser = next((r for r in result["results"].values() if r.get("path") == "browser"), None)
    if browser is not None:
        load, again = browser["load"], browser.get("revisit", {})
        kinds = ", ".join(f"{kind} {mb(n)}" for kind, n in load["bytes_by_kind"].items())
        lines += ["", (f"In-browser path, first visit: {mb(load['bytes'])} in {load['requests']} responses ({kinds}); the page says ready at "
                       f"{load['status_ms']['ready'] / 1000:.2f} s and draws its first frame at {load['first_browser_frame_ms'] / 1000:.2f} s after navigation.")]
        if again:
            lines.append(f"Returning visitor (same browser, HTTP cache): {mb(again['bytes'])} over the network, ready at {again['status_ms']['ready'] / 1000:.2f} s, "
                         f"first frame at {again['first_browser_frame_ms'] / 1000:.2f} s.")
        if "engine_median_ms" in browser:
            lines.append(f"G + D + pixels in the page (the badge's time): {browser['engine_median_ms']:.1f} ms median, {browser['engine_p95_ms']:.1f} ms p95.")
    if "goals" in result:
        names = {"median_ms": "median ≤ {goal:g} ms (src)", "p95_ms": "p95 ≤ {goal:g} ms (src)", "drag_fps": "≥ {goal:g} pictures/s while dragging",
                 "drag_posts": "{goal:g} server requests during a drag", "frame_median_ms": "median ≤ {goal:g} ms (rAF frame)",
                 "frame_p95_ms": "p95 ≤ {goal:g} ms (rAF frame)", "decoded_median_ms": "median ≤ {goal:g} ms (decoded)", "decoded_p95_ms": "p95 ≤ {goal:g} ms (decoded)"}
        lines += ["", "Goals for the in-browser path: " + ", ".join(
            f"{names.get(key, key).format(goal=g['goal'])} {'✔' if g['met'] else '✘'} ({g['measured']:.1f})" for key, g in result["goals"].items()) + "."]
    machine = (f"{m['cpu']}, {m['cores']} cores, Chromium {m['chromium']}, Gradio {m['gradio']}, onnxruntime-web {m.get('onnxruntime_web', '?')}, "
               f"torch {m['torch']}, Python {m['python']}")
    return "\n".join(lines) + "\n" + provenance({**result, "machine": machine})


RENDERERS = {"train_throughput": throughput, "quality_at_budget": budget, "generation_latency": latency, "quality_curve": curve, "ema_vs_raw": ema, "browser_latency": browser_latency}


def main() -> int:
    for path in sorted(RESULTS.glob("*.json")):
        result = json.loads(path.read_text())
        renderer = evaluated if "generated" in result else RENDERERS.get(result.get("benchmark"))
        if renderer is not None:
            print(renderer(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
