"""The "Watch it train" run: how soon its grid shows digits, and what a run costs the explorer's visitors.

1. Time to digits: a LiveRun with the app's config (gan_core.live.run.LiveConfig) on ONE CPU thread; after
   each snapshot the grid's 64 pictures go through the MNIST evaluation classifier (weights/classifiers/mnist,
   not timed). Recognisable = at least half the pictures classified with confidence >= 0.8 and at least 8
   distinct classes among them. Median over --repeats seeds.
2. Explorer latency with and without a run: ``python app.py`` with the shipped models; /explore called through
   gradio_client (the server path) --calls times, alone, then while another session's /live_train trains.

    flock /tmp/cpu_bench.lock python benchmarks/live_training.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time

import common  # noqa: F401 - puts the repository on sys.path
import torch
from common import ROOT, header, write_result

from gan_core.evaluation.classifier import load_classifier, predict
from gan_core.live.run import LiveConfig, LiveRun, load_subset

sys.path.insert(0, str(ROOT / "tests"))
from app_fixtures import AppServer

CONFIDENT, HALF, CLASSES = 0.8, 0.5, 8


def recognisable(classifier, pictures) -> tuple[bool, float, int]:
    """(criterion met, share of pictures classified with confidence >= 0.8, distinct classes among those)."""
    _, probs = predict(classifier, torch.from_numpy(pictures).unsqueeze(1))
    confidence, label = probs.max(-1)
    sure = confidence >= CONFIDENT
    share, classes = sure.float().mean().item(), len(set(label[sure].tolist()))
    return share >= HALF and classes >= CLASSES, share, classes


def time_to_digits(seed: int, limit: float, classifier) -> dict:
    data = load_subset(ROOT / "weights" / "live" / "mnist-4096")
    with tempfile.TemporaryDirectory() as folder:
        run = LiveRun(data, folder, LiveConfig(seed=seed, max_seconds=limit))
        start, judged = time.perf_counter(), 0.0
        for snapshot in run.snapshots():
            seen = time.perf_counter() - start - judged  # what the visitor waited: training and snapshots, not our judging
            t0 = time.perf_counter()
            ok, share, classes = recognisable(classifier, run.pictures())
            judged += time.perf_counter() - t0
            if ok:
                run.stop()
                return {"seed": seed, "seconds": round(seen, 2), "step": snapshot.step, "confident": round(share, 3), "classes": classes}
    return {"seed": seed, "seconds": None, "step": run.step, "confident": round(share, 3), "classes": classes}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def explore_latency(calls: int) -> dict:
    from gradio_client import Client

    def timed(client: Client) -> list[float]:
        times = []
        for i in range(calls):
            t0 = time.perf_counter()
            client.predict("mnist", i, 1.0, 1.5, 0, 0, 0, 0, 0, 0, 0, None, api_name="/explore")
            times.append((time.perf_counter() - t0) * 1000)
        return times

    server = AppServer([ROOT / "weights" / "fashion-mnist", ROOT / "weights" / "mnist"], log_dir=tempfile.mkdtemp())
    try:
        visitor = Client(server.url, verbose=False)
        timed(visitor)  # warm-up
        alone = timed(visitor)
        trainer = Client(server.url, verbose=False)
        job = trainer.submit(0, api_name="/live_train")
        while job.status().code.name != "ITERATING":  # training has started
            time.sleep(0.2)
        during = timed(visitor)
        steps = job.outputs()[-1][3] if job.outputs() else ""
        trainer.predict(api_name="/live_stop")
        job.result(timeout=60)
    finally:
        server.stop()

    def summary(times):
        return {"median_ms": round(statistics.median(times), 1), "p95_ms": round(percentile(times, 0.95), 1), "calls": len(times)}

    return {"alone": summary(alone), "while_training": summary(during), "run_status_when_measured": steps.split("\n")[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="seeds 0..N-1 for the time to digits")
    parser.add_argument("--limit", type=float, default=120.0, help="seconds a run may take to show digits")
    parser.add_argument("--calls", type=int, default=100, help="/explore calls per latency measurement")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # what the app gives a run: one thread
    classifier = load_classifier(ROOT / "weights" / "classifiers" / "mnist")
    result = header("live_training", "live_training.py", argv) | {"config": vars(LiveConfig()), "threads": torch.get_num_threads()}
    runs = []
    for seed in range(args.repeats):
        runs.append(time_to_digits(seed, args.limit, classifier))
        print(f"seed {seed}: {runs[-1]}", flush=True)
    reached = [r["seconds"] for r in runs if r["seconds"] is not None]
    result["time_to_digits"] = {"runs": runs, "median_seconds": round(statistics.median(reached), 2) if len(reached) == len(runs) else None}
    print(f"time to recognisable digits, median of {len(runs)}: {result['time_to_digits']['median_seconds']} s (goal < 60 s)")
    if not args.skip_latency:
        result["explore_latency"] = explore_latency(args.calls)
        latency = result["explore_latency"]
        print(f"/explore alone: median {latency['alone']['median_ms']} ms, p95 {latency['alone']['p95_ms']} ms")
        print(
            f"/explore while a run trains: median {latency['while_training']['median_ms']} ms, p95 {latency['while_training']['p95_ms']} ms"
        )
    path = write_result(result, args.out, "live_training.json")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
