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
from pathlib import Path

import numpy as np
import pytest
import torch
from app_fixtures import ROOT, AppServer, make_model_folder
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from hostile import call, post_raw, read_stream
from PIL import Image

ENDPOINTS = {
    "/explore", "/reset", "/random_seed", "/select_model", "/interpolate", "/strip", "/gif", "/explore_state",
    "/arithmetic_tiles", "/arithmetic", "/grid", "/grid_pick", "/timeline", "/share", "/restore", "/invert", "/score",
    "/switch_kind", "/directions",  # SeFa or GANSpace sliders, and what each slider does
    "/nearest",  # the training pictures nearest to the Explore picture (does G copy?)
    "/arithmetic_presets",  # the Vector arithmetic tab's presets of a model
    "/toy_run", "/toy_step", "/toy_reset",  # the 2-D game: tests/test_app_toy.py
    "/live_train", "/live_stop",  # the image run: tests/test_app_live.py
}  # fmt: skip
FOUND_KEYS = {
    "model", "z", "state", "prepared", "reconstruction", "residual", "score", "percentile", "summary", "p_real",
    "p_real_reconstruction", "pixel_error", "steps", "stopped", "seconds", "used_encoder", "note",
    "reading", "scale",  # the score in plain words, and where it falls among the real test pictures' scores
}  # fmt: skip
ZEROS = [0.0] * 8


