"""The "Watch it train" image run as people reach it: `python app.py` on a port, /live_train and /live_stop through
gradio_client, and a real headless Chromium that starts a run, watches it, stops it, opens the model in Explore, and
sees a second visitor's run wait in the queue with its place shown."""

from __future__ import annotations

import itertools
import json
import re
import time
import urllib.request
import uuid

import pytest
from app_fixtures import AppServer, make_model_folder
from hostile import call, picture_component, server_function
from gradio_client import Client
from gradio_client.exceptions import AppError

pytestmark = pytest.mark.slow
ZEROS = [0.0] * 8


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("app-live")
    grey = make_model_folder(root / "grey", image_size=16, channels=1, latent_dim=8)
    app = AppServer([grey], extra_args=("--live-runs", "1", "--live-max-seconds", "90"))
    yield app
    app.stop()


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def dropdown_choices(url: str) -> list:
    with urllib.request.urlopen(url + "config", timeout=30) as response:
        config = json.loads(response.read())
    model = next(c for c in config["components"] if c.get("props", {}).get("elem_id") == "model")
    return [choice[1] if isinstance(choice, list) else choice for choice in model["props"]["choices"]]


def test_live_train_streams_stops_and_serves_its_model_to_that_session(server):
    client = Client(server.url, verbose=False)
    job = client.submit(0, api_name="/live_train")
    wait_for(lambda: len(job.outputs()) >= 4, 90, "four snapshots")
    steps = [out[0]["step"] for out in job.outputs()]
    assert steps == sorted(steps) and steps[-1] > steps[0]
    grid, _losses, _outputs, status, model = job.outputs()[-1]
    assert grid["src"].startswith("data:image/png;base64,") and status.startswith("**Training**") and model == ""
    assert "of at most" in status and "D(G(z))" in status
    assert Client(server.url, verbose=False).predict(api_name="/live_stop") == "No live run of yours is training."
    assert client.predict(api_name="/live_stop") == "Stopping after the current steps."
    grid, _losses, _outputs, status, model = job.result(timeout=60)
    assert status.startswith("**Stopped**") and model.startswith("live-") and "Phases so far: " in status
    picture = client.predict(model, 3, 1.0, *ZEROS, None, api_name="/explore")
    # Its timeline starts at G's starting blur (epoch 0) and ends with the exported generator.
    first, last = client.predict(model, 1, api_name="/timeline"), client.predict(model, 2, api_name="/timeline")
    assert first["epoch"] == 0 and first["count"] >= 2 and last["epoch"] >= 1
    assert picture["src"].startswith("data:image/png") and 0 < picture["p_real"] < 1
    assert model not in dropdown_choices(server.url)  # the page every visitor gets lists the shipped models only
    # The model is that session's: another session, or a raw call with none, that knows its name is told it does not
    # exist, through the API and through the drag path; the owner's drag path draws it.
    with pytest.raises(AppError, match=f"Unknown model '{model}'; this app serves: grey"):
        Client(server.url, verbose=False).predict(model, 3, 1.0, *ZEROS, None, api_name="/explore")
    assert call(server.url, "explore", [model, 3, 1.0, *ZEROS]) == "clean"
    drag = [model, 3, 1.0, *ZEROS, None, "sefa"]
    picture = picture_component(server.url)
    assert server_function(server.url, picture, "drag_explore", drag, session=uuid.uuid4().hex)["error"].startswith(f"Unknown model '{model}'")
    assert server_function(server.url, picture, "drag_explore", drag, session=client.session_hash)["src"].startswith("data:image/png")
    assert server.alive()


def test_live_train_refuses_a_bad_seed_with_a_sentence(server):
    client = Client(server.url, verbose=False)
    for seed in (-1, 1.5, "seven"):
        with pytest.raises(AppError, match="seed must be a whole number"):
            client.predict(seed, api_name="/live_train")
    assert "Traceback" not in server.log()


