"""gan_core.explorer: model discovery, warm models and every view the app shows, on tiny models."""

from __future__ import annotations

import base64
import io
import json
import math

import numpy as np
import pytest
import torch
from app_fixtures import make_model_folder
from PIL import Image

from gan_core import GanPipeline
from gan_core.core import images, latent
from gan_core.core.checks import SEED_MAX
from gan_core.core.hub import load_discriminator, load_generator, save_model
from gan_core.core.models import Generator
from gan_core.explorer import ExploreState
from gan_core.explorer import explorer as ex
from gan_core.explorer.state import NUM_DIRECTIONS


def decode(url: str) -> np.ndarray:
    assert url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {
        "grey": make_model_folder(root / "grey", image_size=16, channels=1, latent_dim=8),
        "colour": make_model_folder(root / "colour", image_size=8, channels=3, latent_dim=6, seed=1, with_discriminator=False, epochs=2),
    }


@pytest.fixture(scope="module")
def explorer(folders):
    return ex.Explorer.from_sources([str(folders["grey"]), str(folders["colour"])])


ZEROS = [0.0] * NUM_DIRECTIONS


# ----------------------------------------------------------------------------- validation


def test_state_amounts_fit_the_models_sliders():

    def amounts(values, count):
        return list(ExploreState("m", 0, amounts=values).fit(count).amounts)

    assert amounts([1.0, -2.0], 4) == [1.0, -2.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="Direction 2 must be a number from -8 to 8"):
        amounts([0.0, 9.0], 4)
    assert amounts([1.0] + [0.0] * 7, 4) == [1.0, 0.0, 0.0, 0.0]  # hidden sliders send 0
    with pytest.raises(ValueError, match="Direction 6 must be 0: this model has only 4 directions, got 2"):
        amounts([0.0] * 5 + [2.0], 4)
    with pytest.raises(ValueError, match="Got 9 direction amounts; the app has 8 direction sliders"):
        amounts([0.0] * 9, 4)
    with pytest.raises(ValueError, match="list of up to"):
        amounts("0.5", 4)


def test_parse_seeds():
    assert ex.parse_seeds("3, 7 12", "A") == [3, 7, 12]
    assert ex.parse_seeds([1, 2.0], "A") == [1, 2]
    with pytest.raises(ValueError, match="'x' is not one"):
        ex.parse_seeds("3, x", "Term A")
    with pytest.raises(ValueError, match="Term A needs 1 to 8 seeds, got 0"):
        ex.parse_seeds("  ", "Term A")
    with pytest.raises(ValueError, match="needs 1 to 8 seeds, got 9"):
        ex.parse_seeds(",".join(map(str, range(9))), "Term A")
    with pytest.raises(ValueError, match="whole number from 0 to"):
        ex.parse_seeds("99999999999", "Term A")
    with pytest.raises(ValueError, match="seeds separated by commas"):
        ex.parse_seeds(12, "Term A")


def test_add_seed_appends_to_the_chosen_term():
    assert ex.add_seed("B", "1", "", "3, 4", 9) == ("1", "9", "3, 4")
    assert ex.add_seed("C", "1", "", "3, 4,", 9) == ("1", "", "3, 4, 9")
    with pytest.raises(ValueError, match="The term must be one of A, B, C"):
        ex.add_seed("D", "", "", "", 1)


# ----------------------------------------------------------------------------- sources and loading


def test_sources_from_prefers_cli_then_env_then_weights(tmp_path, folders):
    weights = tmp_path / "weights"
    make_model_folder(weights / "b-model")
    make_model_folder(weights / "a-model")
    (weights / "not-a-model").mkdir()
    assert ex.sources_from(["x"], "y,z", weights) == ["x"]
    assert ex.sources_from(None, " y , z ", weights) == ["y", "z"]
    assert ex.sources_from(None, "", weights) == [str(weights / "a-model"), str(weights / "b-model")]
    assert ex.sources_from(None, None, tmp_path / "missing") == []


