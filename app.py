"""DCGAN Latent Explorer: a Gradio app over gan_core's explorer. UI wiring only.

    python app.py                                   # every weights/*/ folder holding generator/
    python app.py --model weights/mnist --model user/dcgan-repo
    GAN_MODELS=weights/fashion-mnist,user/repo python app.py

``build_demo(explorer)`` builds the page for an :class:`~gan_core.explorer.Explorer` and loads
nothing, so tests build it in-process; ``main()`` loads the models and launches it, and
``app.demo`` (what ``gradio app.py`` and Spaces look for) is built on first use. Each callback
calls one explorer method with plain values and shows what it returns.

Dragging a slider never waits for the server when it can avoid it: the slider's ``.input`` event
runs JavaScript only (assets/live.js), which draws the frame in the page with the exported G and D
(assets/in_browser.mjs on gan_core/web/gan_web.js and onnxruntime-web), from the seed's z and the
slider directions the server sent once. Where that cannot run (no WebAssembly, a blocked file,
still loading, ``?render=server``) the same handler calls the picture's server function instead:
one small POST, a ~1 KB PNG back, always the latest value, never a pile-up. ``.release`` and every
button go through ordinary named Gradio endpoints, which are also the public API. HTML templates,
CSS and JavaScript live in ``assets/``.

"Draw or upload" finds the z of a picture (``/invert``) and opens it in Explore: the Explore state
then carries that z instead of a seed (the seed box is empty, a hidden JSON holds z), and every
Explore view, the in-browser engine, sharing and interpolation take it from there. Stop ends a
running search through a per-session flag that the search checks before every step.

On a ZeroGPU Space the batch views (grid, strip, GIF, arithmetic, direction sheet) run under
``@spaces.GPU``; elsewhere that decorator does nothing and they run where the models are.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import inspect
import json
import logging
import math
import os
import sys
import tempfile
import threading
import time
import weakref
from pathlib import Path

try:  # ZeroGPU Spaces: imported before torch, as the spaces package requires
    import spaces

    gpu = spaces.GPU(duration=30)
except ImportError:  # not installed (e.g. a local run from pyproject's dependencies): nothing to decorate

    def gpu(fn):
        return fn


import gradio as gr
from gradio.exceptions import InvalidPathError
from pydantic import ValidationError
from gradio.utils import get_upload_folder as gradio_upload_folder
import pandas as pd
import torch
from starlette.middleware import Middleware

from gan_core.core.checks import SEED_MAX, check_count
from gan_core.explorer import Explorer, ExploreState, ModelView, live, sources_from
from gan_core.explorer import explorer as views
from gan_core.explorer.state import DIRECTION_LIMIT, NUM_DIRECTIONS, PSI_RANGE
from gan_core.inversion.invert import RefineConfig
from gan_core.live import toy
from gan_core.live.run import LiveConfig
from gan_core.live.sessions import LiveSessions

logger = logging.getLogger("app")
ROOT = Path(__file__).resolve().parent
ASSETS = ROOT / "assets"
GAN_WEB = ROOT / "gan_core" / "web" / "gan_web.js"
VENDOR = ASSETS / "vendor" / "onnxruntime-web"  # python scripts/get_web_runtime.py puts it there
THEME = gr.themes.Soft(primary_hue="indigo", font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
N = NUM_DIRECTIONS

INTRO = """
# DCGAN Latent Explorer
A generator **G** turns a vector of 100 random numbers **z** into a picture; a discriminator **D** was trained
to tell G's pictures from real ones while G learned to fool it (Goodfellow et al. 2014, DCGAN by Radford et al. 2015).
Pick a model and a seed, then drag the sliders: each moves z along one of the directions G is most sensitive to,
and D's verdict on the result updates as you drag.
"""

TRAINING_NOTE = (
    "GAN training is a two-player game, min_G max_D E[log D(x)] + E[log(1 − D(G(z)))]. "
    "**Loss_D** falls when D separates real from fake; **Loss_G** falls when G fools D. "
    "Neither should win: at the game's equilibrium D(x) = D(G(z)) = 0.5 because D can no longer tell; in practice the curves hover apart without collapsing. "
    "The scrubber shows the same fixed z after each epoch: shapes first, then strokes and texture."
)

INVERT_NOTE = """
Draw a digit or a garment with the mouse or a finger (light strokes on black, like the training pictures; dark on light works
too), or **upload a picture** with the picture button beside the canvas. **Find z** looks for the z whose picture G draws
closest to yours: the encoder's guess, then gradient steps on z (f-AnoGAN, Schlegl et al. 2019). The **anomaly score**
measures what G cannot draw back, in pixels and in D's features: pictures like the training data score low, anything else
high, and the percentile places it among real test pictures. Open the result in Explore to edit it with the sliders.
"""
PROGRESS_EVERY = 0.25  # s between a search's progress updates to the page
SKETCH_SIDE = 280  # px: the drawing canvas (10x a 28 px picture); uploads are scaled into it by the page

TOY_NOTE = """
**The 2-D game.** The same game as the image GAN, small enough to watch: G turns noise into points in the plane, the real
data is a mixture of Gaussians, and the background is D's verdict D(x) at every point of the plane. D minimises BCE
(real 1, fake 0), G the non-saturating loss −log D(G(z)), both with Adam. Press **Start** and watch G's points
chase the places D calls real, and D move its verdict after them. G often piles onto a few modes (**mode collapse**):
the line under the picture counts the modes G reaches. **One step, slowly** makes one D update and one G update
and shows what each changed.
"""
TOY_CONCURRENCY = 1  # 2-D games training at once, whoever asks: each runs on one thread, the other core stays with the explorer
TOY_STATE_SECONDS = 1800  # a visitor's game is forgotten this long after its last change (and when the page closes)

# The live path's events: always the latest value, no progress overlay, no queue.
LIVE = {"trigger_mode": "always_last", "show_progress": "hidden", "queue": False}
# Inputs reach gan_core as sent (no Gradio preprocessing), so a wrong type or range gets gan_core's sentence.
RAW = {"preprocess": False}
CURVE_COLUMNS = ["epoch", "value", "series"]
LIVE_CURVE_COLUMNS = ["step", "value", "series"]
LIVE_DATA = ROOT / "weights" / "live" / "mnist-4096"  # 4,096 MNIST digits the live run trains on (SOURCE.md there)
LIVE_NOTE = """
Train a small DCGAN here and watch the game while it is played: G (32 wide) starts from random weights and learns from
4,096 MNIST digits, one step of D and one of G at a time (the same trainer as `python -m gan_core.train`). The grid shows G's
pictures of the **same 64 fixed z** as it learns; the curves are Loss_D, Loss_G and D's mean outputs on real digits, D(x),
and on G's pictures, D(G(z)). **Stop** at any time; the model it leaves (stopped or finished) opens in Explore for you
alone, until you close the page. Runs are limited in steps and time and take turns: when someone else's run is training,
yours waits in a queue that shows your place.
"""


def asset(name: str) -> str:
    return (ASSETS / name).read_text()


def file_url(path: Path) -> str:
    """The page-relative URL under which Gradio serves a static file (see web_files)."""
    return f"gradio_api/file={Path(path).resolve()}"


def web_files(explorer: Explorer) -> list[Path]:
    """Every file the page fetches to draw in the browser: the engine, gan_web.js, the runtime, the models' ONNX files."""
    files = [ASSETS / "in_browser.mjs", GAN_WEB, *sorted(VENDOR.glob("*"))]
    for name in explorer.names:
        bundle = explorer.browser_model(name)
        files += [path for path in (bundle["generator_onnx"], bundle["discriminator_onnx"]) if path is not None]
    return [path.resolve() for path in files]


