"""The 2-D game (gan_core.live.toy): the data, mode counting, the two updates, the arrows, the picture and the run."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from gan_core.live import toy

SETTINGS = {"mixture": "ring8", "noise_dim": 2, "lr_g": 1e-3, "lr_d": 1e-3, "d_steps": 1, "loss": "non-saturating", "seed": 0}


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def settings(**changes) -> list:
    return list({**SETTINGS, **changes}.values())


# --------------------------------------------------------------------------- data and coverage


@pytest.mark.parametrize("name", sorted(toy.MIXTURES))
def test_mixture_samples_lie_on_the_modes_in_equal_shares(name):
    mixture = toy.get_mixture(name)
    points = toy.sample_mixture(mixture, 20_000, torch.Generator().manual_seed(1))
    assert points.shape == (20_000, 2) and points.dtype == torch.float32
    distance, nearest = torch.cdist(points, mixture.centres_tensor()).min(dim=1)
    # The distance to the own centre is Rayleigh(sigma): mean sigma sqrt(pi / 2), and nothing beyond ~6 sigma.
    assert distance.mean().item() == pytest.approx(mixture.sigma * math.sqrt(math.pi / 2), rel=0.03)
    assert distance.max().item() < 6 * mixture.sigma
    shares = torch.bincount(nearest, minlength=mixture.modes).float() / len(points)
    assert shares.min() > 0.8 / mixture.modes and shares.max() < 1.2 / mixture.modes
    assert (points.abs() < mixture.extent).all()  # the shown plane holds the data


def test_mixture_sampling_follows_the_generator():
    mixture = toy.get_mixture("ring8")
    first = toy.sample_mixture(mixture, 100, torch.Generator().manual_seed(3))
    assert torch.equal(first, toy.sample_mixture(mixture, 100, torch.Generator().manual_seed(3)))
    assert not torch.equal(first, toy.sample_mixture(mixture, 100, torch.Generator().manual_seed(4)))
    with pytest.raises(ValueError, match="real data must be one of ring8, grid25"):
        toy.get_mixture("moons")


def test_mode_coverage_counts_known_points():
    mixture = toy.get_mixture("ring8")
    centres = mixture.centres_tensor()
    sigma = mixture.sigma
    points = torch.cat([
        centres[0].repeat(40, 1),
        centres[1].repeat(39, 1) + torch.tensor([2.9 * sigma, 0.0]),  # inside 3 sigma
        centres[1].repeat(1, 1) + torch.tensor([0.0, 3.1 * sigma]),  # just outside: counts for no mode
        centres[2].repeat(3, 1),  # fewer than the threshold
        torch.zeros(17, 2),  # the ring's centre: near no mode
    ])  # fmt: skip
    coverage = toy.mode_coverage(points, mixture)
    assert coverage.total == 100
    assert coverage.threshold == math.ceil(0.25 * 100 / 8) == 4
    assert coverage.counts == (40, 39, 3, 0, 0, 0, 0, 0)
    assert coverage.covered == 2
    assert coverage.on_modes == pytest.approx(0.82)
    assert coverage.sentence().startswith("Mode collapse: G's points sit on only 2 of the 8 modes")


def test_coverage_sentences():
    mixture = toy.get_mixture("ring8")
    everywhere = mixture.centres_tensor().repeat(10, 1)
    assert toy.mode_coverage(everywhere, mixture).covered == 8
    assert toy.mode_coverage(everywhere, mixture).complete
    spread = torch.cat([everywhere, torch.zeros(81, 2)])  # every mode covered, but most points on none
    assert toy.mode_coverage(spread, mixture).covered == 8 and not toy.mode_coverage(spread, mixture).complete
    assert toy.mode_coverage(everywhere, mixture).sentence().startswith("All 8 modes covered")
    lost = torch.zeros(50, 2)
    assert toy.mode_coverage(lost, mixture).sentence().startswith("G has not found the data yet: 0% of its points")
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        toy.mode_coverage(torch.zeros(5, 3), mixture)


# --------------------------------------------------------------------------- settings and determinism


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"lr_g": 0}, "G's learning rate must be a number from 1e-05 to 0.1"),
        ({"lr_d": float("nan")}, "D's learning rate must be a number"),
        ({"noise_dim": 0}, "noise dimension must be a whole number from 1 to 16"),
        ({"noise_dim": True}, "noise dimension"),
        ({"d_steps": 2.5}, "D steps per G step"),
        ({"loss": "wasserstein"}, "G's loss must be one of non-saturating, minimax"),
        ({"mixture": None}, "real data"),
        ({"seed": -1}, "seed must be a whole number"),
    ],
)
def test_bad_settings_are_refused_with_a_sentence(change, message):
    with pytest.raises(ValueError, match=message):
        toy.ToyConfig(**{**SETTINGS, **change})


def test_a_game_replays_exactly_from_its_seed_and_leaves_the_global_rng_alone():
    rng_state = torch.random.get_rng_state()
    games = [toy.ToyGame(toy.ToyConfig(seed=seed)) for seed in (5, 5, 6)]
    for game in games:
        game.train(15)
    assert torch.equal(torch.random.get_rng_state(), rng_state)
    same = [
        torch.equal(a, b) for a, b in zip(games[0].generator.state_dict().values(), games[1].generator.state_dict().values(), strict=True)
    ]
    assert all(same)
    assert torch.equal(games[0].shown_fake(), games[1].shown_fake())
    assert not torch.equal(games[0].shown_fake(), games[2].shown_fake())


def test_changed_settings_go_on_and_a_changed_seed_starts_over():
    game = toy.ToyGame(toy.ToyConfig())
    game.train(3)
    same = toy.prepared(game, toy.ToyConfig(lr_g=5e-4, d_steps=2, loss="minimax"))
    assert same is game and game.step == 3
    assert game.opt_g.param_groups[0]["lr"] == 5e-4 and game.config.d_steps == 2
    fresh = toy.prepared(game, toy.ToyConfig(seed=1))
    assert fresh is not game and fresh.step == 0
    assert toy.prepared("not a game", toy.ToyConfig()).step == 0


# --------------------------------------------------------------------------- the two updates and the arrows


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("loss", toy.LOSSES)
def test_one_step_moves_each_term_the_way_its_player_wants(seed, loss):
    game, frame, details = toy.one_step(None, *settings(seed=seed, loss=loss))
    before, after_d, after_g = details["terms"]
    assert [row["when"] for row in details["terms"]] == ["before", "after D's step", "after G's step"]
    # D ascends V = E[log D(x)] + E[log(1 - D(G(z)))] on the batch it was updated on ...
    assert after_d["value"] > before["value"]
    assert after_d["value"] == pytest.approx(after_d["real"] + after_d["fake"])
    # ... and G's step leaves E[log D(x)] alone (D did not change) and pushes E[log(1 - D(G(z)))] down.
    assert after_g["real"] == after_d["real"]
    assert after_g["fake"] < after_d["fake"]
    assert game.step == frame["step"] == details["step"] == 1
    assert len(details["pictures"]) == 3 and all(p["src"].startswith("data:image/jpeg;base64,") for p in details["pictures"])
    assert "raised" in details["sentences"][0] and "lowered" in details["sentences"][1]


def test_a_step_of_d_that_lowers_v_on_its_batch_says_why():
    """One Adam step need not raise V on its batch (a large step overshoots; momentum carries earlier batches): the
    sentence then says so, instead of calling the step an ascent that it was not."""
    game, lowered = None, 0
    for _ in range(40):
        game, _, details = toy.one_step(game, *settings(lr_d=0.05))
        before, after_d, _ = details["terms"]
        explained = "need not raise it" in details["sentences"][0]
        assert explained == (after_d["value"] < before["value"]), details["sentences"][0]
        lowered += explained
    assert lowered >= 5  # 13 of 40 on our machine: at lr_d 0.05 D's step overshoots often


class LogitIsY(nn.Module):
    """A stand-in D whose logit is 2y - x (so its gradient is (-1, 2) everywhere)."""

    def forward(self, points):
        return 2 * points[:, 1] - points[:, 0]


@pytest.mark.parametrize("loss", toy.LOSSES)
def test_the_arrows_point_up_d_logit_scaled_by_how_much_the_loss_still_pulls(loss):
    game = toy.ToyGame(toy.ToyConfig(loss=loss, seed=3))
    game.train(5)
    noise = game.noise_batch()
    grads = [p.grad.clone() for p in game.discriminator.parameters()]
    points, pull = game.pull(noise)
    assert all(torch.equal(p.grad, g) for p, g in zip(game.discriminator.parameters(), grads, strict=True))  # the arrows train nothing
    assert torch.equal(points, game.generator(noise).detach())
    # Against an independent gradient of D's logit at the same points:
    x = points.clone().requires_grad_(True)
    logit = game.discriminator(x)
    (grad_logit,) = torch.autograd.grad(logit.sum(), x)
    d = torch.sigmoid(logit.detach())
    scale = (1 - d) if loss == "non-saturating" else d
    torch.testing.assert_close(pull, scale[:, None] * grad_logit, rtol=1e-4, atol=1e-6)
    assert ((pull * grad_logit).sum(dim=1) > 0).all()

    game.discriminator = LogitIsY()
    _, pull = game.pull(noise)
    direction = pull / pull.norm(dim=1, keepdim=True)
    torch.testing.assert_close(direction, torch.tensor([-1.0, 2.0]).div(math.sqrt(5)).expand_as(direction))


def test_minimax_saturates_where_d_rejects_g():
    game = toy.ToyGame(toy.ToyConfig(loss="minimax"))
    game.discriminator = LogitIsY()
    far = torch.tensor([[0.0, -10.0]])  # logit -20: D is sure it is fake
    game.generator = lambda noise: far.expand(len(noise), 2)
    _, pull = game.pull(torch.zeros(4, 2))
    assert pull.norm(dim=1).max() < 1e-7
    game.config.loss = "non-saturating"
    _, pull = game.pull(torch.zeros(4, 2))
    assert pull.norm(dim=1).min() == pytest.approx(math.sqrt(5), rel=1e-5)


def test_the_verdict_field_has_its_top_row_at_the_largest_y():
    game = toy.ToyGame(toy.ToyConfig())
    game.discriminator = LogitIsY()
    field = game.verdict_field(8)
    assert field.shape == (8, 8) and field.dtype == np.float32
    assert (np.diff(field, axis=0) < 0).all()  # y falls down the rows
    assert (np.diff(field, axis=1) < 0).all()  # logit 2y - x falls to the right


# --------------------------------------------------------------------------- the picture


def test_render_draws_the_heat_map_the_points_and_the_arrows():
    side, extent = 60, 3.0
    field = np.zeros((4, 4), np.float32)
    field[:, 2:] = 1.0  # D says real on the right half
    real = np.array([[-1.5, 1.5]])  # pixel (15, 15)
    fake = np.array([[1.5, -1.5], [100.0, 0.0]])  # pixel (45, 45); the second flew off to the right: drawn at the edge
    picture = toy.render(field, real, fake, extent, side=side)
    assert picture.shape == (side, side, 3) and picture.dtype == np.uint8
    assert tuple(picture[2, 2]) == tuple(toy.HEAT_LUT[0]) and tuple(picture[2, side - 3]) == tuple(toy.HEAT_LUT[255])
    assert tuple(picture[15, 15]) == toy.REAL_COLOUR
    assert tuple(picture[45, 45]) == toy.FAKE_COLOUR
    assert tuple(picture[30, side - 1]) == toy.FAKE_COLOUR
    assert tuple(toy.to_pixels(np.array([[0.0, 0.0], [-9.0, 9.0]]), extent, side)[1]) == (0, 0)

    arrows = np.array([[0.0, 1.0], [0.0, 0.0]])  # G's first point is pulled straight up, with a pull of 1
    with_arrows = toy.render(field, real, fake, extent, side=side, arrows=arrows)
    changed = np.argwhere((with_arrows != picture).any(axis=2))
    assert len(changed) >= 15
    # Up from the point, 10 px per decade above 1e-4 (the lines are 2 px wide).
    assert changed[:, 0].max() <= 45 and abs(changed[:, 0].min() - (45 - 40)) <= 1
    assert np.abs(changed[:, 1] - 45).max() <= 8  # along its column (the head is a few px wide)
    with pytest.raises(ValueError, match="square"):
        toy.render(np.zeros((3, 4)), real, fake, extent)


def test_arrows_are_drawn_on_one_log_scale_with_its_key():
    # The same scale in every picture: nothing at 1e-4 or below, 10 px per tenfold pull, the longest (50 px) from 10.
    pulls = np.array([1e-6, 1e-4, 1e-3, 0.1, 1.0, 10.0, 1000.0])
    np.testing.assert_allclose(toy.arrow_pixels(pulls), [0, 0, 10, 30, 40, 50, 50], atol=1e-9)
    side, extent = 360, 3.0
    field = np.full((4, 4), 0.5, np.float32)
    fake = np.array([[0.0, 0.0], [1.5, 1.5]])  # pixels (180, 180) and (90, 270)
    none = toy.render(field, np.zeros((0, 2)), fake, extent, side=side)
    keyed = toy.render(field, np.zeros((0, 2)), fake, extent, side=side, arrows=np.zeros((2, 2)))
    key = np.argwhere((keyed != none).any(axis=2))
    assert len(key) > 0 and key[:, 0].min() > side - 80 and key[:, 1].max() < 130  # the key sits in the bottom-left corner
    arrows = np.array([[1e-3, 0.0], [-10.0, 0.0]])  # a weak pull to the right, a strong one to the left
    drawn = np.argwhere((toy.render(field, np.zeros((0, 2)), fake, extent, side=side, arrows=arrows) != keyed).any(axis=2))
    right = drawn[np.abs(drawn[:, 0] - 180) <= 8]
    left = drawn[np.abs(drawn[:, 0] - 90) <= 8]
    assert right[:, 1].min() >= 180 - 2 and abs(right[:, 1].max() - (180 + 10)) <= 1
    assert left[:, 1].max() <= 270 + 2 and abs(left[:, 1].min() - (270 - 50)) <= 1


def test_the_pull_chart_puts_both_losses_on_one_log_axis_and_starts_at_the_head_start():
    trace = [
        {"at": -1000, "non-saturating": 0.01, "minimax": 0.01, "d_fake": 0.5},
        {"at": 0, "non-saturating": 1.0, "minimax": 1e-8, "d_fake": 1e-8},
        {"at": 1000, "non-saturating": 100.0, "minimax": 1e-12, "d_fake": 1.0},
    ]
    chart = toy.pull_chart(trace, "minimax", head_start=1000)
    assert chart["training"] == "minimax" and chart["zero"] == 500
    # 1e-8 .. 1e2 over 1000 units, y down: 1e-2 at 600, 1 at 800 from the top's 1e2 ... below 1e-8 stays on the axis.
    assert chart["lines"]["non-saturating"] == "0,400 500,200 1000,0"
    assert chart["lines"]["minimax"] == "0,400 500,1000 1000,1000"
    assert chart["d_fake"] == "0,500 500,1000 1000,0"
    assert [t["label"] for t in chart["x_ticks"]][0] == "-1,000" and "0" in [t["label"] for t in chart["x_ticks"]]
    assert [t["label"] for t in chart["pull_ticks"]] == ["1e-8", "1e-6", "1e-4", "1e-2", "1", "1e2"]
    empty = toy.pull_chart([], "non-saturating")
    assert empty["lines"] == {"non-saturating": "", "minimax": ""} and empty["x_ticks"][0]["label"] == "0"


@pytest.mark.parametrize("loss", toy.LOSSES)
def test_each_frame_measures_both_pulls_on_the_same_points_whichever_loss_trains(loss):
    game = toy.ToyGame(toy.ToyConfig(loss=loss, seed=2))
    game.train(20)
    pulls = game.pulls()
    x = game.shown_fake().requires_grad_(True)
    logit = game.discriminator(x)
    (grad,) = torch.autograd.grad(logit.sum(), x)
    d = torch.sigmoid(logit.detach())
    assert pulls["non-saturating"] == pytest.approx(((1 - d) * grad.norm(dim=1)).mean().item(), rel=1e-5)
    assert pulls["minimax"] == pytest.approx((d * grad.norm(dim=1)).mean().item(), rel=1e-5)
    assert pulls["d_fake"] == pytest.approx(d.mean().item(), rel=1e-6)
    frame = toy.frame(game)
    assert frame["chart"]["now"] == pytest.approx(pulls) and game.trace[-1]["at"] == 20
    toy.frame(game)  # the same step again: one record per step
    assert len(game.trace) == 1


def test_a_head_start_game_first_trains_d_alone_then_g_by_plain_gradient_steps():
    config = toy.ToyConfig(preset="head-start", lr_g=1e-2)
    game = toy.ToyGame(config)
    assert isinstance(game.opt_g, torch.optim.SGD) and game.head_start_left == 1000 and game.position == -1000
    before = game.shown_fake()
    assert game.head_start(300) == 300 and game.position == -700 and game.step == 0
    assert torch.equal(game.shown_fake(), before)  # G waits
    frames = list(toy.run(game, "ring8", 2, 1e-2, 1e-3, 1, "minimax", 0, 20, "head-start", frame_seconds=0.0))
    lefts = [frame["head_start_left"] for _, frame in frames]
    assert lefts[0] == 700 and lefts[-1] == 0 and lefts == sorted(lefts, reverse=True) and frames[-1][1]["step"] == 20
    assert frames[-1][1]["chart"]["head_start"] == 1000 and "alone for its first 1,000 steps" in frames[-1][1]["settings"]
    assert toy.prepared(game, toy.ToyConfig(preset="usual")) is not game  # a new preset is a new game
    _, _, details = toy.one_step(None, "ring8", 2, 1e-2, 1e-3, 1, "minimax", 0, "head-start")
    assert details["sentences"][0].startswith("First D trained alone for 1,000 steps")
    assert details["pulls"]["minimax"] < 1e-2 * details["pulls"]["non-saturating"]  # D rejects G's points: minimax saturates
    with pytest.raises(ValueError, match="The start must be one of usual, head-start"):
        toy.ToyConfig(preset="late")


@pytest.mark.slow
def test_after_the_head_start_the_minimax_g_stalls_and_the_non_saturating_g_reaches_the_data():
    distance = {}
    for loss in toy.LOSSES:
        game = toy.ToyGame(toy.ToyConfig(preset="head-start", lr_g=1e-2, loss=loss, seed=1))
        start = torch.cdist(game.shown_fake(), game.mixture.centres_tensor()).min(dim=1).values.mean().item()
        game.train(600)
        distance[loss] = torch.cdist(game.shown_fake(), game.mixture.centres_tensor()).min(dim=1).values.mean().item() / start
    assert distance["minimax"] > 0.95 and distance["non-saturating"] < 0.5


# --------------------------------------------------------------------------- what the app calls


def test_run_yields_frames_and_stops_at_its_step_cap():
    frames = toy.run(None, *settings(), 40, frame_seconds=0.0)
    pairs = list(frames)
    games = {id(game) for game, _ in pairs}
    assert len(games) == 1
    game = pairs[-1][0]
    assert game.step == 40
    steps = [frame["step"] for _, frame in pairs]
    assert steps[0] == 0 and steps[-1] == 40 and steps == sorted(steps) and len(pairs) >= 4
    last = pairs[-1][1]
    assert {"src", "loss_d", "loss_g", "d_real", "d_fake", "covered", "modes", "sentence", "settings"} <= set(last)
    assert last["modes"] == 8 and 0 <= last["d_real"] <= 1 and "betas (0.5, 0.999)" in last["settings"]
    assert pairs[0][1]["loss_d"] is None  # nothing trained yet

    # The same game goes on; the time cap ends a run early.
    more = list(toy.run(game, *settings(), 10_000, max_seconds=0.0))
    assert more[-1][0] is game and game.step == 40 and len(more) == 2


def test_run_refuses_bad_values_before_it_starts():
    with pytest.raises(ValueError, match="Steps per run must be a whole number from 1 to 20000"):
        toy.run(None, *settings(), 0)
    with pytest.raises(ValueError, match="G's learning rate"):
        toy.run(None, *settings(lr_g="fast"), 10)


def test_reset_starts_an_untrained_game():
    game, frame = toy.reset(*settings(mixture="grid25", seed=4))
    assert game.step == 0 and frame["modes"] == 25 and frame["covered"] < 25 and frame["loss_g"] is None
    assert frame["src"].startswith("data:image/jpeg;base64,")


def test_a_released_game_frees_its_networks_and_is_replaced():
    game, _ = toy.reset(*settings())
    frames = toy.run(game, *settings(), 10_000, frame_seconds=0.0)
    next(frames)
    game.release()
    assert game.generator is None and game.opt_d is None
    assert list(frames) == []  # a run whose page closed ends quietly
    with pytest.raises(ValueError, match="closed with its page"):
        game.train(1)
    with pytest.raises(ValueError, match="closed with its page"):
        toy.frame(game)
    fresh, frame, _ = toy.one_step(game, *settings())
    assert fresh is not game and frame["step"] == 1
