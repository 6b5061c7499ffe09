"""A visitor's first (and second) visit to the explorer: bytes on the wire, time to the first picture and to the first
frame drawn in the page, at localhost speed and over an emulated 10 Mbit/s link with 40 ms latency.

    python benchmarks/first_visit.py [--model weights/mnist ...] [--runs 5] [--json benchmarks/results/first_visit.json]

``python app.py`` (every ``--model``, default the app's own: every weights/*/ folder; the page opens on MNIST) is
started with ``tests/app_fixtures.AppServer``, and measured once it serves the runtime brotli-compressed (made in the
background in its first seconds, as for any visitor of a running server). For each network profile, ``--runs`` first visits, each in a fresh
browser context (empty cache) of Debian's Chromium driven by Playwright, the link emulated with the Chrome DevTools
Protocol (``Network.emulateNetworkConditions``: download and upload throughput, latency added to every request):

* **bytes**: Chromium's encoded byte count of every response (``Network.loadingFinished.encodedDataLength``: headers
  and body as they came over the wire, compressed where the server compressed), by kind: Gradio's page, the engine
  (in_browser.mjs, gan_web.js), the runtime (onnxruntime-web), the models' ONNX files (and which models);
* **first picture**: the server's picture in the page (its <img> has a src), ms after navigation started;
* **ready**: the status line says in-browser drawing is on;
* **first frame in the page**: from ready on, the real mouse moves a direction slider every 30 ms until a frame is
  drawn in the page (the badge says "drawn in your browser"); ms after navigation started.

Then a **returning visitor**: a browser profile on disk opens the page twice; the second visit's bytes and times
(what it fetches again; a content-hashed file comes from the browser's cache). Medians over the runs are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from browser_latency import CHROMIUM_ARGS, LOAD_PROBE_JS, STATUS, VIEWPORT, machine, wait_for_brotli
from common import ROOT

sys.path.insert(0, str(ROOT / "tests"))

from app_fixtures import AppServer

PROFILES = {
    "localhost": None,
    "10 Mbit/s, 40 ms": {"offline": False, "latency": 40, "downloadThroughput": 10e6 / 8, "uploadThroughput": 10e6 / 8},
}
GOALS = {"bytes": 6e6, "first_browser_frame_ms_10mbit": 6000}
OUT, SLIDER = "#picture", "#direction-1"


def kind_of(url: str) -> str:
    """What a response of the visit is, for the byte count."""
    path = url.split("?")[0]
    if "/engine/" in path and ("/ort" in path):
        return "runtime"
    if "/engine/" in path:
        return "engine"
    if path.endswith(".onnx"):
        return "models"
    return "page"  # Gradio's page, scripts, styles, fonts and API calls


class Wire:
    """Every response of a page as Chromium counted it on the wire (CDP Network events)."""

    def __init__(self):
        self.urls: dict[str, str] = {}
        self.cached: set[str] = set()
        self.bytes: dict[str, float] = {}

    async def attach(self, cdp, conditions: dict | None) -> None:
        cdp.on("Network.responseReceived", lambda e: self.urls.__setitem__(e["requestId"], e["response"]["url"]))
        cdp.on("Network.requestServedFromCache", lambda e: self.cached.add(e["requestId"]))
        cdp.on("Network.loadingFinished", lambda e: self.bytes.__setitem__(e["requestId"], e["encodedDataLength"]))
        await cdp.send("Network.enable")
        if conditions is not None:
            await cdp.send("Network.emulateNetworkConditions", conditions)

    def record(self) -> dict:
        by_kind: dict[str, float] = {}
        models = set()
        large = []
        for request, size in self.bytes.items():
            url = self.urls.get(request, "")
            if not url.startswith("http"):
                continue
            kind = kind_of(url)
            by_kind[kind] = by_kind.get(kind, 0) + size
            if kind == "models":
                models.add(url.split("/models/", 1)[1].split("/", 1)[0])
            if size > 100_000:
                large.append(url.rsplit("/", 1)[1])
        return {"bytes": sum(by_kind.values()), "bytes_by_kind": dict(sorted(by_kind.items())), "responses": len(self.bytes),
                "models_fetched": sorted(models), "large_responses": sorted(large)}


async def first_frame(page, timeout_s: float = 60) -> None:
    """Wait for the status line to say ready, then move a slider every 30 ms until a frame is drawn in the page."""
    await page.wait_for_function("(s) => { const l = document.querySelector(s); return l && ['ready', 'failed'].includes(l.dataset.state); }",
                                 arg=STATUS, timeout=timeout_s * 1000, polling="raf")
    if await page.eval_on_selector(STATUS, "line => line.dataset.state") != "ready":
        raise RuntimeError(f"the page says {await page.inner_text(STATUS)!r}")
    box = await page.locator(f"{SLIDER} input[type=range]").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    await page.mouse.move(x, y)
    await page.mouse.down()
    deadline, step = time.perf_counter() + timeout_s, 0
    while await page.evaluate("(o) => document.querySelector(o + ' .gan-path').dataset.path", OUT) != "browser":
        if time.perf_counter() > deadline:
            raise RuntimeError("no frame was drawn in the page")
        step += 1
        await page.mouse.move(x + 4 * (step % 10), y)
        await page.wait_for_timeout(30)
    await page.mouse.up()


async def visit(context, url: str, conditions: dict | None) -> dict:
    page = await context.new_page()
    wire = Wire()
    await wire.attach(await context.new_cdp_session(page), conditions)
    await page.goto(url, timeout=120_000)
    await page.wait_for_selector(f"{OUT} img", timeout=120_000)
    await first_frame(page)
    await page.wait_for_timeout(1000)  # anything still on its way is counted too
    load = await page.evaluate("() => window.__load")
    await page.close()
    return {"first_picture_ms": load["firstPicture"], "ready_ms": load["states"].get("ready"), "first_browser_frame_ms": load["firstBrowserFrame"], **wire.record()}


def probe() -> str:
    return LOAD_PROBE_JS.replace("__OUT__", json.dumps(OUT)).replace("__STATUS__", json.dumps(STATUS))


async def run(args, report: dict) -> None:
    from playwright.async_api import async_playwright

    with tempfile.TemporaryDirectory() as logs:
        server = AppServer([Path(m) for m in args.model], timeout=180.0, log_dir=Path(logs))
        try:
            wait_for_brotli(server.url)
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
                report["machine"]["chromium"] = browser.version
                for name, conditions in PROFILES.items():
                    visits = []
                    for _ in range(args.runs):
                        context = await browser.new_context(viewport=VIEWPORT)
                        await context.add_init_script(probe())
                        visits.append(await visit(context, server.url, conditions))
                        await context.close()
                    with tempfile.TemporaryDirectory() as profile:
                        context = await playwright.chromium.launch_persistent_context(profile, executable_path=args.chromium, args=CHROMIUM_ARGS, viewport=VIEWPORT)
                        await context.add_init_script(probe())
                        await visit(context, server.url, conditions)
                        again = await visit(context, server.url, conditions)
                        await context.close()
                    report["results"][name] = {"visits": visits, "median": medians(visits), "returning": again}
                    print(f"{name}: {json.dumps(report['results'][name]['median'])}; returning: {json.dumps(again)}", file=sys.stderr)
                await browser.close()
        finally:
            server.stop()


def medians(visits: list[dict]) -> dict:
    keys = ("bytes", "first_picture_ms", "ready_ms", "first_browser_frame_ms")
    out = {key: statistics.median(v[key] for v in visits) for key in keys}
    kinds = {kind for v in visits for kind in v["bytes_by_kind"]}
    out["bytes_by_kind"] = {kind: statistics.median(v["bytes_by_kind"].get(kind, 0) for v in visits) for kind in sorted(kinds)}
    out["models_fetched"] = sorted({m for v in visits for m in v["models_fetched"]})
    out["range_first_browser_frame_ms"] = [min(v["first_browser_frame_ms"] for v in visits), max(v["first_browser_frame_ms"] for v in visits)]
    return out


def render(report: dict) -> str:
    mb = lambda n: f"{n / 1e6:.2f} MB"  # noqa: E731
    lines = ["### First visit: bytes on the wire and time to the first frame drawn in the page", "",
             f"Median of {report['runs']} first visits (fresh browser context) per link, then one returning visitor (browser profile on disk).", "",
             "| link | visit | bytes on the wire | of which runtime / models / engine / page | first picture | in-browser drawing ready | first frame drawn in the page |",
             "|---|---|---|---|---|---|---|"]
    for name, result in report["results"].items():
        for label, r in (("first (median)", result["median"]), ("returning", result["returning"])):
            k = r["bytes_by_kind"]
            parts = " / ".join(mb(k.get(kind, 0)) for kind in ("runtime", "models", "engine", "page"))
            lines.append(f"| {name} | {label} | {mb(r['bytes'])} | {parts} | {r['first_picture_ms'] / 1000:.2f} s | {r['ready_ms'] / 1000:.2f} s | "
                         f"{r['first_browser_frame_ms'] / 1000:.2f} s |")
    slow = report["results"]["10 Mbit/s, 40 ms"]
    lines += ["", f"Models fetched on a first visit: {', '.join(slow['median']['models_fetched'])}. First frame over 10 Mbit/s, range of the runs: "
              f"{slow['median']['range_first_browser_frame_ms'][0] / 1000:.2f}-{slow['median']['range_first_browser_frame_ms'][1] / 1000:.2f} s. "
              f"Returning visitor's responses over 100 KB: {', '.join(slow['returning']['large_responses']) or 'none'}."]
    goals = report["goals"]
    lines += ["", "Goals: " + ", ".join(f"{key} {'✔' if g['met'] else '✘'} ({g['measured']:,.0f} against {g['goal']:,.0f})" for key, g in goals.items()) + "."]
    m = report["machine"]
    lines += ["", f"Machine: {m['cpu']}, {m['cores']} cores, Chromium {m['chromium']}, Gradio {m['gradio']}; load average "
              f"{m['load_average_before']:.1f} before, {m['load_average_after']:.1f} after (other work on the machine). Date: {report['date']}. Command:",
              "```", report["command"], "```"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=[], help="model folder or Hub repo id (repeatable; default: the app's own)")
    parser.add_argument("--runs", type=int, default=5, help="first visits per link (default 5)")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    report = {
        "benchmark": "first_visit",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python benchmarks/first_visit.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine(),
        "runs": args.runs,
        "results": {},
    }
    report["machine"]["load_average_before"] = os.getloadavg()[0]
    asyncio.run(run(args, report))
    report["machine"]["load_average_after"] = os.getloadavg()[0]
    slow = report["results"]["10 Mbit/s, 40 ms"]["median"]
    first_bytes = max(r["median"]["bytes"] for r in report["results"].values())
    report["goals"] = {
        "first visit ≤ 6 MB": {"goal": GOALS["bytes"], "measured": first_bytes, "met": first_bytes <= GOALS["bytes"]},
        "first in-browser frame ≤ 6 s at 10 Mbit/s (ms)": {"goal": GOALS["first_browser_frame_ms_10mbit"], "measured": slow["first_browser_frame_ms"],
                                                           "met": slow["first_browser_frame_ms"] <= GOALS["first_browser_frame_ms_10mbit"]},
    }
    print(render(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
