"""Train a DCGAN: ``python -m gan_core.train --dataset fashion-mnist --epochs 10 --out-dir runs/fm``.

Writes to --out-dir: checkpoint.pt (every epoch and on Ctrl-C), train_log.jsonl, timeline/epoch_NNN.png
(the same fixed z every epoch), loss.png, samples.png, and the exported generator/ (EMA) and
discriminator/ Hub folders with their run manifest (run.json) and model cards. ``--resume`` continues
a stopped run exactly; a folder that already holds a run is refused unless ``--resume`` or
``--overwrite`` (start over: deletes that run's files) is given. Every flag below is a field of
``gan_core.training.config.TrainConfig``.

On several processes: ``torchrun --nproc_per_node=N -m gan_core.train ...`` (NCCL on GPUs, gloo on
CPUs). --batch-size stays the global batch, split over the N processes; only process 0 reads and
writes --out-dir.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import signal
import sys
import time
from pathlib import Path

from gan_core.core import hub
from gan_core.core.cli import LOG_FORMAT, add_threads_flag, set_threads
from gan_core.training import distributed
from gan_core.training.checkpoint import CHECKPOINT_NAME, load_checkpoint, run_outputs
from gan_core.training.config import DEFAULT_EPOCHS, TrainConfig, add_arguments, describe_batch, given_values
from gan_core.training.trainer import Trainer

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
    start.add_argument("--branch", metavar="CHECKPOINT", help="continue another run's checkpoint in a new, empty --out-dir with "
                       "another optimisation recipe (e.g. --top-k 0.5, --lr 5e-5): networks, EMA, Adam's state and step count come "
                       "from it, the model and data must match")  # fmt: skip
    r.add_argument("--dry-run", action="store_true", help=f"train a few steps on a tiny synthetic set, to check the setup (in {DRY_RUN['out_dir']}, replaced each time, unless --out-dir)")
    add_threads_flag(r, help="torch CPU threads (default: torch's choice, one per core; on a machine busy with other work, 1 thread can be "
                     "many times faster than 2: each step's thread synchronisation waits for the busy core)")  # fmt: skip
    r.add_argument("--push-to-hub", metavar="REPO", help="after training, push generator/ and discriminator/ to this Hub repo (needs HF_TOKEN)")
    return p


def config_from_args(args: argparse.Namespace) -> tuple[TrainConfig, dict | None]:
    """The run's config (defaults, or the resumed checkpoint's, then the flags given) and the checkpoint.

    Validates everything before any work: a bad value raises ValueError.
    """
    given = (DRY_RUN | given_values(args)) if args.dry_run else given_values(args)
    if args.branch:
        if "out_dir" not in given:
            raise ValueError("--branch needs its own --out-dir: a new, empty folder for the branch (the checkpoint's run stays as it is).")
        state = load_checkpoint(Path(args.branch))
        return TrainConfig.from_dict(state["config"]).override(given), state
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


def shared_config(args: argparse.Namespace, world: distributed.Distributed | None) -> tuple[TrainConfig, dict | None]:
    """:func:`config_from_args`; with several processes process 0 alone reads (the checkpoint) and sends the
    outcome to the others, so they never touch --out-dir. A mistake raises the same ValueError everywhere."""
    if world is None:
        return config_from_args(args)
    outcome, error = None, None
    if world.is_main:
        try:
            config, state = config_from_args(args)
            outcome = (config.to_dict(), state)
        except (ValueError, OSError) as err:
            error = err
    outcome, message = world.share((outcome, None if error is None else str(error)))
    if error is not None:
        raise error
    if message is not None:
        raise distributed.SharedError(message)
    config_dict, state = outcome
    return TrainConfig.from_dict(config_dict), state


def _command(argv: list[str] | None, world: distributed.Distributed | None) -> str:
    """The command line as run.json records it."""
    args = shlex.join(sys.argv[1:] if argv is None else argv)
    if world is None:
        return "python -m gan_core.train " + args
    nodes = f" --nnodes={world.launch.num_nodes}" if world.launch.num_nodes > 1 else ""
    return f"torchrun{nodes} --nproc_per_node={world.launch.local_world_size} -m gan_core.train " + args


def _stop_on_signals(trainer: Trainer, together_s: float = 0.0) -> None:
    """SIGINT (Ctrl-C) and SIGTERM finish the current step, checkpoint and exit; a second one exits at once.

    Installed explicitly, so it also works in a background job (where SIGINT starts ignored). Under
    torchrun a Ctrl-C reaches each process twice (the terminal's SIGINT, then torchrun's SIGTERM), so a
    second signal within ``together_s`` seconds counts as the same request; the processes stop together
    at their next log window.
    """
    first = []

    def handler(signum, frame):
        if trainer.stop_requested and time.monotonic() - first[0] >= together_s:
            raise KeyboardInterrupt
        if not trainer.stop_requested:
            first.append(time.monotonic())
        trainer.request_stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    set_threads(parser, args.threads)
    try:
        world = distributed.init_from_env()  # None unless started by torchrun with several processes
    except ValueError as err:
        parser.exit(2, f"error: {err}\n")
    finished = False
    try:
        code = _train(parser, args, argv, world)
        finished = True
        return code
    finally:
        if world is not None:
            world.close(finished)


def _train(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str] | None, world: distributed.Distributed | None) -> int:
    main_process = world is None or world.is_main
    logging.basicConfig(level=logging.INFO if main_process else logging.WARNING, format=LOG_FORMAT)

    def fail(err: BaseException):
        # Under torchrun process 0's errors reach every process: process 0 says them, the others leave quietly.
        if main_process:
            parser.exit(2, f"error: {err}\n")
        parser.exit(2, None if isinstance(err, distributed.SharedError) else f"error: process {world.rank}: {err}\n")

    # A --dry-run into its own default folder replaces the previous dry run; anywhere else it is refused like any run.
    overwrite = args.overwrite or (args.dry_run and "out_dir" not in given_values(args) and not args.resume)
    try:
        config, state = shared_config(args, world)
        trainer = Trainer.create(config, command=_command(argv, world), checkpoint=state, branch=bool(args.branch), overwrite=overwrite, distributed=world)
    except (ValueError, OSError) as err:  # OSError: FileNotFoundError, and a folder that cannot be read or written
        fail(err)
    if state is not None:
        logger.info("%s from step %d (epoch %.2f)", "branched" if args.branch else "resumed", trainer.step, trainer.step / trainer.steps_per_epoch)
    _stop_on_signals(trainer, together_s=0.0 if world is None else 2.0)
    where = "" if world is None else f" ({world.world_size} processes, {trainer.local_batch} images each per step)"
    logger.info("training on %s%s: %d images, %d steps/epoch, out_dir %s", trainer.device, where, len(trainer.images), trainer.steps_per_epoch, trainer.out_dir)
    batch_note = describe_batch(config.optim.batch_size, trainer.config.optim.batch_size, len(trainer.images))
    logger.info("%s; %s; %s", batch_note, trainer.speed_note, trainer.augment_note)
    try:
        summary = trainer.train()
    except (ValueError, OSError) as err:  # OutputWriteError (a full disk): one sentence saying what is kept
        fail(err)
    except RuntimeError as err:  # under torchrun: another process died, or hung past --collective-timeout
        if world is None or not distributed.is_peer_failure(err):
            raise
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        parser.exit(1, f"error: process {world.rank} of {world.world_size} lost the others ({first}); the run stops. "
                       "Continue from its last checkpoint with the same command and --resume.\n")  # fmt: skip
    if summary["interrupted"]:
        if main_process:
            print(f"\nInterrupted: checkpoint saved at step {trainer.step}. Continue with --resume --out-dir {trainer.out_dir}", file=sys.stderr)
        return 130
    if not main_process:
        return 0
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