def test_pipeline_holds_everything_the_app_shows(folders, explorer):
    model = GanPipeline.from_pretrained(str(folders["grey"]))
    assert model.name == "grey" and model.discriminator is not None
    assert explorer.num_directions("grey") == 8
    generator = load_generator(folders["grey"] / "generator")
    directions, strengths = latent.sefa_directions(generator.first_layer.weight)
    torch.testing.assert_close(model.sefa[0], directions)
    torch.testing.assert_close(model.sefa[1], strengths)
    assert [frame.epoch for frame in model.timeline] == [1, 2, 3]
    assert Image.open(io.BytesIO(model.timeline[0].png)).mode == "L"
    assert len(model.log) == 6 and model.log[0]["loss_d"] == 1.0


def test_directions_are_capped_at_latent_dim(folders, explorer):
    model = GanPipeline.from_pretrained(str(folders["colour"]))
    assert explorer.num_directions("colour") == 6 and model.discriminator is None


def test_pipeline_accepts_a_generator_folder_and_a_run_in_progress(tmp_path, folders):
    direct = GanPipeline.from_pretrained(str(folders["grey"] / "generator"))
    assert direct.name == "generator" and direct.discriminator is not None  # sibling discriminator/ found
    run = tmp_path / "run"
    for epoch in (1, 2):
        save_model(Generator(latent_dim=4, image_size=8, channels=1, g_features=2), run / "snapshots" / f"epoch_{epoch:03d}")
    model = GanPipeline.from_pretrained(str(run))
    assert model.latent_dim == 4 and model.discriminator is None and model.timeline == []


def test_seeds_draw_from_the_noise_the_generator_was_trained_on(tmp_path):
    save_model(Generator(latent_dim=4, image_size=8, channels=1, g_features=2, noise="uniform"), tmp_path / "uniform" / "generator")
    uniform = ex.Explorer([GanPipeline.from_pretrained(str(tmp_path / "uniform"))])
    z = uniform.state_latent(ExploreState("uniform", 3))
    torch.testing.assert_close(z, latent.noise_for_seed(3, 4, "uniform"))


