"""Which generator of a run should be exported? Raw G vs its EMA, with and without BatchNorm recalibration.

    python benchmarks/ema_vs_raw.py runs/fashion-mnist --dataset fashion-mnist

Scores, with ``gan_core.evaluate``'s metrics and one fixed reference (samples drawn through ``GanPipeline``):
- raw G: ``checkpoint["generator"]`` in eval mode (its own running BatchNorm statistics);
- raw G + recalibrated BN: the same weights, statistics re-estimated as the exporter does;
- EMA, BN not recalibrated: ``checkpoint["ema"]`` as stored (the EMA averages weights only, so its
  BatchNorm buffers are not those of the averaged weights);
- exported: RUN/generator (EMA + recalibrated BN), what the run ships.
Writes benchmarks/results/ema_vs_raw_<dataset>.json.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import torch
from common import eval_samples, header, print_scores, reference_from_args, write_result

from gan_core.core.hub import load_generator
from gan_core.core.models import Generator
from gan_core.training import TrainConfig, load_checkpoint, recalibrate_batchnorm


def generator_from_state(config: TrainConfig, state: dict) -> Generator:
    model = Generator(**config.model.generator_kwargs())
    model.load_state_dict(state)
    return model.eval()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="run folder holding checkpoint.pt and generator/")
    p.add_argument("--dataset", required=True)
    p.add_argument("--data-dir")
    p.add_argument("--num", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--classifier")
    p.add_argument("--out", help="result JSON (default benchmarks/results/ema_vs_raw_<dataset>.json)")
    args = p.parse_args(argv)
    run = Path(args.run)
    state = load_checkpoint(run / "checkpoint.pt")
    config = TrainConfig.from_dict(state["config"])  # the sections, or a flat config of an older checkpoint
    raw = generator_from_state(config, state["generator"])
    # As the trainer's export does (Trainer.ema_generator), on the raw weights.
    raw_recalibrated = recalibrate_batchnorm(
        copy.deepcopy(raw), config.run.bn_calibration_batches, config.optim.batch_size, config.model.noise, config.optim.seed + 20_000, torch.device("cpu")
    )
    candidates = {
        "raw G (eval, its running BN stats)": raw,
        "raw G + recalibrated BN": raw_recalibrated,
        "EMA, BN not recalibrated": generator_from_state(config, state["ema"]),
        "exported (EMA + recalibrated BN)": load_generator(run / "generator"),
    }
    reference = reference_from_args(args)
    scores = {name: reference.score(eval_samples(g, reference.num, args.seed)) for name, g in candidates.items()}
    result = {
        **header("ema_vs_raw", "ema_vs_raw.py", argv),
        "run": str(run),
        "step": state["step"],
        "epoch": round(state["epoch"], 2),
        "ema_decay": config.optim.ema_decay,
        "num": reference.num,
        "scores": scores,
        "floor": reference.floor(),
    }
    out = write_result(result, args.out, f"ema_vs_raw_{args.dataset}.json")
    print_scores(scores, result["floor"])
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
