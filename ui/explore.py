"""The Explore tab: a seed, ψ and the direction sliders, the picture with D's verdict, the direction sheet.

It owns the Explore state and what follows the model: a model switch or a restored link updates every component
that shows something of the model (this tab's, and How it trained's), and :class:`ExploreHandle` lets the other tabs
open a state here.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import gradio as gr
import pandas as pd

from gan_core.core.checks import SEED_MAX
from gan_core.explorer import Explorer, ExploreState, ModelView, page_call
from gan_core.explorer import explorer as views
from gan_core.explorer.state import DIRECTION_LIMIT, NUM_DIRECTIONS, PSI_RANGE
from ui import batch, engine
from ui.common import DRAG, RAW, asset, engine_call, scroll_to, ui

CURVE_COLUMNS = ["epoch", "value", "series"]
# What /select_model returns, in its documented order (/restore sends the model first); names of followers.
MODEL_OUTPUTS = (
    "model_info", "seed", "psi", *[f"direction_{k + 1}" for k in range(NUM_DIRECTIONS)], "picture", "epoch", "timeline",
    "loss_plot", "d_plot", "verdict_note", "sheet", "kind", "directions_note", "latent",
)  # fmt: skip
# What a switch between SeFa and GANSpace redraws: the sliders (names, amounts back to 0), the picture, the sheet, the note.
KIND_OUTPUTS = (*[f"direction_{k + 1}" for k in range(NUM_DIRECTIONS)], "picture", "sheet", "directions_note")
NAMES_NOTE = (
    "Under each slider: what moving it to the right changes most in the pictures (\"7 → 0\": sevens turn into zeros), "
    "and how strongly (the effect, in standard deviations: 0.8 is large)."
)
KIND_CHOICES = [("SeFa: G's first layer", "sefa"), ("GANSpace: PCA of G's first features", "ganspace")]


def direction_props(labels: list[str], names: list[str], k: int, amount: float = 0.0) -> dict:
    """Slider k's label (its strength), info (what it does: '7 → 0 · effect 2.4'), value and visibility: hidden past the
    model's directions."""
    has = k < len(labels)
    return {"label": labels[k] if has else f"Direction {k + 1}", "info": names[k] if k < len(names) else None, "value": amount if has else 0.0, "visible": has}


def timeline_props(view: ModelView) -> dict:
    last = max(view.timeline_count, 1)
    # Gradio refuses a slider whose minimum equals its maximum: a model with one timeline picture (a live run's) gets 0..1, fixed.
    return {"minimum": 1 if view.timeline_count > 1 else 0, "maximum": last, "value": last, "interactive": view.timeline_count > 1}


def curve_frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


def model_props(explorer: Explorer, state: ExploreState) -> dict[str, dict]:
    """The props of every component that follows the model, by follower name.

    The page is built with them as constructor arguments, and a model switch or a restored link
    sends them as updates: the first page and a switch cannot drift apart.
    """
    view = explorer.view(state.model)
    state = state.fit(len(view.labels))
    sefa = state.kind == "sefa"  # the view's labels and names are SeFa's
    labels = view.labels if sefa else explorer.direction_labels(state.model, state.kind)
    names = view.direction_names if sefa else explorer.direction_names(state.model, state.kind)
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
        "sheet": {"value": explorer.direction_sheet(state.model, state.seed, state.psi, state.z, state.kind)},
        "latent": {"value": list(state.z) if state.z is not None else None},  # a found picture's z; None for a seed
        "kind": {"value": state.kind},
        "directions_note": {"value": (views.SEFA_EXPLANATION if sefa else views.GANSPACE_EXPLANATION) + " " + NAMES_NOTE},
    }
    for k in range(NUM_DIRECTIONS):
        props[f"direction_{k + 1}"] = direction_props(labels, names, k, state.amounts[k] if k < len(state.amounts) else 0.0)
    return props


