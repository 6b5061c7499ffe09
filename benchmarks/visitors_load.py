"""Many visitors dragging sliders at once: the server's work when the page draws the frames itself,
against the server path.

    flock /tmp/cpu_bench.lock python benchmarks/visitors_load.py \\
        --model weights/fashion-mnist --model weights/mnist [--visitors 20] [--drag-seconds 5] \\
        [--json benchmarks/results/visitors_load.json]

One explorer process (``app.py`` with every --model, started with ``tests/app_fixtures.AppServer``)
serves both paths, one after the other:

* **in the browser**: ``--visitors`` pages opened as a visitor opens the explorer; each waits until
  its status line says ready and it has drawn one frame itself;
* **server path**: as many pages opened with ``?render=server``.

The visitors are one headless Chromium with one browser context per visitor (separate caches and
renderer processes), driven by Playwright. Once every page is ready, all of them hold their first
direction slider and sweep it back and forth for ``--drag-seconds`` at the same time, each sending
``--drag-rate`` mouse moves per second. Measured:

* the app process's CPU seconds (user + system, all threads, /proc/PID/stat) during the drag, during
  the drag plus one second after it (work still queued when the mice stop), and during as long a
  window with the same pages open and nobody dragging;
* the POSTs the pages send during the drag (Playwright's request events): the requests the server
  has to answer;
* per page: pictures shown per second (animation frames whose picture changed) and the path that
  drew them;
* the whole machine's busy CPU seconds over the same window (/proc/stat): on a small machine the
  browser that simulates the visitors competes with the server for the same cores, so the frame
  rates here are those of N visitors sharing this machine's cores, not of N separate computers.
  Once the pages are open the browser and its driver are reniced (``--browser-nice``, default 10)
  so the server gets a core when it has work, as it would if the visitors had their own computers.
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

from browser_latency import (
    CHROMIUM_ARGS,
    PROBE_JS,
    AppServer,
    drag,
    first_browser_frame,
    machine,
    memory_mb,
    new_context,
    open_page,
    press,
    runtime_version,
    slider_geometry,
    targets,
)
from common import RESULTS, machine_cpu_seconds, process_cpu_seconds, tree_cpu_seconds


def available_memory_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def open_visitor(browser, url: str, target, gate: asyncio.Semaphore) -> dict:
    """One visitor: its own context and page, ready to drag, the mouse already down on the slider."""
    async with gate:  # a few pages load at a time: 20 loading at once on 2 cores only time out
        context = await new_context(browser, target)
        page, network = await open_page(context, url, target, timeout_ms=300_000)
        if target.path == "browser":
            await first_browser_frame(page, target)  # the runtime, the model and the seed's z are all in the page
        else:
            await press(page, target)
        await page.evaluate(PROBE_JS)
        await page.evaluate("([s, o]) => window.__bench.install(s, o)", [target.slider, target.out])
        return {"context": context, "page": page, "network": network}


def descendants(root: int) -> list[int]:
    """The live processes below ``root`` (not root itself)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            children.setdefault(int(stat.read_text().rsplit(")", 1)[1].split()[1]), []).append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def renice_browser(server_pid: int, nice: int) -> int:
    """Lower the priority of every thread of the browser and its driver (this script's process tree
    but the app server and this script), so the server gets a core when it has work, as it would if
    the visitors had their own computers. Answers how many processes were reniced."""
    count = 0
    for pid in descendants(os.getpid()):
        if pid == server_pid:
            continue
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                os.setpriority(os.PRIO_PROCESS, int(task.name), nice)  # Linux: nice is per thread
            except (OSError, ValueError):
                continue
        count += 1
    return count


async def server_cpu(pid: int, seconds: float) -> float:
    """CPU seconds the process uses over the next ``seconds``."""
    before = process_cpu_seconds(pid)
    await asyncio.sleep(seconds)
    return process_cpu_seconds(pid) - before


