"""Inversion and anomaly scores of a shipped model: how well pictures are found in G's latent space, how
fast, and how well the f-AnoGAN score tells the model's own kind of picture from others.

    python benchmarks/inversion.py weights/mnist --other fashion-mnist --data-dir data
    python benchmarks/inversion.py weights/fashion-mnist --other mnist --data-dir data
    python benchmarks/inversion.py weights/mnist --other fashion-mnist --data-dir data --detection-only --num 200 --num-defects 100

Reconstruction, on --num held-out real test pictures of the model's dataset (the last ones of the fixed
held-out order; the encoder's reference scores used the first ones) and on --num of G's own samples
(their true z known), by three methods of equal effort:

- ``encoder``: E(x) alone (projected onto the prior's support), no refinement;
- ``random``: refinement from restarts + 1 random starts, no encoder;
- ``both``: refinement from E(x) plus ``restarts`` random starts (the app's default).

Each as the mean pixel error mean |x - G(z)| on the 0..1 scale, and the share of pictures reconstructed
within --threshold of it (0.03 = 7.7 grey levels on average per pixel). Time per inversion: median and
p95 of ``pipeline.invert`` (prepare + refine + score, one picture) over --timing pictures, with torch
threads 1 and 2 (stopping a thread count after --timing-seconds). Anomaly detection: ROC AUC of the
app's score (f-AnoGAN's, at z = E(x)) of the model's test pictures against the --other dataset's test
pictures, uniform noise, blank (constant) pictures, and near-distribution defects: --num-defects other held-out
test pictures of the model's own dataset, each damaged or altered (:func:`defects`: a patch hidden, a stroke added, a
blob of noise, grey levels inverted, turned a quarter, the top half of one picture over the bottom half of another);
for comparison the AUC of the same formula at the refined z* and of D's verdict (1 - P(real)). ``--detection-only``
skips the reconstruction tables and the timings. Writes benchmarks/results/inversion_<dataset>.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch
from common import header, percentile, write_result

from gan_core import GanPipeline
from gan_core.core import images, latent
from gan_core.core.data import load_dataset
from gan_core.inversion import anomaly
from gan_core.inversion.invert import RefineConfig
from gan_core.train_encoder import held_out_order


def auc(normal: torch.Tensor, unusual: torch.Tensor) -> float:
    """ROC AUC of a score that should be higher for ``unusual``: P(unusual > normal), ties counting half."""
    greater = (unusual[:, None] > normal[None]).double().mean()
    equal = (unusual[:, None] == normal[None]).double().mean()
    return float(greater + 0.5 * equal)


@torch.no_grad()
def p_real(pipeline: GanPipeline, pictures: torch.Tensor) -> torch.Tensor:
    """D's probability that each uint8 picture (N, C, H, W) is real: (N,)."""
    return torch.cat([torch.sigmoid(pipeline.discriminator(images.to_model_range(part))) for part in pictures.split(500)])


