"""Train a DCGAN: ``python -m gan_core.train --dataset fashion-mnist --epochs 10 --out-dir runs/fm``.

Writes to --out-dir: checkpoint.pt (every epoch and on Ctrl-C), train_log.jsonl, timeline/epoch_NNN.png
(the same fixed z every epoch), loss.png, samples.png, and the exported generator/ (EMA) and
discriminator/ Hub folders with model cards. ``--resume`` continues a stopped run exactly.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import signal
import sys
from dataclasses import fields
from pathlib import Path

import torch

from gan_core import hub
from gan_core.data import dataset_names, make_synthetic
from gan_core.training import CHECKPOINT_NAME, RESUME_KEYS, TrainConfig, Trainer, check_resume_compatible, load_checkpoint

logger = logging.getLogger("gan_core.train")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gan_core.train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    d = p.add_argument_group("data")
    d.add_argument("--dataset", help=f"dataset name: {', '.join(dataset_names())} (default fashion-mnist)")
    d.add_argument("--data-dir", help="folder holding the IDX files (looked in before $GAN_DATA_DIR, system folders and downloads)")
    d.add_argument("--image-size", type=int, help="side in pixels, base*2^k with base 4..8 (8, 16, 28, 32, 64, ...); default: the dataset's")
    d.add_argument("--channels", type=int, choices=(1, 3), help="1 grey or 3 RGB; default: the dataset's")
    d.add_argument("--no-download", dest="download", action="store_const", const=False, help="never download; fail if the files are not on disk")
    m = p.add_argument_group("model and optimisation")
    m.add_argument("--latent-dim", type=int, help="size of z (default 100)")
    m.add_argument("--g-features", type=int, help="G's base width (default 32)")
    m.add_argument("--d-features", type=int, help="D's base width (default 32)")
    m.add_argument("--batch-size", type=int, help="default 128")
    m.add_argument("--lr", type=float, help="Adam learning rate (default 2e-4)")
    m.add_argument("--beta1", type=float, help="Adam beta1 (default 0.5)")
    m.add_argument("--beta2", type=float, help="Adam beta2 (default 0.999)")
    m.add_argument("--noise", choices=("normal", "uniform"), help="z ~ N(0,1) (default) or U(-1,1)")
    m.add_argument("--ema-decay", type=float, help="decay of the exported EMA generator (default 0.999)")
    m.add_argument("--seed", type=int, help="default 0")
    lim = p.add_argument_group("limits (the first reached stops the run)")
    lim.add_argument("--epochs", type=int, help="total epochs (counted over resumes)")
    lim.add_argument("--steps", type=int, help="total optimisation steps (counted over resumes)")
    lim.add_argument("--max-minutes", type=float, help="wall-clock minutes for this invocation")
    r = p.add_argument_group("run")
    r.add_argument("--out-dir", help="output folder (default runs/dcgan)")
    r.add_argument("--resume", nargs="?", const="auto", help="continue from a checkpoint (default: OUT_DIR/checkpoint.pt)")
    r.add_argument("--device", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N, mps")
    r.add_argument("--amp", choices=("auto", "bf16", "off"), help="bf16 autocast (auto: on CUDA)")
    r.add_argument("--channels-last", choices=("auto", "on", "off"), help="channels_last memory format (auto: on CUDA)")
    r.add_argument("--compile", action="store_const", const=True, help="torch.compile the training step")
    r.add_argument("--log-every", type=int, help="steps per JSONL log record (default 50)")
    r.add_argument("--no-progress", dest="progress", action="store_const", const=False, help="hide the progress bar")
    r.add_argument("--keep-snapshots", action="store_const", const=True, help="also save the EMA generator of every epoch in OUT_DIR/snapshots/")
    r.add_argument("--dry-run", action="store_true", help="train a few steps on a tiny synthetic set, to check the setup")
    r.add_argument("--push-to-hub", metavar="REPO", help="after training, push generator/ and discriminator/ to this Hub repo (needs HF_TOKEN)")
    return p


CONFIG_FIELDS = {f.name for f in fields(TrainConfig)}


def config_from_args(args: argparse.Namespace) -> tuple[TrainConfig, dict | None]:
    """Merge defaults, an optional resume checkpoint and the flags given. Validates before any work."""
    given = {k: v for k, v in vars(args).items() if k in CONFIG_FIELDS and v is not None}
    if args.dry_run:
        given = {"dataset": "synthetic", "image_size": 16, "g_features": 8, "d_features": 8, "batch_size": 16, "steps": 20, "log_every": 5, "num_fixed": 16, "bn_calibration_batches": 2, "out_dir": "runs/dry-run"} | given
    state = None
    if args.resume:
        out_dir = given.get("out_dir", TrainConfig.out_dir)
        path = Path(out_dir) / CHECKPOINT_NAME if args.resume == "auto" else Path(args.resume)
        state = load_checkpoint(path)
        saved = state["config"]
        check_resume_compatible(saved, saved | {k: v for k, v in given.items() if k in RESUME_KEYS})
        values = saved | given
        if "out_dir" not in given:
            values["out_dir"] = str(path.parent)
    else:
        values = given
    config = TrainConfig.from_dict(values)
    if config.epochs is None and config.steps is None and config.max_minutes is None:
        config.epochs = 5
    return config, state


def _stop_on_signals(trainer: Trainer) -> None:
    """SIGINT (Ctrl-C) and SIGTERM finish the current step, checkpoint and exit; a second one exits at once.

    Installed explicitly, so it also works in a background job (where SIGINT starts ignored).
    """

    def handler(signum, frame):
        if trainer.stop_requested:
            raise KeyboardInterrupt
        trainer.request_stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        config, state = config_from_args(args)
        data = make_synthetic(256, config.image_size or 16, config.channels or 1) if config.dataset == "synthetic" else None
        command = "python -m gan_core.train " + shlex.join(sys.argv[1:] if argv is None else argv)
        trainer = Trainer(config, data=data, command=command)
        if state is not None:
            trainer.load_state_dict(state)
            logger.info("resumed from step %d (epoch %.2f)", trainer.step, trainer.step / trainer.steps_per_epoch)
    except (ValueError, FileNotFoundError) as err:
        parser.exit(2, f"error: {err}\n")
    _stop_on_signals(trainer)
    logger.info("training on %s: %d images, %d steps/epoch, out_dir %s", trainer.device, len(trainer.images), trainer.steps_per_epoch, config.out_dir)
    summary = trainer.train()
    if summary["interrupted"]:
        print(f"\nInterrupted: checkpoint saved at step {trainer.step}. Continue with --resume --out-dir {config.out_dir}", file=sys.stderr)
        return 130
    logger.info("done: %s", summary)
    if args.push_to_hub:
        for part in ("generator", "discriminator"):
            hub.push_folder(Path(config.out_dir) / part, args.push_to_hub, path_in_repo=part)
    return 0


if __name__ == "__main__":
    sys.exit(main())
