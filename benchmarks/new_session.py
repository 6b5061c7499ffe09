"""What a new visitor's first request costs against a known visitor's, with the app's lazy session state and with
Gradio's own (which makes every component's configuration for each new session), in one run.

    python benchmarks/new_session.py [--model weights/mnist] [--requests 200]

Serves the app in this process (one torch thread, as the app runs) and sends the Explore picture's drag-path server
function (``drag_explore``, a ~1 KB PNG back) one request at a time: ``--requests`` with one session hash, then as
many each with a new session hash; then the same with Gradio's SessionState put back. Prints medians and p95 and
writes benchmarks/results/new_session.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import urllib.request
import uuid

import torch
from common import ROOT, header, percentile, write_result

sys.path.insert(0, str(ROOT))


def timed(url: str, component: int, session: str) -> float:
    body = {"session_hash": session, "component_id": component, "fn_name": "drag_explore", "data": ["mnist", 3, 1.0, 1.5, 0, 0, 0, 0, 0, 0, 0, None]}
    request = urllib.request.Request(url + "gradio_api/component_server/", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        answer = json.loads(response.read())
    assert "src" in answer, answer
    return (time.perf_counter() - start) * 1000


def series(url: str, component: int, requests: int) -> dict:
    known = uuid.uuid4().hex
    timed(url, component, known)  # the known session exists from here on
    same = [timed(url, component, known) for _ in range(requests)]
    new = [timed(url, component, uuid.uuid4().hex) for _ in range(requests)]
    return {name: {"median_ms": round(statistics.median(v), 2), "p95_ms": round(percentile(v, 95), 2)} for name, v in (("known", same), ("new", new))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=[], help="model folder (repeatable; default every shipped one)")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--out", help="result JSON (default benchmarks/results/new_session.json)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    import gradio.state_holder

    original = gradio.state_holder.SessionState
    import app
    from gan_core.explorer import Explorer, sources_from

    explorer = Explorer.from_sources(sources_from(args.model, None, ROOT / "weights"))
    demo = app.build_demo(explorer, first=app.first_state(explorer))
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **app.LAUNCH_OPTIONS)
    try:
        with urllib.request.urlopen(demo.local_url + "config", timeout=30) as response:
            config = json.loads(response.read())
        component = next(c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == "picture")
        ours = series(demo.local_url, component, args.requests)
        gradio.state_holder.SessionState = original  # Gradio's own, for the baseline in the same run
        theirs = series(demo.local_url, component, args.requests)
    finally:
        demo.close()
    result = header("new_session", "new_session.py", argv) | {"components": len(demo.blocks), "lazy": ours, "gradio": theirs}
    result["new_over_known"] = {"lazy": round(ours["new"]["median_ms"] / ours["known"]["median_ms"], 2), "gradio": round(theirs["new"]["median_ms"] / theirs["known"]["median_ms"], 2)}
    for name, values in (("lazy session state (ours)", ours), ("Gradio's session state", theirs)):
        print(f"{name:28s} known session {values['known']['median_ms']:6.2f} ms median ({values['known']['p95_ms']:.2f} p95)   "
              f"new session {values['new']['median_ms']:6.2f} ms median ({values['new']['p95_ms']:.2f} p95)")  # fmt: skip
    print(f"new / known: {result['new_over_known']['lazy']}x with ours, {result['new_over_known']['gradio']}x with Gradio's")
    print(f"wrote {write_result(result, args.out, 'new_session.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
