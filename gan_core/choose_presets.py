"""Choose a model's vector arithmetic presets and keep them beside it: ``python -m gan_core.choose_presets MODEL_DIR [MODEL_DIR ...]``.

Each preset is an A − B + C that means something ("bold 3 − thin 3 + thin 8 = bold 8"), chosen on G's pictures with
the dataset's classifier (``weights/classifiers/<dataset>/``, when there is one) and the picture measures, and checked:
the result is read as what the preset says (see :mod:`gan_core.explorer.presets`). They are printed and written to
``MODEL_DIR/presets.json``, tied to the generator's weights by a hash; the Vector arithmetic tab offers them, the first
one when the tab opens. ``--check`` checks the presets kept there again instead (exit 1 when one no longer holds).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gan_core.core.cli import add_threads_flag, command_line, start_command
from gan_core.explorer import directions as named
from gan_core.explorer import presets
from gan_core.pipeline import GanPipeline


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan_core.choose_presets", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", metavar="MODEL_DIR", help="a model folder holding generator/ (the presets are written into it)")
    parser.add_argument("--count", type=int, default=4, help="presets per model (default %(default)s)")
    parser.add_argument("--check", action="store_true", help="check the presets kept in presets.json again; write nothing")
    add_threads_flag(parser)
    args = start_command(parser, argv)
    try:
        for folder in args.models:
            if not Path(folder).expanduser().is_dir():
                raise FileNotFoundError(f"{folder} is not a folder; give the model folder the presets are written into (a Hub repo: download it first).")
        pipelines = [GanPipeline.from_pretrained(folder) for folder in args.models]
    except (FileNotFoundError, ValueError) as err:
        parser.exit(2, f"error: {err}\n")
    failed = 0
    for pipeline in pipelines:
        found = named.classifier_for(pipeline)
        classifier, classifier_name = found if found else (None, None)
        print(f"{pipeline.source} (classifier: {classifier_name or 'none, kinds by picture measures'}):")
        if args.check:
            kept = presets.presets_for(pipeline)
            if not kept:
                print(f"  no presets kept for this generator in {presets.presets_path(pipeline)}")
                failed += 1
            for preset in kept:
                check = presets.check_preset(pipeline, preset, classifier)
                failed += not check["passed"]
                print(f"  {'ok  ' if check['passed'] else 'FAIL'} {preset.name} = {preset.result}: {check}")
            continue
        chosen = presets.choose_presets(pipeline, classifier, count=args.count)
        for preset in chosen:
            print(f"  A {', '.join(map(str, preset.a))} | B {', '.join(map(str, preset.b))} | C {', '.join(map(str, preset.c))}: {preset.description}")
        if not chosen:
            print("  no candidate passed its check: nothing written")
            failed += 1
            continue
        path = presets.write_presets(presets.presets_path(pipeline), named.generator_hash(pipeline), chosen, classifier_name, command_line(parser, argv))
        print(f"  wrote {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
