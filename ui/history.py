"""The "How it trained" tab: the fixed-z timeline scrubber and the curves of the losses and of D's outputs."""

from __future__ import annotations

import gradio as gr

from gan_core.explorer import Explorer
from ui.common import DRAG, RAW, asset, ui
from ui.explore import ExploreHandle

NOTE = (
    "GAN training is a two-player game, min_G max_D E[log D(x)] + E[log(1 − D(G(z)))]. "
    "**Loss_D** falls when D separates real from fake; **Loss_G** falls when G fools D. "
    "Neither should win: at the game's equilibrium D(x) = D(G(z)) = 0.5 because D can no longer tell; in practice the curves hover apart without collapsing. "
    "D's mean outputs are over whole batches, all real or all G's, as D judged them while training; Explore's verdict "
    "judges one picture at a time, which is harder (the note under it gives both). "
    "The scrubber shows the same fixed z after each epoch: shapes first, then strokes and texture."
)


def timeline(model, position, *, explorer: Explorer):
    """The fixed-z grid at timeline position 1..N: {"src", "epoch", "count"}."""
    return explorer.timeline(model, position)


def build(handle: ExploreHandle) -> None:
    """The tab (its timeline and curves follow the model) and its event."""
    props = handle.props
    with gr.Tab("How it trained", id="training", elem_id="tab-training"):
        gr.Markdown(NOTE)
        with gr.Row():
            with gr.Column(scale=4):
                epoch = handle.follow("epoch", gr.Slider(step=1, label="Timeline: snapshot", elem_id="epoch", **props["epoch"]))
                shown = handle.follow("timeline", gr.HTML(html_template=asset("templates/timeline.html"), elem_id="timeline", **props["timeline"]))
            with gr.Column(scale=5):
                handle.follow("loss_plot", gr.LinePlot(x="epoch", y="value", color="series", title="Losses", height=260, elem_id="loss-plot", **props["loss_plot"]))
                handle.follow("d_plot", gr.LinePlot(
                    x="epoch", y="value", color="series", title="D's mean output", y_title="0.5 = D cannot tell", y_lim=[0, 1], height=260, elem_id="d-plot",
                    **props["d_plot"],
                ))  # fmt: skip
    gr.on([epoch.input, epoch.release], ui(timeline, explorer=handle.explorer), [handle.model, epoch], shown, api_name="timeline", **DRAG, **RAW)