@dataclass
class ExploreHandle:
    """What the tabs share: the page, the explorer and its batch key, the model picker, the tab switcher, the Explore state's
    components, the components that follow the model (``followers``, by name), and opening a state in Explore
    (:meth:`opens`, wired by :meth:`wire` once every follower exists)."""

    demo: gr.Blocks
    explorer: Explorer
    page: int  # the explorer's key for the batch views (ui.batch)
    props: dict[str, dict]  # the first state's props of every follower
    model: gr.Dropdown
    tabs: gr.Tabs
    followers: dict[str, gr.components.Component] = field(default_factory=dict)
    _opens: list[tuple] = field(default_factory=list)

    def follow(self, name: str, component):
        """Register a component that follows the model (built with ``**self.props[name]``)."""
        self.followers[name] = component
        return component

    @property
    def directions(self) -> list:
        return [self.followers[f"direction_{k + 1}"] for k in range(NUM_DIRECTIONS)]

    @property
    def state_inputs(self) -> list:
        """model, seed, psi, d1..d8, z, kind: the state every Explore endpoint takes."""
        return [self.model, self.followers["seed"], self.followers["psi"], *self.directions, self.followers["latent"], self.followers["kind"]]

    @property
    def start_outputs(self) -> list:
        """seed, psi, d1..d8, picture: what /reset, /random_seed and /grid_pick return."""
        return [self.followers["seed"], self.followers["psi"], *self.directions, self.followers["picture"]]

    @property
    def restore_outputs(self) -> list:
        return [self.model, *[self.followers[name] for name in MODEL_OUTPUTS], self.tabs]

    def updates(self, state: ExploreState) -> dict:
        """Every follower's update for ``state``; the picker also lists the state's model if it is a private one."""
        # A component whose value alone changes gets the plain value (what API clients read); others an update.
        changed = {
            self.followers.get(name, self.model): values["value"] if list(values) == ["value"] else gr.update(**values)
            for name, values in model_props(self.explorer, state).items()
        }
        if state.model not in self.explorer.names:  # a visitor's own model (Watch it train): theirs alone to pick
            changed[self.model] = gr.Dropdown(choices=[*self.explorer.names, state.model], value=state.model)
        return changed

    def opened(self, state: ExploreState) -> dict:
        """Every follower's update for ``state``, and the Explore tab selected: Explore opens it."""
        return self.updates(state) | {self.tabs: gr.Tabs(selected="explore")}

    def opens(self, trigger, fn, inputs, bound: dict | None = None, **options) -> None:
        """When ``trigger`` fires, Explore opens the ExploreState that ``fn(*inputs, **bound)`` returns (``bound`` default:
        the explorer): every follower updated, the tab switched and scrolled to. Wired by :meth:`wire`, once every follower exists."""
        self._opens.append((trigger, fn, inputs, {"explorer": self.explorer} if bound is None else bound, options))

    def wire(self) -> None:
        """The events that need every follower: model switch, the tabs' opens, the page's link on load."""
        select_outputs = [self.followers[name] for name in MODEL_OUTPUTS]
        f = self.followers
        self.model.input(ui(select_model, explorer=self.explorer, handle=self), [self.model, f["seed"], f["kind"]], select_outputs,
                         api_name="select_model", show_progress="hidden", **RAW)  # fmt: skip
        f["kind"].input(ui(switch_kind, explorer=self.explorer, handle=self), [self.model, f["seed"], f["psi"], f["latent"], f["kind"]],
                        [f[name] for name in KIND_OUTPUTS], api_name="switch_kind", show_progress="hidden", **RAW)  # fmt: skip
        for trigger, fn, inputs, bound, options in self._opens:
            trigger(ui(opening(fn, self), **bound), inputs, self.restore_outputs, **RAW, **options).success(
                None, None, None, js=scroll_to("tabs")
            )
        # What each slider does, for the API (the page shows it beside the sliders).
        gr.api(ui(direction_names, explorer=self.explorer), api_name="directions")
        # The page's state is restored from its link; then the body says so (a browser waits for it: the network never
        # goes idle, as the page keeps a heartbeat stream open so that closing it stops the visitor's runs).
        self.demo.load(ui(on_load, explorer=self.explorer, handle=self), None, self.restore_outputs, api_visibility="private").then(
            None, None, None, js="() => { document.body.dataset.restored = '1'; }"
        )


def opening(fn, handle: ExploreHandle):
    """``fn`` (which returns an ExploreState) as a callback that opens that state in Explore; Gradio reads ``fn``'s signature."""

    @functools.wraps(fn)
    def opened(*args, **bound):
        return handle.opened(fn(*args, **bound))

    return opened


# --------------------------------------------------------------------------- callbacks (plain values in, plain values out)
# API functions with the documented parameter names (d1..d8 are the amounts of the 8 sliders; z, optional,
# is a found picture's z from /invert, used when seed is None).


def explore(model, seed, psi, d1, d2, d3, d4, d5, d6, d7, d8, z=None, kind=None, *, explorer: Explorer):
    return explorer.explore(model, seed, psi, d1, d2, d3, d4, d5, d6, d7, d8, z=z, kind=kind)


def reset(model, seed, z=None, kind=None, *, explorer: Explorer):
    """The seed with psi 1 and all directions 0 (with the seed box empty: the found z, unedited)."""
    return explorer.start(model, seed, z, kind)


def random_seed(model, *, explorer: Explorer):
    """Like /reset at a fresh random seed."""
    return explorer.random_start(model)


