"""The Interpolate tab: a walk through z from keyframe seed to keyframe seed (optionally starting at the Explore
picture), slerp or lerp, a t slider drawn live, a strip of frames and an animated GIF."""

from __future__ import annotations

import functools

import gradio as gr

from gan_core.explorer import Explorer, page_call
from gan_core.explorer import explorer as views
from ui import batch, engine
from ui.common import DRAG, RAW, asset, engine_call, ui
from ui.explore import ExploreHandle

NOTE = "Walk from keyframe to keyframe through z. **slerp** follows the sphere where Gaussian z live; **lerp** cuts through the less typical middle."


def interpolate(model, keyframes, method, t, start_state="", *, explorer: Explorer):
    """The picture at t ∈ [0, 1] along the keyframes (2-8 seeds), slerp or lerp, from an optional start state."""
    return explorer.interpolation_frame(model, keyframes, method, t, start_state)


async def drag_interpolate(args, *, explorer: Explorer):
    """Server function behind the interpolation picture's drag path; args = [model, keyframes, method, t, start].

    A coroutine, so Gradio draws it on the server's event loop (why: ``ui.common.ui``'s ``on_loop``)."""
    return page_call(functools.partial(interpolate, explorer=explorer), args)


def explore_state(model, seed, psi, d1, d2, d3, d4, d5, d6, d7, d8, z=None, kind=None, *, explorer: Explorer):
    """The Explore state as JSON, to start an interpolation there."""
    return explorer.share(model, seed, psi, d1, d2, d3, d4, d5, d6, d7, d8, z=z, kind=kind)[0]


def interpolate_for_model(model, keyframes, method, t, frames, *, explorer: Explorer, page: int):
    """A model switch: the start state belonged to the old model, so it goes; the walk is redrawn for the new one."""
    try:
        views.parse_seeds(keyframes, "Keyframes", 2, views.MAX_KEYFRAMES)
    except ValueError:
        keyframes = "0, 1"  # one seed was only enough together with the start state
    frame = explorer.interpolation_frame(model, keyframes, method, t)
    strip = batch.strip_view(model, keyframes, method, frames, "", page=page)
    return "", keyframes, frame, strip, None


def build(handle: ExploreHandle) -> None:
    """The tab and its events."""
    explorer, model, first = handle.explorer, handle.model, handle.props["model"]["value"]
    with gr.Tab("Interpolate", id="interpolate", elem_id="tab-interpolate"):
        gr.Markdown(NOTE)
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
                    explorer.interpolation_frame(first, "0, 1", "slerp", 0.5), html_template=asset("templates/frame.html"), elem_id="frame",
                    server_functions=[engine.server_function(drag_interpolate, explorer=explorer)], **engine.drag_props("interpolate", "drag_interpolate", engine=False),
                )  # fmt: skip
        strip = gr.HTML(explorer.interpolation_strip(first, "0, 1", "slerp", 12), html_template=asset("templates/strip.html"), elem_id="strip")

    interpolate_inputs = [model, keyframes, method, t, start_state]
    strip_inputs = [model, keyframes, method, frames, start_state]
    strip_view = ui(batch.strip_view, page=handle.page)
    t.input(None, interpolate_inputs, None, js=engine.drag_trigger("interpolate"), **DRAG)
    # The walk is redrawn when the person changes it (typing counts; a start state set by a button or a
    # model switch is handled by that event itself, so no event reads half-updated inputs).
    edits = [keyframes.submit, method.change, start_state.submit, start_state.blur]
    gr.on([t.release, *edits], ui(interpolate, explorer=explorer, on_loop=True), interpolate_inputs, frame, api_name="interpolate", **DRAG, **RAW)
    gr.on([frames.release, *edits], strip_view, strip_inputs, strip, api_name="strip", show_progress="hidden", **RAW)
    gr.on(edits, None, [model, keyframes, start_state], None, js=engine_call("prefetchInterpolation"), **DRAG)
    gif_button.click(ui(batch.gif_view, page=handle.page), strip_inputs, gif_file, api_name="gif", **RAW)
    # A new model: the start state (it belonged to the old model) and the old GIF go, the walk is redrawn.
    model.input(ui(interpolate_for_model, explorer=explorer, page=handle.page), [model, keyframes, method, t, frames],
                [start_state, keyframes, frame, strip, gif_file], api_visibility="private", **RAW)  # fmt: skip
    from_explore.click(ui(explore_state, explorer=explorer), handle.state_inputs, start_state, api_name="explore_state", **RAW).then(
        ui(interpolate, explorer=explorer, on_loop=True), interpolate_inputs, frame, api_visibility="private", **DRAG, **RAW
    ).then(strip_view, strip_inputs, strip, api_visibility="private", show_progress="hidden", **RAW).then(
        None, [model, keyframes, start_state], None, js=engine_call("prefetchInterpolation")
    )
