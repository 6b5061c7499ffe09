"""The app's server under load, hostile input and many sessions (issue: "Hold up under load").

    python benchmarks/server_load.py --model weights/fashion-mnist --model weights/mnist

Starts ``python app.py`` (tests/app_fixtures.AppServer) and measures, client threads on the same machine:

1. **Load**: ``--clients`` concurrent clients x ``--requests`` requests each, on the live path (the
   Explore picture's server function, what a drag sends when the page cannot draw itself) and on
   ``/explore`` (the API), through Gradio's queue and event stream (``/call/explore``, Gradio's curl recipe;
   gradio_client joins the same queue) and as one direct POST (``/run/explore``: the endpoint is unqueued): errors,
   p50/p95 latency, requests per second. Each client keeps its connection alive between requests, as a browser and
   gradio_client do.
2. **Searches beside a visitor**: ``--searches`` concurrent /invert calls (each from its own address), and meanwhile
   one client's /call/explore requests one after another: their latency.
3. **Memory over many requests**: RSS before and after ``--more`` further live-path requests.
4. **Memory over many sessions**: RSS after ``--sessions`` distinct sessions (a new session hash each).
5. **Hostile input** (tests/hostile.py): every endpoint and live function with every hostile value:
   how many were answered, refused cleanly, refused as too large, and uncaught (goal 0); and the
   number of log lines and bytes they produced.
6. **Disk**: files left in Gradio's cache and in the GIF folder after 100 grids and 100 GIFs.

Writes benchmarks/results/server_load.json (``--only-load``: part 1 only, to server_load_requests.json, a quick
before/after of the request path: run it in a worktree of the older commit with this file copied in).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import numpy as np
from common import ROOT, header, percentile, write_result
from PIL import Image

sys.path.insert(0, str(ROOT / "tests"))
from app_fixtures import AppServer  # noqa: E402

sys.path.insert(0, str(ROOT))
from ui import engine  # noqa: E402
from hostile import call, multipart, picture_component, post_raw, probe  # noqa: E402


def brotli_ready(base: str, timeout: float = 60) -> float:
    """Wait until the app serves the runtime's .wasm as brotli (made once in the background at start, ~5 s of one core,
    which would otherwise land in the first measurement): the seconds waited."""
    runtime = engine.FILES.engine_config()["runtime"]
    url = next(f["url"] for name, f in runtime["files"].items() if name.endswith(".wasm"))
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        request = urllib.request.Request(f"{base}{url}", headers={"Accept-Encoding": "br"}, method="HEAD")
        with urllib.request.urlopen(request, timeout=10) as response:
            if response.headers.get("Content-Encoding") == "br":
                break
        time.sleep(0.5)
    return time.perf_counter() - start


class KeptAlive:
    """One client's HTTP/1.1 connection to the app, kept alive between its requests as a browser's or gradio_client's is."""

    def __init__(self, base: str):
        url = urllib.parse.urlsplit(base)
        self.prefix = url.path.rstrip("/")
        self.connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60)

    def request(self, method: str, path: str, payload=None) -> bytes:
        """The body of a 200 answer to ``method`` on ``path`` (relative to the app) with JSON ``payload``; else raise."""
        body = None if payload is None else json.dumps(payload).encode()
        self.connection.request(method, f"{self.prefix}/{path}", body=body, headers={"Content-Type": "application/json"} if body else {})
        response = self.connection.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {data[:200]!r}")
        return data

    def call(self, endpoint: str, args: list) -> bool:
        """One /call/<endpoint> request and its event stream: whether it completed."""
        event = json.loads(self.request("POST", f"gradio_api/call/{endpoint}", {"data": args}))["event_id"]
        return b"event: complete" in self.request("GET", f"gradio_api/call/{endpoint}/{event}")

    def close(self) -> None:
        self.connection.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(clients: int, requests: int, one_request, base: str, server_pid: int | None = None) -> dict:
    """``clients`` threads, each with its kept-alive connection to ``base``, sending ``requests`` requests back to back
    (``one_request(connection, client, i)``): latencies, errors, throughput, and with ``server_pid`` the server's CPU
    time per request (the cost behind the throughput, steadier than latency on a shared machine)."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()

    def client(index: int) -> None:
        nonlocal errors
        connection = KeptAlive(base)
        for i in range(requests):
            start = time.perf_counter()
            try:
                ok = one_request(connection, index, i)
            except Exception:  # noqa: BLE001 - any failure of a request counts as an error
                ok = False
                connection.close()  # the next request opens a new connection
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                errors += not ok
        connection.close()

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    cpu_before = cpu_seconds(server_pid) if server_pid else 0.0
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    ms = [v * 1000 for v in latencies]
    cpu = {"server_cpu_ms_per_request": round((cpu_seconds(server_pid) - cpu_before) * 1000 / len(ms), 2)} if server_pid else {}
    return {
        "requests": len(ms), "errors": errors, "p50_ms": round(statistics.median(ms), 1), "p95_ms": round(percentile(ms, 0.95), 1),
        "max_ms": round(max(ms), 1), "requests_per_s": round(len(ms) / wall, 1), **cpu,
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


def requests_of(component: int, name: str) -> tuple:
    """The three ways of asking model ``name`` for an Explore picture, as ``load`` sends them: the page's drag path (the
    picture's server function ``component``; one session per client), /call/explore and /run/explore."""
    session = uuid.uuid4().hex

    def live_request(connection: KeptAlive, client: int, i: int) -> bool:
        amounts = [((client * 31 + i * 7) % 160 - 80) / 10] + [0.0] * 7
        body = {"session_hash": f"{session}-{client}", "component_id": component, "fn_name": "drag_explore", "data": [name, client, 1.0, *amounts]}
        return "src" in json.loads(connection.request("POST", "gradio_api/component_server/", body))

    def state(client: int, i: int) -> list:  # /explore's inputs: a new seed for each request
        return [name, client * 1000 + i, 1.0, 0.5, *[0.0] * 7]

    def api_request(connection: KeptAlive, client: int, i: int) -> bool:
        return connection.call("explore", state(client, i))

    def direct_request(connection: KeptAlive, client: int, i: int) -> bool:
        return "src" in json.loads(connection.request("POST", "gradio_api/run/explore", {"data": state(client, i)}))["data"][0]

    return live_request, api_request, direct_request


