"""The app as API users reach it: `python app.py --model ...` on a port, every named endpoint called
with gradio_client, good inputs and bad ones (a clear error each time, and the server stays up)."""

from __future__ import annotations

import base64
import inspect
import io
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import numpy as np
import pytest
from app_fixtures import ROOT, AppServer, make_model_folder
from gradio_client import Client
from gradio_client.exceptions import AppError
from PIL import Image

ENDPOINTS = {
    "/explore", "/reset", "/random_seed", "/select_model", "/interpolate", "/strip", "/gif", "/explore_state",
    "/arithmetic_tiles", "/arithmetic", "/grid", "/grid_pick", "/timeline", "/share", "/restore",
}  # fmt: skip
ZEROS = [0.0] * 8


def decode(url: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("app-api")
    grey = make_model_folder(root / "grey", image_size=16, channels=1, latent_dim=8)
    colour = make_model_folder(root / "colour", image_size=8, channels=3, latent_dim=6, seed=1, with_discriminator=False, epochs=2)
    app = AppServer([grey, colour])
    yield app
    app.stop()


@pytest.fixture(scope="module")
def client(server):
    return Client(server.url, verbose=False)


def test_every_named_endpoint_is_covered_here(client):
    named = set(client.view_api(return_format="dict", print_info=False)["named_endpoints"])
    assert named == ENDPOINTS, "a new endpoint needs a test (and a README example)"


def test_explore(client):
    out = client.predict("grey", 3, 1.0, 2.5, *ZEROS[1:], api_name="/explore")
    assert decode(out["src"]).shape == (16, 16) and 0 < out["p_real"] < 1
    assert out == client.predict("grey", 3, 1.0, 2.5, *ZEROS[1:], api_name="/explore")
    assert out["src"] != client.predict("grey", 3, 1.0, *ZEROS, api_name="/explore")["src"]


def test_reset_and_random_seed(client):
    seed, psi, *rest = client.predict("grey", 7, api_name="/reset")
    assert (seed, psi, rest[:-1]) == (7, 1.0, ZEROS)
    assert rest[-1] == client.predict("grey", 7, 1.0, *ZEROS, api_name="/explore")
    seed, *_ = client.predict("grey", api_name="/random_seed")
    assert isinstance(seed, int) and 0 <= seed < 2**31


def test_select_model_updates_sliders_and_picture(client):
    info, seed, psi, *sliders_and_rest = client.predict("colour", 5, api_name="/select_model")
    sliders, picture, epoch, timeline = sliders_and_rest[:8], *sliders_and_rest[8:11]
    assert "**colour** · 8×8 colour" in info and (seed, psi) == (5, 1.0)
    assert [s["visible"] for s in sliders] == [True] * 6 + [False] * 2
    assert sliders[0]["label"].startswith("Direction 1 · strength")
    assert decode(picture["src"]).shape == (8, 8, 3) and picture["p_real"] is None
    assert epoch["maximum"] == 2 and timeline["epoch"] == 2


def test_interpolate_strip_and_gif(client):
    start = client.predict("grey", "1, 2", "slerp", 0.0, "", api_name="/interpolate")
    assert start["src"] == client.predict("grey", 1, 1.0, *ZEROS, api_name="/explore")["src"]
    strip = client.predict("grey", "1, 2, 3", "lerp", 5, "", api_name="/strip")
    assert strip["frames"] == 5 and decode(strip["src"]).shape[1] == 5 * 17 + 1
    gif = Image.open(client.predict("grey", "1, 2", "slerp", 7, "", api_name="/gif"))
    assert gif.n_frames == 7


def test_interpolation_from_the_explore_state(client):
    state = client.predict("grey", 4, 0.5, 1.0, *ZEROS[1:], api_name="/explore_state")
    assert json.loads(state)["seed"] == 4
    start = client.predict("grey", "9", "slerp", 0.0, state, api_name="/interpolate")
    assert start["src"] == client.predict("grey", 4, 0.5, 1.0, *ZEROS[1:], api_name="/explore")["src"]


def test_grid_pick_and_arithmetic(client):
    grid = client.predict("grey", 20, 3, api_name="/grid")
    assert [tile["caption"] for tile in grid] == [f"seed {s}" for s in range(20, 29)]
    seed, *_ = client.predict("grey", 20, 4, api_name="/grid_pick")
    assert seed == 24
    assert len(client.predict("grey", 100, api_name="/arithmetic_tiles")) == 36
    out = client.predict("grey", "1, 2", "3", "4", api_name="/arithmetic")
    assert set(out) >= {"a", "b", "c", "result", "p_real", "seeds"} and out["seeds"]["a"] == [1, 2]


def test_timeline(client):
    assert client.predict("grey", 2, api_name="/timeline")["epoch"] == 2


def test_share_and_restore(client):
    text, link = client.predict("grey", 12, 0.8, 1.5, *ZEROS[1:], api_name="/share")
    assert json.loads(text)["amounts"][0] == 1.5 and link.startswith("?model=grey&seed=12")
    for pasted in (text, link):
        model, info, seed, psi, d1, *_ = client.predict(pasted, api_name="/restore")
        assert (model, seed, psi, d1["value"]) == ("grey", 12, 0.8, 1.5)


BAD_INPUTS = [
    ("/explore", ("grey", -1, 1.0, *ZEROS), "The seed must be a whole number from 0 to 2147483647, got -1"),
    ("/explore", ("grey", "abc", 1.0, *ZEROS), "The seed must be a whole number from 0 to 2147483647, got 'abc'"),
    ("/explore", ("grey", 2.5, 1.0, *ZEROS), "The seed must be a whole number"),
    ("/explore", ("grey", 1, 7.0, *ZEROS), "Truncation psi must be a number from 0 to 2, got 7.0"),
    ("/explore", ("grey", 1, "wide", *ZEROS), "Truncation psi must be a number from 0 to 2, got 'wide'"),
    ("/explore", ("grey", 1, 1.0, 99, *ZEROS[1:]), "Direction 1 must be a number from -8 to 8, got 99"),
    ("/explore", ("grey", 1, 1.0, [1, 2], *ZEROS[1:]), "Direction 1 must be a number"),
    ("/explore", ("nope", 1, 1.0, *ZEROS), "Unknown model 'nope'; this app serves: grey, colour"),
    ("/explore", ("/etc/passwd", 1, 1.0, *ZEROS), "Unknown model '/etc/passwd'"),
    ("/explore", ("colour", 1, 1.0, *ZEROS[:-1], 1.0), "Direction 8 must be 0: this model has only 6 directions"),
    ("/reset", ("grey", None), "The seed must be a whole number"),
    ("/random_seed", ("weights/../x",), "Unknown model"),
    ("/select_model", ("nope", 1), "Unknown model"),
    ("/interpolate", ("grey", "1, 2", "slerp", 2.0, ""), "t must be a number from 0 to 1, got 2.0"),
    ("/interpolate", ("grey", "1, 2", "cubic", 0.5, ""), "Interpolation must be one of lerp, slerp; got 'cubic'"),
    ("/interpolate", ("grey", "a, b", "slerp", 0.5, ""), "Keyframes must be whole-number seeds"),
    ("/interpolate", ("grey", "1", "slerp", 0.5, ""), "at least 2 keyframes"),
    ("/interpolate", ("grey", "1, 2", "slerp", 0.5, "{broken"), "not valid JSON"),
    ("/strip", ("grey", "1, 2", "slerp", 1_000_000, ""), "Frames must be a whole number from 2 to 64, got 1000000"),
    ("/strip", ("grey", "1, 2", "slerp", "many", ""), "Frames must be a whole number from 2 to 64, got 'many'"),
    ("/gif", ("grey", "1, 2", "slerp", 10**12, ""), "Frames must be a whole number from 2 to 64"),
    ("/gif", ("grey", ",".join(["1"] * 50), "slerp", 4, ""), "Keyframes needs 1 to 8 seeds, got 50"),
    ("/explore_state", ("grey", 1, -1.0, *ZEROS), "Truncation psi must be"),
    ("/arithmetic_tiles", ("grey", -4), "start seed must be a whole number"),
    ("/arithmetic", ("grey", "1, x", "2", "3"), "Term A must be whole-number seeds"),
    ("/arithmetic", ("grey", "1", "", "3"), "Term B needs 1 to 8 seeds, got 0"),
    ("/grid", ("grey", 0, 100), "Grid side must be a whole number from 2 to 8, got 100"),
    ("/grid", ("grey", 2**31 - 2, 8), "start seed must be at most"),
    ("/grid_pick", ("grey", 0, 10**6), "Tile index must be a whole number from 0 to 63"),
    ("/timeline", ("grey", 0), "Timeline position must be a whole number from 1 to 3, got 0"),
    ("/share", ("grey", 1, 1.0, *ZEROS[:-1], "x"), "Direction 8 must be a number"),
    ("/restore", ("garbage",), "lacks model, seed"),
    ("/restore", ('{"model": "grey", "seed": 1, "psi": 9}',), "Truncation psi must be a number from 0 to 2, got 9"),
]


@pytest.mark.parametrize("api_name, args, message", BAD_INPUTS, ids=[f"{a}-{i}" for i, (a, *_) in enumerate(BAD_INPUTS)])
def test_bad_inputs_get_a_clear_error_and_the_server_stays_up(server, client, api_name, args, message):
    with pytest.raises(AppError) as caught:
        client.predict(*args, api_name=api_name)
    assert message in str(caught.value)
    assert server.alive()


def test_nan_over_http_is_rejected_clearly(server):
    # gradio_client refuses to encode NaN, but a raw JSON request can carry it.
    body = json.dumps({"data": ["grey", 3, float("nan"), *ZEROS]}).encode()
    request = urllib.request.Request(server.url + "gradio_api/run/explore", data=body, headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    assert "Truncation psi must be a number from 0 to 2, got nan" in json.loads(caught.value.read())["error"]


def test_server_still_answers_after_all_the_bad_inputs(server, client):
    assert server.alive()
    out = client.predict("grey", 1, 1.0, *ZEROS, api_name="/explore")
    assert decode(out["src"]).shape == (16, 16)


def test_app_exits_with_a_clear_message_when_gan_models_is_wrong(tmp_path):
    env = dict(os.environ, GAN_MODELS="/nonexistent/model")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run([sys.executable, str(ROOT / "app.py")], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "error: No model folder at /nonexistent/model" in done.stderr


def test_importing_the_app_has_no_side_effects(tmp_path):
    """`import app` loads no model and launches nothing, even when no model could load."""
    env = dict(os.environ, GAN_MODELS="/nonexistent/model")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    code = "import app, torch; assert 'demo' not in vars(app); assert torch.get_num_threads() > 0; print('imported')"
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "imported" in done.stdout, done.stderr


def test_the_demo_builds_in_process_with_the_documented_endpoints(server):
    import app
    from gan_core.explorer import Explorer

    grey = server.log_path.parent / "grey"
    demo = app.build_demo(Explorer.from_sources([str(grey)]))
    named = {f"/{fn.api_name}" for fn in demo.fns.values() if fn.api_name and fn.api_visibility == "public"}
    assert named == ENDPOINTS
    explore = next(fn for fn in demo.fns.values() if fn.api_name == "explore")
    assert [p.name for p in inspect.signature(explore.fn).parameters.values()] == ["model", "seed", "psi", *[f"d{k}" for k in range(1, 9)]]
