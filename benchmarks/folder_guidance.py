"""How long to train on a folder of your own pictures: folders of a few sizes, trained as README.md says, scored as they go.

    nohup python benchmarks/folder_guidance.py --data-dir /usr/share/... --sizes 300 3000 30000 --minutes 1 2 4 8 16 &

For each size, writes that many Fashion-MNIST training pictures (a fixed random subset) as 32x32 PNG files into a
folder, then trains on it exactly as a user would, ``python -m gan_core.train --dataset folder:PATH`` with the defaults
and one thread, in pieces (``--max-minutes`` then ``--resume``) so that the exported generator can be scored after
each of the cumulative CPU minutes asked for. Each score is ``python -m gan_core.evaluate MODEL --num N``: a folder has
no labels, so FID, precision and recall are measured in the features of a fixed random CNN, against the folder's own
held-out 20% (the floor). Each point also leaves the sample grid the run wrote (``samples.png``), to look at.

Writes benchmarks/results/folder_guidance.json and the grids as folder_guidance_<size>_<minutes>min.png, and prints a
Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

from common import RESULTS, ROOT, header, write_result

from gan_core.core import images
from gan_core.core.data import load_dataset

IMAGE_SIZE = 32


def write_folder(source, size: int, folder: Path, seed: int) -> Path:
    """``size`` pictures of ``source`` (a fixed random subset), resized to 32x32, as PNG files in ``folder``."""
    import torch
    import torch.nn.functional as F

    if folder.exists() and len(list(folder.glob("*.png"))) == size:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rows = torch.randperm(len(source.images), generator=torch.Generator().manual_seed(seed))[:size]
    pictures = F.interpolate(source.images[rows].float(), size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", antialias=True, align_corners=False)
    pictures = pictures.round().clamp(0, 255).to(torch.uint8)  # the loader gives uint8 (B, C, H, W)
    for index, picture in enumerate(images.channels_last_numpy(pictures)):
        images.save_png(picture, folder / f"{index:05d}.png")
    return folder


def child_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(args: list[str]) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", help="folder holding Fashion-MNIST's IDX files")
    p.add_argument("--sizes", type=int, nargs="+", default=[300, 3000, 30000], help="pictures per folder")
    p.add_argument("--minutes", type=float, nargs="+", default=[1, 2, 4, 8, 16], help="cumulative training minutes to score at")
    p.add_argument("--num", type=int, default=2000, help="samples scored per point (capped by the folder's held-out part)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work-dir", default="runs/folder_guidance")
    p.add_argument("--out", help="result JSON (default benchmarks/results/folder_guidance.json)")
    args = p.parse_args(argv)

    source = load_dataset("fashion-mnist", data_dir=args.data_dir)
    work = Path(args.work_dir)
    result = header("folder_guidance", "folder_guidance.py", argv) | {"sizes": {}}
    for size in args.sizes:
        folder = write_folder(source, size, work / f"pictures-{size}", args.seed)
        out, points, used = work / f"run-{size}", [], 0.0
        shutil.rmtree(out, ignore_errors=True)
        for minutes in sorted(args.minutes):
            before = child_cpu_seconds()
            train = ["gan_core.train", "--dataset", f"folder:{folder}", "--epochs", "1000000", "--threads", "1", "--no-progress"]
            run([*train, "--max-minutes", f"{minutes - used / 60:.3f}", "--out-dir", str(out), *(["--resume"] if used else [])])
            used += child_cpu_seconds() - before
            scores = work / f"scores-{size}-{minutes:g}.json"
            run(["gan_core.evaluate", str(out), "--num", str(args.num), "--seed", str(args.seed), "--json", str(scores)])
            scored = json.loads(scores.read_text())
            log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines() if '"step"' in line]
            grid = RESULTS / f"folder_guidance_{size}_{minutes:g}min.png"
            shutil.copyfile(out / "samples.png", grid)
            point = {"cpu_minutes": round(used / 60, 2), "step": log[-1]["step"], "epoch": log[-1]["epoch"], "grid": grid.name,
                     "generated": scored["generated"], "floor": scored["floor"], "reading": scored.get("reading")}  # fmt: skip
            points.append(point)
            fid, floor = point["generated"]["fid"], point["floor"]["fid"]
            print(f"{size:>6} pictures, {point['cpu_minutes']:5.1f} CPU min, step {point['step']:>6}: FID {fid:.2f} (floor {floor:.2f}, {fid / floor:.1f}x), "
                  f"precision {point['generated']['precision']:.3f}, recall {point['generated']['recall']:.3f}", flush=True)  # fmt: skip
        result["sizes"][str(size)] = points
    path = write_result(result, args.out, "folder_guidance.json")
    print(f"\nwrote {path}\n")
    print("| pictures | CPU minutes | steps | FID (random-CNN features) | floor | × floor | precision | recall |")
    print("|---|---|---|---|---|---|---|---|")
    for size, points in result["sizes"].items():
        for point in points:
            g, f = point["generated"], point["floor"]
            print(f"| {int(size):,} | {point['cpu_minutes']:.1f} | {point['step']:,} | {g['fid']:.2f} | {f['fid']:.2f} | {g['fid'] / f['fid']:.1f} | {g['precision']:.3f} | {g['recall']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
