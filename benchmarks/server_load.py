"""The app's server under load, hostile input and many sessions (issue: "Hold up under load").

    python benchmarks/server_load.py --model weights/fashion-mnist --model weights/mnist

Starts ``python app.py`` (tests/app_fixtures.AppServer) and measures, client threads on the same machine:

1. **Load**: ``--clients`` concurrent clients x ``--requests`` requests each, on the live path (the
   Explore picture's server function, what a drag sends when the page cannot draw itself) and on
   ``/call/explore`` (the API): errors, p50/p95 latency, requests per second.
2. **Searches beside a visitor**: ``--searches`` concurrent /invert calls (each from its own address), and meanwhile
   one client's /call/explore requests one after another: their latency.
3. **Memory over many requests**: RSS before and after ``--more`` further live-path requests.
4. **Memory over many sessions**: RSS after ``--sessions`` distinct sessions (a new session hash each).
5. **Hostile input** (tests/hostile.py): every endpoint and live function with every hostile value:
   how many were answered, refused cleanly, refused as too large, and uncaught (goal 0); and the
   number of log lines and bytes they produced.
6. **Disk**: files left in Gradio's cache and in the GIF folder after 100 grids and 100 GIFs.

Writes benchmarks/results/server_load.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import numpy as np
from common import ROOT, header, percentile, write_result
from PIL import Image

sys.path.insert(0, str(ROOT / "tests"))
from app_fixtures import AppServer  # noqa: E402
from hostile import call, multipart, picture_component, post_raw, probe  # noqa: E402


def post(url: str, payload: dict, timeout: float = 60) -> dict:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def load(clients: int, requests: int, one_request) -> dict:
    """``clients`` threads each sending ``requests`` requests back to back: latencies, errors, throughput."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()

    def client(index: int) -> None:
        nonlocal errors
        for i in range(requests):
            start = time.perf_counter()
            try:
                ok = one_request(index, i)
            except Exception:  # noqa: BLE001 - any failure of a request counts as an error
                ok = False
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                errors += not ok

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    ms = [v * 1000 for v in latencies]
    return {
        "requests": len(ms), "errors": errors, "p50_ms": round(statistics.median(ms), 1), "p95_ms": round(percentile(ms, 0.95), 1),
        "max_ms": round(max(ms), 1), "requests_per_s": round(len(ms) / wall, 1),
    }


def upload(base: str, path: Path) -> dict:
    """``path`` uploaded to the app as the page uploads a picture: its FileData for an API call."""
    body, content_type = multipart({}, {"files": path.read_bytes()})
    status, answer = post_raw(f"{base}gradio_api/upload", body, content_type=content_type)
    assert status == 200, (status, answer[:200])
    return {"path": json.loads(answer)[0], "meta": {"_type": "gradio.FileData"}}


