"""The Vector arithmetic tab: A − B + C as in the DCGAN paper, each term the mean z of seeds picked from a grid."""

from __future__ import annotations

import gradio as gr

from gan_core.core.checks import SEED_MAX
from gan_core.explorer import Explorer
from gan_core.explorer import explorer as views
from ui import batch
from ui.common import RAW, asset, ui
from ui.explore import ExploreHandle

NOTE = (
    "As in the DCGAN paper: average a few z for each term, then compute **A − B + C**. Pick a **preset** (each was checked: "
    "the result is what it says), or click tiles to add their seeds to the term chosen below, or type seeds."
)
POOL_SIDE = 6  # the tiles to pick from: 6 x 6
DEFAULT_TERMS = ("100, 101, 102", "103, 104, 105", "106, 107, 108")  # for a model without presets


def arithmetic_presets(model: str, *, explorer: Explorer) -> dict:
    """The model's vector arithmetic presets, best first: each one's name ('bold 8 − thin 8 + thin 5'), result, the seeds of
    A, B and C, and its check in words (the classifier's reading of the result)."""
    return explorer.arithmetic_presets(model)


def preset_props(explorer: Explorer, model, name=None) -> tuple[dict, str, str, str, str]:
    """(the preset menu's props, A, B, C, the preset's description) for ``model``'s preset ``name`` (None: its first).
    A model without presets keeps the default terms, and the menu says how to make some."""
    found = explorer.arithmetic_presets(model)
    chosen = next((p for p in found["presets"] if p["name"] == name), found["presets"][0] if found["presets"] else None)
    menu = {"choices": [p["name"] for p in found["presets"]], "value": chosen["name"] if chosen else None, "interactive": bool(found["presets"])}
    if chosen is None:
        return menu, *DEFAULT_TERMS, found["note"]
    return menu, chosen["a"], chosen["b"], chosen["c"], chosen["description"]


def load_preset(model, name, *, explorer: Explorer):
    """A preset picked from the menu: its terms in A, B and C, and what it should give."""
    _, a, b, c, description = preset_props(explorer, model, name)
    return a, b, c, description


def presets_of_model(model, *, explorer: Explorer):
    """A model switch: the new model's presets in the menu, its first one in A, B and C."""
    menu, a, b, c, description = preset_props(explorer, model)
    return gr.Dropdown(**menu), a, b, c, description


def arithmetic_tiles(model, start_seed, *, page: int):
    """The 6x6 tiles the tab picks from, for seeds start_seed, start_seed + 1, ..."""
    return batch.grid_view(model, start_seed, POOL_SIDE, page=page)


def add_tile(target, a, b, c, start_seed, evt: gr.SelectData, *, explorer: Explorer):
    """Append the clicked tile's seed to term A, B or C."""
    return views.add_seed(target, a, b, c, explorer.grid_pick(start_seed, evt.index))


def build(handle: ExploreHandle) -> None:
    """The tab and its events."""
    explorer, model, first = handle.explorer, handle.model, handle.props["model"]["value"]
    menu, first_a, first_b, first_c, first_description = preset_props(explorer, first)
    with gr.Tab("Vector arithmetic", id="arithmetic", elem_id="tab-arithmetic"):
        gr.Markdown(NOTE)
        with gr.Row():  # first, above the tiles: on a phone the tiles would push it a screen down
            with gr.Column(scale=2, min_width=280):
                preset = gr.Dropdown(label="Preset", elem_id="preset", **menu)
            with gr.Column(scale=3, min_width=280):
                preset_note = gr.Markdown(first_description, elem_classes="gan-note", elem_id="preset-note")
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
                term_a = gr.Textbox(first_a, label="A (seeds)", elem_id="term-a")
                term_b = gr.Textbox(first_b, label="B (seeds)", elem_id="term-b")
                term_c = gr.Textbox(first_c, label="C (seeds)", elem_id="term-c")
                compute = gr.Button("Compute A − B + C", variant="primary", elem_id="compute")
        equation = gr.HTML(explorer.arithmetic(first, first_a, first_b, first_c), html_template=asset("templates/arithmetic.html"), elem_id="equation")
        gr.api(ui(arithmetic_presets, explorer=explorer), api_name="arithmetic_presets")  # inside the tab: Tabs hold only tabs

    gr.on([pool_start.submit, model.input], ui(arithmetic_tiles, page=handle.page), [model, pool_start], pool, api_name="arithmetic_tiles", **RAW)
    pool.select(ui(add_tile, explorer=explorer), [target, term_a, term_b, term_c, pool_start], [term_a, term_b, term_c], api_visibility="private")
    compute.click(ui(batch.arithmetic_view, page=handle.page), [model, term_a, term_b, term_c], equation, api_name="arithmetic", **RAW)
    # A preset picked, or a model switch (its first preset): the terms filled in, then computed. Typing a term leaves the preset.
    terms = [term_a, term_b, term_c]
    preset.input(ui(load_preset, explorer=explorer), [model, preset], [*terms, preset_note], api_visibility="private", **RAW).then(
        ui(batch.arithmetic_view, page=handle.page), [model, *terms], equation, api_visibility="private", **RAW
    )
    model.input(ui(presets_of_model, explorer=explorer), model, [preset, *terms, preset_note], api_visibility="private", **RAW).then(
        ui(batch.arithmetic_view, page=handle.page), [model, *terms], equation, api_visibility="private", **RAW
    )
    gr.on([*[term.input for term in terms], pool.select], None, None, [preset, preset_note], js="() => [null, '']", queue=False, show_progress="hidden")