def select_model(model, seed, kind=None, *, explorer: Explorer, handle: ExploreHandle):
    """Switch model keeping the seed (a found z belongs to its model: seed 0 instead) and the kind of directions:
    everything that follows the model, redrawn."""
    explorer.get(model)
    changed = handle.updates(ExploreState(model, 0 if views.no_seed(seed) else seed, kind=kind or "sefa"))
    del changed[handle.model]  # the dropdown itself already shows it
    return changed


def switch_kind(model, seed, psi, z, kind, *, explorer: Explorer, handle: ExploreHandle):
    """Switch the sliders between SeFa and GANSpace directions (their names, sheet and note), the amounts back to 0."""
    state = explorer.state_of(model, seed, psi, (), z, kind)
    redrawn = [handle.followers[name] for name in KIND_OUTPUTS]
    return {component: value for component, value in handle.updates(state).items() if component in redrawn}


def direction_names(model: str, kind: str = "sefa", *, explorer: Explorer) -> dict:
    """What each slider does, for a model and a kind of directions: names, effects, how they were found and named."""
    return explorer.named_directions(model, kind)


def on_load(request: gr.Request, *, explorer: Explorer, handle: ExploreHandle):
    """Open a shared link (?model=...&seed=...) if the page has one; otherwise leave the page as built."""
    query = request.query_params if request is not None else {}
    if "model" in query and ("seed" in query or "z" in query):
        try:
            return handle.opened(explorer.restore("?" + str(request.query_params)))
        except (ValueError, gr.Error) as err:
            gr.Warning(f"The link's state was not restored: {err}")
    return [gr.skip()] * len(handle.restore_outputs)


def nearest(model, seed, psi, d1, d2, d3, d4, d5, d6, d7, d8, z=None, kind=None, *, explorer: Explorer):
    """The three training pictures nearest to the Explore picture, and how near that is compared with real test pictures
    (does G copy?). "available" is False, with a sentence, for a model that ships no training pictures."""
    return explorer.nearest(model, seed, psi, d1, d2, d3, d4, d5, d6, d7, d8, z=z, kind=kind)


async def drag_explore(args, *, explorer: Explorer):
    """Server function behind the Explore picture's drag path; args = [model, seed, psi, d1, ..., d8, z].

    A coroutine, so Gradio draws it on the server's event loop (why: ``ui.common.ui``'s ``on_loop``)."""
    return page_call(functools.partial(explore, explorer=explorer), args)


def sheet(model, seed, psi, z, kind, *, page: int):
    """The direction sheet for the state (nothing while the seed box is being edited)."""
    if views.no_seed(seed) and not z:
        return gr.skip()
    return batch.sheet_view(model, seed, psi, z, kind, page=page)


# --------------------------------------------------------------------------- layout and events


def picker(explorer: Explorer, props: dict[str, dict]) -> tuple[gr.Dropdown, gr.Markdown]:
    """The model picker above the tabs, with the model's summary beside it."""
    with gr.Row(equal_height=True, elem_id="model-row"):
        model = gr.Dropdown(explorer.names, label="Model", scale=1, elem_id="model", **props["model"])
        info = gr.Markdown(elem_id="model-info", **props["model_info"])
    return model, info


def build(demo: gr.Blocks, explorer: Explorer, model: gr.Dropdown, info: gr.Markdown, tabs: gr.Tabs, props: dict[str, dict]) -> ExploreHandle:
    """The Explore tab (inside ``tabs``) and its events; the handle the other tabs take."""
    handle = ExploreHandle(demo, explorer, batch.serve(explorer), props, model, tabs)
    handle.follow("model_info", info)
    with gr.Tab("Explore", id="explore", elem_id="tab-explore"):
        with gr.Row(elem_id="explore-row"):
            with gr.Column(scale=5, min_width=340, elem_id="explore-stage"):
                buttons = _stage(handle)
                nearest_button = gr.Button("Nearest training pictures", elem_id="nearest-button", elem_classes="gan-button", size="sm")
                nearest_box = gr.HTML(None, html_template=asset("templates/nearest.html"), elem_id="nearest")
            with gr.Column(scale=4, min_width=320, elem_id="explore-sliders"):
                handle.follow("kind", gr.Radio(KIND_CHOICES, label="Directions", elem_id="direction-kind", **props["kind"]))
                for k in range(NUM_DIRECTIONS):
                    name = f"direction_{k + 1}"
                    handle.follow(name, gr.Slider(-DIRECTION_LIMIT, DIRECTION_LIMIT, step=0.05, elem_id=f"direction-{k + 1}", elem_classes="gan-direction", **props[name]))
                handle.follow("directions_note", gr.Markdown(elem_classes="gan-note", elem_id="directions-note", **props["directions_note"]))
        with gr.Row(elem_classes="gan-controls"):
            gr.HTML('<div class="gan-render-status" data-state="loading">In-browser drawing: starting.</div>', elem_id="render-status")
            force_server = gr.Checkbox(False, label="Draw on the server", info="or open the page with ?render=server", elem_id="force-server", scale=0, min_width=200)
        handle.follow("verdict_note", gr.Markdown(elem_classes="gan-note", elem_id="verdict-note", **props["verdict_note"]))
        handle.follow("latent", gr.JSON(visible=False, label="z (a found picture's)", elem_id="latent", **props["latent"]))
        with gr.Accordion("What each direction does: the seed moved to −4, −2, 0, +2, +4 along it (one row per slider)", open=True, elem_id="sheet-box"):
            handle.follow("sheet", gr.HTML(html_template=asset("templates/sheet.html"), elem_id="sheet", **props["sheet"]))
    _wire(handle, *buttons, force_server)
    # Does G copy? The nearest training pictures on demand; a new seed or model clears them (they were of another picture).
    nearest_button.click(ui(nearest, explorer=handle.explorer), handle.state_inputs, nearest_box, api_name="nearest", **RAW)
    gr.on([handle.followers["seed"].change, model.change], None, None, nearest_box, js="() => null", **DRAG)
    return handle