def live_js(kind: str, fn_name: str, engine: bool) -> str:
    """The js_on_load of a picture with a live path: ``kind`` 'explore' or 'interpolate'; the server fallback ``fn_name``."""
    config = {"engine": file_url(ASSETS / "in_browser.mjs"), "ganWeb": file_url(GAN_WEB), "vendor": file_url(VENDOR) + "/", "forceServer": False} if engine else {}
    return asset("live.js").replace("__KIND__", kind).replace("__FN__", fn_name).replace("__CONFIG__", json.dumps(config))


def live_trigger(kind: str) -> str:
    """The client-side handler of a slider's .input: hand the values to the picture's live path (no request from here)."""
    return f"(...args) => {{ window.ganLive && window.ganLive['{kind}'] && window.ganLive['{kind}'](args); }}"


def engine_call(call: str) -> str:
    """A JavaScript-only event handler that calls the in-browser engine, if it loaded (no request to the server)."""
    return f"(...args) => {{ window.ganWeb && window.ganWeb.{call}(...args); return []; }}"


@contextlib.contextmanager
def user_errors(name: str):
    """A user error's sentence becomes a gr.Error: one short log line, no traceback.

    Anything else is a bug: logged once with its traceback, and the visitor gets a plain sentence.
    """
    try:
        yield
    except (ValueError, FileNotFoundError) as err:
        message = str(err)
        logger.info("refused %s: %s", name, message[:200])
        raise gr.Error(message, print_exception=False) from None
    except gr.Error:
        raise
    except Exception:
        logger.exception("%s failed", name)
        raise gr.Error("The server could not do that (an internal error, logged for the developers).", print_exception=False) from None


def ui(fn):
    """``fn`` with its errors shown as user_errors does (the signature stays ``fn``'s); a generator stays a generator."""
    if inspect.isgeneratorfunction(fn):  # a callback that streams: Gradio must still see a generator function

        @functools.wraps(fn)
        def streaming(*args):
            with user_errors(fn.__name__):
                yield from fn(*args)

        return streaming

    @functools.wraps(fn)
    def wrapper(*args):
        with user_errors(fn.__name__):
            return fn(*args)

    return wrapper


# --------------------------------------------------------------------------- what follows the model


def direction_props(view: ModelView, k: int, amount: float = 0.0) -> dict:
    """Slider k's label, value and visibility for a model: hidden past the model's directions."""
    has = k < len(view.labels)
    return {"label": view.labels[k] if has else f"Direction {k + 1}", "value": amount if has else 0.0, "visible": has}


def timeline_props(view: ModelView) -> dict:
    last = max(view.timeline_count, 1)
    # Gradio refuses a slider whose minimum equals its maximum: a model with one timeline picture (a live run's) gets 0..1, fixed.
    return {"minimum": 1 if view.timeline_count > 1 else 0, "maximum": last, "value": last, "interactive": view.timeline_count > 1}


def curve_frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


def live_curve_frame(rows: list[dict], series: tuple[str, ...] = ()) -> pd.DataFrame:
    """A live run's curve rows as a table with numeric columns. The page's first, empty table names its ``series`` in rows
    without values: a plot takes its axes' types and its colours from its first value."""
    rows = rows or [{"step": 0, "value": math.nan, "series": name} for name in series]
    return pd.DataFrame(rows, columns=LIVE_CURVE_COLUMNS).astype({"step": "int64", "value": "float64"})


def model_props(explorer: Explorer, state: ExploreState) -> dict[str, dict]:
    """The props of every component that follows the model, by component name.

    The page is built with them as constructor arguments, and a model switch or a restored link
    sends them as updates: the first page and a switch cannot drift apart.
    """
    view = explorer.view(state.model)
    state = state.fit(len(view.labels))
    props = {
        "model": {"value": state.model},
        "model_info": {"value": view.summary},
        "seed": {"value": state.seed},
        "psi": {"value": state.psi},
        "picture": {"value": explorer.picture(state)},
        "epoch": timeline_props(view),
        "timeline": {"value": view.timeline},
        "loss_plot": {"value": curve_frame(view.losses)},
        "d_plot": {"value": curve_frame(view.outputs)},
        "verdict_note": {"value": view.verdict_note},
        "sheet": {"value": explorer.direction_sheet(state.model, state.seed, state.psi, state.z)},
        "latent": {"value": list(state.z) if state.z is not None else None},  # a found picture's z; None for a seed
    }
    for k in range(N):
        props[f"direction_{k + 1}"] = direction_props(view, k, state.amounts[k] if k < len(state.amounts) else 0.0)
    return props


# --------------------------------------------------------------------------- the page


GIF_KEEP_SECONDS = 120  # Gradio copies a returned GIF into its cache at once; our copy only has to outlive that
GIF_KEEP_COUNT = 50  # and never more than this many at a time


def gif_folder() -> Path:
    """The folder the app writes GIFs to, emptied of GIFs older than GIF_KEEP_SECONDS (bounded disk use)."""
    folder = Path(tempfile.gettempdir()) / f"gan-explorer-gifs-{os.getpid()}"
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


