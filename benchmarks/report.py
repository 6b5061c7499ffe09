"""Render the BENCHMARKS.md tables from benchmarks/results/*.json, each with its machine, command and date.

    python benchmarks/report.py > /tmp/benchmarks_tables.md
    python benchmarks/report.py --gpu-check benchmarks/results/gpu     # only the GPU check's tables

The GPU check (benchmarks/gpu_check.sh) writes its results to benchmarks/results/gpu/; they are rendered
after the others when its summary.json is there.
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
    threads = f", {result['threads']} torch thread{'s' if result['threads'] != 1 else ''} per process" if "threads" in result else ""
    lines = [f"### Training throughput ({result['dataset']}, batch {result['batch_size']}, {result['device']}{threads})", "",
             "| trainer | images/s (median) | windows min-max | peak RSS | ours / this |", "|---|---|---|---|---|",
             f"| ours (`python -m gan_core.train`, defaults) | {ours['images_per_sec']:.0f} | {ours['min']:.0f}-{ours['max']:.0f} | {ours['peak_rss_mib']} MiB | 1.00 |"]
    for v in result.get("ours_variants", []):
        lines.append(f"| ours, {v['variant']} | {v['images_per_sec']:.0f} | {v['min']:.0f}-{v['max']:.0f} | {v['peak_rss_mib']} MiB | {ours['images_per_sec'] / v['images_per_sec']:.2f} |")
    for b in result["baselines"]:
        lines.append(f"| pytorch/examples loop, {b['workers']} DataLoader workers | {b['images_per_sec']:.0f} | {b['min']:.0f}-{b['max']:.0f} | "
                     f"{b['peak_rss_mib']} MiB | {ours['images_per_sec'] / b['images_per_sec']:.2f} |")
    return "\n".join(lines) + "\n" + provenance(result)


def budget(result: dict) -> str:
    threads = f", {result['threads']} torch thread{'s' if result['threads'] != 1 else ''} per trainer" if "threads" in result else ""
    lines = [f"### Quality after {result['minutes_each']:g} minutes of training each ({result['dataset']}, {result['device']}{threads}, {result['num']} samples)", "",
             f"Ours: {result['ours_steps']} steps ({result['ours_epochs']} epochs)"
             + (f", {result['ours_settings']}" if "ours_settings" in result else "")
             + (f". Ours in plain fp32: {result['ours_fp32_steps']} steps ({result['ours_fp32_epochs']} epochs)" if "ours_fp32_steps" in result else "")
             + f". Baseline: {result['baseline_steps']} steps ({result['baseline_epochs']} epochs).", "",
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

    def shown(r: dict) -> str:
        of = f" in {r['drag_animation_frames']} animation frames" if "drag_animation_frames" in r else ""
        return f"{r['drag_frames_shown']}{of} ({r['drag_fps']:.0f}/s)"

    def cpu(r: dict) -> str:
        return f"{r['drag_server_cpu_seconds']:.2f} s" if "drag_server_cpu_seconds" in r else "-"

    def mb(n: float) -> str:
        return f"{n / 1e6:.2f} MB"

    lines = ["### Browser latency: a slider move drawn in the page, on the server, and by plain Gradio", "",
             ("| app | new picture in the page (src set), ms median / p95 | first animation frame with it (rAF), ms | decoded, ms | on screen (next frame), ms "
              "| pictures shown in a 2 s drag | POSTs during the drag | app CPU during the drag | first visit: bytes, first picture | app RSS |"),
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in result["results"].items():
        load = r.get("load", {})
        first = load.get("first_browser_frame_ms", load.get("first_picture_ms"))
        what = "first frame drawn in the page" if "first_browser_frame_ms" in load else "first picture"
        visit = f"{mb(load['bytes'])}, {what} at {first / 1000:.2f} s" if "bytes" in load and first is not None else "-"
        lines.append(f"| {name} | {pair(r, 'src')} | {pair(r, 'frame')} | {pair(r, 'decoded')} | {pair(r, 'shown')} | "
                     f"{shown(r)} | {r.get('drag_posts', '-')} | {cpu(r)} | {visit} | {r['rss_mb']:.0f} MB |")
    browser = next((r for r in result["results"].values() if r.get("path") == "browser"), None)
    if browser is not None:
        load, again = browser["load"], browser.get("revisit", {})
        kinds = ", ".join(f"{kind} {mb(n)}" for kind, n in load["bytes_by_kind"].items())
        lines += ["", (f"In-browser path, first visit: {mb(load['bytes'])} in {load['requests']} responses ({kinds}); the page says ready at "
                       f"{load['status_ms']['ready'] / 1000:.2f} s and draws its first frame at {load['first_browser_frame_ms'] / 1000:.2f} s after navigation.")]
        if again:
            lines.append(f"Returning visitor (second visit, browser profile with a disk cache): {mb(again['bytes'])} over the network, ready at {again['status_ms']['ready'] / 1000:.2f} s, "
                         f"first frame at {again['first_browser_frame_ms'] / 1000:.2f} s.")
        if "engine_median_ms" in browser:
            lines.append(f"G + D + pixels in the page (the badge's time): {browser['engine_median_ms']:.1f} ms median, {browser['engine_p95_ms']:.1f} ms p95.")
    if "goals" in result:
        names = {"median_ms": "median ≤ {goal:g} ms (src)", "p95_ms": "p95 ≤ {goal:g} ms (src)", "drag_fps": "≥ {goal:g} pictures/s while dragging",
                 "drag_posts": "{goal:g} server requests during a drag", "frame_median_ms": "median ≤ {goal:g} ms (input to the animation frame that shows it)",
                 "frame_p95_ms": "p95 ≤ {goal:g} ms (input to that frame)", "decoded_median_ms": "median ≤ {goal:g} ms (decoded)", "decoded_p95_ms": "p95 ≤ {goal:g} ms (decoded)"}
        lines += ["", "Goals for the in-browser path: " + ", ".join(
            f"{names.get(key, key).format(goal=g['goal'])} {'✔' if g['met'] else '✘'} ({g['measured']:.1f})" for key, g in result["goals"].items()) + "."]
    machine = (f"{m['cpu']}, {m['cores']} cores, Chromium {m['chromium']}, Gradio {m['gradio']}, onnxruntime-web {m.get('onnxruntime_web', '?')}, "
               f"torch {m['torch']}, Python {m['python']}")
    return "\n".join(lines) + "\n" + provenance({**result, "machine": machine})


def scaling(result: dict) -> str:
    """benchmarks/scaling.py: images/s on 1, 2, ... processes and the scaling efficiency."""
    extra = f", `{result['train_args']}`" if result.get("train_args") else ""
    lines = [f"### Training on several processes ({result['dataset']}, {result['device']}{extra})", "",
             "| processes | scaling | global batch | per process | threads each | images/s (median) | windows min-max | efficiency |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in result["runs"]:
        lines.append(f"| {r['processes']} | {r['mode']} | {r['global_batch']} | {r['batch_per_process']} | {r['threads_per_process']} | "
                     f"{r['images_per_sec']:.0f} | {r['min']:.0f}-{r['max']:.0f} | {r['efficiency']:.2f} |")  # fmt: skip
    lines.append("\nEfficiency = images/s on N processes / (N x images/s on one). weak: the same batch per process "
                 "(the global batch grows with N); strong: the same global batch, split.")  # fmt: skip
    return "\n".join(lines) + "\n" + provenance(result)


def gpu_check(folder: Path) -> str:
    """benchmarks/gpu_check.sh's results (``folder``/summary.json and one file per step) as tables."""

    def load(name: str) -> dict | None:
        path = folder / f"{name}.json"
        return json.loads(path.read_text()) if path.exists() else None

    summary = load("summary")
    out = [f"### GPU check ({summary['device']}): steps and goals", "", f"Data: {summary['data']}. {summary['seconds']} s in all.", "",
           "| step | status | seconds | budget |", "|---|---|---|---|"]  # fmt: skip
    out += [f"| {s['step']} | {s['status']} | {s['seconds']} | {s['budget_seconds']} |" for s in summary["steps"]]
    if summary["goals"]:
        out += ["", "Goals: " + "; ".join(f"{g['goal']}: **{g['measured']}** {'✔' if g['met'] else '✘'}" for g in summary["goals"].values()) + "."]
    out.append(provenance(summary))
    tests = load("tests")
    if tests:
        passed = tests["tests"] - tests["failures"] - tests["errors"] - tests["skipped"]
        failed = f" Failed: {', '.join(tests['failed'])}." if tests["failed"] else ""
        out.append(f"Tests on {tests['device']} ({' '.join(tests['files'])}): {passed} passed, {tests['failures'] + tests['errors']} failed, "
                   f"{tests['skipped']} skipped in {tests['seconds']:.0f} s.{failed}\n")  # fmt: skip
    throughput_result = load("train_throughput")
    if throughput_result:
        out.append(throughput(throughput_result))
    compiled = {variant: load(f"compile_{variant}") for variant in ("off", "on")}
    if any(compiled.values()):
        baseline = throughput_result["baselines"][0]["images_per_sec"] if throughput_result else None
        rows = ["### Ours at width 64 with and without torch.compile (one process)", "",
                "| ours | images/s (median) | windows min-max | ours / baseline |", "|---|---|---|---|"]  # fmt: skip
        for variant, result in compiled.items():
            if result:
                run = result["runs"][0]
                ratio = f"{run['images_per_sec'] / baseline:.2f}" if baseline else "-"
                rows.append(f"| {'torch.compile' if variant == 'on' else 'no compile'} | {run['images_per_sec']:.0f} | {run['min']:.0f}-{run['max']:.0f} | {ratio} |")
        out.append("\n".join(rows) + "\n" + provenance(next(r for r in compiled.values() if r)))
    epoch = load("epoch")
    if epoch:
        rows = [f"### Fashion-MNIST epoch time ({epoch['device']}; {epoch['data']})", "",
                "| ours | G/D width | batch | epochs 1, 2, 3 (s) | steady epoch | images/s |", "|---|---|---|---|---|---|"]  # fmt: skip
        for v in epoch["variants"].values():
            rate = f"{v['images_per_epoch'] / v['steady_epoch_seconds']:.0f}" if v.get("images_per_epoch") and v["steady_epoch_seconds"] > 0 else "-"
            rows.append(f"| {'torch.compile' if v['compile'] else 'no compile'} | {v['g_features']}/{v['d_features']} | {v['batch_size']} | "
                        f"{', '.join(f'{t:.2f}' for t in v['epoch_seconds'])} | {v['steady_epoch_seconds']:.2f} s | {rate} |")  # fmt: skip
        rows.append("\nEpoch 1 includes the warm-up (CUDA context, cuDNN autotuning, compilation); each later epoch includes the "
                    "previous one's timeline grid and checkpoint. Steady epoch: the fastest of epochs 2 and 3.")  # fmt: skip
        out.append("\n".join(rows) + "\n")
    quality = load("quality_at_budget")
    if quality:
        out.append(budget(quality))
    scaled = load("scaling")
    if scaled:
        out.append(scaling(scaled))
    return "\n".join(out)


RENDERERS = {"scaling": scaling, "train_throughput": throughput, "quality_at_budget": budget, "generation_latency": latency, "quality_curve": curve, "ema_vs_raw": ema, "browser_latency": browser_latency}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--gpu-check"] and len(args) == 2:
        print(gpu_check(Path(args[1])))
        return 0
    if args:
        print("usage: python benchmarks/report.py [--gpu-check FOLDER]", file=sys.stderr)
        return 2
    for path in sorted(RESULTS.glob("*.json")):
        result = json.loads(path.read_text())
        renderer = evaluated if "generated" in result else RENDERERS.get(result.get("benchmark"))
        if renderer is not None:
            print(renderer(result))
    if (RESULTS / "gpu" / "summary.json").exists():
        print(gpu_check(RESULTS / "gpu"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
