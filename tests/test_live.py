"""gan_core.live's image run: the trainer stepped by run_steps, the phase sentence, LiveRun and the per-session runs."""

from __future__ import annotations

import gzip
import math
import os
import threading

import numpy as np
import pytest
import torch
from app_fixtures import ROOT, make_model_folder

from gan_core.core.data import ImageData, write_idx
from gan_core.explorer import Explorer
from gan_core.live.run import (
    HOLD_BACK_STEPS,
    HOLD_SHARE,
    HOLD_STEPS,
    SUBSET_IMAGES,
    LiveConfig,
    LiveRun,
    PhaseTracker,
    classify_phase,
    describe_phase,
    grid_diversity,
    load_subset,
)
from gan_core.live.sessions import LiveSessions, sweep_stale_folders
from gan_core.pipeline import GanPipeline
from gan_core.training.config import TrainConfig
from gan_core.training.trainer import Trainer

TINY = {
    "g_features": 4,
    "d_features": 4,
    "latent_dim": 8,
    "batch_size": 4,
    "grid": 4,
    "amp": "off",
}  # fp32: tiny bf16 steps cost more than they save


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One torch thread, as the app gives a live run: on a busy 2-core machine two threads made these tiny steps 30x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_data(count: int = 32, side: int = 16) -> ImageData:
    rng = torch.Generator().manual_seed(0)
    return ImageData("mnist", torch.randint(0, 256, (count, 1, side, side), generator=rng, dtype=torch.uint8))


def tiny_config(**changes) -> LiveConfig:
    return LiveConfig(**(TINY | {"max_steps": 12, "snapshot_seconds": 0.05} | changes))


def record(step, d_real, d_fake, loss_d=1.0, loss_g=1.0):
    return {"step": step, "d_real": d_real, "d_fake": d_fake, "loss_d": loss_d, "loss_g": loss_g}


# ----------------------------------------------------------------------------- Trainer.run_steps


def test_run_steps_are_the_steps_train_runs(tmp_path):
    def config(name, **limits):
        return TrainConfig.from_flat(
            dataset="mnist", latent_dim=8, g_features=4, d_features=4, batch_size=4, out_dir=str(tmp_path / name),
            progress=False, onnx=False, bn_calibration_batches=1, log_every=100, **limits,
        )  # fmt: skip

    trained = Trainer.create(config("train", steps=10), data=tiny_data())
    trained.train()
    stepped = Trainer.create(config("steps", steps=10), data=tiny_data())
    first, second = stepped.run_steps(3), stepped.run_steps(7)  # across an epoch end (8 steps per epoch)
    assert (first["step"], second["step"]) == (3, 10)
    for key, value in trained.generator.state_dict().items():
        assert torch.equal(value, stepped.generator.state_dict()[key]), key
    for key, value in trained.ema.model.state_dict().items():
        assert torch.equal(value, stepped.ema.model.state_dict()[key]), key
    assert set(second) == {"step", "loss_d", "loss_g", "d_real", "d_fake", "d_fake_after"}
    assert all(0.0 <= second[k] <= 1.0 for k in ("d_real", "d_fake", "d_fake_after")) and second["loss_d"] > 0
    assert not (tmp_path / "steps").exists() or not any((tmp_path / "steps").iterdir())  # wrote nothing


@pytest.mark.parametrize("count", [0, -1, 1.5, True, "3"])
def test_run_steps_refuses_a_bad_count(tmp_path, count):
    trainer = Trainer.create(
        TrainConfig.from_flat(dataset="mnist", latent_dim=8, g_features=4, d_features=4, batch_size=4, out_dir=str(tmp_path)),
        data=tiny_data(),
    )
    with pytest.raises(ValueError, match="count must be a whole number"):
        trainer.run_steps(count)


# ----------------------------------------------------------------------------- the phase sentence


def test_phase_before_any_step():
    assert describe_phase([]).startswith("Starting")