class Searches:
    """The inversions running now, per browser session, so that a session's Stop button can end its own.

    Each search registers a threading.Event for the time it runs; Stop sets the events of its session,
    and the search (which checks its event before every step) returns the best z found so far.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._running: dict[str, set[threading.Event]] = {}

    @contextlib.contextmanager
    def running(self, session: str | None):
        event = threading.Event()
        if session is None:  # a call without a session cannot be stopped, but runs
            yield event
            return
        with self._lock:
            self._running.setdefault(session, set()).add(event)
        try:
            yield event
        finally:
            with self._lock:
                events = self._running.get(session, set())
                events.discard(event)
                if not events:
                    self._running.pop(session, None)

    def stop(self, session: str | None) -> int:
        """Ask every search of ``session`` to stop; how many were running."""
        with self._lock:
            events = list(self._running.get(session, ())) if session is not None else []
        for event in events:
            event.set()
        return len(events)


# What a visitor or an API client is told for any file that did not come through this app's upload, whether or not it
# exists: the answer must not tell what lies on the server's disk.
NOT_UPLOADED = "The picture must be a file uploaded to this app: the page's upload button or drawing, or gradio_client.handle_file(...) in an API call."


def picture_file(value) -> str | None:
    """The path of a picture a request names, only if Gradio's upload folder holds it (symlinks resolved); None for no picture.

    Gradio checks the upload folder only for a value that carries ``meta``, and our file inputs take values as sent
    (``preprocess=False``): a bare ``{"path": ...}``, a string, a relative path or a symlink out of the folder would
    otherwise read any file the server can. Every such value gets the same sentence (ValueError), existing or not.
    """
    if value is None:
        return None
    path = value.get("path") if isinstance(value, dict) else None
    if isinstance(path, str) and os.path.isabs(path):
        real = Path(os.path.realpath(path))
        if real.is_relative_to(Path(os.path.realpath(gradio_upload_folder()))) and real.is_file():
            return str(real)
    raise ValueError(NOT_UPLOADED)


FILE_MODELS = ("FileData", "ImageData")  # Gradio's data models of a file value: a misfit one is a file not uploaded here


class Blocks(gr.Blocks):
    """gr.Blocks whose requests that fail inside Gradio, before our function runs, still get a sentence.

    Gradio checks a request's values (their count, a file's folder, a component's data model) before calling the
    function, and answers a failed check with an error that has no message, after logging a traceback. Here such a
    request gets one sentence that says what the endpoint takes, and one log line.
    """

    async def preprocess_data(self, block_fn, inputs, state, explicit_call: bool = False):
        try:
            return await super().preprocess_data(block_fn, inputs, state, explicit_call)
        except (InvalidPathError, ValidationError) as err:
            if isinstance(err, ValidationError) and err.title not in FILE_MODELS:
                raise self.misfit(block_fn, err) from None
            logger.info("refused %s: not a file of the upload folder", block_fn.name)
            raise gr.Error(NOT_UPLOADED, print_exception=False) from None
        except Exception as err:  # noqa: BLE001 - every check of Gradio's, whatever it raises, becomes one sentence
            raise self.misfit(block_fn, err) from None

    @staticmethod
    def misfit(block_fn, err: Exception) -> gr.Error:
        logger.info("refused %s before it ran: %s", block_fn.name, str(err).splitlines()[0][:200] if str(err) else type(err).__name__)
        endpoint = f"/{block_fn.api_name}" if block_fn.api_name else "this event"
        names = [block.label or type(block).__name__.lower() for block in block_fn.inputs]
        return gr.Error(
            f"The values sent to {endpoint} do not fit it: it takes {len(names)} value(s) ({', '.join(names)}); "
            "see the page's API description (Use via API) for their types.", print_exception=False,
        )


def best_device() -> str:
    """Where the batch views run: the GPU when there is one (inside @spaces.GPU on ZeroGPU), else the CPU."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def live_device() -> str:
    """Where a live run trains: a GPU of this process if there is one, else the CPU (one thread: the app sets one per process).

    On a ZeroGPU Space the GPU exists only inside a @spaces.GPU call in another process, which the run's Stop flag, its
    snapshots and the visitor's finished model could not reach (as for the inversion search): there it trains on the CPU.
    """
    return "cpu" if os.environ.get("SPACES_ZERO_GPU") else best_device()


