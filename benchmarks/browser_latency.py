"""Slider-to-picture latency of the explorer in a real headless Chromium, against plain Gradio.

    flock /tmp/cpu_bench.lock python benchmarks/browser_latency.py \\
        --model weights/fashion-mnist --model weights/mnist [--moves 60] [--json out.json]

Starts three servers in the same run: the explorer (``app.py`` with every --model, so its RSS is
the app with all of them loaded), the plain Gradio baseline (``baseline_slider_app.py``: slider
``.input`` -> ``gr.Image`` with Gradio's defaults) and the same baseline with the explorer's event
settings (``--tuned``). For each it measures, in Debian's Chromium driven by Playwright:

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
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, name: str, args: list[str], port: int, env: dict | None = None):
        self.name, self.port = name, port
        self.url = f"http://127.0.0.1:{port}/"
        self.process = subprocess.Popen([sys.executable, *args], cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{name} exited: {self.process.stderr.read().decode()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + "gradio_api/info", timeout=2):
                    return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"{name} did not start")

    def memory_mb(self) -> dict[str, float]:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        values = {line.split(":")[0]: int(line.split()[1]) for line in status.splitlines() if line.startswith(("VmRSS", "VmHWM"))}
        return {"rss_mb": values["VmRSS"] / 1024, "peak_rss_mb": values["VmHWM"] / 1024}

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


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
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), platform.processor())
    import gradio
    import torch

    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "gradio": gradio.__version__, "torch": torch.__version__}


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

    models = [item for spec in args.model for item in ("--model", spec)]
    targets = [
        ("explorer (app.py)", ["app.py", *models], {}, "#direction-1", "#picture"),
        ("plain Gradio: slider.input -> gr.Image, defaults", ["benchmarks/baseline_slider_app.py", "--model", args.model[0]], {}, "#slider", "#out"),
        ("plain Gradio, explorer's event settings", ["benchmarks/baseline_slider_app.py", "--model", args.model[0], "--tuned"], {}, "#slider", "#out"),
    ]
    report = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "command": "python benchmarks/browser_latency.py " + " ".join(sys.argv[1:] if argv is None else argv), "machine": machine(), "results": {}}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        report["machine"]["chromium"] = browser.version
        for name, server_args, env, slider, out in targets:
            port = free_port()
            if server_args[0] == "app.py":
                env = {"GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port)}
            else:
                server_args = [*server_args, "--port", str(port)]
            server = Server(name, server_args, port, env)
            try:
                result = measure(browser, server.url, slider, out, args.moves, args.drag_seconds, args.seed)
                result.update(server.memory_mb())
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