def test_phase_d_winning_early():
    history = [record(10 * i, 0.85, 0.15) for i in range(1, 6)]
    assert describe_phase(history, diversity=0.3).startswith("D is winning")


def test_phase_drift_toward_half():
    history = [record(10 * i, 0.9, 0.1) for i in range(1, 6)] + [record(100 + 10 * i, 0.7, 0.3) for i in range(1, 6)]
    sentence = describe_phase(history, diversity=0.3)
    assert sentence.startswith("Drifting toward 0.5") and "D(x) 0.70" in sentence and "D(G(z)) 0.30" in sentence


def test_phase_equilibrium_and_g_ahead():
    near = [record(10 * i, 0.55, 0.45) for i in range(1, 9)]
    assert describe_phase(near, diversity=0.3).startswith("Near the equilibrium")
    ahead = [record(10 * i, 0.3, 0.8) for i in range(1, 9)]
    assert describe_phase(ahead, diversity=0.3).startswith("G is fooling D")


def test_phase_collapse_is_named_only_after_the_start():
    early = [record(20, 0.8, 0.3)]
    assert describe_phase(early, diversity=0.01).startswith("G starts from almost the same blur")
    late = [record(400 + 10 * i, 0.8, 0.3) for i in range(5)]
    assert describe_phase(late, diversity=0.01).startswith("Mode collapse")
    assert describe_phase(late, diversity=0.3).startswith("D is winning")


def test_phase_d_won_outright_and_divergence():
    won = [record(10 * i, 0.99, 0.01, loss_d=0.02) for i in range(1, 12)]
    assert describe_phase(won, diversity=0.3).startswith("D has won outright")
    diverged = [*won, record(200, 0.5, 0.5, loss_d=math.nan)]
    assert "diverged" in describe_phase(diverged)


def feed(tracker: PhaseTracker, history: list[dict], records: list[dict], diversity: float = 0.3) -> list[str]:
    """Append ``records`` one snapshot at a time; the sentence's first words after each."""
    sentences = []
    for r in records:
        history.append(r)
        sentences.append(tracker.update(history, diversity))
    return sentences


