"""Watch it train, the 2-D game (gan_core.live.toy): the same game as the image GAN, played on points in the plane, and
"one step, slowly". Each visitor's game is kept under their session (gan_core.explorer.visitors), not in the session's
Gradio state: an active game is never evicted because other visitors came, and a closed page's game is freed at once."""

from __future__ import annotations

import gradio as gr

from gan_core.core.checks import SEED_MAX
from gan_core.explorer.visitors import Visitors
from gan_core.live import toy
from ui.common import RAW, asset, logger, session_of, ui
from ui.explore import ExploreHandle

NOTE = """
**The 2-D game.** The same game as the image GAN, small enough to watch: G turns noise into points in the plane, the real
data is a mixture of Gaussians, and the background is D's verdict D(x) at every point of the plane. D minimises BCE
(real 1, fake 0), G the non-saturating loss −log D(G(z)), both with Adam. Press **Start** and watch G's points
chase the places D calls real, and D move its verdict after them. G often piles onto a few modes (**mode collapse**):
the line under the picture counts the modes G reaches. **One step, slowly** makes one D update and one G update
and shows what each changed.

**Why G's loss is −log D(G(z)).** The paper's game has G minimise log(1 − D(G(z))) (minimax). Choose **D gets a head
start** and Start once with each loss: D first learns alone to reject G's points, then G takes plain gradient steps.
Under the minimax loss G's points stay put, because its pull (the chart under the picture) is less than a
ten-thousandth of the other's; under −log D(G(z)) they reach the ring. (With Adam, as usual, both recover: Adam
rescales every step, which hides the tiny gradient.)
"""
GAMES_AT_ONCE = 1  # 2-D games training at once, whoever asks: each runs on one thread, the other core stays with the explorer
IDLE_SECONDS = 1800  # a visitor's game is forgotten this long after its last change (and when the page closes)
USUAL = "usual"  # the preset of a request that names none (one written before presets existed)


def kept(games: Visitors, request: gr.Request | None, game: toy.ToyGame) -> None:
    """Keep ``game`` as its visitor's one game (a call without a session keeps nothing)."""
    session = session_of(request)
    if session is not None:
        games.put(session, game, only=True)


def toy_run(mixture, noise_dim, lr_g, lr_d, d_steps, loss, seed, steps, preset=None, request: gr.Request = None, *, games: Visitors):
    """Train the 2-D game for ``steps`` steps (at most toy.MAX_RUN_STEPS and toy.MAX_RUN_SECONDS): a frame ~10 times a second.
    ``preset``: how a new game starts (toy.PRESETS; "usual" when left out)."""
    session = session_of(request)
    for game, frame in toy.run(games.first(session), mixture, noise_dim, lr_g, lr_d, d_steps, loss, seed, steps, preset or USUAL):
        kept(games, request, game)
        yield frame


def toy_step(mixture, noise_dim, lr_g, lr_d, d_steps, loss, seed, preset=None, request: gr.Request = None, *, games: Visitors):
    """One D update, then one G update, shown slowly: the frame after both and what each changed."""
    game = games.first(session_of(request))
    game, frame, details = toy.one_step(game, mixture, noise_dim, lr_g, lr_d, d_steps, loss, seed, preset or USUAL)
    kept(games, request, game)
    return frame, details


def toy_reset(mixture, noise_dim, lr_g, lr_d, d_steps, loss, seed, preset=None, request: gr.Request = None, *, games: Visitors):
    """A new, untrained 2-D game from the settings."""
    game, frame = toy.reset(mixture, noise_dim, lr_g, lr_d, d_steps, loss, seed, preset or USUAL)
    kept(games, request, game)
    return frame, None


def toy_preset_lr(preset):
    """The G learning rate that suits ``preset`` (plain gradient steps need a larger one than Adam's), for the slider."""
    return toy.PRESETS[preset].lr_g if preset in toy.PRESETS else gr.skip()


def toy_closed(request: gr.Request, *, games: Visitors):
    """The page was closed: free its 2-D game (a run of it ends at its next step)."""
    if games.close(session_of(request)):
        logger.info("freed the 2-D game of a closed page")


