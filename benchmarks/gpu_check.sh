#!/usr/bin/env bash
# The GPU check: one script that, on one NVIDIA H100/H200 with no network, runs in at most 8 minutes and
# records what it measured as JSON that `python benchmarks/report.py` turns into BENCHMARKS.md tables.
#
#   DATA_DIR=data/fashion-mnist bash benchmarks/gpu_check.sh      # on the GPU machine (carry data/fashion-mnist)
#   GAN_CHECK_DEVICE=cpu bash benchmarks/gpu_check.sh             # the dry path, on a CPU (tiny budgets, ~2 min)
#
# Steps, each under `timeout` with its own budget; a step that fails or runs out of time is recorded and
# the next one runs:
#   env         python, torch, CUDA, the GPUs, the packages the project imports, where the data comes from
#   tests       the device-agnostic tests with GAN_TEST_DEVICE=cuda
#   throughput  ours (bf16 autocast, channels_last) vs the pytorch/examples loop at width 64 (train_throughput.py)
#   compile     ours at width 64 without and with torch.compile, one process each (scaling.py --processes 1)
#   epoch       wall time of Fashion-MNIST epochs at the default width, without and with torch.compile
#   quality     quality_at_budget.py after a fixed short budget each (needs the real data and the eval classifier)
#   scaling     torchrun over every GPU (scaling.py; only with more than one GPU)
# Results: benchmarks/results/gpu/<step>.json, steps.tsv and summary.json (with the goals: ours >= 3x the
# baseline's images/s on one H100, a Fashion-MNIST epoch <= 2 s); the dry path writes benchmarks/results/gpu_dry/.
# `python benchmarks/report.py` renders gpu/ (and `--gpu-check FOLDER` any such folder). Under the device
# tool ($OUT set) the summary, the log and a tarball of the folder are copied to $OUT.
#
# Nothing is installed: the project runs from this checkout (PYTHONPATH), with the machine's own torch.
# Data: DATA_DIR (a folder holding Fashion-MNIST's IDX files, e.g. the data/fashion-mnist that
# `python scripts/get_data.py fashion-mnist --dest data` makes); else data/fashion-mnist, else Debian's
# /usr/share/datasets/fashion-mnist; else a stand-in of Fashion-MNIST's size (random pixels: right for
# timings, meaningless for quality, so the quality step is skipped) and the JSON says so.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY="${PYTHON:-python3}"
DEVICE="${GAN_CHECK_DEVICE:-cuda}"
# The dry path writes beside, not over, a GPU's results: benchmarks/report.py renders benchmarks/results/gpu/.
if [ "$DEVICE" = "cpu" ]; then RESULTS="$ROOT/benchmarks/results/gpu_dry"; else RESULTS="$ROOT/benchmarks/results/gpu"; fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$RESULTS"
rm -f "$RESULTS"/*.json "$RESULTS"/*.png "$RESULTS/steps.tsv"
LOG="$RESULTS/gpu_check.log"
exec > >(tee "$LOG") 2>&1
START=$(date +%s)
TOTAL_S="${TOTAL_S:-480}"  # the whole check, steps and summary

if [ "$DEVICE" = "cpu" ]; then  # the dry path: the same steps at toy sizes, to catch the script's own bugs
    TESTS_S=60 THROUGHPUT_S=75 COMPILE_S=60 EPOCH_S=60 QUALITY_S=75 SCALING_S=70
    TESTS="tests/test_models.py"
    WINDOW=2 WARMUP=1 WINDOWS=2 BASELINE_WORKERS=0
    EPOCH_ARGS="--dataset synthetic --image-size 28 --g-features 4 --d-features 4 --batch-size 64"
    COMPILE_VARIANTS="off"  # inductor's C++ build on a small CPU takes minutes
    QUALITY_ARGS="--minutes 0.05 --num 500"
    SCALING_ARGS="--processes 1 2 --window 2 --warmup 1 --windows 1"
else
    TESTS_S=75 THROUGHPUT_S=80 COMPILE_S=100 EPOCH_S=80 QUALITY_S=110 SCALING_S=90
    TESTS="tests/test_models.py tests/test_training.py tests/test_pipeline.py tests/test_hub.py tests/test_distributed.py"
    WINDOW=50 WARMUP=2 WINDOWS=6 BASELINE_WORKERS=2
    EPOCH_ARGS=""
    COMPILE_VARIANTS="off on"
    QUALITY_ARGS="--minutes 0.5 --num 5000"
    SCALING_ARGS="--window 50 --warmup 2 --windows 4"
fi

echo "== gpu_check on $DEVICE: $(date -u '+%Y-%m-%d %H:%M UTC'), budget ${TOTAL_S}s"
"$PY" -c "import torch; print(torch.__version__, torch.cuda.is_available())"

# ---------------------------------------------------------------------------------------------- the data
DATA_NOTE="Fashion-MNIST"
if [ -z "${DATA_DIR:-}" ]; then
    for candidate in data/fashion-mnist /usr/share/datasets/fashion-mnist; do
        if [ -e "$candidate/train-images-idx3-ubyte.gz" ] || [ -e "$candidate/train-images-idx3-ubyte" ]; then DATA_DIR="$candidate"; break; fi
    done
fi
if [ -z "${DATA_DIR:-}" ] || ! { [ -e "$DATA_DIR/train-images-idx3-ubyte.gz" ] || [ -e "$DATA_DIR/train-images-idx3-ubyte" ] \
        || [ -e "$DATA_DIR/fashion-mnist/train-images-idx3-ubyte.gz" ]; }; then
    echo "no Fashion-MNIST files found (DATA_DIR=${DATA_DIR:-unset}): timing on a stand-in of its size (random pixels)"
    DATA_DIR="$WORK/standin"
    DATA_NOTE="stand-in: 60,000 + 10,000 random 28x28 images (Fashion-MNIST's size); timings hold, quality is not measured"
    "$PY" - "$DATA_DIR" <<'EOF'
import sys
from pathlib import Path
import numpy as np
from gan_core.core.data import write_idx
folder, rng = Path(sys.argv[1]), np.random.default_rng(0)
folder.mkdir(parents=True)
for split, n in (("train", 60_000), ("t10k", 10_000)):
    write_idx(folder / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
    write_idx(folder / f"{split}-labels-idx1-ubyte.gz", rng.integers(0, 10, n, dtype=np.uint8))
EOF
fi
DATA_DIR="$(cd "$DATA_DIR" && pwd)"
export DATA_DIR DATA_NOTE DEVICE RESULTS WORK PY WINDOW WARMUP WINDOWS BASELINE_WORKERS TESTS EPOCH_ARGS COMPILE_VARIANTS QUALITY_ARGS SCALING_ARGS

# ---------------------------------------------------------------------------------------------- the steps
step_env() {
    "$PY" - <<'EOF'
import importlib.util, json, os, platform, sys
import torch
gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
packages = {}
for name in ("numpy", "PIL", "safetensors", "huggingface_hub", "tqdm", "matplotlib", "pytest", "torchmetrics", "onnx", "onnxscript"):
    spec = importlib.util.find_spec(name)
    version = None
    if spec is not None:
        try:
            version = getattr(__import__(name), "__version__", "present")
        except Exception as err:  # present but broken
            version = f"import fails: {err}"
    packages[name] = version
try:
    import gan_core.train  # noqa: F401
    gan_core_ok = True
except Exception as err:
    gan_core_ok = f"import fails: {err}"
result = {"benchmark": "gpu_check_env", "python": sys.version.split()[0], "torch": torch.__version__, "cuda": torch.version.cuda,
          "cuda_available": torch.cuda.is_available(), "gpus": gpus, "cpu_count": os.cpu_count(), "platform": platform.platform(),
          "packages": packages, "gan_core_imports": gan_core_ok, "device": os.environ["DEVICE"],
          "data_dir": os.environ["DATA_DIR"], "data": os.environ["DATA_NOTE"]}
json.dump(result, open(os.path.join(os.environ["RESULTS"], "env.json"), "w"), indent=2)
print(json.dumps(result, indent=2))
missing = [n for n, v in packages.items() if v is None and n not in ("onnx", "onnxscript", "torchmetrics")]
if missing or gan_core_ok is not True or (os.environ["DEVICE"] == "cuda" and not torch.cuda.is_available()):
    sys.exit(f"not ready: missing {missing}, gan_core {gan_core_ok}, CUDA {torch.cuda.is_available()}")
EOF
}

step_tests() {
    # shellcheck disable=SC2086  # TESTS is a list of paths
    GAN_TEST_DEVICE="$DEVICE" "$PY" -m pytest -q -p no:cacheprovider -m "not slow and not browser" $TESTS --junitxml="$WORK/tests.xml" || status=$?
    "$PY" - <<'EOF'
import json, os
import xml.etree.ElementTree as ET
root = ET.parse(os.path.join(os.environ["WORK"], "tests.xml")).getroot()
suite = root if root.tag == "testsuite" else root.find("testsuite")
failed = [f"{case.get('classname')}.{case.get('name')}" for case in suite.iter("testcase") if case.find("failure") is not None or case.find("error") is not None]
result = {"benchmark": "gpu_check_tests", "device": os.environ["DEVICE"], "files": os.environ["TESTS"].split(),
          "tests": int(suite.get("tests")), "failures": int(suite.get("failures")), "errors": int(suite.get("errors")),
          "skipped": int(suite.get("skipped")), "seconds": float(suite.get("time")), "failed": failed}
json.dump(result, open(os.path.join(os.environ["RESULTS"], "tests.json"), "w"), indent=2)
print(json.dumps(result))
EOF
    return "${status:-0}"
}

step_throughput() {
    "$PY" benchmarks/train_throughput.py --device "$DEVICE" --dataset fashion-mnist --data-dir "$DATA_DIR" --window "$WINDOW" \
        --warmup "$WARMUP" --windows "$WINDOWS" --baseline-workers "$BASELINE_WORKERS" --out "$RESULTS/train_throughput.json"
}

step_compile() {
    for variant in $COMPILE_VARIANTS; do
        flags="--g-features 64 --d-features 64"
        [ "$variant" = "on" ] && flags="$flags --compile"
        "$PY" benchmarks/scaling.py --device "$DEVICE" --processes 1 --dataset fashion-mnist --data-dir "$DATA_DIR" --window "$WINDOW" \
            --warmup "$WARMUP" --windows "$WINDOWS" --train-args="$flags" --out "$RESULTS/compile_$variant.json"
    done
}

step_epoch() {
    for variant in $COMPILE_VARIANTS; do
        flags=""
        [ "$variant" = "on" ] && flags="--compile"
        # shellcheck disable=SC2086  # word-split flags on purpose
        "$PY" -m gan_core.train --dataset fashion-mnist --data-dir "$DATA_DIR" --epochs 3 --device "$DEVICE" --no-onnx --no-progress \
            --log-every 1000000 --out-dir "$WORK/epoch_$variant" $EPOCH_ARGS $flags
        "$PY" - "$WORK/epoch_$variant" "$variant" <<'EOF'
import json, os, sys
from pathlib import Path
out, variant = Path(sys.argv[1]), sys.argv[2]
records = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines() if line.strip()]
ends = [r for r in records if float(r["epoch"]).is_integer()]
times = [ends[0]["elapsed_sec"]] + [b["elapsed_sec"] - a["elapsed_sec"] for a, b in zip(ends, ends[1:])]
run = json.loads((out / "generator" / "run.json").read_text())
path = Path(os.environ["RESULTS"]) / "epoch.json"
data = "the dry path's synthetic set" if "synthetic" in os.environ["EPOCH_ARGS"] else os.environ["DATA_NOTE"]
result = json.loads(path.read_text()) if path.exists() else {"benchmark": "gpu_check_epoch", "device": os.environ["DEVICE"], "data": data, "variants": {}}
result["variants"][variant] = {
    "compile": variant == "on", "epoch_seconds": [round(t, 2) for t in times],
    # epoch 1 includes the warm-up (CUDA context, cuDNN autotuning, compilation); later ones include the previous epoch's timeline and checkpoint
    "steady_epoch_seconds": round(min(times[1:] or times), 2), "images_per_epoch": run.get("num_images"),
    "steps_per_epoch": int(ends[0]["step"]), "batch_size": run["training"]["optim"]["batch_size"],
    "g_features": run["training"]["model"]["g_features"], "d_features": run["training"]["model"]["d_features"],
}
path.write_text(json.dumps(result, indent=2))
print(json.dumps(result["variants"][variant]))
EOF
    done
}

step_quality() {
    if [[ "$DATA_NOTE" == stand-in* ]]; then
        echo "no real Fashion-MNIST here: quality is not measured"
        return 3
    fi
    # A scratch copy: quality_at_budget.py writes its sample grids beside the repository's own results.
    scratch="$WORK/quality_repo"
    mkdir -p "$scratch/benchmarks" "$scratch/weights/classifiers"
    cp -r gan_core "$scratch/"
    cp benchmarks/*.py "$scratch/benchmarks/"
    cp -r weights/classifiers/fashion-mnist "$scratch/weights/classifiers/"
    # shellcheck disable=SC2086  # word-split QUALITY_ARGS on purpose
    (cd "$scratch" && PYTHONPATH="$scratch" "$PY" benchmarks/quality_at_budget.py --dataset fashion-mnist --data-dir "$DATA_DIR" \
        --device "$DEVICE" $QUALITY_ARGS --out "$RESULTS/quality_at_budget.json")
    "$PY" - "$scratch" <<'EOF'
import json, os, shutil, sys
from pathlib import Path
scratch, results = Path(sys.argv[1]), Path(os.environ["RESULTS"])
path = results / "quality_at_budget.json"
result = json.loads(path.read_text())
for key, grid in result["grids"].items():
    shutil.copy(scratch / grid, results / f"quality_{key}.png")
    result["grids"][key] = f"benchmarks/results/gpu/quality_{key}.png"
path.write_text(json.dumps(result, indent=2))
EOF
}

step_scaling() {
    gpus=$("$PY" -c "import torch; print(torch.cuda.device_count())")
    if [ "$DEVICE" != "cpu" ] && [ "$gpus" -lt 2 ]; then
        echo "one GPU: no multi-GPU scaling to measure"
        return 3
    fi
    # shellcheck disable=SC2086  # word-split SCALING_ARGS on purpose
    "$PY" benchmarks/scaling.py --device "$DEVICE" --dataset fashion-mnist --data-dir "$DATA_DIR" $SCALING_ARGS --out "$RESULTS/scaling.json"
}
export -f step_env step_tests step_throughput step_compile step_epoch step_quality step_scaling

run_step() {  # NAME BUDGET_S: run step_NAME under timeout; record ok / failed / timeout / skipped and its seconds
    local name=$1 budget=$2 left status=0 began
    left=$((TOTAL_S - 15 - ($(date +%s) - START)))  # 15 s kept for the summary
    if [ "$left" -lt 10 ]; then
        printf '%s\tskipped\t\t0\t%s\n' "$name" "$budget" >>"$RESULTS/steps.tsv"
        echo "== $name: skipped, the check's ${TOTAL_S}s are spent"
        return 0
    fi
    [ "$budget" -gt "$left" ] && budget=$left
    echo "== $name (at most ${budget}s)"
    began=$(date +%s)
    # timeout leads its own process group: what a timed-out step leaves running (a trainer finishing its
    # step after SIGTERM) is ended before the next step starts.
    timeout "$budget" bash -c "set -euo pipefail; step_$name" &
    local group=$!
    wait "$group" || status=$?
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        kill -0 -- "-$group" 2>/dev/null || break
        sleep 1
    done
    kill -KILL -- "-$group" 2>/dev/null || true
    local took=$(($(date +%s) - began)) verdict=ok
    case $status in
        0) verdict=ok ;;
        3) verdict=skipped ;;
        124 | 137) verdict=timeout ;;
        *) verdict=failed ;;
    esac
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$verdict" "$status" "$took" "$budget" >>"$RESULTS/steps.tsv"
    echo "== $name: $verdict (exit $status) in ${took}s"
}

run_step env 30
run_step tests "$TESTS_S"
run_step throughput "$THROUGHPUT_S"
run_step compile "$COMPILE_S"
run_step epoch "$EPOCH_S"
run_step quality "$QUALITY_S"
run_step scaling "$SCALING_S"

# ---------------------------------------------------------------------------------------------- the summary
TOTAL_TOOK=$(($(date +%s) - START)) "$PY" - <<'EOF'
import datetime, json, os
from pathlib import Path
results = Path(os.environ["RESULTS"])

def load(name):
    path = results / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None

steps = []
for line in (results / "steps.tsv").read_text().splitlines():
    name, verdict, code, took, budget = line.split("\t")
    steps.append({"step": name, "status": verdict, "exit_code": int(code) if code else None, "seconds": int(took), "budget_seconds": int(budget)})
env, throughput, epoch = load("env"), load("train_throughput"), load("epoch")
compiled = {v: load(f"compile_{v}") for v in ("off", "on")}
ours = {v: r["runs"][0]["images_per_sec"] for v, r in compiled.items() if r}
if throughput:
    ours.setdefault("train_throughput", throughput["ours"]["images_per_sec"])
baseline = next((b["images_per_sec"] for b in throughput["baselines"] if b["workers"] == 2), throughput["baselines"][0]["images_per_sec"]) if throughput else None
goals = {}
if baseline and ours:
    best = max(ours, key=ours.get)
    ratio = ours[best] / baseline
    goals["ours_vs_baseline"] = {"goal": ">= 3x the baseline's images/s (width 64, one GPU)", "measured": round(ratio, 2), "met": ratio >= 3,
                                 "ours_images_per_sec": ours[best], "ours_variant": {"off": "no compile", "on": "torch.compile"}.get(best, best),
                                 "baseline_images_per_sec": round(baseline, 1)}
if epoch:
    best = min(epoch["variants"].values(), key=lambda v: v["steady_epoch_seconds"])
    goals["fashion_mnist_epoch"] = {"goal": "<= 2 s per epoch (default width, batch 128)", "measured": best["steady_epoch_seconds"],
                                    "met": best["steady_epoch_seconds"] <= 2, "compile": best["compile"], "data": epoch["data"]}
summary = {
    "benchmark": "gpu_check", "device": os.environ["DEVICE"],
    "machine": f"{', '.join(env['gpus']) or 'no GPU'}, {env['cpu_count']} CPUs, torch {env['torch']} (CUDA {env['cuda']}), Python {env['python']}" if env else "unknown",
    "command": f"{'GAN_CHECK_DEVICE=cpu ' if os.environ['DEVICE'] == 'cpu' else ''}DATA_DIR={os.environ['DATA_DIR']} bash benchmarks/gpu_check.sh",
    "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    "data": os.environ["DATA_NOTE"], "seconds": int(os.environ["TOTAL_TOOK"]), "steps": steps, "goals": goals,
}
(results / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
print("== summary")
for s in steps:
    print(f"  {s['step']:11s} {s['status']:8s} {s['seconds']:4d}s of {s['budget_seconds']}s")
for name, g in goals.items():
    print(f"  GOAL {g['goal']}: {g['measured']} -> {'MET' if g['met'] else 'NOT MET'}")
print(f"  {summary['seconds']}s in all; results in {results}")
EOF

if [ -n "${OUT:-}" ] && [ -d "${OUT:-}" ]; then
    cp "$RESULTS/summary.json" "$OUT/"
    tar -czf "$OUT/gpu_results.tar.gz" -C "$ROOT/benchmarks/results" "$(basename "$RESULTS")"
    cp "$LOG" "$OUT/gpu_check.log" || true
fi