def _stage(handle: ExploreHandle) -> tuple[gr.Button, gr.Button]:
    """The picture with D's verdict, the seed box and its buttons (returned: Random seed, Reset), ψ."""
    explorer, props = handle.explorer, handle.props
    handle.follow("picture", gr.HTML(
        html_template=asset("templates/picture.html"), elem_id="picture", **props["picture"], **engine.drag_props("explore", "drag_explore", engine=True),
        server_functions=[engine.server_function(fn, explorer=explorer) for fn in (drag_explore, engine.web_model, engine.web_seed, engine.web_keyframes)],
    ))  # fmt: skip
    with gr.Row(elem_classes="gan-controls"):
        handle.follow("seed", gr.Number(
            label="Seed", info=f"a whole number from 0 to {SEED_MAX}; press Enter", precision=0, minimum=0, maximum=SEED_MAX,
            placeholder="none (found z)", elem_id="seed", scale=2, min_width=160, **props["seed"],
        ))  # fmt: skip
        random_button = gr.Button("Random seed", elem_id="random", scale=1, min_width=100, elem_classes="gan-button")
        reset_button = gr.Button("Reset", elem_id="reset", scale=1, min_width=80, elem_classes="gan-button")
    handle.follow("psi", gr.Slider(
        *PSI_RANGE, step=0.01, label="Truncation ψ", info="scales z toward 0: below 1 more typical, above 1 more unusual", elem_id="psi", **props["psi"],
    ))  # fmt: skip
    return random_button, reset_button


def _wire(handle: ExploreHandle, random_button: gr.Button, reset_button: gr.Button, force_server: gr.Checkbox) -> None:
    """Live while dragging (in the page, or the server as fallback), exact on release, typing a seed, reset, random.
    Seed and model changes warm the page's caches (JavaScript only)."""
    explorer, model, f = handle.explorer, handle.model, handle.followers
    seed, psi, latent, directions = f["seed"], f["psi"], f["latent"], handle.directions
    gr.on([psi.input, *[d.input for d in directions]], None, handle.state_inputs, None, js=engine.drag_trigger("explore"), **DRAG)
    gr.on([psi.release, *[d.release for d in directions], seed.submit], ui(explore, explorer=explorer, on_loop=True), handle.state_inputs, f["picture"],
          api_name="explore", **DRAG, **RAW)  # fmt: skip
    reset_button.click(ui(reset, explorer=explorer, on_loop=True), [model, seed, latent, f["kind"]], handle.start_outputs, api_name="reset", **DRAG, **RAW)
    random_button.click(ui(random_seed, explorer=explorer, on_loop=True), model, handle.start_outputs, api_name="random_seed", **DRAG, **RAW)
    gr.on([seed.change, model.change], None, [model, seed], None, js=engine_call("prefetch"), **DRAG)
    gr.on([seed.change, psi.release], ui(sheet, page=handle.page), [model, seed, psi, latent, f["kind"]], f["sheet"], api_visibility="private", show_progress="hidden", **RAW)

    # A seed in the box (typed, Reset, Random, a grid tile) leaves the found z; an empty box keeps it.
    seed.change(None, [seed, latent], latent, js="(seed, z) => [(seed === null || seed === undefined || seed === '') ? z : null]", **DRAG)
    force_server.change(None, force_server, None, js=engine_call("setForced"), **DRAG)