async def measure_path(browser, server: AppServer, target, visitors: int, drag_seconds: float, drag_rate: float, concurrency: int, nice: int) -> dict:
    pid = server.process.pid
    gate = asyncio.Semaphore(concurrency)
    opened = time.perf_counter()
    pages = await asyncio.gather(*[open_visitor(browser, server.url, target, gate) for _ in range(visitors)])
    ready_seconds = time.perf_counter() - opened
    memory_low = available_memory_mb()
    visible = await asyncio.gather(*[v["page"].evaluate("() => document.visibilityState") for v in pages])
    reniced = renice_browser(pid, nice) if nice else 0
    await asyncio.sleep(3.0)  # the last pages' load events settle
    idle_cpu = await server_cpu(pid, drag_seconds)  # the same pages open, nobody dragging

    boxes = [await slider_geometry(v["page"], target.slider) for v in pages]

    await asyncio.gather(*[v["page"].evaluate("() => window.__bench.startCounting()") for v in pages])
    cpu_start, (busy_start, total_start), ours_start = process_cpu_seconds(pid), machine_cpu_seconds(), tree_cpu_seconds(os.getpid())
    start = time.perf_counter()
    sent = await asyncio.gather(*[drag(v["page"], *box, drag_seconds, drag_rate) for v, box in zip(pages, boxes)])
    end = time.perf_counter()
    cpu_drag, (busy_end, total_end), ours_end = process_cpu_seconds(pid) - cpu_start, machine_cpu_seconds(), tree_cpu_seconds(os.getpid())
    counted = await asyncio.gather(*[v["page"].evaluate("() => window.__bench.stopCounting()") for v in pages])
    await asyncio.sleep(1.0)  # requests still in flight or queued when the mice stopped
    cpu_tail = process_cpu_seconds(pid) - cpu_start
    elapsed = end - start
    idle_rate = idle_cpu / drag_seconds

    posts = [v["network"].count(start, end, method="POST") for v in pages]
    paths: dict[str, int] = {}
    for c in counted:
        for path, n in c["paths"].items():
            paths[path] = paths.get(path, 0) + n
    fps = [c["shown"] / elapsed for c in counted]
    for v in pages:
        await v["page"].mouse.up()
    await asyncio.gather(*[v["context"].close() for v in pages])
    cores = os.cpu_count()
    return {
        "path": target.path,
        "url": server.url + target.query,
        "visitors": visitors,
        "seconds_to_open_all": ready_seconds,
        "pages_visible": sum(state == "visible" for state in visible),
        "memory_available_mb_with_all_open": memory_low,
        "drag_seconds": elapsed,
        "drag_rate": drag_rate,
        "server_cpu_seconds_drag": cpu_drag,
        "server_cpu_seconds_drag_plus_1s": cpu_tail,
        "server_cpu_seconds_idle_same_length": idle_cpu,
        "server_cores_busy_during_drag": cpu_drag / elapsed,
        "browser_nice": nice,
        "browser_processes_reniced": reniced,
        "machine_cpu_seconds_busy_during_drag": busy_end - busy_start,
        "machine_cpu_seconds_available_during_drag": total_end - total_start,
        "machine_cores": cores,
        "other_cpu_seconds_during_drag": (busy_end - busy_start) - (ours_end - ours_start),  # work outside this benchmark's processes
        "posts_during_drag": sum(posts),
        "requests_during_drag": sum(v["network"].count(start, end) for v in pages),
        "posts_per_second": sum(posts) / elapsed,
        "posts_per_page": posts,
        # what one POST costs the server: the drag (+1 s) minus the idle rate over the same time, per POST
        "server_cpu_ms_per_post": 1000 * (cpu_tail - idle_rate * (elapsed + 1.0)) / sum(posts) if sum(posts) else None,
        "moves_sent_per_page": [s for s, _ in sent],
        "inputs_per_page": [c["inputs"] for c in counted],
        "fps_per_page": fps,
        "fps_median": statistics.median(fps),
        "fps_min": min(fps),
        "fps_max": max(fps),
        "frames_by_path": paths,
    }