def build(handle: ExploreHandle) -> None:
    """The 2-D game's section of Watch it train, and its events."""
    defaults = toy.ToyConfig()
    gr.Markdown("### The 2-D game", elem_id="toy-title")
    with gr.Row(elem_id="toy-row"):
        with gr.Column(scale=5, min_width=320):
            picture = gr.HTML(
                toy.reset(defaults.mixture, defaults.noise_dim, defaults.lr_g, defaults.lr_d, defaults.d_steps, defaults.loss, defaults.seed)[1],
                html_template=asset("templates/toy_frame.html"), elem_id="toy-picture",
            )  # fmt: skip
        with gr.Column(scale=4, min_width=300):
            gr.Markdown(NOTE, elem_classes="gan-note")
            with gr.Row(elem_classes="gan-controls"):
                start = gr.Button("Start", variant="primary", elem_id="toy-start", elem_classes="gan-button", min_width=80)
                stop = gr.Button("Stop", variant="stop", elem_id="toy-stop", elem_classes="gan-button", min_width=80)
                one = gr.Button("One step, slowly", elem_id="toy-one-step", elem_classes="gan-button", min_width=140)
                reset = gr.Button("Reset", elem_id="toy-reset", elem_classes="gan-button", min_width=80)
            settings, steps, preset = _settings(defaults)
    slow = gr.HTML(None, html_template=asset("templates/toy_step.html"), elem_id="toy-slow")

    # In its own queue group with GAMES_AT_ONCE games at once (each capped in steps and seconds), so it cannot take the
    # cores the explorer needs. Stop, a step or a reset ends this page's run.
    games: Visitors[toy.ToyGame] = Visitors(on_close=toy.ToyGame.release, idle_seconds=IDLE_SECONDS)
    group = {"concurrency_limit": GAMES_AT_ONCE, "concurrency_id": "toy"}
    running = start.click(
        ui(toy_run, games=games), [*settings, steps, preset], picture, api_name="toy_run", show_progress="hidden", **group, **RAW
    )
    stop.click(None, None, None, cancels=[running], queue=False)
    one.click(ui(toy_step, games=games), [*settings, preset], [picture, slow], api_name="toy_step", cancels=[running], **group, **RAW)
    mixture, noise, lr_g, seed = settings[0], settings[1], settings[2], settings[6]
    gr.on([reset.click, mixture.input, noise.release, seed.submit], ui(toy_reset, games=games), [*settings, preset], [picture, slow],
          api_name="toy_reset", cancels=[running], show_progress="hidden", **group, **RAW)  # fmt: skip
    # A new preset moves G's learning rate to the one that suits it, then starts a new game with both.
    preset.input(toy_preset_lr, preset, lr_g, queue=False, show_progress="hidden", api_visibility="private").then(
        ui(toy_reset, games=games), [*settings, preset], [picture, slow], cancels=[running], show_progress="hidden",
        api_visibility="private", **group, **RAW,
    )  # fmt: skip
    handle.demo.unload(ui(toy_closed, games=games))


def _settings(defaults: toy.ToyConfig) -> tuple[list, gr.Slider, gr.Radio]:
    """The game's settings in the order the endpoints take them (mixture, noise_dim, lr_g, lr_d, d_steps, loss, seed), Steps per
    Start, and how a game starts (the preset, the endpoints' optional last value)."""
    mixture = gr.Radio([(m.label, m.name) for m in toy.MIXTURES.values()], value=defaults.mixture, label="Real data", info="a new game", elem_id="toy-mixture")
    loss = gr.Radio(
        [("non-saturating: −log D(G(z))", "non-saturating"), ("minimax: log(1 − D(G(z)))", "minimax")], value=defaults.loss,
        label="G's loss", info="the minimax loss saturates: G hardly moves while D rejects its points", elem_id="toy-loss",
    )  # fmt: skip
    preset = gr.Radio(
        [(p.label, p.name) for p in toy.PRESETS.values()], value=defaults.preset, label="How the game starts",
        info="a new game; with the head start, Start once with each loss to see the minimax one stall", elem_id="toy-preset",
    )  # fmt: skip
    with gr.Row():
        lr_g = gr.Slider(0.0001, 0.01, value=defaults.lr_g, step=0.0001, label="G's learning rate", elem_id="toy-lr-g")
        lr_d = gr.Slider(0.0001, 0.01, value=defaults.lr_d, step=0.0001, label="D's learning rate", elem_id="toy-lr-d")
    with gr.Row():
        d_steps = gr.Slider(*toy.D_STEPS, value=defaults.d_steps, step=1, label="D steps per G step", elem_id="toy-d-steps")
        noise = gr.Slider(*toy.NOISE_DIMS, value=defaults.noise_dim, step=1, label="Noise dimension", info="a new game", elem_id="toy-noise")
    with gr.Row(elem_classes="gan-controls"):
        seed = gr.Number(defaults.seed, label="Seed", info="a new game; press Enter", precision=0, minimum=0, maximum=SEED_MAX, elem_id="toy-seed")
        steps = gr.Slider(100, toy.MAX_RUN_STEPS, value=3000, step=100, label="Steps per Start", elem_id="toy-steps")
    gr.Markdown(
        f"Adam, betas {toy.BETAS} (G: plain gradient descent after D's head start), batch {defaults.batch_size}; G and D are MLPs "
        f"of 2 × {defaults.hidden}. A Start runs at most {toy.MAX_RUN_SECONDS:.0f} s. New learning rates, D steps or loss keep the "
        "game: they apply from the next Start or step.",
        elem_classes="gan-note",
    )
    return [mixture, noise, lr_g, lr_d, d_steps, loss, seed], steps, preset