def test_pipeline_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a Hub repo id"):
        GanPipeline.from_pretrained(str(tmp_path / "missing" / "deeper" / "folder"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no generator"):
        GanPipeline.from_pretrained(str(tmp_path / "empty"))
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        GanPipeline.from_pretrained(str(tmp_path / "file.txt"))


def test_hub_repo_id_is_tried_and_fails_clearly_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="Could not get the Hub repo 'nobody/no-such-dcgan'"):
        GanPipeline.from_pretrained("nobody/no-such-dcgan")


def test_explorer_needs_a_model():
    with pytest.raises(ValueError, match="No models to serve"):
        ex.Explorer([])


def test_unknown_model_lists_the_served_ones(explorer):
    assert explorer.names == ["grey", "colour"]
    with pytest.raises(ValueError, match=r"Unknown model 'nope'; this app serves: grey, colour\."):
        explorer.explore("nope", 0, 1.0)
    with pytest.raises(ValueError, match="Unknown model"):
        explorer.grid(None, 0, 2)



def test_a_visitors_model_is_found_by_that_visitor_only(folders):
    explorer = ex.Explorer.from_sources([str(folders["grey"])])
    asking = {"visitor": None}
    explorer.visitor = lambda: asking["visitor"]
    explorer.add(GanPipeline.from_pretrained(folders["colour"]), "live-1", owner="session-a")
    assert explorer.names == ["grey"] and explorer.owned("live-1") and not explorer.owned("grey")
    for visitor in (None, "session-b", ""):  # no session, another one, an empty one: as if it did not exist
        asking["visitor"] = visitor
        with pytest.raises(ValueError, match=r"^Unknown model 'live-1'; this app serves: grey\.$"):
            explorer.explore("live-1", 0, 1.0)
        assert explorer.explore("grey", 0, 1.0)["src"]
    asking["visitor"] = "session-a"
    assert explorer.explore("live-1", 0, 1.0)["src"] and "your run of Watch it train" in explorer.summary("live-1")
    moved = explorer.on("meta")  # the same views on another device keep the owners and ask the same visitor
    with pytest.raises(ValueError, match="Unknown model"):
        asking["visitor"] = "session-b"
        moved.get("live-1")
    asking["visitor"] = "session-a"
    assert moved.get("live-1").name == "live-1"
    explorer.remove("live-1")
    with pytest.raises(ValueError, match="Unknown model"):
        explorer.get("live-1")

# ----------------------------------------------------------------------------- views


def expected_picture(folders, name, z):
    generator = load_generator(folders[name] / "generator")
    with torch.no_grad():
        return images.to_numpy_images(generator(z))[0]


def test_explore_renders_the_state_latent_exactly(explorer, folders):
    amounts = [1.5, -2.0, 0, 0, 0, 0, 0, 0.5]
    out = explorer.explore("grey", 42, 0.7, *amounts)
    directions, _ = explorer.get("grey").sefa
    z = 0.7 * latent.noise_for_seed(42, 8) + torch.tensor(amounts) @ directions[:8]
    assert np.array_equal(decode(out["src"]), expected_picture(folders, "grey", z))
    discriminator = load_discriminator(folders["grey"] / "discriminator")
    with torch.no_grad():
        p_real = torch.sigmoid(discriminator(load_generator(folders["grey"] / "generator")(z))).item()
    assert out["p_real"] == pytest.approx(p_real, abs=1e-6)
    assert out["seed"] == 42 and out["model"] == "grey"


def test_explore_is_deterministic_and_the_sliders_change_the_picture(explorer):
    base = explorer.explore("grey", 3, 1.0)
    assert explorer.explore("grey", 3, 1.0, *ZEROS) == base
    assert explorer.explore("grey", 3, 1.0, 6.0)["src"] != base["src"]
    assert explorer.explore("grey", 4, 1.0)["src"] != base["src"]


def test_explore_colour_model_without_d(explorer):
    out = explorer.explore("colour", 1, 1.0, *[0.5] * 6)
    assert decode(out["src"]).shape == (8, 8, 3) and out["p_real"] is None
    assert explorer.explore("colour", 1, 1.0, *ZEROS) == explorer.explore("colour", 1, 1.0)  # the UI sends all 8 sliders
    with pytest.raises(ValueError, match="Direction 7 must be 0: this model has only 6 directions"):
        explorer.explore("colour", 1, 1.0, *ZEROS[:6], 1.0, 0.0)


def test_explore_rejects_bad_values(explorer):
    with pytest.raises(ValueError, match="Truncation psi must be a number from 0 to 2, got nan"):
        explorer.explore("grey", 1, math.nan)
    with pytest.raises(ValueError, match="The seed must be"):
        explorer.explore("grey", "abc", 1.0)
    with pytest.raises(ValueError, match="Direction 3 must be a number from -8 to 8"):
        explorer.explore("grey", 1, 1.0, 0, 0, 100)


def test_start_and_random_start_reset_the_sliders(explorer):
    seed, psi, *rest = explorer.start("grey", 9)
    amounts, picture = rest[:-1], rest[-1]
    assert (seed, psi, amounts) == (9, 1.0, ZEROS)
    assert picture == explorer.explore("grey", 9, 1.0)
    seed, *_ = explorer.random_start("grey")
    assert 0 <= seed <= SEED_MAX
    with pytest.raises(ValueError, match="Unknown model"):
        explorer.random_start("nope")


def test_direction_labels_are_strongest_first(explorer):
    labels = explorer.direction_labels("grey")
    strengths = [float(label.rsplit(" ", 1)[1]) for label in labels]
    assert labels[0].startswith("Direction 1 · strength") and strengths == sorted(strengths, reverse=True)


def test_grid_tiles_are_consecutive_seeds(explorer, folders):
    tiles = explorer.grid("grey", 10, 2)
    assert [caption for _, caption in tiles] == ["seed 10", "seed 11", "seed 12", "seed 13"]
    image = tiles[2][0]
    assert image.shape == (16 * ex.GRID_TILE_SCALE, 16 * ex.GRID_TILE_SCALE)
    assert np.array_equal(image[:: ex.GRID_TILE_SCALE, :: ex.GRID_TILE_SCALE], decode(explorer.explore("grey", 12, 1.0)["src"]))
    assert explorer.grid_pick(10, 2) == 12
    with pytest.raises(ValueError, match="Grid side must be a whole number from 2 to 8"):
        explorer.grid("grey", 0, 100)
    with pytest.raises(ValueError, match="start seed must be at most"):
        explorer.grid("grey", SEED_MAX - 1, 2)
    with pytest.raises(ValueError, match="Tile index must be"):
        explorer.grid_pick(0, -1)


def test_interpolation_frame_hits_the_keyframes(explorer):
    first = explorer.interpolation_frame("grey", "5, 6, 7", "slerp", 0.0)
    middle = explorer.interpolation_frame("grey", "5, 6, 7", "slerp", 0.5)
    last = explorer.interpolation_frame("grey", "5, 6, 7", "lerp", 1.0)
    for out, seed in ((first, 5), (middle, 6), (last, 7)):
        assert np.array_equal(decode(out["src"]), decode(explorer.explore("grey", seed, 1.0)["src"]))
    assert explorer.interpolation_frame("grey", "5, 6", "slerp", 0.3)["src"] != first["src"]


def test_interpolation_can_start_at_the_explore_state(explorer):
    state, _ = explorer.share("grey", 1, 0.5, 2.0)
    start = explorer.interpolation_frame("grey", "9", "slerp", 0.0, state)
    assert start["src"] == explorer.explore("grey", 1, 0.5, 2.0)["src"]
    end = explorer.interpolation_frame("grey", "9", "slerp", 1.0, state)
    assert end["src"] == explorer.explore("grey", 9, 1.0)["src"]
    with pytest.raises(ValueError, match="at least 2 keyframes; got 1"):
        explorer.interpolation_frame("grey", "9", "slerp", 0.5)
    colour_state, _ = explorer.share("colour", 1, 1.0)
    with pytest.raises(ValueError, match="state is for model 'colour', not 'grey'"):
        explorer.interpolation_frame("grey", "9", "slerp", 0.5, colour_state)


def test_interpolation_rejects_bad_values(explorer):
    with pytest.raises(ValueError, match="Interpolation must be one of"):
        explorer.interpolation_frame("grey", "1, 2", "cubic", 0.5)
    with pytest.raises(ValueError, match="t must be a number from 0 to 1"):
        explorer.interpolation_frame("grey", "1, 2", "slerp", 1.5)
    with pytest.raises(ValueError, match="Frames must be a whole number from 2 to 64, got 1000000"):
        explorer.interpolation_strip("grey", "1, 2", "slerp", 1_000_000)
    with pytest.raises(ValueError, match="Keyframes needs 1 to 8 seeds"):
        explorer.interpolation_strip("grey", ",".join(map(str, range(9))), "slerp", 4)


def test_strip_and_gif_hold_n_frames(explorer, tmp_path):
    strip = explorer.interpolation_strip("grey", "1, 2", "lerp", 5)
    assert strip["frames"] == 5 and decode(strip["src"]).shape == (16 + 2, 5 * 17 + 1)
    path = explorer.interpolation_gif("grey", "1, 2", "lerp", 7, "", directory=tmp_path)
    gif = Image.open(path)
    assert gif.n_frames == 7 and gif.size == (16 * ex.GRID_TILE_SCALE,) * 2
    gif.seek(0)
    first = np.asarray(gif.convert("L"))[:: ex.GRID_TILE_SCALE, :: ex.GRID_TILE_SCALE]
    assert np.array_equal(first, decode(explorer.explore("grey", 1, 1.0)["src"]))


def test_arithmetic_matches_the_paper_formula(explorer, folders):
    out = explorer.arithmetic("grey", "1, 2", "3", "4, 5, 6")
    z = lambda seeds: torch.cat([latent.noise_for_seed(s, 8) for s in seeds])  # noqa: E731
    result = z([1, 2]).mean(0) - z([3]).mean(0) + z([4, 5, 6]).mean(0)
    assert np.array_equal(decode(out["result"]), expected_picture(folders, "grey", result[None]))
    assert np.array_equal(decode(out["b"]), decode(explorer.explore("grey", 3, 1.0)["src"]))
    assert out["seeds"] == {"a": [1, 2], "b": [3], "c": [4, 5, 6]} and 0 < out["p_real"] < 1
    same = explorer.arithmetic("grey", "7", "7", "8")  # A - A + C = C
    assert np.array_equal(decode(same["result"]), decode(explorer.explore("grey", 8, 1.0)["src"]))
    with pytest.raises(ValueError, match="Term B needs 1 to 8 seeds, got 0"):
        explorer.arithmetic("grey", "1", "", "2")


def test_timeline_and_training_curves(explorer, folders):
    last = explorer.timeline("grey", 3)  # the count and the last epoch, as the page reads them
    assert (last["count"], last["epoch"]) == (3, 3)
    frame = explorer.timeline("grey", 2)
    assert frame["epoch"] == 2 and frame["count"] == 3
    assert frame["src"] == "data:image/png;base64," + base64.b64encode((folders["grey"] / "timeline" / "epoch_002.png").read_bytes()).decode()
    with pytest.raises(ValueError, match="Timeline position must be a whole number from 1 to 3"):
        explorer.timeline("grey", 4)
    losses, outputs = explorer.training_curves("grey")
    assert {row["series"] for row in losses} == {"Loss_D", "Loss_G"}
    assert {row["series"] for row in outputs} == {"D(x) on real", "D(G(z)) on fake"}
    assert len(losses) == len(outputs) == 12 and losses[0] == {"epoch": 0.5, "value": 1.0, "series": "Loss_D"}


def test_share_and_restore_round_trip(explorer):
    text, query = explorer.share("grey", 12, 0.8, 1.25, 0, -3)
    state = json.loads(text)
    assert state == {"model": "grey", "seed": 12, "psi": 0.8, "amounts": [1.25, 0.0, -3.0] + [0.0] * 5}
    assert query.startswith("?model=grey&seed=12&psi=0.8&amounts=1.25")
    for pasted in (text, query, "https://example.hf.space/" + query):
        restored = explorer.restore(pasted)
        assert restored.to_dict() == state
    partial = explorer.restore('{"model": "colour", "seed": 3}')
    assert partial == ExploreState("colour", 3, psi=1.0, amounts=(0.0,) * 6)
    # Links and JSON shared before the amounts had one name still open the same picture.
    legacy_link = "?model=grey&seed=12&psi=0.8&d=1.25,0,-3,0,0,0,0,0"
    legacy_json = '{"model": "grey", "seed": 12, "psi": 0.8, "directions": [1.25, 0, -3]}'
    assert explorer.restore(legacy_link).to_dict() == explorer.restore(legacy_json).to_dict() == state


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "Paste a state"),
        ("{oops", "not valid JSON"),
        ("[1, 2]", "not valid JSON|must be an object"),
        ('{"seed": 1}', "lacks model"),
        ('{"model": "nope", "seed": 1}', "Unknown model"),
        ('{"model": "grey", "seed": -5}', "whole number from 0"),
        ('{"model": "grey", "seed": 1, "amounts": 5}', "amounts must be a list"),
        ('{"model": "grey", "seed": 1, "directions": 5}', "amounts must be a list"),
        ("?model=grey&seed=1&psi=abc", "must be numbers"),
        ("?model=grey&seed=1&amounts=100", "Direction 1 must be a number"),
        ("?model=grey&seed=1&d=100", "Direction 1 must be a number"),
        ("[" * 100_000, "nested too deeply"),
        ('{"model": "grey", "seed": 1, "z": [1, 2]}', "exactly one of seed"),
        ('{"model": "grey", "z": [1, 2]}', "z has 2 numbers; model 'grey' takes 8"),
    ],
)
def test_restore_rejects_bad_states(explorer, text, message):
    with pytest.raises(ValueError, match=message):
        explorer.restore(text)


