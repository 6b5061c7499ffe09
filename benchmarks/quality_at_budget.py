"""Quality at an equal wall-clock budget: our trainer vs the pytorch/examples baseline.

    nohup flock /tmp/cpu_bench.lock python benchmarks/quality_at_budget.py --dataset fashion-mnist --minutes 12 &

Trains ours (``gan_core.training.Trainer``, defaults) and then the baseline (``baseline_dcgan.py``,
2 DataLoader workers as in pytorch/examples) for the same number of wall-clock minutes each, on
the same data, architecture and batch size, then scores both with ``gan_core.evaluate``'s metrics
(same reference, same noise, --num samples). Data loading and scoring are outside the budget.

Each trainer is scored as its users would sample it, and also the other way round, so no side
is judged by a sampling choice alone:
- ours: the exported generator (EMA weights, BatchNorm recalibrated, eval mode), and the raw G;
- baseline: G in eval mode (running BatchNorm statistics), and G in train mode on batches of 128,
  which is how pytorch/examples draws its fixed-noise samples (it never calls ``eval()``).

Writes benchmarks/results/quality_at_budget_<dataset>.json and a 64-sample grid per trainer.
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
import time
from pathlib import Path

import torch
from baseline_dcgan import BaselineConfig, train_baseline
from common import RESULTS, ROOT, classifier_from_args, eval_samples, header, print_scores, reference_from_args, write_result

from gan_core import GanPipeline
from gan_core.core import images
from gan_core.core.data import load_dataset
from gan_core.core.latent import noise_for_seed
from gan_core.training import TrainConfig, Trainer


def sample_train_mode(generator: torch.nn.Module, num: int, seed: int, batch_size: int = 128) -> torch.Tensor:
    """pytorch/examples' way: G left in train mode, so BatchNorm uses each batch's statistics.
    Runs on a copy (train-mode forwards would move the running statistics). uint8 (N, C, H, W)."""
    pipeline = GanPipeline(copy.deepcopy(generator).cpu().train())
    z = noise_for_seed(seed, pipeline.latent_dim, pipeline.noise, num)  # the same z as eval_samples
    return pipeline(z, verdict=False, batch_size=batch_size).uint8


def save_grid(images_uint8: torch.Tensor, path: Path) -> None:
    images.save_png(images.make_grid(images.channels_last_numpy(images_uint8[:64]), ncols=8), path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--data-dir")
    p.add_argument("--minutes", type=float, default=12.0, help="training budget per trainer (default 12)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (training; scoring runs on the CPU)")
    p.add_argument("--num", type=int, default=10_000, help="samples scored per model (default 10000)")
    p.add_argument("--workers", type=int, default=2, help="baseline DataLoader workers (default 2, as pytorch/examples)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work-dir", default="runs/quality_at_budget", help="where the trained models are kept")
    p.add_argument("--classifier", help="evaluation classifier (default weights/classifiers/DATASET)")
    p.add_argument("--fp32-too", action="store_true", help="also train ours in plain fp32 (--amp off --channels-last off) for the same budget")
    p.add_argument("--out", help="result JSON (default benchmarks/results/quality_at_budget_<dataset>.json)")
    args = p.parse_args(argv)
    if not args.minutes > 0:
        p.error(f"--minutes must be positive, got {args.minutes}")
    classifier = classifier_from_args(args)  # before training: a missing classifier fails fast
    work = Path(args.work_dir)
    data = load_dataset(args.dataset, data_dir=args.data_dir)

    # Ours: the library's defaults (and, with --fp32-too, the same in plain fp32), limited by wall clock.
    def train_ours(name: str, **overrides) -> tuple[dict, str, float, torch.nn.Module, torch.nn.Module]:
        config = TrainConfig.from_flat(dataset=args.dataset, data_dir=args.data_dir, max_minutes=args.minutes, device=args.device, seed=args.seed,
                                       out_dir=str(work / name), progress=False, **overrides)
        start = time.perf_counter()
        trainer = Trainer.create(config, data=data, command="benchmarks/quality_at_budget.py", overwrite=True)  # each run of the benchmark starts over
        summary = trainer.train()
        print(f"{name}: {trainer.speed_note}; {summary['step']} steps", flush=True)
        return summary, trainer.speed_note, time.perf_counter() - start, trainer.ema_generator().cpu().eval(), copy.deepcopy(trainer.generator).cpu().eval()

    summary, speed_note, ours_seconds, ours_exported, ours_raw = train_ours("ours")
    fp32 = train_ours("ours_fp32", amp="off", channels_last="off") if args.fp32_too else None

    # Baseline: the same budget.
    baseline_config = BaselineConfig(dataset=args.dataset, data_dir=args.data_dir, workers=args.workers, device=args.device, seed=args.seed,
                                     sample_dir=str(work / "baseline"))
    (work / "baseline").mkdir(parents=True, exist_ok=True)
    with open(work / "baseline" / "log.txt", "w") as log:
        baseline = train_baseline(baseline_config, max_seconds=args.minutes * 60, data=data, log=log)
    baseline_g = baseline.generator.cpu()
    baseline_g.eval().save_pretrained(work / "baseline" / "generator")

    reference = reference_from_args(args, classifier)
    n = reference.num
    samples = {
        "ours (exported: EMA + recalibrated BN, eval)": eval_samples(ours_exported, n, args.seed),
        "ours (raw G, eval)": eval_samples(ours_raw, n, args.seed),
        **({"ours in plain fp32 (exported, eval)": eval_samples(fp32[3], n, args.seed)} if fp32 else {}),
        "baseline (G in eval mode)": eval_samples(baseline_g, n, args.seed),
        "baseline (G in train mode, as pytorch/examples samples)": sample_train_mode(baseline_g, n, args.seed),
    }
    scores = {name: reference.score(pictures) for name, pictures in samples.items()}
    RESULTS.mkdir(parents=True, exist_ok=True)
    grids = {}
    for key, name in (("ours", "ours (exported: EMA + recalibrated BN, eval)"), ("baseline_eval", "baseline (G in eval mode)"),
                      ("baseline_train_mode", "baseline (G in train mode, as pytorch/examples samples)")):
        grids[key] = f"benchmarks/results/quality_at_budget_{args.dataset}_{key}.png"
        save_grid(samples[name], ROOT / grids[key])
    best_baseline = min(scores[k]["fid"] for k in scores if k.startswith("baseline"))
    result = {
        **header("quality_at_budget", "quality_at_budget.py", argv),
        "dataset": args.dataset,
        "device": args.device,
        "minutes_each": args.minutes,
        "num": n,
        "ours_steps": summary["step"],
        "ours_epochs": round(summary["epochs"], 2),
        "ours_seconds_incl_export": round(ours_seconds, 1),
        "ours_settings": speed_note,
        **({"ours_fp32_steps": fp32[0]["step"], "ours_fp32_epochs": round(fp32[0]["epochs"], 2)} if fp32 else {}),
        "baseline_steps": baseline.steps,
        "baseline_epochs": round(baseline.steps / math.ceil(len(data) / baseline_config.batch_size), 2),
        "baseline_seconds": round(baseline.seconds, 1),
        "scores": scores,
        "floor": reference.floor(),
        "fid_ratio_ours_vs_best_baseline": scores["ours (exported: EMA + recalibrated BN, eval)"]["fid"] / best_baseline,
        "grids": grids,
    }
    out = write_result(result, args.out, f"quality_at_budget_{args.dataset}.json")
    print_scores(scores, result["floor"])
    print(f"FID ours / best baseline = {result['fid_ratio_ours_vs_best_baseline']:.2f}; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
