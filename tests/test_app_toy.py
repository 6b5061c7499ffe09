"""The 2-D game of "Watch it train" as visitors and API users reach it: a real server, gradio_client on /toy_run,
/toy_step and /toy_reset (good and bad input), and a headless Chromium that starts a game, sees it redraw, stops it
and runs one step slowly."""

from __future__ import annotations

import base64
import io
import json
import time
import urllib.request

import numpy as np
import pytest
from app_fixtures import AppServer, make_model_folder
from gradio_client import Client
from gradio_client.exceptions import AppError
from PIL import Image

SETTINGS = ["ring8", 2, 0.001, 0.001, 1, "non-saturating", 0]  # mixture, noise dim, lr G, lr D, D steps, loss, seed


def decode(url: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("app-toy")
    app = AppServer([make_model_folder(root / "grey", image_size=16, channels=1, latent_dim=8)])
    yield app
    app.stop()


def test_a_game_runs_steps_and_goes_on_in_the_same_session(server):
    client = Client(server.url, verbose=False)
    frame, slow = client.predict(*SETTINGS, api_name="/toy_reset")
    assert frame["step"] == 0 and slow is None and decode(frame["src"]).shape == (360, 360, 3)

    job = client.submit(*SETTINGS, 60, api_name="/toy_run")
    frames = job.result() and job.outputs()
    assert len(frames) >= 2 and frames[0]["step"] == 0 and frames[-1]["step"] == 60
    last = frames[-1]
    assert last["modes"] == 8 and 0 <= last["covered"] <= 8 and "modes" in last["sentence"] and last["loss_d"] > 0

    # The session's game goes on: one slow step is step 61, on the changed learning rate.
    frame, slow = client.predict("ring8", 2, 0.002, 0.001, 1, "non-saturating", 0, api_name="/toy_step")
    assert frame["step"] == slow["step"] == 61 and "lr G 0.002" in frame["settings"]
    before, after_d, after_g = slow["terms"]
    assert after_d["value"] > before["value"] and after_g["fake"] < after_d["fake"]
    assert [decode(p["src"]).shape for p in slow["pictures"]] == [(360, 360, 3)] * 3

    # Another visitor's game is their own.
    frame, _ = Client(server.url, verbose=False).predict(*SETTINGS, api_name="/toy_step")
    assert frame["step"] == 1


def test_the_head_start_preset_is_an_optional_last_value(server):
    client = Client(server.url, verbose=False)
    frame, _ = client.predict("ring8", 2, 0.01, 0.001, 1, "minimax", 0, "head-start", api_name="/toy_reset")
    assert frame["head_start_left"] == frame["head_start"] == 1000 and "alone for its first 1,000 steps" in frame["settings"]
    assert frame["chart"]["head_start"] == 1000 and frame["chart"]["training"] == "minimax"
    frame, slow = client.predict("ring8", 2, 0.01, 0.001, 1, "minimax", 0, "head-start", api_name="/toy_step")
    assert frame["head_start_left"] == 0 and frame["step"] == 1 and slow["sentences"][0].startswith("First D trained alone for 1,000 steps")
    assert slow["pulls"]["minimax"] < 1e-2 * slow["pulls"]["non-saturating"]  # D rejects G's points: the minimax loss saturates
    frames = client.submit("ring8", 2, 0.01, 0.001, 1, "minimax", 0, 20, "head-start", api_name="/toy_run")
    frames.result()
    assert frames.outputs()[-1]["step"] == 21  # the same game goes on; its head start is done
    # A raw request written before presets existed (seven values) plays the usual game.
    request = urllib.request.Request(
        f"{server.url}gradio_api/call/toy_reset", data=json.dumps({"data": SETTINGS}).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        event = json.loads(response.read())["event_id"]
    with urllib.request.urlopen(f"{server.url}gradio_api/call/toy_reset/{event}", timeout=60) as response:
        stream = response.read().decode()
    assert "event: complete" in stream
    frame = json.loads([line for line in stream.splitlines() if line.startswith("data:")][-1][5:])[0]
    assert frame["head_start"] == 0 and "Adam, lr G 0.001" in frame["settings"]
    with pytest.raises(AppError, match="The start must be one of usual, head-start"):
        client.predict(*SETTINGS, "late", api_name="/toy_reset")


@pytest.mark.parametrize(
    ("endpoint", "args", "message"),
    [
        ("/toy_run", [*SETTINGS, 0], "Steps per run must be a whole number from 1 to 20000"),
        ("/toy_run", ["ring8", 2, 5.0, 0.001, 1, "non-saturating", 0, 10], "G's learning rate must be a number from 1e-05 to 0.1"),
        ("/toy_step", ["ring8", 2, 0.001, 0.001, 1, "hinge", 0], "G's loss must be one of non-saturating, minimax"),
        ("/toy_reset", ["moons", 2, 0.001, 0.001, 1, "non-saturating", 0], "The real data must be one of ring8, grid25"),
        ("/toy_reset", ["ring8", 99, 0.001, 0.001, 1, "non-saturating", 0], "The noise dimension must be a whole number from 1 to 16"),
    ],
)
def test_bad_settings_are_refused_with_a_sentence(server, endpoint, args, message):
    with pytest.raises(AppError) as caught:
        Client(server.url, verbose=False).predict(*args, api_name=endpoint)
    assert message in str(caught.value)
    assert server.alive() and "Traceback" not in server.log()


@pytest.mark.browser
@pytest.mark.slow
def test_the_game_redraws_while_it_trains_and_one_step_shows_the_terms(server, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(server.url)
    page.get_by_role("tab", name="Watch it train").click()
    picture = page.locator("#toy-picture img")
    picture.wait_for()
    seen = [picture.get_attribute("src")]
    page.click("#toy-start")
    for _ in range(2):  # the picture is redrawn at least twice while the game trains
        page.wait_for_function("(old) => document.querySelector('#toy-picture img').src !== old", arg=seen[-1], timeout=20_000)
        seen.append(picture.get_attribute("src"))
    assert int(page.get_attribute("#toy-picture .gan-toy", "data-step")) > 0
    page.click("#toy-stop")

    page.click("#toy-one-step")
    page.wait_for_selector('#toy-slow table tbody tr[data-when="after G\'s step"]', timeout=20_000)
    rows = page.locator("#toy-slow tbody tr")
    assert rows.count() == 3
    values = [[float(cell) for cell in rows.nth(i).locator("td").all_inner_texts()] for i in range(3)]
    before, after_d, after_g = values
    # D's step raised V on its batch; after a long run near the balance the rise can be under the table's 4 decimals
    assert after_d[2] >= before[2]
    assert after_g[1] < after_d[1]  # G's step lowered E[log(1 - D(G(z)))]
    assert page.locator("#toy-slow figure img").count() == 3
    said = page.inner_text("#toy-slow")  # after a long run Adam's momentum can make D's step lower V on this batch: then it says why
    assert "on this batch it raised" in said or "on this batch it left" in said or "need not raise it" in said
    assert "on the log scale of the key" in page.inner_text("#toy-slow")
    # The pull chart: both losses' lines, the one that trains drawn solid, and D(G(z)).
    assert page.locator("#toy-picture .gan-toy-chart polyline").count() == 3
    assert page.get_attribute("#toy-picture .gan-toy-pull-non-saturating", "class").endswith("gan-toy-training")
    assert len(page.get_attribute("#toy-picture .gan-toy-pull-minimax", "points").split()) >= 2
    page.close()  # the page's game is freed at once (Gradio would keep its state an hour)
    deadline = time.monotonic() + 15
    while "freed the 2-D game of a closed page" not in server.log() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "freed the 2-D game of a closed page" in server.log()
