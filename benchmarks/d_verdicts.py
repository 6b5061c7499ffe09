"""D's verdict on one picture at a time, under each choice of BatchNorm statistics.

In training D judges whole batches, all real or all G's, each normalised by its own statistics. Alone, a picture needs
fixed statistics; this compares, for each model's discriminator, the verdicts on real pictures (held-out test pictures;
a folder's own pictures) and on G's (fresh z) under:

- the statistics stored in the folder (run it on a model exported before calibration to see the running averages that
  training leaves);
- real pictures' statistics, as calibrate_discriminator sets them (DiffAugment'ed for a run that augmented);
- real pictures' statistics without augmentation, and a half-real, half-G mix;
- training's own way, each batch of 128 by its statistics (what train_log.jsonl's d_real and d_fake report).

"ranked" is the share of (real, G's) pairs where D rates the real picture higher (0.5: it cannot tell).

    python benchmarks/d_verdicts.py [--model weights/mnist ...] [--data-dir data] [--json PATH]
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

from common import ROOT, header, write_result

import torch

from gan_core.core.images import to_model_range
from gan_core.core.latent import sample_noise
from gan_core.pipeline import GanPipeline
from gan_core.training.calibration import calibrate_discriminator, estimate_batchnorm, measure_verdicts, real_pictures

MODELS = ["weights/mnist", "weights/fashion-mnist", "weights/emoji"]
BATCH = 128


def per_batch(generator, discriminator, pictures: torch.Tensor, count: int) -> dict:
    """Train-mode D on batches of BATCH real pictures and of BATCH of G's, each normalised by its own statistics."""
    judge = copy.deepcopy(discriminator).train()
    real = to_model_range(pictures[:count])
    z = sample_noise(count, generator.latent_dim, torch.Generator().manual_seed(0))
    with torch.no_grad():
        fake = generator(z)
        on_real = torch.cat([torch.sigmoid(judge(real[i : i + BATCH])) for i in range(0, count, BATCH)])
        on_fake = torch.cat([torch.sigmoid(judge(fake[i : i + BATCH])) for i in range(0, count, BATCH)])
    ranked = (on_real[:, None] > on_fake[None, :]).float().mean().item()
    return {"real": on_real.mean().item(), "generated": on_fake.mean().item(), "ranked": ranked}


def compare(folder: Path, data_dir: str | None, count: int) -> dict:
    pipeline = GanPipeline.from_pretrained(folder)
    generator, stored = pipeline.generator.eval(), pipeline.discriminator.eval()
    manifest = pipeline.manifest
    train, judged, held_out = real_pictures(manifest, data_dir)
    augment = manifest.setting("optim", "augment") == "on"
    rows = {"stored in the folder": stored}
    rows["real pictures as D saw them" + (" (DiffAugment)" if augment else "")] = calibrate_discriminator(copy.deepcopy(stored), train, 32, BATCH, 0, augment=augment)
    if augment:
        rows["real pictures, not augmented"] = calibrate_discriminator(copy.deepcopy(stored), train, 32, BATCH, 0)
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))
    noise = torch.Generator().manual_seed(1)

    def mixed():
        for k in range(32):
            with torch.no_grad():
                fake = generator(sample_noise(BATCH // 2, generator.latent_dim, noise))
            yield torch.cat([to_model_range(train[order[k * BATCH // 2 : (k + 1) * BATCH // 2]]), fake])

    rows["half real, half G's"] = estimate_batchnorm(copy.deepcopy(stored), mixed())
    results = {name: measure_verdicts(generator, judge, judged, count=count) for name, judge in rows.items()}
    results["training's way: each batch of 128 by its own statistics"] = per_batch(generator, stored, judged, min(count, len(judged)))
    return {"model": folder.name, "pictures": "test" if held_out else "training", "count": min(count, len(judged)), "rows": results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=None, help=f"model folder (repeatable; default {', '.join(MODELS)})")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--count", type=int, default=1000, help="real pictures and G's pictures each (default %(default)s)")
    parser.add_argument("--json", help="result JSON (default benchmarks/results/d_verdicts.json)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    reports = [compare(ROOT / model if not Path(model).is_absolute() else Path(model), args.data_dir, args.count) for model in args.model or MODELS]
    print("| model | BatchNorm statistics | real pictures | G's pictures | real rated higher |")
    print("|---|---|---|---|---|")
    for report in reports:
        for name, r in report["rows"].items():
            print(f"| {report['model']} | {name} | {r['real']:.1%} | {r['generated']:.1%} | {r['ranked']:.1%} |")
    print(f"wrote {write_result({**header('d_verdicts', 'd_verdicts.py', argv), 'results': reports}, args.json, 'd_verdicts.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
