"""The batch views (grid, interpolation strip, GIF, arithmetic, direction sheet): where a GPU helps, they get one.

On a ZeroGPU Space a ``@spaces.GPU`` function runs in a worker process forked from this one, and its arguments are
pickled on every call: the explorer (every model's weights) must not be one. So each page's explorer is registered
here (:func:`serve`) before the first call, and the functions take its key, which the forked worker finds in the same
dictionary. Outside ZeroGPU the decorator does nothing and they run where the models are.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path

from gan_core.explorer import Explorer
from ui import gpu
from ui.common import best_device

SERVED: dict[int, Explorer] = {}  # the explorers of the pages built in this process, by key
GIF_KEEP_SECONDS = 120  # Gradio copies a returned GIF into its cache at once; our copy only has to outlive that
GIF_KEEP_COUNT = 50  # and never more than this many at a time
GIF_PREFIX = "gan-explorer-gifs-"  # the GIF folder of the app process with that pid: gan-explorer-gifs-<pid>


def serve(explorer: Explorer) -> int:
    """Register a page's explorer; the key its batch views take."""
    SERVED[id(explorer)] = explorer
    return id(explorer)


def _on_device(page: int) -> Explorer:
    return SERVED[page].on(best_device())


@gpu
def grid_view(model, start_seed, side, *, page: int):
    return _on_device(page).grid(model, start_seed, side)


@gpu
def strip_view(model, keyframes, method, frames, start_state, *, page: int):
    return _on_device(page).interpolation_strip(model, keyframes, method, frames, start_state)


@gpu
def gif_view(model, keyframes, method, frames, start_state, *, page: int):
    return _on_device(page).interpolation_gif(model, keyframes, method, frames, start_state, directory=gif_folder())


@gpu
def arithmetic_view(model, seeds_a, seeds_b, seeds_c, *, page: int):
    return _on_device(page).arithmetic(model, seeds_a, seeds_b, seeds_c)


@gpu
def sheet_view(model, seed, psi, z, kind="sefa", *, page: int):
    return _on_device(page).direction_sheet(model, seed, psi, z, kind)


def gif_folder(root: Path | None = None) -> Path:
    """This process's GIF folder, emptied of GIFs older than GIF_KEEP_SECONDS (bounded disk use)."""
    folder = Path(root or tempfile.gettempdir()) / f"{GIF_PREFIX}{os.getpid()}"
    folder.mkdir(exist_ok=True)
    cutoff = time.time() - GIF_KEEP_SECONDS
    gifs = []
    for gif in folder.glob("*.gif"):
        with contextlib.suppress(FileNotFoundError):
            gifs.append((gif.stat().st_mtime, gif))
    gifs.sort(reverse=True)
    for index, (mtime, gif) in enumerate(gifs):
        if mtime < cutoff or index >= GIF_KEEP_COUNT:
            with contextlib.suppress(FileNotFoundError):
                gif.unlink()
    return folder