def build_demo(explorer: Explorer, live_runs: int = 1, live_config: LiveConfig | None = None) -> gr.Blocks:
    """The explorer page for the models ``explorer`` serves. Nothing is loaded or launched.

    The files the page draws with in the browser (web_files) are registered as Gradio static
    paths: served as they are, with their real MIME types, and nothing else beside them.

    ``live_runs``: how many "Watch it train" runs may train at once (the others wait in the queue);
    ``live_config``: their networks and limits (default :class:`LiveConfig`).
    """
    gr.set_static_paths(web_files(explorer))
    first = ExploreState(explorer.names[0], 0)
    props = model_props(explorer, first)
    c: dict[str, gr.components.Component] = {}  # the components that follow the model, by name

    # API functions with the documented parameter names (d1..d8 are the amounts of the 8 sliders; z, optional,
    # is a found picture's z from /invert, used when seed is None).
    def explore(model, seed, psi, d1, d2, d3, d4, d5, d6, d7, d8, z=None):
        return explorer.explore(model, seed, psi, d1, d2, d3, d4, d5, d6, d7, d8, z=z)

    def explore_state(model, seed, psi, d1, d2, d3, d4, d5, d6, d7, d8, z=None):
        """The Explore state as JSON, to start an interpolation there."""
        return explorer.share(model, seed, psi, d1, d2, d3, d4, d5, d6, d7, d8, z=z)[0]

    def share(model, seed, psi, d1, d2, d3, d4, d5, d6, d7, d8, z=None):
        return explorer.share(model, seed, psi, d1, d2, d3, d4, d5, d6, d7, d8, z=z)

    def reset(model, seed, z=None):
        """The seed with psi 1 and all directions 0 (with the seed box empty: the found z, unedited)."""
        return explorer.start(model, seed, z)

    def updates(state: ExploreState) -> dict:
        # A component whose value alone changes gets the plain value (what API clients read); others an update.
        props = model_props(explorer, state).items()
        return {c[name]: values["value"] if list(values) == ["value"] else gr.update(**values) for name, values in props}

    def select_model(model, seed):
        """Switch model keeping the seed (a found z belongs to its model: seed 0 instead): everything that follows the model, redrawn."""
        explorer.get(model)
        changed = updates(ExploreState(model, 0 if views.no_seed(seed) else seed))
        del changed[c["model"]]  # the dropdown itself already shows it
        return changed

    def restore(text):
        """Restore a shared state (JSON or link) and open Explore."""
        return updates(explorer.restore(text)) | {tabs: gr.Tabs(selected="explore")}

    def on_load(request: gr.Request):
        """Open a shared link (?model=...&seed=...) if the page has one; otherwise leave the page as built."""
        query = request.query_params if request is not None else {}
        if "model" in query and ("seed" in query or "z" in query):
            try:
                return restore("?" + str(request.query_params))
            except (ValueError, gr.Error) as err:
                gr.Warning(f"The link's state was not restored: {err}")
        return [gr.skip()] * len(restore_outputs)

    def open_tile(model, start_seed, index):
        """A grid tile's seed, opened in Explore with the sliders reset."""
        return (*explorer.start(model, explorer.grid_pick(start_seed, index)), gr.Tabs(selected="explore"))

    def tile_index(evt: gr.SelectData):
        return evt.index

    def add_tile(target, a, b, c_, start_seed, evt: gr.SelectData):
        """Append the clicked tile's seed to term A, B or C."""
        return views.add_seed(target, a, b, c_, explorer.grid_pick(start_seed, evt.index))

    def grid_layout(side):
        """Lay the grid out side x side (a UI detail, not part of the API)."""
        return gr.Gallery(columns=check_count(side, "Grid side", *views.GRID_SIDES))

    def arithmetic_tiles(model, start_seed):
        return grid_view(model, start_seed, 6)

    def live_explore(args):
        """Server function behind the Explore picture's live path; args = [model, seed, psi, d1, ..., d8, z]."""
        return live(explore, args)

    def web_model(args):
        """What the page needs to draw a model itself (args = [model]): shapes, directions, ONNX URLs."""

        def bundle(model):
            out = explorer.browser_model(model)
            for part in ("generator", "discriminator"):
                path = out.pop(f"{part}_onnx")
                out[f"{part}_url"] = file_url(path) if path is not None else None
            return out

        return live(bundle, args)

    def web_seed(args):
        """A seed's z exactly as the server draws it (args = [model, seed])."""
        return live(explorer.browser_seed, args)

    def web_keyframes(args):
        """The keyframe latents of an interpolation (args = [model, keyframes, start state])."""
        return live(explorer.browser_keyframes, args)

    def walk_for_model(model, keys, method, t, frames):
        """A model switch: the start state belonged to the old model, so it goes; the walk is redrawn for the new one."""
        try:
            views.parse_seeds(keys, "Keyframes", 2, views.MAX_KEYFRAMES)
        except ValueError:
            keys = "0, 1"  # one seed was only enough together with the start state
        frame_value = explorer.interpolation_frame(model, keys, method, t)
        strip_value = explorer.interpolation_strip(model, keys, method, frames)
        return "", keys, frame_value, strip_value, None

    @gpu
    def grid_view(model, start_seed, side):
        return explorer.on(best_device()).grid(model, start_seed, side)

    @gpu
    def strip_view(model, keyframes, method, frames, start_state):
        return explorer.on(best_device()).interpolation_strip(model, keyframes, method, frames, start_state)

    @gpu
    def gif_view(model, keyframes, method, frames, start_state):
        folder = gif_folder()
        return explorer.on(best_device()).interpolation_gif(model, keyframes, method, frames, start_state, directory=folder)

    @gpu
    def arithmetic_view(model, seeds_a, seeds_b, seeds_c):
        return explorer.on(best_device()).arithmetic(model, seeds_a, seeds_b, seeds_c)

    @gpu
    def sheet_view(model, seed, psi, z):
        if views.no_seed(seed) and not z:
            return gr.skip()  # the seed box is being edited: nothing to show yet
        return explorer.on(best_device()).direction_sheet(model, seed, psi, z)

    # Draw or upload. Searches run where the models were loaded (the CPU here): they report progress and
    # read their stop flag in this process, which a ZeroGPU worker process could not do.
    searches = Searches()

    def session_of(request: gr.Request | None) -> str | None:
        return getattr(request, "session_hash", None) if request is not None else None

    def drawing_file(drawing):
        """The sketchpad's picture (strokes over the optional uploaded background) as the file /invert searches for."""
        composite = drawing.get("composite") if isinstance(drawing, dict) else None
        return picture_file(composite) if isinstance(composite, dict) else None

    def invert(model, picture, steps, request: gr.Request, progress=gr.Progress()):  # noqa: B008 - how Gradio hands in its progress bar
        """Find the z of a picture (an image file), G(z), the residual, the anomaly score and its percentile, and the
        Explore state of that z; the page's Stop button ends the search early with the best z so far."""

        last_sent = [0.0]  # when progress was last sent: a few updates a second, however fast the steps run

        def report(done, total):
            now = time.monotonic()
            if now - last_sent[0] >= PROGRESS_EVERY or done == total:
                last_sent[0] = now
                progress((done, total), desc="Searching z", unit="steps")

        with searches.running(session_of(request)) as stop:
            return explorer.invert(model, picture_file(picture), steps, progress=report, should_stop=stop)

    def score(model, picture):
        """How unusual a picture is for the model: the anomaly score, its percentile among real test pictures, a sentence."""
        return explorer.score(model, picture_file(picture))

    def stop_search(request: gr.Request):
        """Stop this page's running search (the search shows the best z it found so far)."""
        stopped = searches.stop(session_of(request))
        logger.info("stop: %d running search(es) of this session asked to stop", stopped)

    def open_found(found):
        """Open the found z in Explore: psi 1, every direction 0, the sliders and sharing working on it."""
        if not isinstance(found, dict) or not isinstance(found.get("state"), str):
            raise ValueError("There is no found z yet: draw or upload a picture and press Find z.")  # noqa: TRY004 - shown as a gr.Error
        return restore(found["state"])

    def live_interpolate(args):
        """Server function behind the interpolation picture's live path; args = [model, keyframes, method, t, start]."""
        return live(explorer.interpolation_frame, args)

    # Watch it train: one run per session in its own temporary folder; the finished model is served privately.
    trainings = LiveSessions(explorer, LIVE_DATA, live_config)

    def live_train(seed, request: gr.Request):
        """Train a small DCGAN from scratch (seed: its initialisation, data order and noise), streaming the fixed-z grid,
        the curves, the step and the phase; the last value names the finished (or stopped) model, for this session."""
        for view in trainings.train(session_of(request), seed, live_device()):
            yield view["grid"], live_curve_frame(view["losses"]), live_curve_frame(view["outputs"]), view["status"], view["model"] or ""

    def live_stop(request: gr.Request):
        """Stop this session's live run; it then shows its last picture and its model opens in Explore."""
        stopped = trainings.stop(session_of(request))
        return "Stopping after the current steps." if stopped else "No live run of yours is training."

    def live_open(request: gr.Request):
        """Open this session's finished live model in Explore (it joins this page's model list only)."""
        name = trainings.model(session_of(request))
        changed = updates(ExploreState(name, 0))
        changed[c["model"]] = gr.Dropdown(choices=[*explorer.names, name], value=name)
        return changed | {tabs: gr.Tabs(selected="explore")}

    def live_close(request: gr.Request):
        """The page was closed: stop its run and delete its folder and model."""
        trainings.close(session_of(request))

    # Watch it train: the 2-D game. Each visitor's game lives in a gr.State (its first run or step creates it). Gradio keeps
    # a closed page's state for an hour (for a reload): toy_games finds a closed page's game so that it is freed at once.
    toy_games: weakref.WeakValueDictionary[str, toy.ToyGame] = weakref.WeakValueDictionary()

    def toy_played(game: toy.ToyGame, request: gr.Request | None) -> toy.ToyGame:
        session = session_of(request)
        if session is not None:
            toy_games[session] = game
        return game

    def toy_run(game, mixture, noise_dim, lr_g, lr_d, d_steps, loss, seed, steps, request: gr.Request):
        """Train the 2-D game for ``steps`` steps (at most toy.MAX_RUN_STEPS and toy.MAX_RUN_SECONDS): a frame ~10 times a second."""
        for played, frame in toy.run(game, mixture, noise_dim, lr_g, lr_d, d_steps, loss, seed, steps):
            yield toy_played(played, request), frame

    def toy_step(game, mixture, noise_dim, lr_g, lr_d, d_steps, loss, seed, request: gr.Request):
        """One D update, then one G update, shown slowly: the frame after both and what each changed."""
        game, frame, details = toy.one_step(game, mixture, noise_dim, lr_g, lr_d, d_steps, loss, seed)
        return toy_played(game, request), frame, details

    def toy_reset(mixture, noise_dim, lr_g, lr_d, d_steps, loss, seed, request: gr.Request):
        """A new, untrained 2-D game from the settings."""
        game, frame = toy.reset(mixture, noise_dim, lr_g, lr_d, d_steps, loss, seed)
        return toy_played(game, request), frame, None

    def toy_closed(request: gr.Request):
        """The page was closed: free its 2-D game (a run of it ends at its next step)."""
        game = toy_games.pop(session_of(request), None) if session_of(request) is not None else None
        if game is not None:
            game.release()
            logger.info("freed the 2-D game of a closed page")

    # Gradio writes every gallery tile and GIF it serves into its cache: delete what is older than 10 minutes, every 5.
    with Blocks(title="DCGAN Latent Explorer", delete_cache=(300, 600)) as demo:
        gr.Markdown(INTRO)
        with gr.Row(equal_height=True, elem_id="model-row"):
            model = c["model"] = gr.Dropdown(explorer.names, label="Model", info="loaded when the app started", scale=1, elem_id="model", **props["model"])
            c["model_info"] = gr.Markdown(elem_id="model-info", **props["model_info"])

        with gr.Tabs(elem_id="tabs") as tabs:
            # ---------------------------------------------------------------- Explore
            with gr.Tab("Explore", id="explore", elem_id="tab-explore"):
                with gr.Row(elem_id="explore-row"):
                    with gr.Column(scale=5, min_width=340, elem_id="explore-stage"):
                        picture = c["picture"] = gr.HTML(
                            html_template=asset("templates/picture.html"), js_on_load=live_js("explore", "live_explore", engine=True),
                            server_functions=[live_explore, web_model, web_seed, web_keyframes], elem_id="picture", **props["picture"],
                        )
                        with gr.Row(elem_classes="gan-controls"):
                            seed = c["seed"] = gr.Number(
                                label="Seed", info=f"a whole number from 0 to {SEED_MAX}; press Enter", precision=0, minimum=0, maximum=SEED_MAX,
                                placeholder="none (found z)", elem_id="seed", scale=2, min_width=160, **props["seed"],
                            )
                            random_button = gr.Button("Random seed", elem_id="random", scale=1, min_width=100, elem_classes="gan-button")
                            reset_button = gr.Button("Reset", elem_id="reset", scale=1, min_width=80, elem_classes="gan-button")
                        psi = c["psi"] = gr.Slider(
                            *PSI_RANGE, step=0.01, label="Truncation ψ", info="scales z toward 0: below 1 more typical, above 1 more unusual",
                            elem_id="psi", **props["psi"],
                        )
                    with gr.Column(scale=4, min_width=320, elem_id="explore-sliders"):
                        directions = []
                        for k in range(N):
                            name = f"direction_{k + 1}"
                            c[name] = gr.Slider(-DIRECTION_LIMIT, DIRECTION_LIMIT, step=0.05, elem_id=f"direction-{k + 1}", elem_classes="gan-direction", **props[name])
                            directions.append(c[name])
                        gr.Markdown(views.SEFA_EXPLANATION, elem_classes="gan-note")
                with gr.Row(elem_classes="gan-controls"):
                    gr.HTML('<div class="gan-render-status" data-state="loading">In-browser drawing: starting.</div>', elem_id="render-status")
                    force_server = gr.Checkbox(False, label="Draw on the server", info="or open the page with ?render=server", elem_id="force-server", scale=0, min_width=200)
                c["verdict_note"] = gr.Markdown(elem_classes="gan-note", elem_id="verdict-note", **props["verdict_note"])
                latent = c["latent"] = gr.JSON(visible=False, label="z (a found picture's)", elem_id="latent", **props["latent"])
                with gr.Accordion("What each direction does: the seed moved to −4, −2, 0, +2, +4 along it (one row per slider)", open=True, elem_id="sheet-box"):
                    c["sheet"] = gr.HTML(html_template=asset("templates/sheet.html"), elem_id="sheet", **props["sheet"])

            # ---------------------------------------------------------------- Draw or upload
            with gr.Tab("Draw or upload", id="invert", elem_id="tab-invert"):
                gr.Markdown(INVERT_NOTE)
                with gr.Row():
                    with gr.Column(scale=4, min_width=300, elem_id="invert-input"):
                        sketch = gr.ImageEditor(
                            value={"background": views.blank_canvas(SKETCH_SIDE), "layers": [], "composite": None},
                            label="Your picture", type="filepath", format="png",
                            image_mode="RGBA", sources=("upload", "clipboard"), canvas_size=(SKETCH_SIDE, SKETCH_SIDE), fixed_canvas=True,
                            brush=gr.Brush(colors=["#ffffff", "#9ca3af", "#000000"], default_color="#ffffff", default_size=12, color_mode="fixed"),
                            eraser=gr.Eraser(default_size=16), layers=False, transforms=(), height=400, elem_id="sketch",
                        )
                        with gr.Row(elem_classes="gan-controls"):
                            find_button = gr.Button("Find z", variant="primary", scale=2, elem_id="find-z", elem_classes="gan-button")
                            stop_button = gr.Button("Stop", variant="stop", scale=1, elem_id="stop-search", elem_classes="gan-button")
                        steps = gr.Slider(
                            *views.SEARCH_STEPS, value=RefineConfig().steps, step=10, label="Search steps",
                            info=f"more find a closer z and take longer; the percentile was measured with {RefineConfig().steps}", elem_id="search-steps",
                        )
                    with gr.Column(scale=5, min_width=320, elem_id="invert-output"):
                        found = gr.HTML(None, html_template=asset("templates/inversion.html"), elem_id="found")
                        open_button = gr.Button("Open in Explore: edit it with the sliders", elem_id="open-found", elem_classes="gan-button")
                # What /invert and /score read: the drawing's file (or an API client's upload). /score has no button.
                searched = gr.Image(type="filepath", visible=False, label="Picture", elem_id="invert-picture")
                score_trigger = gr.Button(visible=False)
                score_out = gr.JSON(visible=False)

            # ---------------------------------------------------------------- Interpolate
            with gr.Tab("Interpolate", id="interpolate", elem_id="tab-interpolate"):
                gr.Markdown("Walk from keyframe to keyframe through z. **slerp** follows the sphere where Gaussian z live; **lerp** cuts through the less typical middle.")
                with gr.Row():
                    with gr.Column(scale=4, min_width=320):
                        keyframes = gr.Textbox("0, 1", label="Keyframe seeds", info=f"2 to {views.MAX_KEYFRAMES} seeds separated by commas; press Enter", elem_id="keyframes")
                        with gr.Row(elem_classes="gan-controls"):
                            start_state = gr.Textbox("", label="Start state (optional)", placeholder="empty: start at the first seed", scale=3, elem_id="start-state")
                            from_explore = gr.Button("Start from the Explore picture", scale=2, elem_id="from-explore", elem_classes="gan-button")
                        method = gr.Radio(["slerp", "lerp"], value="slerp", label="Interpolation", elem_id="method")
                        t = gr.Slider(0.0, 1.0, value=0.5, step=0.01, label="t: position along the path", elem_id="t")
                        frames = gr.Slider(*views.FRAMES_RANGE, value=12, step=1, label="Frames in the strip and GIF", elem_id="frames")
                        gif_button = gr.Button("Make GIF", variant="primary", elem_id="make-gif")
                        gif_file = gr.File(label="Animated GIF", height=90, elem_id="gif")
                    with gr.Column(scale=5, min_width=420):
                        frame = gr.HTML(
                            explorer.interpolation_frame(first.model, "0, 1", "slerp", 0.5), html_template=asset("templates/frame.html"),
                            js_on_load=live_js("interpolate", "live_interpolate", engine=False), server_functions=[live_interpolate], elem_id="frame",
                        )
                strip = gr.HTML(explorer.interpolation_strip(first.model, "0, 1", "slerp", 12), html_template=asset("templates/strip.html"), elem_id="strip")

            # ---------------------------------------------------------------- Vector arithmetic
            with gr.Tab("Vector arithmetic", id="arithmetic", elem_id="tab-arithmetic"):
                gr.Markdown(
                    "As in the DCGAN paper: average a few z for each term, then compute **A − B + C**. "
                    "Click tiles to add their seeds to the term chosen below, or type seeds."
                )
                with gr.Row():
                    with gr.Column(scale=5):
                        with gr.Row(equal_height=True):
                            pool_start = gr.Number(100, label="Tiles start at seed", precision=0, minimum=0, maximum=SEED_MAX, elem_id="pool-start")
                            target = gr.Radio(["A", "B", "C"], value="A", label="A click adds the tile to", elem_id="target")
                        pool = gr.Gallery(
                            explorer.grid(first.model, 100, 6), columns=6, height="auto", allow_preview=False, show_label=False, format="png",
                            elem_id="pool", elem_classes="gan-tiles",
                        )
                    with gr.Column(scale=4):
                        term_a = gr.Textbox("100, 101, 102", label="A (seeds)", elem_id="term-a")
                        term_b = gr.Textbox("103, 104, 105", label="B (seeds)", elem_id="term-b")
                        term_c = gr.Textbox("106, 107, 108", label="C (seeds)", elem_id="term-c")
                        compute = gr.Button("Compute A − B + C", variant="primary", elem_id="compute")
                equation = gr.HTML(
                    explorer.arithmetic(first.model, "100, 101, 102", "103, 104, 105", "106, 107, 108"),
                    html_template=asset("templates/arithmetic.html"), elem_id="equation",
                )

            # ---------------------------------------------------------------- Grid
            with gr.Tab("Grid", id="grid", elem_id="tab-grid"):
                gr.Markdown("Samples for consecutive seeds. **Click a tile to open it in Explore.**")
                with gr.Row(elem_classes="gan-controls"):
                    grid_start = gr.Number(0, label="First seed", precision=0, minimum=0, maximum=SEED_MAX, elem_id="grid-start")
                    grid_side = gr.Slider(*views.GRID_SIDES, value=6, step=1, label="Tiles per side", elem_id="grid-side")
                    grid_button = gr.Button("Show grid", variant="primary", elem_id="grid-show", elem_classes="gan-button")
                grid = gr.Gallery(
                    explorer.grid(first.model, 0, 6), columns=6, height="auto", allow_preview=False, show_label=False, format="png",
                    elem_id="grid", elem_classes="gan-tiles",
                )
                picked = gr.Number(visible=False)

            # ---------------------------------------------------------------- How it trained
            with gr.Tab("How it trained", id="training", elem_id="tab-training"):
                gr.Markdown(TRAINING_NOTE)
                with gr.Row():
                    with gr.Column(scale=4):
                        epoch = c["epoch"] = gr.Slider(step=1, label="Timeline: snapshot", elem_id="epoch", **props["epoch"])
                        c["timeline"] = gr.HTML(html_template=asset("templates/timeline.html"), elem_id="timeline", **props["timeline"])
                    with gr.Column(scale=5):
                        c["loss_plot"] = gr.LinePlot(x="epoch", y="value", color="series", title="Losses", height=260, elem_id="loss-plot", **props["loss_plot"])
                        c["d_plot"] = gr.LinePlot(
                            x="epoch", y="value", color="series", title="D's mean output (0.5 = cannot tell)", y_lim=[0, 1], height=260,
                            elem_id="d-plot", **props["d_plot"],
                        )

            # ---------------------------------------------------------------- Watch it train
            with gr.Tab("Watch it train", id="live", elem_id="tab-live"):
                # The image run (gan_core.live.run): a small DCGAN on MNIST, trained while the page watches.
                with gr.Group(elem_id="live-image"):
                    gr.Markdown(LIVE_NOTE)
                    with gr.Row(elem_classes="gan-controls"):
                        live_seed = gr.Number(0, label="Run seed", info="initialisation, data order and noise", precision=0, minimum=0, maximum=SEED_MAX, elem_id="live-seed", scale=2)
                        live_start = gr.Button("Start training", variant="primary", elem_id="live-start", elem_classes="gan-button", scale=1)
                        live_stop_button = gr.Button("Stop", variant="stop", elem_id="live-stop", elem_classes="gan-button", scale=1)
                        live_open_button = gr.Button("Open in Explore", elem_id="live-open", elem_classes="gan-button", scale=1)
                    live_status = gr.Markdown("Not started.", elem_id="live-status")
                    with gr.Row():
                        with gr.Column(scale=4, min_width=300):
                            live_grid = gr.HTML(None, html_template=asset("templates/live_grid.html"), elem_id="live-grid")
                        with gr.Column(scale=5, min_width=320):
                            live_losses = gr.LinePlot(live_curve_frame([], ("Loss_D", "Loss_G")), x="step", y="value", color="series", title="Losses", height=240, elem_id="live-loss-plot")
                            live_outputs = gr.LinePlot(
                                live_curve_frame([], ("D(x) on real", "D(G(z)) on fake")), x="step", y="value", color="series", title="D's mean output (0.5 = cannot tell)",
                                y_lim=[0, 1], height=240, elem_id="live-d-plot",
                            )
                    live_model = gr.Textbox(visible=False, label="Finished model", elem_id="live-model")
                # ---- The 2-D game (gan_core.live.toy) and "one step, slowly": their own section of this tab, below. ----
                gr.Markdown("### The 2-D game", elem_id="toy-title")
                toy_defaults = toy.ToyConfig()
                with gr.Row(elem_id="toy-row"):
                    with gr.Column(scale=5, min_width=320):
                        toy_picture = gr.HTML(
                            toy.reset(toy_defaults.mixture, toy_defaults.noise_dim, toy_defaults.lr_g, toy_defaults.lr_d, toy_defaults.d_steps,
                                      toy_defaults.loss, toy_defaults.seed)[1],
                            html_template=asset("templates/toy_frame.html"), elem_id="toy-picture",
                        )  # fmt: skip
                    with gr.Column(scale=4, min_width=300):
                        gr.Markdown(TOY_NOTE, elem_classes="gan-note")
                        with gr.Row(elem_classes="gan-controls"):
                            toy_start = gr.Button("Start", variant="primary", elem_id="toy-start", elem_classes="gan-button", min_width=80)
                            toy_stop = gr.Button("Stop", variant="stop", elem_id="toy-stop", elem_classes="gan-button", min_width=80)
                            toy_one = gr.Button("One step, slowly", elem_id="toy-one-step", elem_classes="gan-button", min_width=140)
                            toy_reset_button = gr.Button("Reset", elem_id="toy-reset", elem_classes="gan-button", min_width=80)
                        toy_mixture = gr.Radio(
                            [(m.label, m.name) for m in toy.MIXTURES.values()], value=toy_defaults.mixture, label="Real data", info="a new game", elem_id="toy-mixture"
                        )
                        toy_loss = gr.Radio(
                            [("non-saturating: −log D(G(z))", "non-saturating"), ("minimax: log(1 − D(G(z)))", "minimax")], value=toy_defaults.loss,
                            label="G's loss", info="the minimax loss saturates: G hardly moves while D rejects its points", elem_id="toy-loss",
                        )  # fmt: skip
                        with gr.Row():
                            toy_lr_g = gr.Slider(0.0001, 0.01, value=toy_defaults.lr_g, step=0.0001, label="G's learning rate", elem_id="toy-lr-g")
                            toy_lr_d = gr.Slider(0.0001, 0.01, value=toy_defaults.lr_d, step=0.0001, label="D's learning rate", elem_id="toy-lr-d")
                        with gr.Row():
                            toy_d_steps = gr.Slider(*toy.D_STEPS, value=toy_defaults.d_steps, step=1, label="D steps per G step", elem_id="toy-d-steps")
                            toy_noise = gr.Slider(*toy.NOISE_DIMS, value=toy_defaults.noise_dim, step=1, label="Noise dimension", info="a new game", elem_id="toy-noise")
                        with gr.Row(elem_classes="gan-controls"):
                            toy_seed = gr.Number(
                                toy_defaults.seed, label="Seed", info="a new game; press Enter", precision=0, minimum=0, maximum=SEED_MAX, elem_id="toy-seed"
                            )
                            toy_steps = gr.Slider(100, toy.MAX_RUN_STEPS, value=3000, step=100, label="Steps per Start", elem_id="toy-steps")
                        gr.Markdown(
                            f"Adam, betas {toy.BETAS}, batch {toy_defaults.batch_size}; G and D are MLPs of 2 × {toy_defaults.hidden}. A Start runs at most "
                            f"{toy.MAX_RUN_SECONDS:.0f} s. New learning rates, D steps or loss keep the game: they apply from the next Start or step.",
                            elem_classes="gan-note",
                        )
                toy_slow = gr.HTML(None, html_template=asset("templates/toy_step.html"), elem_id="toy-slow")
                toy_game = gr.State(None, time_to_live=TOY_STATE_SECONDS)

            # ---------------------------------------------------------------- Share
            with gr.Tab("Share", id="share", elem_id="tab-share") as share_tab:
                gr.Markdown("The Explore state (model, seed, ψ, direction amounts) as a link or JSON. Paste either below to restore it.")
                share_link = gr.Textbox(label="Link", buttons=["copy"], elem_id="share-link")
                share_json = gr.Textbox(label="JSON", buttons=["copy"], elem_id="share-json")
                with gr.Row(elem_classes="gan-controls"):
                    restore_text = gr.Textbox(label="Restore from a link or JSON", scale=4, elem_id="restore-text")
                    restore_button = gr.Button("Restore", variant="primary", scale=1, elem_id="restore", elem_classes="gan-button")

        gr.Markdown(
            "Built with [gan_core](https://github.com/dcgan-latent-explorer/dcgan-latent-explorer): train your own DCGAN and explore it here. "
            "Every action on this page is also an API endpoint (*Use via API* below).",
            elem_classes="gan-caption",
        )

        # --------------------------------------------------------------- wiring
        state_inputs = [model, seed, psi, *directions, latent]
        start_outputs = [seed, psi, *directions, picture]
        # What follows the model, in the order /select_model documents; /restore also sets the model.
        model_outputs = [
            c["model_info"], seed, psi, *directions, picture, epoch, c["timeline"], c["loss_plot"], c["d_plot"], c["verdict_note"], c["sheet"], latent,
        ]  # fmt: skip

        # Explore: live while dragging (in the page, or the server as fallback), exact on release,
        # typing a seed, reset, random. Seed and model changes warm the page's caches (JavaScript only).
        gr.on([psi.input, *[d.input for d in directions]], None, state_inputs, None, js=live_trigger("explore"), **LIVE)
        gr.on([psi.release, *[d.release for d in directions], seed.submit], ui(explore), state_inputs, picture, api_name="explore", **LIVE, **RAW)
        reset_button.click(ui(reset), [model, seed, latent], start_outputs, api_name="reset", **LIVE, **RAW)
        random_button.click(ui(explorer.random_start), model, start_outputs, api_name="random_seed", **LIVE, **RAW)
        model.input(ui(select_model), [model, seed], model_outputs, api_name="select_model", show_progress="hidden", **RAW)
        gr.on([seed.change, model.change], None, [model, seed], None, js=engine_call("prefetch"), **LIVE)
        gr.on([seed.change, psi.release], ui(sheet_view), [model, seed, psi, latent], c["sheet"], api_visibility="private", show_progress="hidden", **RAW)
        # A seed in the box (typed, Reset, Random, a grid tile) leaves the found z; an empty box keeps it.
        seed.change(None, [seed, latent], latent, js="(seed, z) => [(seed === null || seed === undefined || seed === '') ? z : null]", **LIVE)
        force_server.change(None, force_server, None, js=engine_call("setForced"), **LIVE)

        # Interpolate.
        interp_inputs = [model, keyframes, method, t, start_state]
        strip_inputs = [model, keyframes, method, frames, start_state]
        t.input(None, interp_inputs, None, js=live_trigger("interpolate"), **LIVE)
        # The walk is redrawn when the person changes it (typing counts; a start state set by a button or a
        # model switch is handled by that event itself, so no event reads half-updated inputs).
        walk_edits = [keyframes.submit, method.change, start_state.submit, start_state.blur]
        gr.on([t.release, *walk_edits], ui(explorer.interpolation_frame), interp_inputs, frame, api_name="interpolate", **LIVE, **RAW)
        gr.on([frames.release, *walk_edits], ui(strip_view), strip_inputs, strip, api_name="strip", show_progress="hidden", **RAW)
        gr.on(walk_edits, None, [model, keyframes, start_state], None, js=engine_call("prefetchWalk"), **LIVE)
        gif_button.click(ui(gif_view), strip_inputs, gif_file, api_name="gif", **RAW)
        # A new model: the start state (it belonged to the old model) and the old GIF go, the walk is redrawn.
        model.input(ui(walk_for_model), [model, keyframes, method, t, frames], [start_state, keyframes, frame, strip, gif_file], api_visibility="private", **RAW)
        from_explore.click(ui(explore_state), state_inputs, start_state, api_name="explore_state", **RAW).then(
            ui(explorer.interpolation_frame), interp_inputs, frame, api_visibility="private", **LIVE, **RAW
        ).then(ui(strip_view), strip_inputs, strip, api_visibility="private", show_progress="hidden", **RAW).then(
            None, [model, keyframes, start_state], None, js=engine_call("prefetchWalk")
        )

        # Vector arithmetic.
        gr.on([pool_start.submit, model.input], ui(arithmetic_tiles), [model, pool_start], pool, api_name="arithmetic_tiles", **RAW)
        pool.select(ui(add_tile), [target, term_a, term_b, term_c, pool_start], [term_a, term_b, term_c], api_visibility="private")
        gr.on([compute.click, model.input], ui(arithmetic_view), [model, term_a, term_b, term_c], equation, api_name="arithmetic", **RAW)

        # Grid: show, and a click opens the tile in Explore.
        gr.on([grid_button.click, grid_start.submit, grid_side.release, model.input], ui(grid_view), [model, grid_start, grid_side], grid, api_name="grid", **RAW)
        grid_side.release(ui(grid_layout), grid_side, grid, api_visibility="private", **RAW)
        grid.select(tile_index, None, picked, api_visibility="private").then(ui(open_tile), [model, grid_start, picked], [*start_outputs, tabs], api_name="grid_pick", **RAW)

        # How it trained.
        gr.on([epoch.input, epoch.release], ui(explorer.timeline), [model, epoch], c["timeline"], api_name="timeline", **LIVE, **RAW)

        # Watch it train: the 2-D game, in its own queue group with TOY_CONCURRENCY games at once (each capped in steps and
        # seconds), so it cannot take the cores the explorer needs. Stop, a step or a reset ends this page's run.
        toy_settings = [toy_mixture, toy_noise, toy_lr_g, toy_lr_d, toy_d_steps, toy_loss, toy_seed]
        toy_group = {"concurrency_limit": TOY_CONCURRENCY, "concurrency_id": "toy"}
        toy_running = toy_start.click(
            ui(toy_run), [toy_game, *toy_settings, toy_steps], [toy_game, toy_picture], api_name="toy_run", show_progress="hidden", **toy_group, **RAW
        )
        toy_stop.click(None, None, None, cancels=[toy_running], queue=False)
        toy_one.click(ui(toy_step), [toy_game, *toy_settings], [toy_game, toy_picture, toy_slow], api_name="toy_step", cancels=[toy_running], **toy_group, **RAW)
        gr.on(
            [toy_reset_button.click, toy_mixture.input, toy_noise.release, toy_seed.submit], ui(toy_reset), toy_settings, [toy_game, toy_picture, toy_slow],
            api_name="toy_reset", cancels=[toy_running], show_progress="hidden", **toy_group, **RAW,
        )  # fmt: skip
        demo.unload(toy_closed)

        # Share.
        share_tab.select(ui(share), state_inputs, [share_json, share_link], api_name="share", **RAW).then(
            None, share_link, share_link, js="(query) => query ? window.location.origin + window.location.pathname + query : query"
        )
        restore_outputs = [model, *model_outputs, tabs]
        restore_button.click(ui(restore), restore_text, restore_outputs, api_name="restore", **RAW)
        # The page's state is restored from its link; then the body says so (a browser waits for it: the network never
        # goes idle, as the page keeps a heartbeat stream open so that closing it stops the visitor's runs).
        demo.load(on_load, None, restore_outputs, api_visibility="private").then(None, None, None, js="() => { document.body.dataset.restored = '1'; }")

        # Watch it train: runs in their own concurrency group (live_runs at once, the rest queued with their place shown).
        live_start.click(
            ui(live_train), live_seed, [live_grid, live_losses, live_outputs, live_status, live_model], api_name="live_train",
            concurrency_limit=live_runs, concurrency_id="live-train", show_progress="full", **RAW,
        )  # fmt: skip
        live_stop_button.click(ui(live_stop), None, live_status, api_name="live_stop", queue=False, show_progress="hidden")
        live_open_button.click(ui(live_open), None, restore_outputs, api_visibility="private").success(
            None, None, None, js="() => document.getElementById('tabs').scrollIntoView({block: 'start'})"
        )
        demo.unload(live_close)

        # Draw or upload: the drawing's file becomes the picture /invert searches for (an API client sends its own);
        # Stop ends this page's search; the found z opens in Explore like a restored state.
        find_button.click(drawing_file, sketch, searched, api_visibility="private", show_progress="hidden", **RAW).success(
            ui(invert), [model, searched, steps], found, api_name="invert", concurrency_limit=2, concurrency_id="search", **RAW
        )
        # On a phone the result sits below the canvas and buttons: bring it into view while the search runs.
        find_button.click(None, None, None, js="() => { if (window.innerWidth <= 760) document.getElementById('found').scrollIntoView({block: 'center'}); }")
        stop_button.click(stop_search, None, None, api_visibility="private", queue=False, show_progress="hidden")
        score_trigger.click(ui(score), [model, searched], score_out, api_name="score", concurrency_limit=2, concurrency_id="search", **RAW)
        open_button.click(ui(open_found), found, restore_outputs, api_visibility="private", **RAW).success(
            None, None, None, js="() => document.getElementById('tabs').scrollIntoView({block: 'start'})"
        )
    # Each request is a few milliseconds of one-thread torch: let a few run at once instead of one by one.
    demo.queue(default_concurrency_limit=4)
    return demo


