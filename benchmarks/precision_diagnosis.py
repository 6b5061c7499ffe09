"""Why is a generator's precision low? Which of its samples fall outside the real pictures' manifold, and does any
way of drawing z keep them out?

    python benchmarks/precision_diagnosis.py weights/mnist --dataset mnist --data-dir data

Scores, against one fixed reference (``gan_core.evaluate``'s metrics, --num samples each):
- truncation: z scaled by psi (the app's truncation slider), psi 1 / 0.8 / 0.6;
- the samples inside and outside the real manifold (precision's k-NN balls): how sure the dataset's classifier is of
  their class, against real test pictures; a grid of each, written beside the JSON;
- rejection: draw 4x --num samples and keep the quarter (or half) ranked best by
  (a) G's local stretch: the norm of G's Jacobian along random directions of z, smallest first (Tanielian et al. 2020:
      samples between two kinds of picture lie where G stretches z most),
  (b) D's verdict, most real first (discriminator rejection sampling, Azadi et al. 2019), when the model has D,
  (c) the classifier's confidence, surest first: an upper bound, not a method (it grades with the evaluator's own
      classifier).
Writes benchmarks/results/precision_diagnosis_<dataset>.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from common import header, reference_from_args, write_result
from PIL import Image

from gan_core import GanPipeline
from gan_core.core import latent
from gan_core.evaluation.classifier import predict
from gan_core.evaluation.metrics import inception_score, inside_manifold, precision_recall

PSIS = (1.0, 0.8, 0.6)
POOL = 4  # rejection draws this many times --num samples


def scores(reference, images: torch.Tensor, features: torch.Tensor, probs: torch.Tensor) -> dict:
    precision, recall = precision_recall(reference.real_features, features)
    return {
        "fid": round(reference.fid_kid(images)["fid"], 3),
        "precision": round(precision, 3),
        "recall": round(recall, 3),
        "inception_score": round(inception_score(probs), 3),
    }


def stretch(pipeline: GanPipeline, z: torch.Tensor, pictures: torch.Tensor, directions: int = 4, eps: float = 1e-2) -> torch.Tensor:
    """How far G moves its picture per unit of z, along ``directions`` random unit directions (RMS): (N,)."""
    generator = torch.Generator().manual_seed(1)
    total = torch.zeros(len(z))
    for _ in range(directions):
        v = torch.randn(z.shape, generator=generator)
        moved = pipeline(z + eps * v / v.norm(dim=1, keepdim=True), verdict=False).uint8.float()
        total += ((moved - pictures.float()).flatten(1).norm(dim=1) / eps) ** 2
    return (total / directions).sqrt()


def save_grid(pictures: torch.Tensor, path: Path, side: int = 8) -> None:
    """The first side x side pictures (N, 1 or 3, H, W) as one PNG, 2x."""
    tiles = pictures[: side * side].permute(0, 2, 3, 1).numpy()
    if len(tiles) < side * side:
        tiles = np.concatenate([tiles, np.zeros((side * side - len(tiles), *tiles.shape[1:]), np.uint8)])
    rows = [np.concatenate(list(tiles[r * side : (r + 1) * side]), axis=1) for r in range(side)]
    grid = np.concatenate(rows, axis=0).squeeze(-1) if tiles.shape[-1] == 1 else np.concatenate(rows, axis=0)
    image = Image.fromarray(grid)
    image.resize((image.width * 2, image.height * 2), Image.Resampling.NEAREST).save(path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="a model folder (generator/, and discriminator/ for D's ranking) or a run")
    p.add_argument("--dataset", required=True, help="a dataset with a classifier (mnist, fashion-mnist)")
    p.add_argument("--data-dir")
    p.add_argument("--num", type=int, default=2_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--classifier")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", help="result JSON (default benchmarks/results/precision_diagnosis_<dataset>.json)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    pipeline = GanPipeline.from_pretrained(args.model)
    reference = reference_from_args(args)
    classifier = reference.classifier
    result = header("precision_diagnosis", "precision_diagnosis.py", argv) | {"model": args.model, "num": args.num}

    result["truncation"] = {}
    for psi in PSIS:
        truncated = pipeline.generate(args.num, args.seed, psi).uint8
        features, probs = predict(classifier, truncated)
        result["truncation"][str(psi)] = scores(reference, truncated, features, probs)
        print(f"psi {psi}: {result['truncation'][str(psi)]}")
        if psi == 1.0:
            as_drawn = truncated

    # Which samples lie outside, and how sure the classifier is of them.
    z = latent.noise_for_seed(args.seed, pipeline.latent_dim, pipeline.noise, POOL * args.num)
    drawn = pipeline(z, verdict=pipeline.discriminator is not None)
    images = drawn.uint8
    features, probs = predict(classifier, images)
    head = slice(0, args.num)
    assert torch.equal(images[head], as_drawn)  # the seed's noise stream starts with the --num samples scored at psi 1
    inside = inside_manifold(reference.real_features, features[head])
    sure = probs.max(1).values
    real_sure = predict(classifier, reference.test_sample)[1].max(1).values
    result["classifier_confidence"] = {
        "inside": round(float(sure[head][inside].mean()), 3),
        "outside": round(float(sure[head][~inside].mean()), 3),
        "real_test": round(float(real_sure.mean()), 3),
        "share_inside": round(float(inside.float().mean()), 3),
    }
    print(f"classifier's confidence (mean top probability): {result['classifier_confidence']}")

    rankings = {"G's stretch, smallest": stretch(pipeline, z, images)}
    if pipeline.discriminator is not None:
        rankings["D's verdict, most real"] = -torch.tensor(drawn.p_real)
    rankings["classifier's confidence (upper bound)"] = -sure
    result["rejection"] = {"plain": result["truncation"]["1.0"]}
    print(f"plain: {result['rejection']['plain']}")
    for name, key in rankings.items():
        for keep in (0.5, 0.25):
            best = key.argsort()[: int(keep * len(key))]  # at least --num: POOL * keep >= 1
            chosen = best[torch.randperm(len(best), generator=torch.Generator().manual_seed(0))[: args.num]]
            row = scores(reference, images[chosen], features[chosen], probs[chosen])
            result["rejection"][f"{name}, keep {keep:.0%}"] = row
            print(f"{name}, keep {keep:.0%}: {row}")
    out = write_result(result, args.out, f"precision_diagnosis_{args.dataset}.json")
    save_grid(images[head][~inside], out.with_name(out.stem + "_outside.png"))
    save_grid(images[head][inside], out.with_name(out.stem + "_inside.png"))
    print(f"wrote {out} and its grids of the samples outside and inside")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
