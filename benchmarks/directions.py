"""SeFa against GANSpace on the shipped models: how much each direction moves the pictures, how often the
move means something to the classifier and to the picture measures, and how long naming takes.

    python benchmarks/directions.py                      # weights/mnist weights/fashion-mnist weights/emoji, one thread

For each model and kind (SeFa, GANSpace, and 8 random unit directions as the floor), the 8 strongest directions
are named as the explorer names them (:func:`gan_core.explorer.directions.name_directions`: 128 latents of
seed 0 moved by -3, -1.5, 0, 1.5, 3). Per direction:

- ``pixel_change``: mean |change| of a pixel (0..1 scale) per unit amount;
- ``effect``: the largest |Cohen's d| over the picture measures and the class change (what names it);
- ``class_effect``: Cohen's d of the class change A → B (P(B) - P(A)), models with a classifier only;
- ``class_flips``: share of latents whose class (the classifier's top reading) differs at -3 and +3.

Printed and written as medians over the 8 directions, with the share of directions whose largest effect is at
least --threshold (0.8, "large" by Cohen's convention), the share named by a class change, and the share whose
class change alone is at least --threshold. Timings: computing GANSpace's directions (a PCA of 4096 first
feature maps), naming one kind, and reading the names back from directions.json. Writes
benchmarks/results/directions.json.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path

import torch
from common import header, write_result

from gan_core import GanPipeline
from gan_core.explorer import directions as named
from gan_core.explorer.state import NUM_DIRECTIONS

KINDS = ("sefa", "ganspace", "random")


def random_directions(pipeline: GanPipeline, seed: int = 0) -> GanPipeline:
    """The pipeline with ``NUM_DIRECTIONS`` random unit directions in place of every kind's: the floor to compare with."""
    directions = torch.nn.functional.normalize(torch.randn(NUM_DIRECTIONS, pipeline.latent_dim, generator=torch.Generator().manual_seed(seed)), dim=1)
    floor = copy.copy(pipeline)
    floor.directions = lambda kind="sefa": (directions, torch.ones(NUM_DIRECTIONS))
    return floor


def median(values: list[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 4) if values else None


def share(flags: list[bool]) -> float:
    return round(sum(flags) / len(flags), 3)


def summarise(names: named.DirectionNames, threshold: float) -> dict:
    directions = names.directions
    has_classifier = names.classifier is not None
    return {
        "labels": names.labels,
        "pixel_change": median([d.pixel_change for d in directions]),
        "effect": median([d.effect for d in directions]),
        "large_effect": share([d.effect >= threshold for d in directions]),
        "named_by_class": share([d.measure == "class" and d.name != named.NO_CLEAR_CHANGE for d in directions]) if has_classifier else None,
        "class_effect": median([d.class_effect for d in directions]),
        "large_class_effect": share([d.class_effect >= threshold for d in directions]) if has_classifier else None,
        "class_flips": median([d.class_flips for d in directions]),
        "seconds": round(names.seconds, 2),
        "directions": names.to_dict()["directions"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", default=["weights/mnist", "weights/fashion-mnist", "weights/emoji"])
    parser.add_argument("--seeds", type=int, default=named.NamingConfig.seeds)
    parser.add_argument("--threshold", type=float, default=0.8, help="a large effect (Cohen's d), default %(default)s")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    result = {**header("directions", "directions.py", argv), "threshold": args.threshold, "seeds": args.seeds, "models": {}}
    config = named.NamingConfig(seeds=args.seeds, num_directions=NUM_DIRECTIONS)
    rows = []
    for source in args.models:
        pipeline = GanPipeline.from_pretrained(source)
        began = time.perf_counter()
        pipeline.directions("ganspace")
        ganspace_seconds = time.perf_counter() - began
        model = {"ganspace_directions_seconds": round(ganspace_seconds, 2), "kinds": {}}
        kept = []
        for kind in KINDS:
            subject = random_directions(pipeline) if kind == "random" else pipeline
            names = named.name_directions(subject, "sefa" if kind == "random" else kind, config=config)
            if kind != "random":
                kept.append(names)
            model["kinds"][kind] = summarise(names, args.threshold)
            rows.append((pipeline.name, kind, model["kinds"][kind]))
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / named.NAMES_FILE
            named.write_names(path, named.generator_hash(pipeline), kept)
            began = time.perf_counter()
            for _ in range(10):
                named.read_names(path, named.generator_hash(pipeline), "sefa", config)
            model["read_names_ms"] = round((time.perf_counter() - began) * 100, 2)  # per read, hash of G's weights included
        result["models"][pipeline.name] = model
        print(f"{pipeline.name}: GANSpace directions {ganspace_seconds:.2f} s, names read back from the file in {model['read_names_ms']:.1f} ms")
        for kind in KINDS:
            print(f"  {kind:8s} " + " | ".join(model["kinds"][kind]["labels"]))

    def shown(value, form):
        return "n/a" if value is None else format(value, form)

    print(f"\nmedians over each model's {NUM_DIRECTIONS} directions; large = Cohen's d >= {args.threshold}")
    print(f"{'model':14s} {'kind':8s} {'px/unit':>8s} {'effect':>6s} {'large':>6s} {'class d':>7s} {'large':>6s} {'by class':>8s} {'flips':>6s} {'naming s':>8s}")
    for name, kind, s in rows:
        print(
            f"{name:14s} {kind:8s} {s['pixel_change']:8.4f} {s['effect']:6.2f} {s['large_effect']:6.0%} {shown(s['class_effect'], '7.2f')} "
            f"{shown(s['large_class_effect'], '6.0%')} {shown(s['named_by_class'], '8.0%')} {shown(s['class_flips'], '6.2f')} {s['seconds']:8.2f}"
        )
    path = write_result(result, args.out, "directions.json")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