class BodyLimit:
    """ASGI middleware: refuse a request body larger than ``limit`` bytes (HTTP 413) before it is read into memory.

    The largest real request is a pasted state (gan_core.explorer.state.MAX_STATE_CHARS); uploads,
    which Gradio bounds with ``max_file_size``, are left to Gradio.
    """

    class TooLarge(Exception):
        pass

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH") or scope["path"].endswith("/upload"):
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            return await self.refuse(send)
        received = 0

        async def limited():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise BodyLimit.TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except BodyLimit.TooLarge:
            await self.refuse(send)

    async def refuse(self, send):
        body = json.dumps({"error": f"The request is larger than {self.limit:,} bytes; no request of this app is that large."}).encode()
        await send({"type": "http.response.start", "status": 413, "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


MAX_BODY = 512 * 1024  # bytes: a pasted state is at most 200,000 characters
# Gradio keeps a copy of the page's configuration for every session (about 160 KB here): bound how many
# it keeps, so 10,000 visitors or API calls cannot grow memory without limit. No state of this app lives
# only in a session: an evicted session's next event is answered from the values its page sends.
SESSION_CAPACITY = 500
LAUNCH_OPTIONS = {
    "theme": THEME,
    "css": asset("explorer.css"),
    "head": asset("head.html"),
    "state_session_capacity": SESSION_CAPACITY,
    "max_file_size": "2mb",
    "app_kwargs": {"middleware": [Middleware(BodyLimit, limit=MAX_BODY)]},
}


def load_explorer(argv: list[str] | None = None) -> Explorer:
    """The models to serve: ``--model`` arguments, else $GAN_MODELS, else weights/*/ (ValueError/FileNotFoundError if none load)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--model", action="append", default=[], help="model folder or Hub repo id (repeatable)")
    cli = parser.parse_known_args(sys.argv[1:] if argv is None else argv)[0].model
    return Explorer.from_sources(sources_from(cli, os.environ.get("GAN_MODELS")))


def live_options(argv: list[str] | None = None) -> tuple[int, LiveConfig]:
    """How many live runs may train at once and their limits: ``--live-runs N`` (else $GAN_LIVE_RUNS, else 1),
    ``--live-max-steps N`` and ``--live-max-seconds S`` (else $GAN_LIVE_MAX_STEPS / $GAN_LIVE_MAX_SECONDS, else
    :class:`LiveConfig`'s). ValueError with a sentence for a bad value."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--live-runs", default=os.environ.get("GAN_LIVE_RUNS", "1"))
    parser.add_argument("--live-max-steps", default=os.environ.get("GAN_LIVE_MAX_STEPS"))
    parser.add_argument("--live-max-seconds", default=os.environ.get("GAN_LIVE_MAX_SECONDS"))
    args = parser.parse_known_args(sys.argv[1:] if argv is None else argv)[0]
    limits = {}
    try:
        runs = int(args.live_runs)
        if args.live_max_steps is not None:
            limits["max_steps"] = int(args.live_max_steps)
        if args.live_max_seconds is not None:
            limits["max_seconds"] = float(args.live_max_seconds)
    except ValueError:
        raise ValueError(
            f"--live-runs and --live-max-steps take whole numbers and --live-max-seconds a number of seconds; got {args.live_runs!r}, "
            f"{args.live_max_steps!r} and {args.live_max_seconds!r}."
        ) from None
    if runs < 1:
        raise ValueError(f"--live-runs (or GAN_LIVE_RUNS) must be at least 1, got {runs}.")
    return runs, LiveConfig(**limits)


def default_demo() -> gr.Blocks:
    """The app as a Space runs it: the configured models, one torch thread per request."""
    # Tiny networks: one thread per call answers fastest and leaves the other cores to other requests. A live run
    # trains in the thread of its request too, so it also keeps to one core.
    torch.set_num_threads(1)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    runs, live_config = live_options()
    return build_demo(load_explorer(), live_runs=runs, live_config=live_config)


def __getattr__(name: str):
    # `app.demo` (gradio's reload mode, Spaces tooling) is built on first access, not at import.
    if name == "demo":
        globals()["demo"] = default_demo()
        return globals()["demo"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    try:
        demo = default_demo()
    except (ValueError, FileNotFoundError) as err:
        sys.exit(f"error: {err}")
    demo.launch(**LAUNCH_OPTIONS)


if __name__ == "__main__":
    main()
