"""Name a model's latent directions and keep the names beside it: ``python -m gan_core.name_directions MODEL_DIR [MODEL_DIR ...]``.

For each kind of direction (SeFa and GANSpace unless ``--kind`` says otherwise) the strongest directions are
named after what moving along them does to the pictures ("7 → 0", "thicker", "warmer"; see
:mod:`gan_core.explorer.directions`), printed, and written to ``MODEL_DIR/directions.json``, which the explorer
app reads instead of computing the names when a page first opens the model. The file is tied to the
generator's weights by a hash, so names of an older generator are never shown for a newer one.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import torch

from gan_core.core.latent import DIRECTION_KINDS
from gan_core.explorer import directions as named
from gan_core.explorer.state import NUM_DIRECTIONS
from gan_core.pipeline import GanPipeline


def describe(names: named.DirectionNames) -> list[str]:
    """Lines a person reads: each direction's label, then its next largest effects."""
    lines = [f"  {names.kind}: {len(names.directions)} directions in {names.seconds:.1f} s, classifier {names.classifier or 'none'}"]
    for direction in names.directions:
        others = sorted(((k, v) for k, v in direction.effects.items() if not k.startswith(named.CLASS_PREFIX)), key=lambda kv: -abs(kv[1]))
        also = [f"{k} {v:+.1f}" for k, v in others if k != direction.measure][:2]
        if direction.class_change and direction.measure != "class":
            also.append(f"{direction.class_change} {direction.class_effect:+.1f}")
        lines.append(f"    {direction.index + 1}  {direction.label:<34} ({', '.join(also)})")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan_core.name_directions", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", metavar="MODEL_DIR", help="a model folder holding generator/ (the names are written into it)")
    parser.add_argument("--kind", nargs="+", choices=DIRECTION_KINDS, default=list(DIRECTION_KINDS), help="kinds of direction to name (default: both)")
    parser.add_argument("--seeds", type=int, default=named.NamingConfig.seeds, help="random latents moved along each direction (default %(default)s)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--progress", action="store_true", help="show a progress bar per kind")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads must be at least 1, got {args.threads}.")
        torch.set_num_threads(args.threads)
    try:
        config = named.NamingConfig(seeds=args.seeds, num_directions=NUM_DIRECTIONS)
        for folder in args.models:
            if not Path(folder).expanduser().is_dir():
                raise FileNotFoundError(f"{folder} is not a folder; give the model folder the names are written into (a Hub repo: download it first).")
        pipelines = [GanPipeline.from_pretrained(folder) for folder in args.models]
    except (FileNotFoundError, ValueError) as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
    for pipeline in pipelines:
        path = named.names_path(pipeline)
        config_here = named.NamingConfig(seeds=config.seeds, num_directions=min(NUM_DIRECTIONS, pipeline.latent_dim))
        results = [named.name_directions(pipeline, kind, config=config_here, progress=args.progress) for kind in dict.fromkeys(args.kind)]
        named.write_names(path, named.generator_hash(pipeline), results)
        print(f"{pipeline.source}:")
        for names in results:
            print("\n".join(describe(names)))
        print(f"  wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
