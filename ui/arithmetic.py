"""The Vector arithmetic tab: A − B + C as in the DCGAN paper, each term the mean z of seeds picked from a grid."""

from __future__ import annotations

import gradio as gr

from gan_core.core.checks import SEED_MAX
from gan_core.explorer import Explorer
from gan_core.explorer import explorer as views
from ui import batch
from ui.common import RAW, asset, ui
from ui.explore import ExploreHandle

NOTE = "As in the DCGAN paper: average a few z for each term, then compute **A − B + C**. Click tiles to add their seeds to the term chosen below, or type seeds."
POOL_SIDE = 6  # the tiles to pick from: 6 x 6


def arithmetic_tiles(model, start_seed, *, page: int):
    """The 6x6 tiles the tab picks from, for seeds start_seed, start_seed + 1, ..."""
    return batch.grid_view(model, start_seed, POOL_SIDE, page=page)


def add_tile(target, a, b, c, start_seed, evt: gr.SelectData, *, explorer: Explorer):
    """Append the clicked tile's seed to term A, B or C."""
    return views.add_seed(target, a, b, c, explorer.grid_pick(start_seed, evt.index))


def build(handle: ExploreHandle) -> None:
    """The tab and its events."""
    explorer, model, first = handle.explorer, handle.model, handle.props["model"]["value"]
    with gr.Tab("Vector arithmetic", id="arithmetic", elem_id="tab-arithmetic"):
        gr.Markdown(NOTE)
        with gr.Row():
            with gr.Column(scale=5):
                with gr.Row(equal_height=True):
                    pool_start = gr.Number(100, label="Tiles start at seed", precision=0, minimum=0, maximum=SEED_MAX, elem_id="pool-start")
                    target = gr.Radio(["A", "B", "C"], value="A", label="A click adds the tile to", elem_id="target")
                pool = gr.Gallery(
                    explorer.grid(first, 100, POOL_SIDE), columns=POOL_SIDE, height="auto", allow_preview=False, show_label=False, format="png",
                    elem_id="pool", elem_classes="gan-tiles",
                )
            with gr.Column(scale=4):
                term_a = gr.Textbox("100, 101, 102", label="A (seeds)", elem_id="term-a")
                term_b = gr.Textbox("103, 104, 105", label="B (seeds)", elem_id="term-b")
                term_c = gr.Textbox("106, 107, 108", label="C (seeds)", elem_id="term-c")
                compute = gr.Button("Compute A − B + C", variant="primary", elem_id="compute")
        equation = gr.HTML(
            explorer.arithmetic(first, "100, 101, 102", "103, 104, 105", "106, 107, 108"), html_template=asset("templates/arithmetic.html"), elem_id="equation"
        )

    gr.on([pool_start.submit, model.input], ui(arithmetic_tiles, page=handle.page), [model, pool_start], pool, api_name="arithmetic_tiles", **RAW)
    pool.select(ui(add_tile, explorer=explorer), [target, term_a, term_b, term_c, pool_start], [term_a, term_b, term_c], api_visibility="private")
    gr.on([compute.click, model.input], ui(batch.arithmetic_view, page=handle.page), [model, term_a, term_b, term_c], equation, api_name="arithmetic", **RAW)
