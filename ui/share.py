"""The Share tab: the Explore state as a link and as JSON, and restoring a state from either."""

from __future__ import annotations

import gradio as gr

from gan_core.explorer import Explorer
from ui.common import RAW, ui
from ui.explore import ExploreHandle

FOOTER = (
    "Built with [gan_core](https://github.com/dcgan-latent-explorer/dcgan-latent-explorer): train your own DCGAN and explore it here. "
    "Every action on this page is also an API endpoint (*Use via API* below)."
)


def share(model, seed, psi, d1, d2, d3, d4, d5, d6, d7, d8, z=None, kind=None, *, explorer: Explorer):
    """The state as (JSON, "?model=...&seed=...&psi=...&amounts=...")."""
    return explorer.share(model, seed, psi, d1, d2, d3, d4, d5, d6, d7, d8, z=z, kind=kind)


def restore(text, *, explorer: Explorer):
    """Restore a shared state (JSON or link) and open Explore."""
    return explorer.restore(text)


def build(handle: ExploreHandle) -> None:
    """The tab and its events."""
    with gr.Tab("Share", id="share", elem_id="tab-share") as tab:
        gr.Markdown("The Explore state (model, seed, ψ, direction amounts) as a link or JSON. Paste either below to restore it.")
        link = gr.Textbox(label="Link", buttons=["copy"], elem_id="share-link")
        as_json = gr.Textbox(label="JSON", buttons=["copy"], elem_id="share-json")
        with gr.Row(elem_classes="gan-controls"):
            text = gr.Textbox(label="Restore from a link or JSON", scale=4, elem_id="restore-text")
            button = gr.Button("Restore", variant="primary", scale=1, elem_id="restore", elem_classes="gan-button")

    tab.select(ui(share, explorer=handle.explorer), handle.state_inputs, [as_json, link], api_name="share", **RAW).then(
        None, link, link, js="(query) => query ? window.location.origin + window.location.pathname + query : query"
    )
    handle.opens(button.click, restore, text, api_name="restore")