def test_page_call_turns_errors_into_a_message(explorer):
    assert explorer.explore("grey", 1, 1.0) == ex.page_call(explorer.explore, ["grey", 1, 1.0])
    assert ex.page_call(explorer.explore, ["grey", -1, 1.0]) == {"error": "The seed must be a whole number from 0 to 2147483647, got -1."}
    assert ex.page_call(explorer.explore, 5) == {"error": "The live update needs a list of values, got 5."}
    assert "error" in ex.page_call(explorer.explore, [])  # too few values


def test_summary_describes_the_model(explorer):
    assert explorer.summary("grey").startswith("**grey** · 16×16 grey · z in ℝ⁸, 3 epochs · discriminator loaded")
    assert "8×8 colour" in explorer.summary("colour") and "no discriminator shipped" in explorer.summary("colour")


def test_models_with_the_same_folder_name_get_distinct_names(tmp_path, folders):
    import shutil

    shutil.copytree(folders["grey"], tmp_path / "other" / "grey")
    explorer = ex.Explorer.from_sources([str(folders["grey"]), str(tmp_path / "other" / "grey")])
    assert explorer.names == ["grey", "grey-2"]
    assert explorer.explore("grey-2", 1, 1.0)["model"] == "grey-2"


def test_a_models_source_is_shown_without_a_path_of_the_servers_disk(tmp_path, monkeypatch):
    from gan_core.explorer.explorer import shown_source

    monkeypatch.chdir(tmp_path)
    (tmp_path / "weights" / "mnist").mkdir(parents=True)
    assert shown_source(str(tmp_path / "weights" / "mnist")) == "weights/mnist"  # under the app's folder: relative
    assert shown_source("/srv/models/secret-place/grey") == "grey"  # elsewhere: its name alone
    assert shown_source("your-name/dcgan-mnist") == "your-name/dcgan-mnist"  # a Hub repo id as it is