def score_at(pipeline: GanPipeline, pictures: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """The anomaly score's formula at a given z: uint8 pictures (N, C, H, W), z (N, D) -> (N,)."""
    pixel, feature, _ = anomaly.residuals(pipeline.generator, pipeline.discriminator, images.to_model_range(pictures), z)
    return anomaly.combine(pixel, feature, pipeline.reference.kappa if pipeline.reference is not None else anomaly.KAPPA)


def held_out(dataset: str, data_dir: str | None, num: int, pipeline: GanPipeline, skip: int = 0) -> torch.Tensor:
    """``num`` test pictures from the end of the fixed held-out order, the last ``skip`` left out (uint8 (N, C, H, W))."""
    test = load_dataset(dataset, split="test", data_dir=data_dir, image_size=pipeline.image_size, channels=pipeline.channels)
    order = held_out_order(len(test))
    end = len(test) - min(skip, len(test))
    return test.images[order[max(0, end - num) : end]]


def _background(pictures: torch.Tensor) -> torch.Tensor:
    """Each picture's background colour, the median of its one-pixel border: uint8 (N, C, 1, 1)."""
    border = torch.cat([pictures[:, :, 0], pictures[:, :, -1], pictures[:, :, 1:-1, 0], pictures[:, :, 1:-1, -1]], dim=2)  # (N, C, 4 side - 4)
    return border.median(dim=2).values[:, :, None, None]


def defects(pictures: torch.Tensor, partners: torch.Tensor, seed: int = 0) -> dict[str, torch.Tensor]:
    """Near-distribution defects: damaged or altered copies of real pictures of the model's own kind, uint8 (N, C, H, W) each.

    - occluded: a square of 0.4 x the side, centred on a random pixel of the figure, painted the background colour;
    - added stroke: a straight stroke of half the side, 1/14 of the side thick, in the colour opposite the background,
      through a random point of the central 60% at a random angle;
    - noise blob: a disc of radius 1/7 of the side, in the central 60%, filled with uniform noise;
    - inverted: 255 - x (dark figure on a light background);
    - rotated 90°: turned a quarter anticlockwise;
    - two halves: the top half of each picture over the bottom half of its partner (another real picture).
    Deterministic in ``seed``.
    """
    count, _, side, _ = pictures.shape
    rng = torch.Generator().manual_seed(seed)
    background = _background(pictures)
    ys, xs = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    low, high = round(0.2 * side), round(0.8 * side)

    def central() -> tuple[int, int]:
        return tuple(int(v) for v in torch.randint(low, high, (2,), generator=rng))

    occluded, stroked, blotted = pictures.clone(), pictures.clone(), pictures.clone()
    half = max(1, round(0.2 * side))
    thick = max(1.0, side / 14) / 2
    radius = max(1, round(side / 7))
    for i in range(count):
        figure = ((pictures[i].int() - background[i].int()).abs().amax(0) > 76).nonzero()  # (P, 2): pixels of the figure
        cy, cx = (int(v) for v in figure[torch.randint(len(figure), (1,), generator=rng)][0]) if len(figure) else central()
        occluded[i, :, max(0, cy - half) : cy + half, max(0, cx - half) : cx + half] = background[i]
        cy, cx = central()
        angle = float(torch.rand((), generator=rng)) * torch.pi
        dy, dx = torch.sin(torch.tensor(angle)), torch.cos(torch.tensor(angle))
        along = (ys - cy) * dy + (xs - cx) * dx  # distance along the stroke from its centre
        across = ((ys - cy) * dx - (xs - cx) * dy).abs()
        line = (along.abs() <= side / 4) & (across <= thick)
        stroked[i][:, line] = (255 - background[i].int()).to(torch.uint8)[:, :, 0].expand(-1, int(line.sum()))
        cy, cx = central()
        disc = (ys - cy) ** 2 + (xs - cx) ** 2 <= radius**2
        blotted[i][:, disc] = torch.randint(0, 256, (pictures.shape[1], int(disc.sum())), generator=rng, dtype=torch.uint8)
    top = side // 2
    return {
        "occluded": occluded,
        "added stroke": stroked,
        "noise blob": blotted,
        "inverted": 255 - pictures,
        "rotated 90°": torch.rot90(pictures, 1, dims=(2, 3)).contiguous(),
        "two halves": torch.cat([pictures[:, :, :top], partners[:, :, top:]], dim=2),
    }


def reconstruct(pipeline: GanPipeline, pictures: torch.Tensor, threshold: float, z_true: torch.Tensor | None = None) -> dict:
    restarts = RefineConfig().restarts
    methods = {
        "encoder": {"steps": 0, "restarts": 0, "use_encoder": True},
        "random": {"restarts": restarts + 1, "use_encoder": False},
        "both": {"restarts": restarts, "use_encoder": True},
    }
    rows, found = {}, {}
    for name, options in methods.items():
        start = time.perf_counter()
        result = pipeline.invert_images(pictures, seed=0, **options)
        errors = result.pixel_error
        rows[name] = {
            "mean_pixel_error": round(float(errors.mean()), 5),
            "median_pixel_error": round(float(errors.median()), 5),
            f"share_within_{threshold:g}": round(float((errors <= threshold).double().mean()), 4),
            "seconds": round(time.perf_counter() - start, 1),
        }
        if z_true is not None:
            rows[name]["mean_z_distance"] = round(float((result.z - z_true).norm(dim=1).mean()), 3)
        found[name] = result
        print(f"  {name:8s} mean pixel error {rows[name]['mean_pixel_error']:.4f}  within {threshold:g}: {100 * rows[name][f'share_within_{threshold:g}']:5.1f}%  ({rows[name]['seconds']} s)")
    return {"rows": rows, "results": found}


def time_inversions(pipeline: GanPipeline, pictures: torch.Tensor, threads: int, budget_s: float) -> dict:
    """pipeline.invert on one picture at a time with ``threads`` torch threads; stops early after ``budget_s`` seconds."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        pipeline.invert(images.channels_last_numpy(pictures[:1])[0])  # warm-up
        times, began = [], time.perf_counter()
        for picture in images.channels_last_numpy(pictures):
            start = time.perf_counter()
            pipeline.invert(picture)
            times.append(time.perf_counter() - start)
            if time.perf_counter() - began > budget_s:
                break
    finally:
        torch.set_num_threads(previous)
    return {"threads": threads, "load_average_1min": round(os.getloadavg()[0], 2), "median_s": round(statistics.median(times), 3), "p95_s": round(percentile(times, 0.95), 3), "count": len(times)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="model folder with encoder/, e.g. weights/mnist")
    p.add_argument("--other", required=True, help="the other dataset, e.g. fashion-mnist for the MNIST model")
    p.add_argument("--data-dir", help="folder holding the datasets (e.g. data)")
    p.add_argument("--num", type=int, default=500, help="held-out test pictures and G samples (default %(default)s)")
    p.add_argument("--num-other", type=int, help="pictures of the other dataset (default: --num)")
    p.add_argument("--num-noise", type=int, default=100, help="noise pictures, and half as many blank ones")
    p.add_argument("--num-defects", type=int, default=100, help="real test pictures damaged or altered in each way of defects() (default %(default)s; 0: none)")
    p.add_argument("--detection-only", action="store_true", help="only the anomaly detection table: no reconstruction tables, no timings")
    p.add_argument("--sheet", help="also write a PNG of the first 8 pictures of each defect, one row each (e.g. docs/defects_mnist.png)")
    p.add_argument("--timing", type=int, default=30, help="single inversions timed per thread count")
    p.add_argument("--timing-seconds", type=float, default=90, help="stop timing a thread count after this long (default %(default)s)")
    p.add_argument("--threshold", type=float, default=0.03, help="pixel error counted as reconstructed (0..1 scale)")
    p.add_argument("--threads", type=int, default=1, help="torch threads for the batched work (default %(default)s)")
    p.add_argument("--out", help="result JSON (default benchmarks/results/inversion_<dataset>.json)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    pipeline = GanPipeline.from_pretrained(args.model)
    if pipeline.encoder is None:
        p.error(f"{args.model} ships no encoder/; train one: python -m gan_core.train_encoder {args.model}")
    dataset = pipeline.dataset
    began = time.perf_counter()
    result = {**header("inversion", "inversion.py", argv), "model": args.model, "dataset": dataset, "other": args.other, "load_average": os.getloadavg()}
    result["refine"] = vars(RefineConfig()) | {"random_method_restarts": RefineConfig().restarts + 1}
    print(f"{args.model} ({dataset}); machine load average {os.getloadavg()[0]:.1f}")

    real = held_out(dataset, args.data_dir, args.num, pipeline)
    print(f"{len(real)} held-out real {dataset} test pictures:")
    if args.detection_only:  # what the detection table needs: E(x) alone, and the app's refinement
        on_real = {"results": {"encoder": pipeline.invert_images(real, steps=0, restarts=0), "both": pipeline.invert_images(real, seed=0)}}
    else:
        on_real = reconstruct(pipeline, real, args.threshold)
        z_true = latent.noise_for_seed(12345, pipeline.latent_dim, pipeline.noise, args.num)
        samples = pipeline(z_true, verdict=False).uint8
        print(f"{len(samples)} of G's own samples (true z known):")
        on_samples = reconstruct(pipeline, samples, args.threshold, z_true)
        result["reconstruction"] = {"threshold": args.threshold, "real_test": {"count": len(real), **on_real["rows"]}, "g_samples": {"count": len(samples), **on_samples["rows"]}}

        timings = [time_inversions(pipeline, real[: args.timing], threads, args.timing_seconds) for threads in (1, 2)]
        for t in timings:
            print(f"time per inversion, {t['threads']} thread(s): median {t['median_s']:.2f} s, p95 {t['p95_s']:.2f} s ({t['count']} pictures)")
        result["time_per_inversion"] = timings

    other = held_out(args.other, args.data_dir, args.num_other or args.num, pipeline)
    noise = torch.randint(0, 256, (args.num_noise, pipeline.channels, pipeline.image_size, pipeline.image_size), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    levels = torch.linspace(0, 255, max(2, args.num_noise // 2)).round().to(torch.uint8)
    blank = levels.view(-1, 1, 1, 1).expand(-1, pipeline.channels, pipeline.image_size, pipeline.image_size).contiguous()
    # The app's score is f-AnoGAN's, at z = E(x) ("encoder" results); for comparison, the same formula at the refined z*.
    normal = on_real["results"]["encoder"].scores
    normal_refined = score_at(pipeline, real, on_real["results"]["both"].z)
    normal_verdict = -p_real(pipeline, real) if pipeline.discriminator is not None else None
    kinds = {args.other: "other dataset", "noise": "noise", "blank": "blank"}
    against = [(args.other, other), ("noise", noise), ("blank", blank)]
    if args.num_defects > 0:  # other held-out pictures than the normal ones, and partners for the halves before those
        base = held_out(dataset, args.data_dir, args.num_defects, pipeline, skip=len(real))
        partners = held_out(dataset, args.data_dir, len(base), pipeline, skip=len(real) + len(base))
        if len(partners) < len(base):
            p.error(f"{dataset}'s test split is too small for --num {args.num} and --num-defects {args.num_defects}")
        damaged = defects(base, partners)
        against += list(damaged.items())
        kinds |= dict.fromkeys(damaged, "defect")
        if args.sheet:
            sheet = images.make_grid(images.channels_last_numpy(torch.cat([base[:8], *[d[:8] for d in damaged.values()]])), ncols=8, padding=1)
            images.save_png(sheet, args.sheet)
            print(f"wrote {args.sheet}: the original pictures, then one row per defect ({', '.join(damaged)})")
    detection = {}
    for name, pictures in against:
        alone = pipeline.invert_images(pictures, steps=0, restarts=0)
        refined = score_at(pipeline, pictures, pipeline.invert_images(pictures, seed=0).z)
        row = {"kind": kinds[name], "count": len(pictures), "auc_score": round(auc(normal, alone.scores), 4), "auc_score_at_refined_z": round(auc(normal_refined, refined), 4)}
        if normal_verdict is not None:
            row["auc_d_verdict"] = round(auc(normal_verdict, -p_real(pipeline, pictures)), 4)
        row["median_score"] = round(float(alone.scores.median()), 4)
        if pipeline.reference is not None:
            row["median_percentile"] = round(pipeline.reference.percentile(row["median_score"]), 1)
        detection[name] = row
        print(
            f"anomaly AUC, {dataset} test vs {name} ({len(pictures)}): score (at E(x)) {row['auc_score']:.4f}, "
            f"at refined z {row['auc_score_at_refined_z']:.4f}, D's verdict {row.get('auc_d_verdict', float('nan')):.4f}"
        )
    result["anomaly"] = {
        "normal": f"{len(real)} held-out {dataset} test pictures",
        "score": "f-AnoGAN A(x) at z = E(x), kappa 1 (what the app reports)",
        "median_score_normal": round(float(normal.median()), 4),
        "median_percentile_normal": round(pipeline.reference.percentile(float(normal.median())), 1) if pipeline.reference is not None else None,
        "against": detection,
    }
    result["seconds"] = round(time.perf_counter() - began, 1)
    result["load_average_end"] = os.getloadavg()
    path = write_result(result, args.out, f"inversion_{dataset}.json")
    print(f"wrote {path} ({result['seconds'] / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
