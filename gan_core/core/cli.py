"""What the commands (``python -m gan_core.<verb>``) share on their command line: --threads, the log format,
and the command line as run cards record it.

For entry points only: setting torch's threads or the log format configures the whole process.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys

import torch

LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"
THREADS_HELP = "torch CPU threads (default: torch's choice)"


def add_threads_flag(parser: argparse.ArgumentParser | argparse._ArgumentGroup, help: str = THREADS_HELP) -> None:
    """--threads N (default None: torch's choice); :func:`set_threads` applies it."""
    parser.add_argument("--threads", type=int, metavar="N", help=help)


def set_threads(parser: argparse.ArgumentParser, threads: int | None) -> None:
    """``torch.set_num_threads(threads)`` unless None; below 1, exit 2 with one sentence, as argparse does."""
    if threads is None:
        return
    if threads < 1:
        parser.exit(2, f"error: --threads must be at least 1, got {threads}\n")
    torch.set_num_threads(threads)


def start_command(parser: argparse.ArgumentParser, argv: list[str] | None, level: int = logging.INFO) -> argparse.Namespace:
    """Parse ``argv`` (None: the process's), log at ``level`` in :data:`LOG_FORMAT`, apply --threads; the arguments."""
    args = parser.parse_args(argv)
    logging.basicConfig(level=level, format=LOG_FORMAT)
    set_threads(parser, args.threads)
    return args


def command_line(parser: argparse.ArgumentParser, argv: list[str] | None) -> str:
    """The invocation as cards and run.json record it: ``python -m gan_core.<verb> ARGS`` (``argv``, or the process's)."""
    return f"{parser.prog} " + shlex.join(sys.argv[1:] if argv is None else argv)