# ----------------------------------------------------------------------------- does G copy? the nearest training pictures


def ship_g_pictures(folder, seeds, extra: int = 20) -> None:
    """Ship G's own pictures of ``seeds`` (psi 1) and ``extra`` random ones as the model's training pictures; random test pictures."""
    from gan_core.explorer import nearest

    pipeline = GanPipeline.from_pretrained(folder)
    rng = torch.Generator().manual_seed(0)
    noise = lambda count: torch.randint(0, 256, (count, pipeline.channels, pipeline.image_size, pipeline.image_size), generator=rng, dtype=torch.uint8)  # noqa: E731
    train = torch.cat([pipeline(pipeline.latents(seeds), verdict=False).uint8, noise(extra)])
    nearest.build(train, noise(30), "mnist", total=len(train) + 10).save(folder)


def test_nearest_training_pictures_find_a_copy_and_read_the_distance(tmp_path):
    folder = make_model_folder(tmp_path / "copier", image_size=16, latent_dim=8, dataset="mnist")
    explorer = ex.Explorer.from_sources([str(folder)])
    absent = explorer.nearest("copier", 3, 1.0, *ZEROS)
    assert absent["available"] is False and "ships no copy of its training pictures" in absent["reading"] and "ship_training_pictures" in absent["reading"]
    assert decode(absent["picture"]).shape == (16, 16)

    ship_g_pictures(folder, [3, 4, 5])
    copy = explorer.nearest("copier", 3, 1.0, *ZEROS)
    assert copy["available"] and [n["row"] for n in copy["nearest"]][0] == 0 and copy["distance"] == 0.0
    assert "G drew a copy" in copy["reading"] and copy["searched"] == "23 of the 33 training digits (a random subset, shipped with the model)"
    assert copy["compared_with"] == "30 real test digits" and np.array_equal(decode(copy["nearest"][0]["src"]), decode(copy["picture"]))
    distances = [n["distance"] for n in copy["nearest"]]
    assert len(distances) == 3 and distances == sorted(distances)
    moved = explorer.nearest("copier", 3, 1.0, 2.0, *ZEROS[1:])  # the same seed moved along a direction is no copy
    assert moved["distance"] > 0 and moved["picture"] != copy["picture"]


