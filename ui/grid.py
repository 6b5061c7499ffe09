"""The Grid tab: samples for consecutive seeds; a click opens the tile in Explore."""

from __future__ import annotations

import gradio as gr

from gan_core.core.checks import SEED_MAX, check_count
from gan_core.explorer import Explorer
from gan_core.explorer import explorer as views
from ui import batch
from ui.common import RAW, ui
from ui.explore import ExploreHandle


def open_tile(model, start_seed, index, *, explorer: Explorer):
    """A grid tile's seed, opened in Explore with the sliders reset."""
    return (*explorer.start(model, explorer.grid_pick(start_seed, index)), gr.Tabs(selected="explore"))


def tile_index(evt: gr.SelectData):
    return evt.index


def grid_layout(side):
    """Lay the grid out side x side (a UI detail, not part of the API)."""
    return gr.Gallery(columns=check_count(side, "Grid side", *views.GRID_SIDES))


def build(handle: ExploreHandle) -> None:
    """The tab and its events."""
    explorer, model, first = handle.explorer, handle.model, handle.props["model"]["value"]
    with gr.Tab("Grid", id="grid", elem_id="tab-grid"):
        gr.Markdown("Samples for consecutive seeds. **Click a tile to open it in Explore.**")
        with gr.Row(elem_classes="gan-controls"):
            start = gr.Number(0, label="First seed", precision=0, minimum=0, maximum=SEED_MAX, elem_id="grid-start")
            side = gr.Slider(*views.GRID_SIDES, value=6, step=1, label="Tiles per side", elem_id="grid-side")
            show = gr.Button("Show grid", variant="primary", elem_id="grid-show", elem_classes="gan-button")
        grid = gr.Gallery(
            explorer.grid(first, 0, 6), columns=6, height="auto", allow_preview=False, show_label=False, format="png", elem_id="grid", elem_classes="gan-tiles"
        )
        picked = gr.Number(visible=False)

    gr.on([show.click, start.submit, side.release, model.input], ui(batch.grid_view, page=handle.page), [model, start, side], grid, api_name="grid", **RAW)
    side.release(ui(grid_layout), side, grid, api_visibility="private", **RAW)
    grid.select(tile_index, None, picked, api_visibility="private").then(
        ui(open_tile, explorer=explorer), [model, start, picked], [*handle.start_outputs, handle.tabs], api_name="grid_pick", **RAW
    )
