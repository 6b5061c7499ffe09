"""DCGAN Latent Explorer: a Gradio app over gan_core's explorer. Assembles the tabs of ``ui/`` and launches.

    python app.py                                   # every weights/*/ folder holding generator/
    python app.py --model weights/mnist --model user/dcgan-repo
    GAN_MODELS=weights/fashion-mnist,user/repo python app.py

``build_demo(explorer)`` builds the page for an :class:`~gan_core.explorer.Explorer` and loads nothing, so tests build
it in-process; ``main()`` loads the models and launches it, and ``app.demo`` (what ``gradio app.py`` and Spaces look
for) is built on first use. Each tab is a module of ``ui/`` (its layout, its events, its callbacks); the Explore tab's
handle carries what they share.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from pathlib import Path

import ui  # noqa: F401 - first: imports spaces before torch on ZeroGPU
import gradio as gr
import torch
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware

from gan_core.explorer import Explorer, ExploreState, sources_from
from gan_core.live.run import LiveConfig
from gan_core.live.sessions import sweep_stale_folders
from ui import arithmetic, batch, draw, engine, explore, grid, history, interpolate, share, watch
from ui.common import Blocks, asset, current_session
from ui.direct_calls import DirectCalls

THEME = gr.themes.Soft(primary_hue="indigo", font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
INTRO = """
# DCGAN Latent Explorer
A generator **G** turns a vector of 100 random numbers **z** into a picture; a discriminator **D** was trained
to tell G's pictures from real ones while G learned to fool it (Goodfellow et al. 2014, DCGAN by Radford et al. 2015).
Pick a model and a seed, then drag the sliders: each moves z along one of the directions G is most sensitive to,
and D's verdict on the result updates as you drag.
"""


def build_demo(explorer: Explorer, live_runs: int = 1, live_config: LiveConfig | None = None, first: ExploreState | None = None) -> gr.Blocks:
    """The explorer page for the models ``explorer`` serves. Nothing is loaded or launched.

    The files the page draws with in the browser are served by :class:`ui.engine.WebRoutes` (in LAUNCH_OPTIONS), under
    URLs that name no folder of the server.

    ``live_runs``: how many "Watch it train" runs may train at once (the others wait in the queue);
    ``live_config``: their networks and limits (default :class:`LiveConfig`); ``first``: the state the page opens on
    (default :func:`first_state`).
    """
    explorer.visitor = current_session  # a visitor's own model (a run of Watch it train) is served to them only
    props = explore.model_props(explorer, first or first_state(explorer))
    # Gradio writes every gallery tile and GIF it serves into its cache: delete what is older than 10 minutes, every 5.
    with Blocks(title="DCGAN Latent Explorer", delete_cache=(300, 600)) as demo:
        gr.Markdown(INTRO)
        model, info = explore.picker(explorer, props)
        with gr.Tabs(elem_id="tabs") as tabs:
            handle = explore.build(demo, explorer, model, info, tabs, props)
            draw.build(handle)
            interpolate.build(handle)
            arithmetic.build(handle)
            grid.build(handle)
            history.build(handle)
            watch.build(handle, live_runs, live_config)
            share.build(handle)
        gr.Markdown(share.FOOTER, elem_classes="gan-caption")
        handle.wire()
    # Each request is a few milliseconds of one-thread torch: let a few run at once instead of one by one. The queued
    # endpoints (searches, live runs, grids, GIFs) are answered through the queue only, where their limits hold; a
    # direct POST (/gradio_api/run/<name>) is taken by the quick unqueued ones (/explore, /reset, /interpolate, ...).
    demo.queue(default_concurrency_limit=4, api_open=False)
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


class CompressPages(GZipMiddleware):
    """ASGI middleware: gzip for the answers Gradio's own compression leaves out, those whose path has no file extension:
    the page itself (395 KB of HTML holding the first state, 91 KB compressed) and the API's JSON. Gradio compresses its
    .js/.css/.json files itself; event streams, pictures and files already compressed are left as they are."""

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and "." not in scope["path"].rsplit("/", 1)[-1]:
            return await super().__call__(scope, receive, send)
        return await self.app(scope, receive, send)


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
    # Outermost first. RequestErrors: a request that makes Gradio fail gets a sentence, not a 500; WebRoutes: the
    # in-browser engine, the runtime and the models' ONNX files (both ui/engine.py); DirectCalls: /call/<name> of a quick
    # draw without the queue (ui/direct_calls.py), innermost: it reads Gradio's own answers, within the body limit.
    "app_kwargs": {"middleware": [
        Middleware(engine.RequestErrors), Middleware(engine.WebRoutes), Middleware(CompressPages, compresslevel=6), Middleware(BodyLimit, limit=MAX_BODY),
        Middleware(DirectCalls),
    ]},
}


FIRST_MODEL = "mnist"  # the idea's own data set: the model a visitor meets first, when it is served
FIRST_SEED = 0  # the seed it opens at


def parser() -> argparse.ArgumentParser:
    """The app's command line; every option also has an environment variable (a Space sets those)."""
    env = os.environ.get
    p = argparse.ArgumentParser(
        prog="python app.py", description="Serve the DCGAN Latent Explorer (Gradio) on GRADIO_SERVER_NAME:GRADIO_SERVER_PORT (default 127.0.0.1:7860).",
    )
    p.add_argument("--model", action="append", default=[], metavar="SOURCE",
                   help="model folder or Hub repo id, repeatable (default: $GAN_MODELS, comma-separated, else every weights/*/ folder)")
    p.add_argument("--first-model", default=env("GAN_FIRST_MODEL"), metavar="NAME",
                   help=f"the model the page opens on (default: $GAN_FIRST_MODEL, else {FIRST_MODEL!r} when served, else the first)")
    p.add_argument("--first-seed", type=int, default=env("GAN_FIRST_SEED", str(FIRST_SEED)), metavar="N",
                   help=f"the seed the page opens at (default: $GAN_FIRST_SEED, else {FIRST_SEED})")
    p.add_argument("--live-runs", type=int, default=env("GAN_LIVE_RUNS", "1"), metavar="N",
                   help="Watch-it-train runs training at once; the others wait in the queue (default: $GAN_LIVE_RUNS, else 1)")
    p.add_argument("--live-max-steps", type=int, default=env("GAN_LIVE_MAX_STEPS"), metavar="N",
                   help=f"steps a Watch-it-train run may take (default: $GAN_LIVE_MAX_STEPS, else {LiveConfig().max_steps})")
    p.add_argument("--live-max-seconds", type=float, default=env("GAN_LIVE_MAX_SECONDS"), metavar="S",
                   help=f"seconds a Watch-it-train run may take (default: $GAN_LIVE_MAX_SECONDS, else {LiveConfig().max_seconds:g})")
    return p