def test_the_nearest_distance_is_read_against_the_yardstick():
    from gan_core.explorer.nearest import TrainingPictures

    shipped = TrainingPictures(torch.zeros(4, 1, 2, 2, dtype=torch.uint8), "mnist", 8000, tuple(float(d) for d in range(1, 1001)))  # 1 .. 1000
    assert shipped.typical == 501 and shipped.percentile(250.5) == 25.0
    assert shipped.reading(0.5) == "Much closer to a training digit than any of the 1,000 real test digits is to theirs: possibly a copy."
    assert shipped.reading(5.5).startswith("Closer to a training digit than 995 of the 1,000 real test digits are to theirs: possibly a copy")
    assert shipped.reading(50).endswith("but not as close as a copy.")
    assert shipped.reading(500) == "About as close to a training digit as a typical real test digit is to its nearest: a digit G made up, not a copy."
    assert shipped.reading(950).startswith("Farther from every training digit than most") and shipped.reading(2000).startswith("Farther from every training digit than any")
    alone = TrainingPictures(torch.zeros(4, 1, 2, 2, dtype=torch.uint8), "folder:data/emoji", 4, (1.0, 2.0, 3.0, 4.0), leave_one_out=True)
    assert alone.searched == "all 4 training emoji pictures" and "as a typical training emoji picture is to its nearest other one" in alone.reading(2.5)