def test_a_run_whose_client_never_reads_its_stream_stops_and_frees_its_slot(server):
    # An API client starts a run and never reads its answers: the run ends within seconds of Listener.UNREAD_SECONDS
    # (15), not at the 90 s cap, its folder goes, and the slot (and this address's one run) is free for the next client.
    started = time.monotonic()
    request = urllib.request.Request(server.url + "gradio_api/call/live_train", data=json.dumps({"data": [2]}).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert json.loads(response.read())["event_id"]
    wait_for(lambda: "its answers lay unread" in server.log(), 60, "the unread run to be noticed")
    wait_for(lambda: server.log().count("its folder is deleted") >= 1, 30, "the unread run to end and be deleted")
    assert time.monotonic() - started < 50
    client = Client(server.url, verbose=False)
    job = client.submit(3, api_name="/live_train")
    wait_for(lambda: len(job.outputs()) >= 1, 60, "a new run to start in the freed slot")
    client.predict(api_name="/live_stop")
    assert job.result(timeout=60)[3].startswith("**Stopped**")


@pytest.mark.browser
def test_watch_a_run_queue_a_second_one_stop_and_open_it_in_explore(server, browser):
    first = browser.new_page(viewport={"width": 1280, "height": 1000})
    first.goto(server.url)
    first.get_by_role("tab", name="Watch it train").click()
    first.click("#live-start")
    first.wait_for_selector("#live-grid img", timeout=60_000)

    def grid_src(page):
        return page.eval_on_selector("#live-grid img", "img => img.src")

    def changed(page, old):
        return wait_for(lambda: (new := grid_src(page)) != old and new, 30, "the grid to change")

    def curves(page):
        page.wait_for_selector("#live-loss-plot canvas, #live-loss-plot svg", timeout=30_000)
        return page.locator("#live-loss-plot").screenshot(), page.locator("#live-d-plot").screenshot()

    grids, plots = [grid_src(first)], [curves(first)]
    for _ in range(2):  # the grid and both curves change, twice
        grids.append(changed(first, grids[-1]))
        wait_for(lambda: curves(first) != plots[-1], 30, "the curves to change")
        plots.append(curves(first))
    assert len(set(grids)) == 3 and all(a[0] != b[0] and a[1] != b[1] for a, b in itertools.pairwise(plots))
    assert re.search(r"step [\d,]+ of at most", first.inner_text("#live-status"))

    # A second visitor's run waits for the one slot, and the page shows its place in the queue.
    second = browser.new_page(viewport={"width": 1280, "height": 1000})
    second.goto(server.url)
    second.get_by_role("tab", name="Watch it train").click()
    second.click("#live-start")
    second.wait_for_selector("text=/queue:\\s*1\\s*\\/\\s*\\d+/", timeout=30_000)
    assert "Not started." in second.inner_text("#live-status")

    first.click("#live-stop")
    first.wait_for_function("() => document.querySelector('#live-status').innerText.includes('Stopped')", timeout=60_000)
    first.click("#live-open")
    first.wait_for_function("() => document.querySelector('#model-info').innerText.includes('live-')", timeout=30_000)
    assert first.get_by_role("tab", name="Explore").get_attribute("aria-selected") == "true"
    name = first.input_value("#model input")
    assert name.startswith("live-")
    info = first.inner_text("#model-info")
    assert "your run of Watch it train" in info and "gan-live-" not in info  # a name, not its temporary folder
    first.wait_for_function("() => document.querySelector('#picture img') !== null", timeout=30_000)

    # The slot is free: the second visitor's run starts; closing that page stops it and frees its memory and folder.
    second.wait_for_function("() => document.querySelector('#live-status').innerText.includes('Training')", timeout=60_000)
    second.close()
    wait_for(lambda: "its page went away); its folder is deleted" in server.log(), 60, "the closed page's run to end and be deleted")
    assert "a page with a run closed" in server.log()  # demo.unload ran for it
    third = Client(server.url, verbose=False)  # and its slot is free again
    job = third.submit(1, api_name="/live_train")
    wait_for(lambda: len(job.outputs()) >= 2, 60, "a new run to start in the freed slot")
    third.predict(api_name="/live_stop")
    assert job.result(timeout=60)[3].startswith("**Stopped**")
    assert name not in dropdown_choices(server.url)
    first.close()
