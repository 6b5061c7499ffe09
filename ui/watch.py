"""The "Watch it train" tab: the image run (ui.live) above the 2-D game (ui.toy)."""

from __future__ import annotations

import gradio as gr

from gan_core.live.run import LiveConfig
from ui import live, toy
from ui.explore import ExploreHandle


def build(handle: ExploreHandle, live_runs: int = 1, live_config: LiveConfig | None = None) -> None:
    with gr.Tab("Watch it train", id="live", elem_id="tab-live"):
        live.build(handle, live_runs, live_config)
        toy.build(handle)