async def run(args: argparse.Namespace, report: dict) -> None:
    from playwright.async_api import async_playwright

    with tempfile.TemporaryDirectory() as logs:
        server = AppServer(args.model, timeout=180.0, log_dir=Path(logs))
        try:
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
                report["machine"]["chromium"] = browser.version
                try:
                    for target in targets(args.model, tuned=False)[:2]:  # in the browser, then ?render=server
                        result = await measure_path(browser, server, target, args.visitors, args.drag_seconds, args.drag_rate, args.concurrency, args.browser_nice)
                        report["results"][target.name] = result
                        print(f"{target.name}: {json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in result.items() if not k.endswith('_per_page')})}", file=sys.stderr)
                finally:
                    await browser.close()
            report["server_memory"] = memory_mb(server.process.pid)
        finally:
            server.stop()


def per_post(result: dict) -> str:
    return "-" if result["server_cpu_ms_per_post"] is None else f"{result['server_cpu_ms_per_post']:.1f} ms"


def table(report: dict) -> str:
    lines = [f"| path ({report['visitors']} visitors dragging for {report['drag_seconds']:g} s) | app CPU s during the drag (+1 s after) | app CPU s, same pages idle | POSTs during the drag | app CPU per POST | pictures/s per page: median (min-max) | machine busy during the drag |",
             "|---|---|---|---|---|---|---|"]
    for name, r in report["results"].items():
        lines.append(f"| {name} | {r['server_cpu_seconds_drag']:.2f} ({r['server_cpu_seconds_drag_plus_1s']:.2f}) | {r['server_cpu_seconds_idle_same_length']:.2f} | "
                     f"{r['posts_during_drag']} ({r['posts_per_second']:.0f}/s) | {per_post(r)} | {r['fps_median']:.1f} ({r['fps_min']:.1f}-{r['fps_max']:.1f}) | "
                     f"{r['machine_cpu_seconds_busy_during_drag']:.1f} of {r['machine_cpu_seconds_available_during_drag']:.1f} CPU s |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True, help="model folder or Hub repo id (repeatable)")
    parser.add_argument("--visitors", type=int, default=20, help="pages dragging at once (default 20)")
    parser.add_argument("--drag-seconds", type=float, default=5.0)
    parser.add_argument("--drag-rate", type=float, default=60.0, help="mouse moves per second per visitor (default 60)")
    parser.add_argument("--concurrency", type=int, default=4, help="pages loading at the same time while the visitors arrive (default 4)")
    parser.add_argument("--browser-nice", type=int, default=10,
                        help="nice value for the browser and its driver once the pages are open, so the server is not starved by the simulated visitors (default 10; 0: equal priority)")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--json", default=str(RESULTS / "visitors_load.json"), help="default: benchmarks/results/visitors_load.json")
    args = parser.parse_args(argv)
    if args.visitors < 1:
        parser.error("--visitors must be at least 1")

    report = {
        "benchmark": "visitors_load",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python benchmarks/visitors_load.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine(),
        "visitors": args.visitors,
        "drag_seconds": args.drag_seconds,
        "note": (f"One machine with {os.cpu_count()} cores runs the app server, one headless Chromium with all {args.visitors} visitors' pages "
                 "and the Playwright driver: the browser competes with the server for the same cores, so the frame rates are those of "
                 f"{args.visitors} visitors sharing these cores, not of {args.visitors} computers"
                 + (f"; the browser and its driver run at nice {args.browser_nice} once the pages are open, so the server gets a core when it has work."
                    if args.browser_nice else ", and in the server path the server only gets the CPU the browser leaves it.")),
        "results": {},
    }
    report["machine"]["onnxruntime_web"] = runtime_version()
    asyncio.run(run(args, report))

    m = report["machine"]
    print(f"Visitors' load, {report['date']}, {m['cpu']} ({m['cores']} cores), Chromium {m['chromium']}, Gradio {m['gradio']}, "
          f"onnxruntime-web {m['onnxruntime_web']}\n`{report['command']}`\n")
    print(table(report))
    print(f"\n{report['note']}")
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