def test_ship_training_pictures_writes_what_loads_back(tmp_path, capsys):
    from gan_core import ship_training_pictures
    from gan_core.core.data import load_dataset
    from gan_core.explorer.nearest import PICTURES_FILE, TrainingPictures, for_folder

    folder = make_model_folder(tmp_path / "synthetic", image_size=16, latent_dim=8, dataset="synthetic")
    assert ship_training_pictures.main([str(folder), "--samples", "20", "--threads", "1"]) == 0
    shipped = TrainingPictures.load(folder)
    assert torch.equal(shipped.pictures, load_dataset("synthetic", split="train", image_size=16, channels=1).images)
    assert shipped.leave_one_out and len(shipped.yardstick) == len(shipped) == shipped.total == 256 and shipped.samples["count"] == 20
    assert for_folder(folder) is for_folder(folder), "loaded once"
    assert "shipped all 256 training synthetic pictures" in capsys.readouterr().out
    assert ship_training_pictures.main([str(folder), "--max-pictures", "100", "--seed", "1", "--samples", "0"]) == 0
    subset = TrainingPictures.load(folder)
    assert len(subset) == 100 and subset.total == 256 and len(subset.rows) == 100 and torch.equal(subset.pictures, shipped.pictures[list(subset.rows)])
    with pytest.raises(SystemExit):
        ship_training_pictures.main([str(folder), "--max-megabytes", "0.001"])
    refused = capsys.readouterr().err
    assert "a Hugging Face Space takes files under" in refused and "Ship a random subset: --max-pictures" in refused
    (folder / PICTURES_FILE).write_bytes(b"not a png")
    with pytest.raises(ValueError, match="training pictures .* are damaged"):
        TrainingPictures.load(folder)


# ----------------------------------------------------------------------------- vector arithmetic presets