def decode(url: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("app-api")
    grey = make_model_folder(root / "grey", image_size=16, channels=1, latent_dim=8, encoder=True, dataset="mnist")
    colour = make_model_folder(root / "colour", image_size=8, channels=3, latent_dim=6, seed=1, with_discriminator=False, epochs=2)
    ship_training_pictures(grey, seeds=range(10, 20))
    keep_a_preset(grey)
    app = AppServer([grey, colour])
    yield app
    app.stop()


@pytest.fixture(scope="module")
def client(server):
    return Client(server.url, verbose=False)


def ship_training_pictures(folder: Path, seeds) -> None:
    """The model's 'training pictures': G's own pictures of ``seeds`` and 20 random ones (so those seeds are copies); 30 random test pictures."""
    from gan_core import GanPipeline
    from gan_core.explorer import nearest

    pipeline = GanPipeline.from_pretrained(folder)
    noise = torch.randint(0, 256, (50, 1, 16, 16), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    nearest.build(torch.cat([pipeline(pipeline.latents(list(seeds)), verdict=False).uint8, noise[:20]]), noise[20:], "mnist").save(folder)


PRESET_CHECK = {"class": "8", "probability": 0.97, "kind_percentile": None, "style_percentile": 91.0, "passed": True}


def keep_a_preset(folder: Path) -> None:
    """A presets.json for the model's generator with one preset (as python -m gan_core.choose_presets writes it)."""
    from gan_core import GanPipeline
    from gan_core.explorer import directions, presets

    pipeline = GanPipeline.from_pretrained(folder)
    preset = presets.Preset("bold 3 − thin 3 + thin 8", "bold 8", (1, 2, 3), (4, 5, 6), (7, 8, 9), "thickness", True, "class", "3", "8", PRESET_CHECK)
    presets.write_presets(presets.presets_path(pipeline), directions.generator_hash(pipeline), [preset], "a test")


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


def test_sliders_say_what_they_do_for_either_kind_of_direction(client):
    """Each slider's info names what it changes; GANSpace sliders have their own names, pictures, links and sheet."""
    sliders = client.predict("grey", 3, api_name="/select_model")[3:11]
    named = client.predict("grey", "sefa", api_name="/directions")
    assert [s["info"] for s in sliders] == [d["label"] for d in named["directions"]]
    assert named["kind"] == "sefa" and "SeFa" in named["explanation"] and all(" · effect " in d["label"] or d["label"] == "no clear change" for d in named["directions"])
    switched = client.predict("grey", 3, 1.0, None, "ganspace", api_name="/switch_kind")
    ganspace = client.predict("grey", "ganspace", api_name="/directions")
    assert [s["info"] for s in switched[:8]] == [d["label"] for d in ganspace["directions"]] and all(s["value"] == 0 for s in switched[:8])
    assert "GANSpace" in switched[-1]
    moved = client.predict("grey", 3, 1.0, 3.0, *ZEROS[1:], None, "ganspace", api_name="/explore")
    assert moved != client.predict("grey", 3, 1.0, 3.0, *ZEROS[1:], api_name="/explore")  # another direction, another picture
    as_json, link = client.predict("grey", 3, 1.0, 3.0, *ZEROS[1:], None, "ganspace", api_name="/share")
    assert json.loads(as_json)["kind"] == "ganspace" and link.endswith("&kind=ganspace")
    restored = client.predict(link, api_name="/restore")
    assert restored[12] == moved and restored[-3] == "ganspace"
    with pytest.raises(AppError, match="kind"):
        client.predict("grey", 3, 1.0, *ZEROS, None, "pca", api_name="/explore")


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


def test_nearest_training_pictures(client):
    copy = client.predict("grey", 12, 1.0, *ZEROS, api_name="/nearest")
    assert copy["available"] and copy["distance"] == 0.0 and copy["nearest"][0]["row"] == 2 and "G drew a copy" in copy["reading"]
    assert len(copy["nearest"]) == 3 and copy["searched"] == "all 30 training digits" and copy["compared_with"] == "30 real test digits"
    assert copy["picture"] == client.predict("grey", 12, 1.0, *ZEROS, api_name="/explore")["src"]
    other = client.predict("grey", 3, 0.7, 1.5, *ZEROS[1:], None, "ganspace", api_name="/nearest")
    assert other["distance"] > 0 and 0 <= other["percentile"] <= 100 and other["reading"]
    absent = client.predict("colour", 3, 1.0, *ZEROS, api_name="/nearest")
    assert absent["available"] is False and "ships no copy of its training pictures" in absent["reading"]
    with pytest.raises(AppError, match="Unknown model"):
        client.predict("nope", 3, 1.0, *ZEROS, api_name="/nearest")


def test_arithmetic_presets(client):
    found = client.predict("grey", api_name="/arithmetic_presets")
    assert found["model"] == "grey" and [p["name"] for p in found["presets"]] == ["bold 3 − thin 3 + thin 8"]
    preset = found["presets"][0]
    assert (preset["a"], preset["b"], preset["c"], preset["result"], preset["check"]) == ("1, 2, 3", "4, 5, 6", "7, 8, 9", "bold 8", PRESET_CHECK)
    assert preset["description"] == "bold 3 − thin 3 + thin 8 = bold 8. Checked: the classifier reads the result as 8 (97%), bolder than 91% of G's 8s."
    assert client.predict("grey", preset["a"], preset["b"], preset["c"], api_name="/arithmetic")["seeds"] == {"a": [1, 2, 3], "b": [4, 5, 6], "c": [7, 8, 9]}
    none = client.predict("colour", api_name="/arithmetic_presets")
    assert none["presets"] == [] and "python -m gan_core.choose_presets" in none["note"]


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


def test_a_raw_request_without_the_optional_trailing_values_still_fits(server):
    """Raw HTTP callers written before kind existed send model .. z (12 values): kind defaults to SeFa."""
    for data in (["grey", 3, 1.0, *ZEROS, None], ["grey", 3, 1.0, *ZEROS]):
        body = json.dumps({"data": data}).encode()
        request = urllib.request.Request(server.url + "gradio_api/run/explore", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert json.loads(response.read())["data"][0]["src"].startswith("data:image/png")


def test_a_queued_endpoint_takes_no_direct_post_so_its_limits_hold(server):
    """/run/<name> skips the queue: the quick unqueued endpoints take it, the queued ones (a search, a grid, a live run,
    capped in the queue) refuse it and stay reachable through the queue."""
    for api_name, data in (("grid", ["grey", 0, 2]), ("invert", ["grey", None, 10]), ("live_train", [0])):
        request = urllib.request.Request(server.url + f"gradio_api/run/{api_name}", data=json.dumps({"data": data}).encode(), headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=30)
        assert caught.value.code == 404 and "join the queue" in json.loads(caught.value.read())["detail"]
    assert call(server.url, "grid", ["grey", 0, 2]) == "ok"


def call_recipe(server, name: str, data) -> tuple[str, object, str]:
    """Gradio's curl recipe: POST /call/<name>, then GET its event stream -> (its one event's kind, its data, the event id)."""
    status, body = post_raw(f"{server.url}gradio_api/call/{name}", json.dumps({"data": data}).encode(), timeout=30)
    assert status == 200, (status, body[:300])
    event_id = json.loads(body)["event_id"]
    kinds, answer = read_stream(server.url, name, event_id, timeout=30)
    assert len(kinds) == 1, kinds
    return kinds[0], answer, event_id


def test_the_call_recipe_of_a_quick_draw_answers_as_gradios_queue_does(server, client):
    """/call/<name> of an unqueued endpoint runs without Gradio's queue (ui.direct_calls): the answers and errors are
    those of gradio_client, which goes through Gradio's own routes; each answer is given once."""
    for name, data in (("explore", ["grey", 3, 0.8, 2.5, *ZEROS[1:]]), ("reset", ["grey", 7]), ("interpolate", ["grey", "1, 2", "slerp", 0.3, ""])):
        kind, answer, event_id = call_recipe(server, name, data)
        assert kind == "complete" and answer == list(always_list(client.predict(*data, api_name=f"/{name}")))
    kind, answer, event_id = call_recipe(server, "explore", ["grey", -5, 1.0, *ZEROS])
    with pytest.raises(AppError) as caught:
        client.predict("grey", -5, 1.0, *ZEROS, api_name="/explore")
    assert kind == "error" and answer["error"] == caught.value.message and "The seed must be a whole number" in answer["error"]
    with urllib.request.urlopen(server.url + f"gradio_api/call/explore/{event_id}", timeout=30) as response:
        again = response.readline() + response.readline()  # the first message only: a stream Gradio still holds would go on
    assert again == b'event: error\ndata: "404: Not Found"\n'  # already given: Gradio's answer for an event it does not hold
    kind, answer, _ = call_recipe(server, "explore", ["grey", 3])
    assert kind == "error" and "The values sent to /explore do not fit it" in answer["error"]


def always_list(answer) -> list:
    """gradio_client's answer as the list of outputs (it unwraps an endpoint's only output)."""
    return list(answer) if isinstance(answer, (list, tuple)) else [answer]


def test_the_call_recipe_refuses_a_malformed_call_as_gradio_does(server):
    """What DirectCalls cannot take as a call goes to Gradio's /call as it came: its own refusal, HTTP 422."""
    for body in (b"{not json", json.dumps({"data": "x"}).encode()):
        request = urllib.request.Request(server.url + "gradio_api/call/explore", data=body, headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=30)
        assert caught.value.code == 422


def test_unanswered_calls_hold_a_bounded_memory():
    from ui.direct_calls import DirectCalls

    calls = DirectCalls(app=None, keep=3, keep_bytes=100)
    for k in range(5):
        calls._keep(f"e{k}", b"x" * 10)
    assert list(calls.answers) == ["e2", "e3", "e4"] and calls.held == 30
    calls._keep("big", b"y" * 90)  # over keep_bytes with the others: the oldest go first
    assert list(calls.answers) == ["e4", "big"] and calls.held == 100
    calls.keep_seconds = 0.0
    calls._keep("later", b"z")
    assert list(calls.answers) == ["later"] and calls.held == 1


def test_nan_over_http_is_rejected_clearly(server):
    # gradio_client refuses to encode NaN, but a raw JSON request can carry it.
    body = json.dumps({"data": ["grey", 3, float("nan"), *ZEROS, None]}).encode()  # raw requests send every input, z too
    request = urllib.request.Request(server.url + "gradio_api/run/explore", data=body, headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    assert "Truncation psi must be a number from 0 to 2, got nan" in json.loads(caught.value.read())["error"]


# --------------------------------------------------------------------------- /invert and /score: a picture's z and how unusual it is


def save(image: Image.Image, path, **options) -> str:
    image.save(path, **options)
    return str(path)


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    """Picture files as visitors upload them: a drawn digit, odd but valid formats, and bad files."""
    root = tmp_path_factory.mktemp("pictures")
    digit = np.zeros((100, 100), np.uint8)
    digit[15:25, 25:75] = 255  # a '7': a bar and a stroke down to the left
    for row in range(25, 88):
        column = 70 - (row - 25) * 35 // 63
        digit[row, column - 5 : column + 5] = 255
    ink = np.zeros((120, 90, 4), np.uint8)  # dark strokes on a transparent canvas
    ink[20:100, 40:52] = (20, 20, 20, 255)
    frames = [Image.fromarray(digit), Image.fromarray(255 - digit)]
    dot = np.zeros((200, 200), np.uint8)
    dot[100:102, 100:102] = 255
    (root / "not-a-picture.png").write_bytes(b"%PDF-1.4 this is not a picture" * 20)
    (root / "empty.png").write_bytes(b"")
    return {
        "digit": save(Image.fromarray(digit), root / "digit.png"),
        "rgba": save(Image.fromarray(ink, "RGBA"), root / "rgba.png"),
        "palette": save(Image.fromarray(digit).convert("P"), root / "palette.png"),
        "gif": save(frames[0], root / "animated.gif", save_all=True, append_images=frames[1:], duration=100),
        "jpeg": save(Image.fromarray(255 - digit).convert("RGB"), root / "paper.jpg", quality=80),
        "blank": save(Image.new("L", (100, 100), 0), root / "blank.png"),
        "dot": save(Image.fromarray(dot), root / "dot.png"),
        "tiny": save(Image.new("L", (1, 1), 255), root / "tiny.png"),
        "huge": save(Image.new("L", (5000, 5000), 0), root / "huge.png"),  # 5000x5000 pixels in a 25 KB file
        "not-a-picture": str(root / "not-a-picture.png"),
        "empty": str(root / "empty.png"),
    }


def test_invert_finds_a_drawn_digit_and_its_state_opens_it_everywhere(client, pictures):
    found = client.predict("grey", handle_file(pictures["digit"]), api_name="/invert")
    assert set(found) == FOUND_KEYS and found["model"] == "grey" and len(found["z"]) == 8
    for key in ("prepared", "reconstruction", "residual"):
        assert decode(found[key]).shape == (16, 16)
    assert decode(found["prepared"]).max() == 255, "MNIST-style: the brightest stroke is white"
    assert 0 <= found["percentile"] <= 100 and found["summary"].startswith("More unusual than") and "of 20 real mnist test pictures" in found["summary"]
    assert found["reading"].startswith("This ") and "of 20 real test digits" in found["reading"]
    scale = found["scale"]
    assert sum(scale["counts"]) == 20 and len(scale["edges"]) == len(scale["counts"]) + 1 and scale["of"] == "20 real test digits"
    assert scale["score"] == found["score"] and 0 <= scale["position"] <= 1 and scale["percentile"] == found["percentile"]
    assert 0 < found["p_real"] < 1 and 0 < found["p_real_reconstruction"] < 1
    assert (found["steps"], found["stopped"], found["used_encoder"], found["note"]) == (150, False, True, "")
    assert json.loads(found["state"]) == {"model": "grey", "z": found["z"], "psi": 1.0, "amounts": ZEROS}

    # The state restores in Explore (no seed; z comes back as the last output), and /explore draws the same z.
    model, _, seed, psi, *rest = client.predict(found["state"], api_name="/restore")
    assert (model, seed, psi, [d["value"] for d in rest[:8]]) == ("grey", None, 1.0, ZEROS)
    picture, z = rest[8], rest[-1]
    assert z == found["z"] and picture["seed"] is None
    assert picture == client.predict("grey", None, 1.0, *ZEROS, found["z"], api_name="/explore")
    assert np.abs(decode(picture["src"]).astype(int) - decode(found["reconstruction"])).max() <= 1

    # Edited, shared (JSON and link), reset, and as the start of an interpolation.
    edited = client.predict("grey", None, 0.8, 2.0, *ZEROS[1:], found["z"], api_name="/explore")
    assert edited["src"] != picture["src"]
    text, link = client.predict("grey", None, 0.8, 2.0, *ZEROS[1:], found["z"], api_name="/share")
    assert "z=" in link and "seed=" not in link
    for pasted in (text, link):
        assert client.predict(pasted, api_name="/restore")[12] == edited
    assert client.predict("grey", None, found["z"], api_name="/reset") == (None, 1.0, *ZEROS, picture)
    assert client.predict("grey", 5, found["z"], api_name="/reset")[0] == 5, "a seed wins over z"
    state = client.predict("grey", None, 0.8, 2.0, *ZEROS[1:], found["z"], api_name="/explore_state")
    assert client.predict("grey", "3", "slerp", 0.0, state, api_name="/interpolate")["src"] == edited["src"]


def test_score_is_the_inversions_score(client, pictures):
    found = client.predict("grey", handle_file(pictures["digit"]), api_name="/invert")
    scored = client.predict("grey", handle_file(pictures["digit"]), api_name="/score")
    assert {key: scored[key] for key in ("score", "percentile", "summary")} == {
        "score": pytest.approx(found["score"], rel=1e-5), "percentile": found["percentile"], "summary": found["summary"],
    }  # fmt: skip
    assert set(scored) == {"score", "percentile", "summary", "reading", "scale"} and scored["reading"] == found["reading"]
    assert scored["scale"]["counts"] == found["scale"]["counts"]


def test_invert_without_an_encoder_or_a_reference_says_so(client, pictures):
    found = client.predict("colour", handle_file(pictures["jpeg"]), 20, api_name="/invert")
    assert decode(found["reconstruction"]).shape == (8, 8, 3) and found["steps"] == 20
    assert found["p_real"] is None and found["percentile"] is None and not found["used_encoder"]
    assert "No encoder ships with this model" in found["note"] and "no reference scores" in found["summary"]
    assert "cannot be read in words" in found["reading"] and found["scale"] is None
    assert client.predict("grey", handle_file(pictures["digit"]), 0, api_name="/invert")["steps"] == 0, "0 steps: the encoder's guess alone"


@pytest.mark.parametrize("name", ["rgba", "palette", "gif", "jpeg"])
def test_invert_reads_every_common_kind_of_picture(client, pictures, name):
    found = client.predict("grey", handle_file(pictures[name]), 0, api_name="/invert")
    assert decode(found["prepared"]).max() == 255 and found["summary"].startswith("More unusual than")


BAD_PICTURES = [
    ("blank", "The picture is empty: nothing in it differs from its background"),
    ("dot", "The picture holds only a dot (2x2 of its 200x200 pixels): there is no shape to fit. Draw a larger shape."),
    ("tiny", "The picture is 1x1 pixels: too small to hold a shape. Give one at least 4x4 pixels."),
    ("huge", "The picture is 5000x5000 pixels; the largest accepted is 4096x4096. Scale it down first."),
    ("not-a-picture", "is not a picture Pillow can read: give a PNG, JPEG, GIF, BMP or WebP file."),
    ("empty", "is empty (0 bytes): give a PNG, JPEG, GIF, BMP or WebP picture."),
]


@pytest.mark.parametrize("name, message", BAD_PICTURES, ids=[name for name, _ in BAD_PICTURES])
def test_bad_pictures_get_a_clear_error_and_the_server_stays_up(server, client, pictures, name, message):
    for api_name in ("/invert", "/score"):
        with pytest.raises(AppError) as caught:
            client.predict("grey", handle_file(pictures[name]), api_name=api_name)
        assert message in str(caught.value)
    assert server.alive()


def call_message(base: str, endpoint: str, args: list) -> str:
    """A raw /gradio_api/call request (no gradio_client: it would upload a local file first) -> the error's message, or "ok"."""
    request = urllib.request.Request(f"{base}gradio_api/call/{endpoint}", data=json.dumps({"data": args}).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        event = json.loads(response.read())["event_id"]
    with urllib.request.urlopen(f"{base}gradio_api/call/{endpoint}/{event}", timeout=60) as response:
        stream = response.read().decode()
    if "event: complete" in stream:
        return "ok"
    return json.loads([line for line in stream.splitlines() if line.startswith("data:")][-1][5:])["error"]


def test_a_file_that_was_not_uploaded_is_never_read(server, client, pictures, tmp_path):
    """Only files in Gradio's upload folder are read: a bare path, a path with meta outside the folder, a symlink out of it,
    a relative path and a plain string all get one sentence, whether the file exists or not (nothing tells what is there)."""
    from gradio.utils import get_upload_folder

    secret = save(Image.open(pictures["digit"]), tmp_path / "secret.png")  # a readable picture the server could score
    upload = Path(get_upload_folder())
    upload.mkdir(parents=True, exist_ok=True)
    link = upload / f"link-{os.getpid()}.png"
    link.unlink(missing_ok=True)
    link.symlink_to(secret)
    meta = {"_type": "gradio.FileData"}
    values = [
        {"path": secret},
        {"path": secret, "meta": meta},
        {"path": str(tmp_path / "missing.png"), "meta": meta},
        {"path": "/proc/self/environ"},
        {"path": "/etc/hostname"},
        {"path": str(link), "meta": meta},
        {"path": os.path.relpath(secret, ROOT)},
        {"path": "docs/screenshot.png", "meta": meta},
        {"path": str(upload / ".." / "x.png")},
        secret,
        "docs/screenshot.png",
        {"url": "file://" + secret},
    ]
    try:
        for endpoint, rest in (("invert", [0]), ("score", [])):
            for value in values:
                assert call_message(server.url, endpoint, ["grey", value, *rest]) == "The picture must be a file uploaded to this app: the page's upload " \
                    "button or drawing, or gradio_client.handle_file(...) in an API call.", (endpoint, value)
    finally:
        link.unlink(missing_ok=True)
    # A real upload still works on both.
    assert client.predict("grey", handle_file(pictures["digit"]), api_name="/score")["summary"]
    assert server.alive()


BAD_SEARCHES = [
    (("grey", None), "No picture was given: draw one or upload a file."),
    (("nope", "digit"), "Unknown model 'nope'; this app serves: grey, colour."),
    (("grey", "digit", -5), "Search steps must be a whole number from 0 to 5000, got -5."),
    (("grey", "digit", 10**9), "Search steps must be a whole number from 0 to 5000, got 1000000000."),
    (("grey", "digit", "many"), "Search steps must be a whole number from 0 to 5000, got 'many'."),
]


@pytest.mark.parametrize("args, message", BAD_SEARCHES, ids=[message[:30] for _, message in BAD_SEARCHES])
def test_bad_search_requests_get_a_clear_error(server, client, pictures, args, message):
    model, picture, *rest = args
    with pytest.raises(AppError) as caught:
        client.predict(model, handle_file(pictures[picture]) if picture else None, *rest, api_name="/invert")
    assert message in str(caught.value)
    assert server.alive()


def test_a_picture_over_the_upload_limit_is_refused_before_it_is_sent(server, client, tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (1100, 1100, 3), dtype=np.uint8)
    path = save(Image.fromarray(noise), tmp_path / "noise.png")  # about 3.6 MB of noise; the app accepts 2 MB
    with pytest.raises(ValueError, match="exceeds the maximum file size of 2097152 bytes"):
        client.predict("grey", handle_file(path), api_name="/invert")
    assert server.alive()


BAD_LATENTS = [
    ("/explore", ("grey", None, 1.0, *ZEROS, [0.1, 0.2, 0.3]), "The state's z has 3 numbers; model 'grey' takes 8."),
    ("/explore", ("grey", None, 1.0, *ZEROS, "0.1, 0.2"), "z must be a list of up to 4096 numbers"),
    ("/explore", ("grey", None, 1.0, *ZEROS, [0.1] * 7 + ["x"]), "z must be a list of finite numbers; z[7] is 'x'."),
    ("/explore", ("grey", None, 1.0, *ZEROS, None), "The seed must be a whole number from 0 to 2147483647, got None."),
    ("/share", ("colour", None, 1.0, *ZEROS, [0.5] * 8), "The state's z has 8 numbers; model 'colour' takes 6."),
    ("/restore", ('{"model": "grey", "z": [0.1, 0.2, 0.3]}',), "The state's z has 3 numbers; model 'grey' takes 8."),
    ("/restore", ("?model=grey&z=1,2,3&psi=1",), "The state's z has 3 numbers; model 'grey' takes 8."),
    ("/restore", ('{"model": "grey", "z": [NaN, 0, 0, 0, 0, 0, 0, 0]}',), "z[0] must be a number"),
    ("/restore", ('{"model": "grey", "z": "lots"}',), "The state's z must be a list of 1 to 4096 numbers, got 'lots'."),
]


@pytest.mark.parametrize("api_name, args, message", BAD_LATENTS, ids=[f"{a}-{i}" for i, (a, *_) in enumerate(BAD_LATENTS)])
def test_a_bad_z_gets_a_clear_error(server, client, api_name, args, message):
    with pytest.raises(AppError) as caught:
        client.predict(*args, api_name=api_name)
    assert message in str(caught.value)
    assert server.alive()


def test_nan_in_z_over_http_is_rejected_clearly(server):
    # gradio_client refuses to encode NaN, but a raw JSON request can carry it.
    body = json.dumps({"data": ["grey", None, 1.0, *ZEROS, [0.0] * 3 + [float("nan")] + [0.0] * 4]}).encode()
    request = urllib.request.Request(server.url + "gradio_api/run/explore", data=body, headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    assert "z must be a list of finite numbers; z[3] is nan." in json.loads(caught.value.read())["error"]


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
    # z (a found picture's) and kind (SeFa or GANSpace sliders) are optional: calls without them still fit
    assert [p.name for p in inspect.signature(explore.fn).parameters.values()] == ["model", "seed", "psi", *[f"d{k}" for k in range(1, 9)], "z", "kind"]
    invert = next(fn for fn in demo.fns.values() if fn.api_name == "invert")
    assert [p.name for p in inspect.signature(invert.fn).parameters.values()][:3] == ["model", "picture", "steps"]
