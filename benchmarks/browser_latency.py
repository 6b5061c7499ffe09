"""Slider-to-picture latency of the explorer in a real headless Chromium, against plain Gradio.

    flock /tmp/cpu_bench.lock python benchmarks/browser_latency.py \\
        --model weights/fashion-mnist --model weights/mnist [--moves 60] [--json out.json]

Starts three servers in the same run, each with ``tests/app_fixtures.AppServer``: the explorer
(``app.py`` with every --model, so its RSS is the app with all of them loaded), the plain Gradio
baseline (``baseline_slider_app.py``: slider ``.input`` -> ``gr.Image`` with Gradio's defaults) and
the same baseline with the explorer's event settings (``--tuned``). For each it measures, in Debian's Chromium driven by Playwright:

* latency: ``--moves`` slider moves (after 5 warm-up moves), each an ``input`` event on the range
  element; the clock runs from just before the event to the new <img> being decoded ("decoded") and
  to the next animation frame after that, when it is on screen ("shown");
* a continuous drag: the real mouse presses the slider and sweeps it back and forth at 60 moves per
  second for ``--drag-seconds``; we count the distinct pictures decoded during the drag;
* the explorer's resident memory (VmRSS, and the peak VmHWM) after all of that.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from common import ROOT, cpu_name

# The project's one start-and-wait loop of an app server lives with the app's tests.
sys.path.insert(0, str(ROOT / "tests"))

from app_fixtures import AppServer

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]

# In-page probes: how long from an input event to the next picture being decoded / shown, and a
# counter of distinct pictures decoded during a drag. They watch the <img> inside the output element.
PROBE_JS = r"""
window.__bench = {
  srcOf(out) { const img = out.querySelector('img'); return img ? img.src : null; },
  async decoded(img) {
    if (!img.complete) await new Promise(r => img.addEventListener('load', r, {once: true}));
    try { await img.decode(); } catch (e) {}
  },
  measure(sliderSel, outSel, value) {
    return new Promise((resolve) => {
      const range = document.querySelector(sliderSel + ' input[type=range]');
      const out = document.querySelector(outSel);
      const oldSrc = this.srcOf(out);
      let done = false;
      const check = async () => {
        const img = out.querySelector('img');
        if (done || !img || !img.src || img.src === oldSrc) return;
        done = true; observer.disconnect();
        await this.decoded(img);
        const decoded = performance.now() - t0;
        requestAnimationFrame(() => resolve({decoded, shown: performance.now() - t0}));
      };
      const observer = new MutationObserver(check);
      observer.observe(out, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
      const setValue = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set;
      const t0 = performance.now();
      setValue.call(range, String(value));
      range.dispatchEvent(new Event('input', {bubbles: true}));
      setTimeout(() => { if (!done) { done = true; observer.disconnect(); resolve({decoded: null, shown: null}); } }, 5000);
    });
  },
  startCounting(outSel) {
    const out = document.querySelector(outSel);
    const seen = new Set([this.srcOf(out)]);
    this.frames = [];
    this.counter = new MutationObserver(async () => {
      const img = out.querySelector('img');
      if (!img || !img.src || seen.has(img.src)) return;
      seen.add(img.src);
      await this.decoded(img);
      this.frames.push(performance.now());
    });
    this.counter.observe(out, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
  },
  stopCounting() { this.counter.disconnect(); const end = performance.now(); return this.frames.filter(t => t <= end).length; },
};
"""


def memory_mb(pid: int) -> dict[str, float]:
    """Resident memory of a process now (VmRSS) and at its peak (VmHWM), in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    values = {line.split(":")[0]: int(line.split()[1]) for line in status.splitlines() if line.startswith(("VmRSS", "VmHWM"))}
    return {"rss_mb": values["VmRSS"] / 1024, "peak_rss_mb": values["VmHWM"] / 1024}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def measure(browser, url: str, slider: str, out: str, moves: int, drag_seconds: float, seed: int) -> dict:
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(url)
    page.wait_for_selector(f"{slider} input[type=range]")
    page.wait_for_selector(f"{out} img")
    page.wait_for_load_state("networkidle")
    page.evaluate(PROBE_JS)
    rng = random.Random(seed)
    values, last = [], 0.0
    while len(values) < moves + 5:  # distinct, well-separated values so every move changes the picture
        value = round(rng.uniform(-6, 6), 2)
        if abs(value - last) > 0.5:
            values.append(value)
            last = value
    results = []
    for value in values:
        results.append(page.evaluate("([s, o, v]) => window.__bench.measure(s, o, v)", [slider, out, value]))
        page.wait_for_timeout(40)
    results = results[5:]
    timeouts = sum(r["shown"] is None for r in results)
    decoded = [r["decoded"] for r in results if r["decoded"] is not None]
    shown = [r["shown"] for r in results if r["shown"] is not None]

    box = page.locator(f"{slider} input[type=range]").bounding_box()
    y = box["y"] + box["height"] / 2
    left, right = box["x"] + 0.1 * box["width"], box["x"] + 0.9 * box["width"]
    page.mouse.move((left + right) / 2, y)
    page.mouse.down()
    page.evaluate("([o]) => window.__bench.startCounting(o)", [out])
    start, sent = time.perf_counter(), 0
    while (elapsed := time.perf_counter() - start) < drag_seconds:
        phase = 0.5 + 0.5 * math.sin(2 * math.pi * elapsed / drag_seconds)  # one full sweep back and forth
        page.mouse.move(left + (right - left) * phase, y)
        sent += 1
        time.sleep(max(0.0, sent / 60 - (time.perf_counter() - start)))
    frames = page.evaluate("() => window.__bench.stopCounting()")
    elapsed = time.perf_counter() - start
    page.mouse.up()
    page.close()
    return {
        "moves": len(results),
        "timeouts": timeouts,
        "decoded_median_ms": statistics.median(decoded),
        "decoded_p95_ms": percentile(decoded, 0.95),
        "shown_median_ms": statistics.median(shown),
        "shown_p95_ms": percentile(shown, 0.95),
        "drag_seconds": elapsed,
        "drag_moves_sent": sent,
        "drag_frames_shown": frames,
        "drag_fps": frames / elapsed,
    }


def machine() -> dict:
    import gradio
    import torch

    return {"cpu": cpu_name(), "cores": os.cpu_count(), "python": platform.python_version(), "gradio": gradio.__version__, "torch": torch.__version__}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True, help="model folder or Hub repo id (repeatable); the first also drives the baselines")
    parser.add_argument("--moves", type=int, default=60, help="measured slider moves per app (default 60)")
    parser.add_argument("--drag-seconds", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0, help="seed of the slider values")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    if args.moves < 50:
        parser.error("--moves must be at least 50 for a meaningful p95")

    from playwright.sync_api import sync_playwright

    baseline = ROOT / "benchmarks" / "baseline_slider_app.py"
    targets = [  # (name, AppServer arguments, slider selector, picture selector)
        ("explorer (app.py)", {"models": args.model}, "#direction-1", "#picture"),
        ("plain Gradio: slider.input -> gr.Image, defaults", {"models": args.model[:1], "script": baseline}, "#slider", "#out"),
        ("plain Gradio, explorer's event settings", {"models": args.model[:1], "script": baseline, "extra_args": ("--tuned",)}, "#slider", "#out"),
    ]
    report = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "command": "python benchmarks/browser_latency.py " + " ".join(sys.argv[1:] if argv is None else argv), "machine": machine(), "results": {}}
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as logs:
        browser = playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        report["machine"]["chromium"] = browser.version
        for name, server_args, slider, out in targets:
            server = AppServer(**server_args, timeout=180.0, log_dir=Path(logs))
            try:
                result = measure(browser, server.url, slider, out, args.moves, args.drag_seconds, args.seed)
                result.update(memory_mb(server.process.pid))
            finally:
                server.stop()
            report["results"][name] = result
            print(f"{name}: {json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in result.items()})}", file=sys.stderr)
        browser.close()

    print(f"Browser latency, {report['date']}, {report['machine']['cpu']} ({report['machine']['cores']} cores), Chromium {report['machine']['chromium']}, "
          f"Gradio {report['machine']['gradio']}, torch {report['machine']['torch']}\n`{report['command']}`\n")
    print("| app | shown median (ms) | shown p95 (ms) | decoded median (ms) | decoded p95 (ms) | pictures shown in a 2 s drag (fps) | RSS (MB) |")
    print("|---|---|---|---|---|---|---|")
    for name, r in report["results"].items():
        print(f"| {name} | {r['shown_median_ms']:.1f} | {r['shown_p95_ms']:.1f} | {r['decoded_median_ms']:.1f} | {r['decoded_p95_ms']:.1f} | "
              f"{r['drag_frames_shown']} of {r['drag_moves_sent']} moves ({r['drag_fps']:.0f} fps) | {r['rss_mb']:.0f} (peak {r['peak_rss_mb']:.0f}) |")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