class HalvesClassifier(torch.nn.Module):
    """A stand-in classifier that reads class 'top' when a picture's top half is brighter than its bottom half by more than
    ``offset`` (in [-1, 1] units), else 'bottom', confidently (an untrained G's pictures differ little)."""

    class_names = ["top", "bottom"]

    def __init__(self, offset: float = 0.0):
        super().__init__()
        self.offset = offset

    @staticmethod
    def difference(pictures):  # (B, C, H, W) -> (B,)
        half = pictures.shape[2] // 2
        return pictures[:, :, :half].float().mean((1, 2, 3)) - pictures[:, :, half:].float().mean((1, 2, 3))

    def features(self, pictures):  # (B, C, H, W) in [-1, 1] -> (B, 2)
        difference = self.difference(pictures) - self.offset
        return torch.stack([difference, -difference], 1)

    def head(self, features):
        return 1e4 * features


def test_presets_are_chosen_checked_and_kept_beside_the_model(tmp_path):
    from gan_core.explorer import directions, presets

    folder = make_model_folder(tmp_path / "arith", image_size=16, latent_dim=8)
    pipeline = GanPipeline.from_pretrained(folder)
    pool = pipeline(pipeline.latents(list(range(400))), verdict=False).uint8
    classifier = HalvesClassifier(float(HalvesClassifier.difference(pool.float() / 127.5 - 1).median()))  # half the pool each
    chosen = presets.choose_presets(pipeline, classifier, count=3, pool=400)
    assert chosen and len(chosen) <= 3 and all(p.check["passed"] and p.kind_by == "class" for p in chosen)
    first = chosen[0]
    assert {first.kind_from, first.kind_to} == {"top", "bottom"}
    up, down = presets.ADJECTIVES[first.style] if first.high else presets.ADJECTIVES[first.style][::-1]
    assert (first.name, first.result) == (f"{up} {first.kind_from} − {down} {first.kind_from} + {down} {first.kind_to}", f"{up} {first.kind_to}")
    assert all(len(seeds) == presets.SEEDS_PER_TERM and max(seeds) < 400 for seeds in (first.a, first.b, first.c))
    # The check, again: the classifier reads the result as C's class, and its style is at A's end among C's class.
    assert presets.check_preset(pipeline, first, classifier, pool=400) == first.check
    z = latent.arithmetic(*(pipeline.seed_noise(list(t)) for t in (first.a, first.b, first.c)))
    result = pipeline(z[None], verdict=False).uint8
    assert ("top" if float(HalvesClassifier.difference(result.float() / 127.5 - 1)) > classifier.offset else "bottom") == first.kind_to
    assert first.description.startswith(f"{first.name} = {first.result}. Checked: the classifier reads the result as {first.kind_to} (")
    assert chosen == presets.choose_presets(pipeline, classifier, count=3, pool=400), "deterministic"

    explorer = ex.Explorer.from_sources([str(folder)])
    assert explorer.arithmetic_presets("arith")["presets"] == [] and "choose_presets" in explorer.arithmetic_presets("arith")["note"]
    presets.write_presets(presets.presets_path(pipeline), directions.generator_hash(pipeline), chosen, "HalvesClassifier")
    shown = explorer.arithmetic_presets("arith")
    assert [p["name"] for p in shown["presets"]] == [p.name for p in chosen] and shown["presets"][0]["a"] == ", ".join(map(str, first.a))
    assert explorer.arithmetic("arith", *first.terms())["seeds"]["a"] == list(first.a)
    assert presets.read_presets(presets.presets_path(pipeline), "another generator") == [], "presets of another G are not shown"


def test_presets_without_a_classifier_use_two_measures(tmp_path):
    from gan_core.explorer import presets

    pipeline = GanPipeline.from_pretrained(make_model_folder(tmp_path / "m", image_size=16))
    chosen = presets.choose_presets(pipeline, None, count=2, pool=400)
    assert chosen and all(p.check["passed"] and p.kind_by in presets.ADJECTIVES and p.check["probability"] is None for p in chosen)
    assert chosen[0].description.startswith(f"{chosen[0].name} = {chosen[0].result}. Checked: the result is ")
