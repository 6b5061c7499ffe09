"""Watch it train, the image run (live training): a small DCGAN trained from scratch while the page watches; the model
it leaves opens in Explore for its visitor alone."""

from __future__ import annotations

import contextlib
import math
import os

import gradio as gr
import pandas as pd

from gan_core.core.checks import SEED_MAX
from gan_core.explorer import ExploreState
from gan_core.live.run import LiveConfig
from gan_core.live.sessions import LiveSessions
from ui.common import RAW, ROOT, Listener, asset, best_device, client_address, session_of, ui
from ui.explore import ExploreHandle

LIVE_DATA = ROOT / "weights" / "live" / "mnist-4096"  # 4,096 MNIST digits the live run trains on (SOURCE.md there)
CURVE_COLUMNS = ["step", "value", "series"]
AXES = "axes"  # the empty charts' invisible series (curve_frame): left out of the legend, drawn in no colour
COLOURS = {"Loss_D": "#4c78a8", "Loss_G": "#f58518", "D(x) on real": "#4c78a8", "D(G(z)) on fake": "#f58518", AXES: "rgba(0, 0, 0, 0)"}
NOT_STARTED = "Not started. Press **Start training**: the status, the phase of the game and the phases so far appear here."
NOTE = """
Train a small DCGAN here and watch the game while it is played: G (32 wide) starts from random weights and learns from
4,096 MNIST digits, one step of D and one of G at a time (the same trainer as `python -m gan_core.train`). The grid shows G's
pictures of the **same 64 fixed z** as it learns; the curves are Loss_D, Loss_G and D's mean outputs on real digits, D(x),
and on G's pictures, D(G(z)). **Stop** at any time; the model it leaves (stopped or finished) opens in Explore for you
alone, until you close the page. Runs are limited in steps and time and take turns: when someone else's run is training,
yours waits in a queue that shows your place.
"""


def live_device() -> str:
    """Where a live run trains: a GPU of this process if there is one, else the CPU (one thread: the app sets one per process).

    On a ZeroGPU Space the GPU exists only inside a @spaces.GPU call in another process, which the run's Stop flag, its
    snapshots and the visitor's finished model could not reach (as for the inversion search): there it trains on the CPU.
    """
    return "cpu" if os.environ.get("SPACES_ZERO_GPU") else best_device()


def curve_frame(rows: list[dict], series: tuple[str, ...] = (), corners: tuple[tuple[int, float], ...] = ()) -> pd.DataFrame:
    """A live run's curve rows as a table with numeric columns. The page's first, empty table names its ``series`` in rows
    without values (a plot takes its axes' types from its first value), and draws the invisible AXES series through
    ``corners`` (step, value), so that the empty chart's axes already span a run; a run's own rows then set them."""
    if not rows:
        rows = [{"step": 0, "value": math.nan, "series": name} for name in series]
        rows += [{"step": step, "value": value, "series": AXES} for step, value in corners]
    return pd.DataFrame(rows, columns=CURVE_COLUMNS).astype({"step": "int64", "value": "float64"})


def live_train(seed, request: gr.Request, *, trainings: LiveSessions):
    """Train a small DCGAN from scratch (seed: its initialisation, data order and noise), streaming the fixed-z grid,
    the curves, the step and the phase; the last value names the finished (or stopped) model, for this session. A run
    whose client has gone (:class:`~ui.common.Listener`) ends at its next chunk, and its folder goes with it."""
    listener = Listener()
    with contextlib.closing(trainings.train(session_of(request), seed, live_device(), client_address(request))) as views:
        for view in views:
            yield view["grid"], curve_frame(view["losses"]), curve_frame(view["outputs"]), view["status"], view["model"] or ""
            if listener.gone():
                return


def live_stop(request: gr.Request, *, trainings: LiveSessions):
    """Stop this session's live run; it then shows its last picture and its model opens in Explore."""
    return "Stopping after the current steps." if trainings.stop(session_of(request)) else "No live run of yours is training."


def live_open(request: gr.Request, *, trainings: LiveSessions):
    """This session's finished live model, at seed 0, to open in Explore (it joins this page's model list only)."""
    return ExploreState(trainings.model(session_of(request)), 0)


def live_close(request: gr.Request, *, trainings: LiveSessions):
    """The page was closed: stop its run and delete its folder and model."""
    trainings.close(session_of(request))


def build(handle: ExploreHandle, live_runs: int = 1, config: LiveConfig | None = None) -> None:
    """The image run's section of Watch it train, and its events; ``live_runs`` runs train at once, the rest wait."""
    config = config or LiveConfig()
    # A Column, not a Group: a Group draws one grey slab and takes the gaps between its buttons away.
    with gr.Column(elem_id="live-image"):
        gr.Markdown(NOTE)
        with gr.Row(elem_classes="gan-controls", elem_id="live-controls"):
            seed = gr.Number(0, label="Run seed", info="initialisation, data order and noise", precision=0, minimum=0, maximum=SEED_MAX, elem_id="live-seed", scale=2)
            start = gr.Button("Start training", variant="primary", elem_id="live-start", elem_classes="gan-button", scale=1)
            stop = gr.Button("Stop", variant="stop", elem_id="live-stop", elem_classes="gan-button", scale=1)
            open_button = gr.Button("Open in Explore", elem_id="live-open", elem_classes="gan-button", scale=1)
        status = gr.Markdown(NOT_STARTED, elem_id="live-status")
        with gr.Row():
            with gr.Column(scale=4, min_width=300):
                grid = gr.HTML(None, html_template=asset("templates/live_grid.html"), elem_id="live-grid")
            with gr.Column(scale=5, min_width=320):
                # Before a run the charts are empty but already read as charts: steps from 0 to the run's cap, losses
                # from 0 to 4, D's outputs from 0 to 1. Once a run streams its rows, the steps axis fits them.
                steps = config.max_steps
                plot = {"x": "step", "y": "value", "color": "series", "color_map": COLOURS, "color_title": "", "x_title": "step", "height": 240}
                losses = gr.LinePlot(
                    curve_frame([], ("Loss_D", "Loss_G"), ((0, 0.0), (steps, 4.0))), title="Losses", y_lim=[0, None], y_title="loss",
                    colors_in_legend=["Loss_D", "Loss_G"], elem_id="live-loss-plot", **plot,
                )  # fmt: skip
                outputs = gr.LinePlot(
                    curve_frame([], ("D(x) on real", "D(G(z)) on fake"), ((0, 0.0), (steps, 1.0))), title="D's mean output",
                    y_lim=[0, 1], y_title="0.5 = cannot tell", colors_in_legend=["D(x) on real", "D(G(z)) on fake"], elem_id="live-d-plot", **plot,
                )  # fmt: skip
        model = gr.Textbox(visible=False, label="Finished model", elem_id="live-model")

    # One run per session in its own temporary folder, in its own concurrency group; the finished model is served privately.
    trainings = LiveSessions(handle.explorer, LIVE_DATA, config)
    start.click(
        ui(live_train, trainings=trainings), seed, [grid, losses, outputs, status, model], api_name="live_train",
        concurrency_limit=live_runs, concurrency_id="live-train", show_progress="full", **RAW,
    )  # fmt: skip
    stop.click(ui(live_stop, trainings=trainings), None, status, api_name="live_stop", queue=False, show_progress="hidden")
    handle.opens(open_button.click, live_open, None, bound={"trainings": trainings}, api_visibility="private")
    handle.demo.unload(ui(live_close, trainings=trainings))
