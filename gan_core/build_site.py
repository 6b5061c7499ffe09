"""Build a free static site for a model: ``python -m gan_core.build_site MODEL_DIR --out DIR``.

The site runs G (and D) in the visitor's browser with onnxruntime-web: Explore (seed, truncation,
SeFa directions, D's verdict) and Interpolate (slerp/lerp through keyframe seeds), with no server.
It holds the page, gan_web.js, the runtime, the two ONNX files, model.json and the first N seeds'
noise (the same z the Gradio app draws). Deploy DIR as a Hugging Face Space with ``sdk: static``
(its README.md carries the front matter) or on any static host.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

from gan_core.web.static_site import DEFAULT_RUNTIME, SEEDS_RANGE, build_site


class _BadArguments(Exception):
    """argparse's complaint, turned into one line on stderr by main()."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise _BadArguments(message)


def main(argv: list[str] | None = None) -> int:
    """Build the site; 0 when written, 2 (one line on stderr) for bad input."""
    parser = _Parser(prog="python -m gan_core.build_site", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", metavar="MODEL_DIR", help="a model folder holding generator/ (and discriminator/), or a Hub repo id")
    parser.add_argument("--out", required=True, metavar="DIR", help="the site's folder: new, empty, or a site built before (replaced)")
    parser.add_argument(
        "--seeds", type=int, default=1000, metavar="N", help=f"ship seeds 0..N-1, N in {SEEDS_RANGE[0]}..{SEEDS_RANGE[1]} (default 1000)"
    )
    parser.add_argument(
        "--runtime", default=str(DEFAULT_RUNTIME), metavar="DIR", help="onnxruntime-web's compressed files (default: assets/onnxruntime-web, the copy in git)"
    )
    parser.add_argument("--name", default=None, help="the site's title (default: the model folder's name)")
    logging.basicConfig(level=logging.WARNING)
    try:
        args = parser.parse_args(argv)
        out = build_site(args.model, args.out, runtime_dir=args.runtime, num_seeds=args.seeds, name=args.name)
    except (_BadArguments, FileNotFoundError, ValueError, ImportError) as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
    files = sorted(path for path in out.rglob("*") if path.is_file())
    total = sum(path.stat().st_size for path in files)
    print(f"wrote the static site for {args.model} in {out}:")
    for path in files:
        print(f"  {path.relative_to(out)!s:50s} {path.stat().st_size:>12,d} bytes")
    print(f"  {'total':50s} {total:>12,d} bytes ({total / 1e6:.1f} MB)")
    print("\nTry it:               python -m http.server -d " + _quoted(out) + "   (then open http://127.0.0.1:8000/)")
    print(f"Deploy (static Space): hf upload <you>/<space> {_quoted(out)} --repo-type space")
    return 0


def _quoted(path: Path) -> str:
    return shlex.quote(str(path))


if __name__ == "__main__":
    sys.exit(main())