def explore_beside_searches(base: str, name: str, searches: int, lone: int = 60) -> dict:
    """``searches`` /invert calls at once, each from its own address (the per-address limit would refuse all but one of
    one client's), and meanwhile one client's /call/explore requests one after another: their latency."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "stroke.png"
        Image.fromarray(np.tril(np.full((28, 28), 255, np.uint8))).save(path)  # a light triangle on black
        picture = upload(base, path)
    outcomes: list[bool] = []
    def search(k: int) -> None:  # from its own address, as a Space's proxy reports it; queued searches wait minutes
        outcomes.append(call(base, "invert", [name, picture, 300], headers={"X-Forwarded-For": f"11.0.{k}.1"}, timeout=600) == "ok")

    threads = [threading.Thread(target=search, args=(k,)) for k in range(searches)]
    for thread in threads:
        thread.start()
    time.sleep(2.0)  # the searches have started and the rest wait in the queue
    latencies = []
    for i in range(lone):
        start = time.perf_counter()
        assert call(base, "explore", [name, i, 1.0, 0.5, *[0.0] * 7]) == "ok"
        latencies.append((time.perf_counter() - start) * 1000)
    searching = sum(thread.is_alive() for thread in threads)
    for thread in threads:
        thread.join()
    return {"searches": searches, "answered_searches": sum(outcomes), "searches_still_running_after": searching, "explore_requests": lone,
            "p50_ms": round(statistics.median(latencies), 1), "p95_ms": round(percentile(latencies, 0.95), 1)}  # fmt: skip


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MiB, from /proc/PID/status (VmRSS, in kB)."""
    line = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", help="model folder (repeatable; default the shipped ones)")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=100, help="requests per client")
    parser.add_argument("--searches", type=int, default=30, help="concurrent /invert calls beside the lone /explore requests")
    parser.add_argument("--more", type=int, default=10_000, help="further live requests for the memory check")
    parser.add_argument("--sessions", type=int, default=10_000, help="distinct sessions for the session-memory check")
    parser.add_argument("--out", help="result JSON (default benchmarks/results/server_load.json)")
    args = parser.parse_args(argv)
    models = [Path(m) for m in (args.model or [ROOT / "weights" / "fashion-mnist", ROOT / "weights" / "mnist"])]
    name = models[0].name
    result = header("server_load", "server_load.py", argv)

    with tempfile.TemporaryDirectory() as logs:
        server = AppServer(models, timeout=180.0, log_dir=Path(logs))
        try:
            base, pid = server.url, server.process.pid
            component = picture_component(base)
            session = uuid.uuid4().hex

            def live_request(client: int, i: int) -> bool:
                amounts = [((client * 31 + i * 7) % 160 - 80) / 10] + [0.0] * 7
                body = {"session_hash": f"{session}-{client}", "component_id": component, "fn_name": "drag_explore", "data": [name, client, 1.0, *amounts]}
                return "src" in post(f"{base}gradio_api/component_server/", body)

            def api_request(client: int, i: int) -> bool:
                return call(base, "explore", [name, client * 1000 + i, 1.0, 0.5, *[0.0] * 7]) == "ok"

            load(4, 10, live_request)  # warm up
            result["live_path"] = load(args.clients, args.requests, live_request)
            print("live path:", result["live_path"])
            result["call_explore"] = load(args.clients, args.requests, api_request)
            print("/call/explore:", result["call_explore"])

            result["explore_beside_searches"] = explore_beside_searches(base, name, args.searches)
            print("lone /call/explore beside searches:", result["explore_beside_searches"])

            before = rss_mb(pid)
            load(10, args.more // 10, live_request)
            result["memory_more_requests"] = {"requests": args.more, "rss_before_mb": round(before, 1), "rss_after_mb": round(rss_mb(pid), 1)}
            print("memory over further requests:", result["memory_more_requests"])

            before = rss_mb(pid)

            def new_session(client: int, i: int) -> bool:
                body = {"session_hash": uuid.uuid4().hex, "component_id": component, "fn_name": "web_seed", "data": [name, i]}
                return isinstance(post(f"{base}gradio_api/component_server/", body), list)

            sessions = load(10, args.sessions // 10, new_session)
            result["memory_sessions"] = {"sessions": args.sessions, "errors": sessions["errors"], "rss_before_mb": round(before, 1), "rss_after_mb": round(rss_mb(pid), 1)}
            print("memory over distinct sessions:", result["memory_sessions"])

            cache = Path(tempfile.gettempdir()) / "gradio"
            files_before = sum(1 for p in cache.rglob("*") if p.is_file()) if cache.is_dir() else 0
            gif_dir = Path(tempfile.gettempdir()) / f"gan-explorer-gifs-{pid}"
            for i in range(100):
                call(base, "grid", [name, i, 6])
                call(base, "gif", [name, f"{i}, {i + 1}", "slerp", 8, ""])
            files_after = sum(1 for p in cache.rglob("*") if p.is_file()) if cache.is_dir() else 0
            result["disk"] = {
                "grids_and_gifs": 100, "gradio_cache_files_added": files_after - files_before,
                "gif_folder_files": len(list(gif_dir.glob("*.gif"))) if gif_dir.is_dir() else 0,
                "note": "Gradio's cache is emptied of files older than 10 minutes every 5 minutes; the GIF folder of GIFs older than 2 minutes on each GIF",
            }
            print("disk:", result["disk"])

            log_before = len(server.log())
            served = [m.name for m in models]
            outcome = probe(base, models=(served[0], served[-1]))
            log = server.log()[log_before:]
            result["hostile"] = {
                "tried": sum(outcome.counts.values()), **dict(outcome.counts), "uncaught_examples": outcome.uncaught[:10],
                "log_lines": log.count("\n"), "log_bytes": len(log), "tracebacks_in_log": log.count("Traceback"), "server_alive": server.alive(),
            }
            print("hostile input:", result["hostile"])
        finally:
            server.stop()
    path = write_result(result, args.out, "server_load.json")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