def test_the_phase_goes_forward_and_does_not_step_back_on_noise():
    tracker, history = PhaseTracker(), []
    assert tracker.update(history).startswith("Starting") and tracker.seen == []
    feed(tracker, history, [record(4, 0.6, 0.4)], diversity=0.01)  # the first snapshot shows at once
    assert tracker.phase == "blur"
    feed(tracker, history, [record(20 * i, 0.9, 0.1) for i in range(1, 12)])
    assert tracker.phase == "d-winning"
    feed(tracker, history, [record(220 + 20 * i, 0.7, 0.3) for i in range(1, 8)])
    assert tracker.phase == "drift"
    sentences = feed(tracker, history, [record(400 + 20 * i, 0.6, 0.4) for i in range(1, 11)])
    assert tracker.phase == "equilibrium" and sentences[-1].startswith("Near the equilibrium")
    assert tracker.names == ["G's starting blur", "D winning early", "drifting toward 0.5", "near the equilibrium"]

    # Noise: D(x) back at 0.68 is still inside the equilibrium's wider band for leaving (0.22) ...
    sentences = feed(tracker, history, [record(600 + 20 * i, 0.68, 0.34) for i in range(1, 9)])
    assert tracker.phase == "equilibrium" and all(s.startswith("Near the equilibrium") for s in sentences)
    # ... and outside it, many snapshots are not enough to step back while they cover less than HOLD_SHARE of the last
    # HOLD_BACK_STEPS steps.
    back, needed = 800, int(HOLD_SHARE * HOLD_BACK_STEPS)
    feed(tracker, history, [record(back + 20 * i, 0.76, 0.26) for i in range(1, needed // 20)])
    assert tracker.phase == "equilibrium"
    # The same history again (the run's last snapshot repeats the one before) counts for nothing.
    for _ in range(5):
        tracker.update(history, 0.3)
    assert tracker.phase == "equilibrium"
    # Lasting long enough, it does step back, and the list says so.
    feed(tracker, history, [record(back + needed + 20 * i, 0.76, 0.26) for i in range(0, 3)])
    assert tracker.phase == "drift" and tracker.names[-2:] == ["near the equilibrium", "drifting toward 0.5"]


def test_statistics_that_flip_between_two_phases_do_not_flip_the_sentence():
    tracker, history = PhaseTracker(), []
    feed(tracker, history, [record(20 * i, 0.9, 0.1) for i in range(1, 10)])  # the widest gap: 0.8
    assert tracker.phase == "d-winning"
    flips = []
    for i in range(1, 80):  # D's outputs swing every 40 steps between its widest gap and a drift
        gap = (0.92, 0.08) if (i // 2) % 2 else (0.7, 0.3)
        history.append(record(180 + 20 * i, *gap))
        flips.append(classify_phase(history, 0.3, tracker.phase))
        tracker.update(history, 0.3)
    assert len({*flips}) == 2 and tracker.names == ["D winning early", "drifting toward 0.5"]


def test_the_drift_holds_while_d_stays_short_of_its_widest_gap():
    tracker, history = PhaseTracker(), []
    feed(tracker, history, [record(50 * i, 0.9, 0.1) for i in range(1, 10)])  # the widest gap: 0.8
    feed(tracker, history, [record(450 + 50 * i, 0.8, 0.15) for i in range(1, 6)])  # 0.65 < 0.8 - 0.1: the drift
    assert tracker.phase == "drift"
    # D pulls ahead again for a long while, to a gap of 0.72: short of 0.8 - 0.05, so it is still the drift ...
    feed(tracker, history, [record(700 + 50 * i, 0.84, 0.12) for i in range(1, 20)])
    assert tracker.phase == "drift"
    # ... while back at its widest for HOLD_BACK_STEPS steps, D is winning again.
    feed(tracker, history, [record(1700 + 50 * i, 0.9, 0.1) for i in range(1, HOLD_BACK_STEPS // 50 + 3)])
    assert tracker.names == ["D winning early", "drifting toward 0.5", "D winning early"]


def test_a_new_phase_needs_a_few_snapshots_and_steps_and_divergence_shows_at_once():
    tracker, history = PhaseTracker(), []
    feed(tracker, history, [record(10 * i, 0.85, 0.15) for i in range(1, 6)])
    assert tracker.phase == "d-winning"
    seen_at = shown_at = None
    for step in range(60, 400, 10):  # G ahead from step 60 on: the statistics say so a little later, the sentence later still
        history.append(record(step, 0.2, 0.9))
        if seen_at is None and classify_phase(history, 0.3, tracker.phase) == "fooling":
            seen_at = step
        tracker.update(history, 0.3)
        if shown_at is None and tracker.phase == "fooling":
            shown_at = step
    # Shown once the records that showed it (each 10 steps, the first ending at seen_at) cover half of the last HOLD_STEPS.
    assert seen_at is not None and shown_at - (seen_at - 10) == HOLD_SHARE * HOLD_STEPS
    assert "diverged" in feed(tracker, history, [record(400, 0.5, 0.5, loss_d=math.nan)])[-1]
    assert tracker.seen == ["d-winning", "fooling", "diverged"]


def test_grid_diversity_of_identical_and_opposite_pictures():
    same = np.full((4, 8, 8), 128, dtype=np.uint8)
    assert grid_diversity(same) == 0.0
    opposite = np.stack([np.zeros((8, 8), np.uint8), np.full((8, 8), 255, np.uint8)])
    assert grid_diversity(opposite) == pytest.approx(1.0)


# ----------------------------------------------------------------------------- LiveRun


@pytest.mark.parametrize(
    "bad", [{"max_steps": 0}, {"max_seconds": -1.0}, {"max_seconds": math.inf}, {"batch_size": 2.5}, {"snapshot_seconds": True}]
)
def test_live_config_refuses_bad_values(bad):
    with pytest.raises(ValueError):
        LiveConfig(**bad)


def test_live_run_streams_snapshots_to_its_step_limit_and_exports(tmp_path):
    run = LiveRun(tiny_data(), tmp_path / "run", tiny_config())
    snapshots = list(run.snapshots())
    first, last = snapshots[0], snapshots[-1]
    assert first.step == 0 and not first.done and first.phase.startswith("Starting")
    assert last.done and last.reason == "steps" and last.step == 12
    assert [s.done for s in snapshots].count(True) == 1
    steps = [s.step for s in snapshots]
    assert steps == sorted(steps) and len(set(steps)) >= 3  # at least two updates between the start and the end
    assert last.grid.dtype == np.uint8 and last.grid.ndim == 2 and last.grid.shape[0] > 16
    assert len(last.losses) == len(last.outputs) == 2 * len(run.history)
    assert {row["series"] for row in last.losses} == {"Loss_D", "Loss_G"}
    assert "step 12 of at most 12" in last.status(12)
    assert last.phases and f"Phases so far: {' → '.join(last.phases)}" in last.status(12)
    folder = run.export()
    pipeline = GanPipeline.from_pretrained(folder)
    assert len(pipeline.log) == len(run.history) and pipeline.log[-1]["step"] == 12
    # The timeline: G's grid at the start, at the end of epoch 1 (32 pictures, batch 4: 8 steps an epoch), and the
    # exported generator's at step 12 (the trainer names a partial epoch by the one it is in).
    assert pipeline.discriminator is not None and [frame.epoch for frame in pipeline.timeline] == [0, 1, 2]
    assert len({frame.png for frame in pipeline.timeline}) == 3
    assert 8 in [r["step"] for r in run.history]  # a chunk that crossed the epoch's end was split there
    assert pipeline.generate(2, seed=0).images.shape[0] == 2


def test_live_run_stops_from_another_thread_and_at_its_time_limit(tmp_path):
    run = LiveRun(tiny_data(), tmp_path / "a", tiny_config(max_steps=100_000))
    seen = []
    for snapshot in run.snapshots():
        seen.append(snapshot)
        if len(seen) == 3:
            threading.Thread(target=run.stop).start()
    assert seen[-1].reason == "stopped" and seen[-1].step < 100_000
    timed = LiveRun(tiny_data(), tmp_path / "b", tiny_config(max_steps=100_000, max_seconds=0.3))
    assert list(timed.snapshots())[-1].reason == "time"


def test_live_run_same_seed_same_grid(tmp_path):
    grids = [list(LiveRun(tiny_data(), tmp_path / str(i), tiny_config(max_steps=6)).snapshots())[-1].grid for i in range(2)]
    assert np.array_equal(grids[0], grids[1])


def test_export_needs_a_step(tmp_path):
    with pytest.raises(ValueError, match="not trained a single step"):
        LiveRun(tiny_data(), tmp_path, tiny_config()).export()


def test_the_shipped_subset_loads():
    data = load_subset(ROOT / "weights" / "live" / "mnist-4096")
    assert tuple(data.images.shape) == (4096, 1, 28, 28) and data.images.dtype == torch.uint8
    assert 20 < data.images.float().mean() < 60  # MNIST: light strokes on black
    with pytest.raises(FileNotFoundError, match="weights/live/mnist-4096"):
        load_subset(ROOT / "no-such-folder")


# ----------------------------------------------------------------------------- per-session runs


@pytest.fixture
def sessions(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    raw = tmp_path / "raw"
    write_idx(raw, tiny_data().images[:, 0].numpy())
    (data / SUBSET_IMAGES).write_bytes(gzip.compress(raw.read_bytes()))
    explorer = Explorer([GanPipeline.from_pretrained(make_model_folder(tmp_path / "shipped"))])
    runs_root = tmp_path / "runs"
    runs_root.mkdir()
    return LiveSessions(explorer, data, tiny_config(), root=runs_root, keep_models=2)


def test_a_finished_run_is_served_to_its_session_only(sessions):
    views = list(sessions.train("visitor-a", seed=1))
    last = views[-1]
    assert last["done"] and last["model"].startswith("live-") and all(v["model"] is None for v in views[:-1])
    assert last["grid"]["src"].startswith("data:image/png;base64,") and last["step"] == 12
    name = sessions.model("visitor-a")
    explorer = sessions.explorer
    assert name == last["model"] and name not in explorer.names and explorer.names == ["shipped"]
    asking = {"visitor": "visitor-a"}
    explorer.visitor = lambda: asking["visitor"]
    assert explorer.explore(name, 3, 1.0)["src"].startswith("data:image/png")
    asking["visitor"] = "visitor-b"  # another session knows the name: as if it did not exist
    with pytest.raises(ValueError, match=f"Unknown model '{name}'; this app serves: shipped."):
        explorer.explore(name, 3, 1.0)
    with pytest.raises(ValueError) as refused:
        explorer.get("live-000000000000")
    assert name not in str(refused.value)
    with pytest.raises(ValueError, match="no finished live run"):
        sessions.model("visitor-b")
    folder = next(sessions.root.iterdir())
    sessions.close("visitor-a")
    assert name not in explorer.models and not folder.exists()
    with pytest.raises(ValueError, match="no finished live run"):
        sessions.model("visitor-a")


def test_a_run_whose_page_went_away_leaves_nothing(sessions):
    stream = sessions.train("visitor", seed=0)
    next(stream), next(stream)
    assert sessions.running == 1 and len(list(sessions.root.iterdir())) == 1
    stream.close()  # what Gradio does to the generator of a page that disconnected
    assert sessions.running == 0 and list(sessions.root.iterdir()) == []
    closed = sessions.train("other", seed=0)
    next(closed)
    sessions.close("other")  # the unload event: the run stops at its next chunk, then deletes everything
    assert list(closed) == [] and list(sessions.root.iterdir()) == []  # nothing more is sent to a page that left
    assert sessions.explorer.names == ["shipped"] and len(sessions.explorer.models) == 1


def test_stop_ends_a_run_which_is_then_served(sessions):
    sessions.config = tiny_config(max_steps=100_000)
    stream = sessions.train("visitor", seed=0)
    next(stream), next(stream)
    assert sessions.stop("visitor") and not sessions.stop("nobody")
    last = list(stream)[-1]
    assert "**Stopped**" in last["status"] and last["model"] == sessions.model("visitor")
    before_a_step = sessions.train("early", seed=0)
    next(before_a_step)
    sessions.stop("early")
    last = list(before_a_step)[-1]
    assert "**Stopped**" in last["status"] and last["model"] is None
    with pytest.raises(ValueError, match="no finished live run"):
        sessions.model("early")


def test_old_models_are_evicted_past_the_cap_and_a_new_run_replaces_the_old(sessions):
    names = {visitor: list(sessions.train(visitor))[-1]["model"] for visitor in ("a", "b", "c")}
    assert names["a"] not in sessions.explorer.models and {names["b"], names["c"]} <= set(sessions.explorer.models)
    again = list(sessions.train("c"))[-1]["model"]
    assert names["c"] not in sessions.explorer.models and again in sessions.explorer.models
    assert len(list(sessions.root.iterdir())) == 2  # b's and c's new run


def test_a_bad_seed_is_refused_with_a_sentence(sessions):
    for seed in (-1, 1.5, "x", None, 10**400):
        with pytest.raises(ValueError, match="seed must be a whole number"):
            next(sessions.train("visitor", seed))


def test_folders_of_app_processes_that_died_are_swept(tmp_path):
    dead, mine, other = tmp_path / "gan-live-999999999-a", tmp_path / f"gan-live-{os.getpid()}-b", tmp_path / "unrelated"
    for folder in (dead, mine, other):
        (folder / "run").mkdir(parents=True)
    assert sweep_stale_folders(tmp_path) == [dead]
    assert not dead.exists() and mine.exists() and other.exists()