def rest(args, result: dict, server: AppServer, models: list[Path], name: str, component: int, live_request) -> None:
    """Parts 2-6 (searches beside a visitor, memory, disk, hostile input), into ``result``."""
    base, pid = server.url, server.process.pid
    result["explore_beside_searches"] = explore_beside_searches(base, name, args.searches)
    print("lone /call/explore beside searches:", result["explore_beside_searches"])

    before = rss_mb(pid)
    load(10, args.more // 10, live_request, base)
    result["memory_more_requests"] = {"requests": args.more, "rss_before_mb": round(before, 1), "rss_after_mb": round(rss_mb(pid), 1)}
    print("memory over further requests:", result["memory_more_requests"])

    before = rss_mb(pid)

    def new_session(connection: KeptAlive, client: int, i: int) -> bool:
        body = {"session_hash": uuid.uuid4().hex, "component_id": component, "fn_name": "web_seed", "data": [name, i]}
        return isinstance(json.loads(connection.request("POST", "gradio_api/component_server/", body)), list)

    sessions = load(10, args.sessions // 10, new_session, base)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", help="model folder (repeatable; default the shipped ones)")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=100, help="requests per client")
    parser.add_argument("--searches", type=int, default=30, help="concurrent /invert calls beside the lone /explore requests")
    parser.add_argument("--more", type=int, default=10_000, help="further live requests for the memory check")
    parser.add_argument("--sessions", type=int, default=10_000, help="distinct sessions for the session-memory check")
    parser.add_argument("--only-load", action="store_true", help="measure the load (part 1) only: a quick before/after of the request path")
    parser.add_argument("--out", help="result JSON (default benchmarks/results/server_load.json; server_load_requests.json with --only-load)")
    args = parser.parse_args(argv)
    models = [Path(m) for m in (args.model or [ROOT / "weights" / "fashion-mnist", ROOT / "weights" / "mnist"])]
    name = models[0].name
    result = header("server_load", "server_load.py", argv)

    with tempfile.TemporaryDirectory() as logs:
        server = AppServer(models, timeout=180.0, log_dir=Path(logs))
        try:
            base, pid = server.url, server.process.pid
            component = picture_component(base)
            live_request, api_request, direct_request = requests_of(component, name)

            brotli_ready(base)
            load(4, 10, live_request, base)  # warm up
            result["live_path"] = load(args.clients, args.requests, live_request, base, pid)
            print("live path:", result["live_path"])
            result["call_explore"] = load(args.clients, args.requests, api_request, base, pid)
            print("/call/explore:", result["call_explore"])
            result["run_explore"] = load(args.clients, args.requests, direct_request, base, pid)
            print("/run/explore:", result["run_explore"])
            if not args.only_load:
                rest(args, result, server, models, name, component, live_request)
        finally:
            server.stop()
    path = write_result(result, args.out, "server_load_requests.json" if args.only_load else "server_load.json")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
