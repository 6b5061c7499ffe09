"""Explore and Interpolate drawn in the visitor's browser: no request during a drag, the server's
picture within one grey level, the server path as fallback (forced by a link, or when the runtime
cannot load), and the page on a phone. A real app server and a real headless Chromium."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from app_fixtures import ROOT, AppServer, make_model_folder
from conftest import wait_until_restored
from gradio_client import Client
from PIL import Image

pytestmark = [pytest.mark.browser, pytest.mark.slow]
RUNTIME = ROOT / "assets" / "onnxruntime-web"  # the runtime ships in git


@pytest.fixture(scope="module")
def server(tmp_path_factory, chromium_path):
    if not (RUNTIME / "ort-wasm-simd-threaded.wasm.gz").is_file():
        pytest.fail("the in-browser runtime is missing from assets/onnxruntime-web (it ships in git: git checkout the folder)")
    root = tmp_path_factory.mktemp("app-in-browser")
    grey = make_model_folder(root / "grey", image_size=16, channels=1, latent_dim=8, onnx=True)
    colour = make_model_folder(root / "colour", image_size=8, channels=3, latent_dim=6, seed=1, onnx=True)
    app = AppServer([grey, colour])
    yield app
    app.stop()


def open_page(browser, url, *, width=1280, height=1000, block_runtime=False):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.posts = []  # every POST the page sends: what the server had to answer
    page.on("request", lambda request: page.posts.append(request.url) if request.method == "POST" else None)
    if block_runtime:
        page.route("**/*.wasm", lambda route: route.abort())
    page.goto(url)
    page.wait_for_selector("#picture img")
    wait_until_restored(page)
    return page


def wait_for_status(page, state: str) -> str:
    page.wait_for_function("(state) => document.querySelector('#render-status .gan-render-status').dataset.state === state", arg=state, timeout=20_000)
    return page.inner_text("#render-status")


def press(page, slider: str, start: float):
    box = page.locator(f"{slider} input[type=range]").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * start, y)
    page.mouse.down()
    return box, y


def decode(url: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")).astype(int)


def test_a_drag_is_drawn_in_the_page_without_a_single_request(browser, server):
    page = open_page(browser, server.url)
    assert "on" in wait_for_status(page, "ready")
    page.wait_for_timeout(300)  # the first seed's z arrives (once per model and seed)
    box, y = press(page, "#direction-1", 0.5)
    before = len(page.posts)
    page.mouse.move(box["x"] + box["width"] * 0.9, y, steps=25)
    page.wait_for_function("() => document.querySelector('#picture .gan-path').dataset.path === 'browser'", timeout=10_000)
    page.wait_for_timeout(300)
    assert page.posts[before:] == [], "a frame of the drag reached the server"
    assert page.inner_text("#picture .gan-path").startswith("drawn in your browser")
    page.mouse.up()
    page.close()


def test_the_page_frame_and_the_servers_picture_agree_within_one_grey_level(browser, server):
    page = open_page(browser, server.url)
    wait_for_status(page, "ready")
    page.wait_for_timeout(300)
    box, y = press(page, "#direction-2", 0.5)
    page.mouse.move(box["x"] + box["width"] * 0.2, y, steps=15)
    page.wait_for_function("() => document.querySelector('#picture .gan-path').dataset.path === 'browser'", timeout=10_000)
    page.wait_for_timeout(400)  # the last frame of the drag is drawn
    state = page.evaluate("""() => ({
        src: document.querySelector('#picture canvas.gan-canvas').toDataURL(),
        seed: Number(document.querySelector('#seed input').value),
        psi: Number(document.querySelector('#psi input[type=range]').value),
        amounts: [...Array(8).keys()].map((k) => Number(document.querySelector(`#direction-${k + 1} input[type=range]`).value)),
    })""")
    page.mouse.up()
    assert state["amounts"][1] < -3
    expected = Client(server.url, verbose=False).predict("grey", state["seed"], state["psi"], *state["amounts"], api_name="/explore")["src"]
    in_page, on_server = decode(state["src"]), decode(expected)
    assert in_page.shape == on_server.shape == (16, 16, 3)
    assert np.abs(in_page - on_server).max() <= 1
    page.close()


def test_interpolation_is_drawn_in_the_page(browser, server):
    page = open_page(browser, server.url)
    wait_for_status(page, "ready")
    page.get_by_role("tab", name="Interpolate").click()
    page.locator("#keyframes textarea, #keyframes input").first.fill("3, 4, 5")
    page.locator("#keyframes textarea, #keyframes input").first.press("Enter")
    page.wait_for_timeout(800)  # the walk's keyframes arrive once
    box, y = press(page, "#t", 0.5)
    before = len(page.posts)
    page.mouse.move(box["x"] + box["width"] * 0.1, y, steps=15)
    page.wait_for_function("() => document.querySelector('#frame .gan-path').dataset.path === 'browser'", timeout=10_000)
    page.wait_for_timeout(300)
    assert page.posts[before:] == []
    page.mouse.up()
    page.close()


def test_a_link_can_force_the_server_path(browser, server):
    page = open_page(browser, server.url + "?render=server")
    assert "off" in wait_for_status(page, "off")
    old = page.eval_on_selector("#picture img", "img => img.src")
    box, y = press(page, "#direction-1", 0.5)
    before = len(page.posts)
    page.mouse.move(box["x"] + box["width"] * 0.9, y, steps=10)
    page.wait_for_function("(old) => document.querySelector('#picture img').src !== old", arg=old, timeout=10_000)
    page.mouse.up()
    assert len(page.posts) > before and page.inner_text("#picture .gan-path") == "drawn on the server"
    page.close()


def test_a_blocked_runtime_falls_back_to_the_server_without_the_user_doing_anything(browser, server):
    page = open_page(browser, server.url, block_runtime=True)
    assert "unavailable" in wait_for_status(page, "failed")
    old = page.eval_on_selector("#picture img", "img => img.src")
    box, y = press(page, "#direction-1", 0.5)
    page.mouse.move(box["x"] + box["width"] * 0.1, y, steps=10)
    page.wait_for_function("(old) => document.querySelector('#picture img').src !== old", arg=old, timeout=10_000)
    page.mouse.up()
    assert page.inner_text("#picture .gan-path") == "drawn on the server"
    page.close()


def test_on_a_phone_the_picture_stays_in_view_while_a_slider_is_dragged(browser, server):
    page = open_page(browser, server.url, width=390, height=844)
    page.locator("#direction-6").scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    picture = page.locator("#picture img").bounding_box()
    slider = page.locator("#direction-6 input[type=range]").bounding_box()
    assert picture["y"] >= -1 and picture["y"] + picture["height"] <= 844, "the picture scrolled away"
    assert slider["y"] > picture["y"] + picture["height"], "the slider is under the picture, not behind it"
    page.close()


def test_an_out_of_range_seed_says_what_is_accepted(browser, server):
    page = open_page(browser, server.url)
    box = page.locator("#seed input")
    box.fill("99999999999")
    box.press("Enter")
    toast = page.locator("[data-testid=toast-body]").first
    toast.wait_for(timeout=10_000)
    assert "whole number from 0 to 2147483647" in toast.inner_text()
    page.close()


def test_switching_model_with_one_keyframe_and_a_start_state_redraws_the_walk(browser, server):
    page = open_page(browser, server.url)
    page.get_by_role("tab", name="Interpolate").click()
    page.click("#from-explore")
    page.wait_for_function("() => document.querySelector('#start-state textarea, #start-state input').value.includes('grey')")
    keyframes = page.locator("#keyframes textarea, #keyframes input").first
    keyframes.fill("1")  # one seed: enough together with the start state
    keyframes.press("Enter")
    page.wait_for_timeout(800)
    assert page.locator("[data-testid=toast-body]").all_inner_texts() == []
    old_strip = page.eval_on_selector("#strip img", "img => img.src")
    page.click("#model input")
    page.get_by_role("option", name="colour").click()
    page.wait_for_function("(old) => document.querySelector('#strip img').src !== old", arg=old_strip, timeout=10_000)
    page.wait_for_timeout(500)
    assert page.locator("[data-testid=toast-body]").all_inner_texts() == []
    strip = decode(page.eval_on_selector("#strip img", "img => img.src"))
    assert strip.shape[0] == 8 + 2  # the colour model's 8 px frames, not the grey model's 16 px ones
    assert page.input_value("#start-state textarea, #start-state input") == ""
    page.close()


def test_no_server_path_reaches_the_page_and_only_the_open_models_files_are_fetched(browser, server):
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    responses = []
    page.on("response", lambda response: responses.append(response))
    page.goto(server.url)
    page.wait_for_selector("#picture img")
    wait_for_status(page, "ready")
    urls = [response.url for response in responses]
    for text in [page.content(), *urls]:
        assert str(ROOT) not in text and "gradio_api/file=" + str(ROOT) not in text
    engine = [r for r in responses if "/engine/" in r.url]
    assert {r.url.rsplit("/", 1)[1] for r in engine} >= {"in_browser.mjs", "gan_web.js", "ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"}
    assert all(r.headers["cache-control"] == "public, max-age=31536000, immutable" for r in engine)
    onnx = sorted(url.replace(server.url, "").split("/", 2)[1] + "/" + url.rsplit("/", 1)[1] for url in urls if url.endswith(".onnx"))
    assert onnx == ["grey/discriminator.onnx", "grey/generator.onnx"], "only the open model's two files"
    page.close()


def test_on_a_phone_the_status_line_stays_clear_of_the_server_box(browser, server):
    for query, state in (("", "ready"), ("?render=server", "off")):
        page = open_page(browser, server.url + query, width=390, height=844)
        wait_for_status(page, state)
        line = page.locator("#render-status .gan-render-status").bounding_box()
        box = page.locator("#force-server").bounding_box()
        apart = line["y"] + line["height"] <= box["y"] or box["y"] + box["height"] <= line["y"] or line["x"] + line["width"] <= box["x"]
        assert apart, f"the status line {line} runs into the 'Draw on the server' box {box}"
        assert page.evaluate("() => { const e = document.querySelector('#render-status .gan-render-status'); return e.scrollWidth <= e.clientWidth; }")
        page.close()
