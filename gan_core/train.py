"""Train a DCGAN: ``python -m gan_core.train --dataset fashion-mnist --epochs 10 --out-dir runs/fm``.

Writes to --out-dir: checkpoint.pt (every epoch and on Ctrl-C), train_log.jsonl, timeline/epoch_NNN.png
(the same fixed z every epoch), loss.png, samples.png, and the exported generator/ (EMA) and
discriminator/ Hub folders with their run manifest (run.json) and model cards. ``--resume`` continues
a stopped run exactly; a folder that already holds a run is refused unless ``--resume`` or
``--overwrite`` (start over: deletes that run's files) is given. Every flag below is a field of
``gan_core.training.config.TrainConfig``.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import signal
import sys
from pathlib import Path

from gan_core.core import hub
from gan_core.training.config import DEFAULT_EPOCHS, TrainConfig, add_arguments, given_values
from gan_core.training.trainer import CHECKPOINT_NAME, Trainer, load_checkpoint, run_outputs

logger = logging.getLogger("gan_core.train")

# --dry-run: a few steps of a tiny model on the synthetic discs, to check an installation.
DRY_RUN = {
    "dataset": "synthetic", "image_size": 16, "g_features": 8, "d_features": 8, "batch_size": 16, "steps": 20,
    "log_every": 5, "num_fixed": 16, "bn_calibration_batches": 2, "out_dir": "runs/dry-run",
}  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gan_core.train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    r = p.add_argument_group("this invocation")
    start = r.add_mutually_exclusive_group()
    start.add_argument("--resume", nargs="?", const="auto", help="continue from a checkpoint (default: OUT_DIR/checkpoint.pt)")
    # Not a TrainConfig field: it is an instruction to this invocation, not a property of the run
    # (as a field it would be stored in every checkpoint and run.json).
    start.add_argument("--overwrite", action="store_true", help="start over in an OUT_DIR that holds a run: deletes that run's checkpoint, log, timeline and exports first")
    r.add_argument("--dry-run", action="store_true", help=f"train a few steps on a tiny synthetic set, to check the setup (in {DRY_RUN['out_dir']}, replaced each time, unless --out-dir)")
    r.add_argument("--push-to-hub", metavar="REPO", help="after training, push generator/ and discriminator/ to this Hub repo (needs HF_TOKEN)")
    return p


def config_from_args(args: argparse.Namespace) -> tuple[TrainConfig, dict | None]:
    """The run's config (defaults, or the resumed checkpoint's, then the flags given) and the checkpoint.

    Validates everything before any work: a bad value raises ValueError.
    """
    given = (DRY_RUN | given_values(args)) if args.dry_run else given_values(args)
    if not args.resume:
        if not any(limit in given for limit in ("epochs", "steps", "max_minutes")):
            given["epochs"] = DEFAULT_EPOCHS
        return TrainConfig.from_flat(**given), None
    out_dir = given.get("out_dir", TrainConfig().run.out_dir)
    path = Path(out_dir) / CHECKPOINT_NAME if args.resume == "auto" else Path(args.resume)
    if args.resume == "auto" and not path.exists() and run_outputs(out_dir):
        raise FileNotFoundError(f"No checkpoint at {path}: the run in {out_dir} stopped before its first checkpoint; start it over with --overwrite.")
    state = load_checkpoint(path)
    if "out_dir" in given and Path(out_dir).resolve() != path.parent.resolve() and run_outputs(out_dir):
        raise ValueError(f"--out-dir {out_dir} holds another run; resume {path} into its own folder or an empty --out-dir.")
    # Fields not given keep the checkpoint's values; the output stays beside the checkpoint.
    config = TrainConfig.from_dict(state["config"]).override({"out_dir": str(path.parent)} | given)
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
    # A --dry-run into its own default folder replaces the previous dry run; anywhere else it is refused like any run.
    overwrite = args.overwrite or (args.dry_run and "out_dir" not in given_values(args) and not args.resume)
    try:
        config, state = config_from_args(args)
        command = "python -m gan_core.train " + shlex.join(sys.argv[1:] if argv is None else argv)
        trainer = Trainer(config, command=command, checkpoint=state, overwrite=overwrite)
    except (ValueError, OSError) as err:  # OSError: FileNotFoundError, and a folder that cannot be read or written
        parser.exit(2, f"error: {err}\n")
    if state is not None:
        logger.info("resumed from step %d (epoch %.2f)", trainer.step, trainer.step / trainer.steps_per_epoch)
    _stop_on_signals(trainer)
    logger.info("training on %s: %d images, %d steps/epoch, out_dir %s", trainer.device, len(trainer.images), trainer.steps_per_epoch, trainer.out_dir)
    try:
        summary = trainer.train()
    except (ValueError, OSError) as err:  # OutputWriteError (a full disk): one sentence saying what is kept
        parser.exit(2, f"error: {err}\n")
    if summary["interrupted"]:
        print(f"\nInterrupted: checkpoint saved at step {trainer.step}. Continue with --resume --out-dir {trainer.out_dir}", file=sys.stderr)
        return 130
    logger.info("done: %s", summary)
    if args.push_to_hub:
        try:
            for part in ("generator", "discriminator"):
                hub.push_folder(trainer.out_dir / part, args.push_to_hub, path_in_repo=part)
        except (ValueError, OSError) as err:
            parser.exit(2, f"error: the run is finished and saved in {trainer.out_dir}, but pushing it failed: {err}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
