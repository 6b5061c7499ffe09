"""The live runs of an app's visitors: one run per browser session, its folder, and the model it leaves.

:class:`LiveSessions` starts a :class:`~gan_core.live.run.LiveRun` for a session in a temporary folder of
its own (never under weights/), stops it on request, and when the run ends exports it and serves it through
the app's :class:`~gan_core.explorer.Explorer` under a private, unguessable name: the visitor who trained it
can open it in Explore, nobody else's model list shows it. :meth:`LiveSessions.close` (the visitor left) stops
the run and deletes its model and folder. At most ``keep_models`` finished models are kept; the oldest go first.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from gan_core.core import images
from gan_core.core.checks import check_seed
from gan_core.explorer import Explorer
from gan_core.explorer.visitors import Visitors
from gan_core.live.run import LiveConfig, LiveRun, Snapshot, load_subset
from gan_core.pipeline import GanPipeline

logger = logging.getLogger(__name__)

FOLDER_PREFIX = "gan-live-"  # a run's folder: gan-live-<pid of the app>-<random>
RUNS_PER_ADDRESS = 1  # runs training at once for one address: one client cannot fill the queue with runs nobody watches


def sweep_stale_folders(root: Path, prefix: str = FOLDER_PREFIX) -> list[Path]:
    """Delete the folders ``<prefix><pid>...`` under ``root`` left by app processes that no longer run (killed before they
    could clean up); returns them. The live runs' folders by default; the app's GIF folders use it too."""
    removed = []
    for folder in Path(root).glob(f"{prefix}*"):
        pid = folder.name[len(prefix) :].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
            continue  # that process still runs
        except ProcessLookupError:
            pass
        except (PermissionError, OverflowError):
            continue  # someone else's process, or not a pid
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


@dataclass
class _Session:
    session: str
    folder: Path | None = None  # the current or last run's temporary folder
    run: LiveRun | None = None  # while it trains
    model: str | None = None  # the finished run's model name in the explorer
    closed: bool = False
    stop_asked: bool = False  # Stop came before the run was built: it stops at once
    ended: bool = False  # its training is over (finished, stopped or failed)


class LiveSessions:
    """Per-session live runs for the models an :class:`Explorer` serves (see the module docstring).

    ``data_folder``: the training images (:func:`~gan_core.live.run.load_subset`), read on the first run.
    ``root``: where the temporary run folders go (default: the system's temporary folder).
    """

    def __init__(
        self,
        explorer: Explorer,
        data_folder: str | Path,
        config: LiveConfig | None = None,
        root: str | Path | None = None,
        keep_models: int = 20,
    ):
        self.explorer = explorer
        self.data_folder = Path(data_folder)
        self.config = config or LiveConfig()
        self.root = Path(root) if root is not None else Path(tempfile.gettempdir())
        self.keep_models = keep_models
        self._data = None
        self._lock = threading.Lock()
        self._sessions: Visitors[_Session] = Visitors(on_close=self._end)
        self._addresses: Visitors[_Session] = Visitors()  # the runs training now, by the address that asked
        self._finished: list[_Session] = []  # runs with a model, oldest first
        sweep_stale_folders(self.root)

    def _training_data(self):
        with self._lock:
            if self._data is None:
                self._data = load_subset(self.data_folder)
            return self._data

    def train(self, session: str | None, seed=0, device: str = "cpu", address: str | None = None) -> Iterator[dict]:
        """Train a new run for ``session`` and yield what the page shows after each chunk (:meth:`view`).

        ``address`` (where the request came from) trains at most RUNS_PER_ADDRESS runs at once: ValueError beyond.

        The session's previous model and folder are deleted first. When the run ends (its limits, or
        :meth:`stop`), it is exported and served privately; the last value's "model" names it. If the
        generator is closed early (the page went away) or :meth:`close` is called, everything is deleted.
        """
        seed = check_seed(seed)
        session = session or uuid.uuid4().hex  # a caller without a session can train, but not stop or reopen
        entry = _Session(session)
        if address is not None:
            self._addresses.put(address, entry, at_most=RUNS_PER_ADDRESS, refusal=(
                "A run from your address is already training: stop it or wait for it to end (at most "
                f"{self.config.max_seconds:.0f} s), then start again."))  # fmt: skip
        self._sessions.put(session, entry, only=True)  # the session's previous run and model go
        kept = False
        try:
            data = self._training_data()
            entry.folder = Path(tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{os.getpid()}-", dir=self.root))
            entry.run = LiveRun(data, entry.folder / "run", replace(self.config, seed=seed, device=device))
            if entry.stop_asked:  # Stop was pressed while the run was being built
                entry.run.stop()
            for snapshot in entry.run.snapshots():
                if snapshot.done and not entry.closed and snapshot.step > 0:  # stopped before a step: no model
                    entry.model = self._serve(entry)
                    kept = True
                yield self.view(snapshot, entry.model)
                if entry.closed:
                    return
        finally:
            if address is not None:
                self._addresses.remove(address, entry)
            step = entry.run.step if entry.run is not None else 0
            entry.run, entry.ended = None, True  # the trainer, its data copy and networks go with it
            if not kept or entry.closed:
                self._delete(entry)
                logger.info(
                    "live: a run ended at step %d without a model (stopped early, or its page went away); its folder is deleted", step
                )

    def _serve(self, entry: _Session) -> str:
        """Export the finished run and serve it under a private name; evict the oldest models past ``keep_models``."""
        folder = entry.run.export()
        name = f"live-{secrets.token_hex(6)}"
        pipeline = GanPipeline.from_pretrained(folder, name=name)
        self.explorer.add(pipeline, name, owner=entry.session)
        with self._lock:
            self._finished.append(entry)
            evicted = self._finished[: max(0, len(self._finished) - self.keep_models)]
        for old in evicted:
            self._sessions.close(old.session)
        logger.info("live run of step %d served as %s", entry.run.step, name)
        return name

    def view(self, snapshot: Snapshot, model: str | None = None) -> dict:
        """A snapshot as the page shows it: {"grid": {"src": PNG data URL, "step"}, "losses", "outputs" (curve rows),
        "status" (Markdown), "step", "done", "model" (the finished model's name, else None)}."""
        return {
            "grid": {"src": images.data_url(snapshot.grid), "step": snapshot.step},
            "losses": snapshot.losses,
            "outputs": snapshot.outputs,
            "status": snapshot.status(self.config.max_steps),
            "step": snapshot.step,
            "done": snapshot.done,
            "model": model,
        }

    def stop(self, session: str | None) -> bool:
        """Stop ``session``'s run after its current chunk (it then exports and is served), or as soon as it is built if
        it is still starting; whether one was starting or running."""
        entry = self._sessions.first(session)
        if entry is None or entry.ended:
            return False
        entry.stop_asked = True
        run = entry.run
        if run is not None:
            run.stop()
        return True

    def model(self, session: str | None) -> str:
        """The name of ``session``'s finished model (ValueError with a sentence if there is none)."""
        entry = self._sessions.first(session)
        if entry is None or entry.model is None:
            raise ValueError("There is no finished live run yet: press Start training, then Stop (or wait for it to finish).")
        return entry.model

    def close(self, session: str | None) -> None:
        """The visitor left: stop the run, stop serving its model, delete its folder."""
        if self._sessions.close(session):
            logger.info("live: a page with a run closed; its run stops and its model and folder are deleted")

    def _end(self, entry: _Session) -> None:
        """``entry``'s session left or started anew: a finished run's model and folder go at once, a running one's when it has stopped."""
        with self._lock:
            if entry in self._finished:
                self._finished.remove(entry)
        entry.closed = True  # before reading run: the training generator clears run before reading closed
        run = entry.run
        if run is not None:
            run.stop()  # the training generator deletes everything once it sees the stop
        else:
            self._delete(entry)

    def _delete(self, entry: _Session) -> None:
        if entry.model is not None:
            self.explorer.remove(entry.model)
            entry.model = None
        if entry.folder is not None:
            with contextlib.suppress(OSError):
                shutil.rmtree(entry.folder)
            entry.folder = None

    @property
    def running(self) -> int:
        """How many runs are training now."""
        return sum(1 for entry in self._sessions.values() if entry.run is not None)
