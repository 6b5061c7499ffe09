"""Which generator of a run should be exported? Raw G vs its EMA, with and without BatchNorm recalibration.

    python benchmarks/ema_vs_raw.py runs/fashion-mnist --dataset fashion-mnist

Scores, with ``gan_core.evaluate``'s metrics and one fixed reference:
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import header, print_scores, write_result  # noqa: E402

from gan_core.classifier import load_classifier  # noqa: E402
from gan_core.evaluate import build_reference, default_classifier_dir, sample_uint8  # noqa: E402
from gan_core.hub import load_generator  # noqa: E402
from gan_core.models import Generator  # noqa: E402
from gan_core.training import load_checkpoint, recalibrate_batchnorm  # noqa: E402


def generator_from_state(config: dict, state: dict) -> Generator:
    model = Generator(config["latent_dim"], config["image_size"], config["channels"], config["g_features"], noise=config["noise"])
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
    config = state["config"]
    raw = generator_from_state(config, state["generator"])
    raw_recalibrated = recalibrate_batchnorm(copy.deepcopy(raw), config["bn_calibration_batches"], config["batch_size"], config["noise"], config["seed"] + 20_000, torch.device("cpu"))
    candidates = {
        "raw G (eval, its running BN stats)": raw,
        "raw G + recalibrated BN": raw_recalibrated,
        "EMA, BN not recalibrated": generator_from_state(config, state["ema"]),
        "exported (EMA + recalibrated BN)": load_generator(run / "generator"),
    }
    classifier = load_classifier(args.classifier or default_classifier_dir(args.dataset))
    reference = build_reference(args.dataset, classifier, data_dir=args.data_dir, num=args.num, seed=args.seed)
    scores = {name: reference.score(sample_uint8(g, reference.num, args.seed)) for name, g in candidates.items()}
    result = {
        **header("ema_vs_raw", "ema_vs_raw.py", argv),
        "run": str(run),
        "step": state["step"],
        "epoch": round(state["epoch"], 2),
        "ema_decay": config["ema_decay"],
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