def first_state(explorer: Explorer, model: str | None = None, seed: int = FIRST_SEED) -> ExploreState:
    """The state the page opens on: ``model`` (ValueError naming the served ones if it is not), else FIRST_MODEL if served, else the first."""
    if model is None:
        model = FIRST_MODEL if FIRST_MODEL in explorer.names else explorer.names[0]
    explorer.get(model)
    return ExploreState(model, seed)


def default_demo(argv: list[str] | None = None) -> gr.Blocks:
    """The app as a Space runs it: the configured models, one torch thread per request. ValueError for a bad option."""
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.live_runs < 1:
        raise ValueError(f"--live-runs (or GAN_LIVE_RUNS) must be at least 1, got {args.live_runs}.")
    limits = {"max_steps": int(args.live_max_steps)} if args.live_max_steps is not None else {}
    if args.live_max_seconds is not None:
        limits["max_seconds"] = float(args.live_max_seconds)
    # Tiny networks: one thread per call answers fastest and leaves the other cores to other requests. A live run
    # trains in the thread of its request too, so it also keeps to one core.
    torch.set_num_threads(1)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    sweep_stale_folders(Path(tempfile.gettempdir()), batch.GIF_PREFIX)  # GIFs of app processes that were killed
    explorer = Explorer.from_sources(sources_from(args.model, os.environ.get("GAN_MODELS")))
    first = first_state(explorer, args.first_model, args.first_seed)
    return build_demo(explorer, live_runs=args.live_runs, live_config=LiveConfig(**limits), first=first)


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
