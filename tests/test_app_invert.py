"""Draw or upload, in a real headless Chromium against a real app server: a stroke drawn with the mouse
is found in G's latent space, opened in Explore, edited with a slider (drawn in the page from the found
z, and the server agrees), shared by a link that restores it; Stop ends a long search early with the
best z so far; an untouched canvas gets a sentence saying what to do."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from app_fixtures import ROOT, AppServer, make_model_folder
from conftest import wait_until_restored
from PIL import Image

pytestmark = [pytest.mark.browser, pytest.mark.slow]
RUNTIME = ROOT / "assets" / "onnxruntime-web"  # the runtime ships in git
LONG_SEARCH = 5000  # steps: several seconds on the 32 px model without an encoder, so Stop has something to stop


@pytest.fixture(scope="module")
def server(tmp_path_factory, chromium_path):
    if not (RUNTIME / "ort-wasm-simd-threaded.wasm.gz").is_file():
        pytest.fail("the in-browser runtime is missing from assets/onnxruntime-web (it ships in git: git checkout the folder)")
    root = tmp_path_factory.mktemp("app-invert")
    grey = make_model_folder(root / "grey", image_size=16, latent_dim=8, onnx=True, encoder=True, dataset="mnist")
    plain = make_model_folder(root / "plain", image_size=32, latent_dim=8, seed=2)  # no encoder: random starts only
    app = AppServer([grey, plain])
    yield app
    app.stop()


def open_page(browser, url):
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(url)
    page.wait_for_selector("#picture img")
    wait_until_restored(page)
    return page


def open_draw_tab(page):
    page.get_by_role("tab", name="Draw or upload").click()
    page.locator("#sketch canvas").first.wait_for()
    page.wait_for_timeout(500)  # the editor sets up its canvas


def draw_stroke(page):
    """A '7' drawn with the mouse: a bar, then a diagonal down to the left."""
    canvas = page.locator("#sketch canvas").first
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x - 60, y - 80)
    page.mouse.down()
    page.mouse.move(x + 60, y - 80, steps=10)
    page.mouse.move(x - 10, y + 90, steps=14)
    page.mouse.up()
    page.wait_for_timeout(300)


def decode(url: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")).astype(int)


def toasts(page) -> list[str]:
    return page.locator("[data-testid=toast-body]").all_inner_texts()


def test_a_drawing_is_found_opened_in_explore_edited_and_shared(browser, server):
    page = open_page(browser, server.url)
    open_draw_tab(page)
    draw_stroke(page)
    page.click("#find-z")
    page.wait_for_selector("#found .gan-found", timeout=30_000)
    found = page.locator("#found .gan-found")
    sources = found.locator("img").evaluate_all("(imgs) => imgs.map((img) => img.src)")
    assert len(sources) == 3 and all(src.startswith("data:image/png;base64,") for src in sources)
    assert decode(sources[0]).max() > 0, "the prepared picture holds the stroke"
    assert "More unusual than" in found.inner_text() and "real mnist test pictures" in found.inner_text()
    assert found.get_attribute("data-stopped") == "false"
    reconstruction = decode(sources[1])

    # Open it in Explore: the found z, psi 1, every slider at 0, no seed.
    page.click("#open-found")
    page.wait_for_selector("#picture .gan-origin", timeout=20_000)
    assert page.get_by_role("tab", name="Explore").get_attribute("aria-selected") == "true"
    assert page.input_value("#seed input") == ""
    opened = decode(page.eval_on_selector("#picture img", "img => img.src"))
    assert np.abs(opened - reconstruction).max() <= 1, "Explore shows the picture that was found"
    assert toasts(page) == []

    # Drag a direction: drawn in the page from the found z (no seed), then the server's picture on release agrees.
    page.wait_for_function("() => document.querySelector('#render-status .gan-render-status').dataset.state === 'ready'", timeout=20_000)
    slider = page.locator("#direction-1 input[type=range]").bounding_box()
    y = slider["y"] + slider["height"] / 2
    page.mouse.move(slider["x"] + slider["width"] * 0.5, y)
    page.mouse.down()
    page.mouse.move(slider["x"] + slider["width"] * 0.95, y, steps=20)
    page.wait_for_function("() => document.querySelector('#picture .gan-path').dataset.path === 'browser'", timeout=10_000)
    page.wait_for_timeout(400)  # the last frame of the drag is drawn
    in_page = decode(page.eval_on_selector("#picture canvas.gan-canvas", "canvas => canvas.toDataURL()"))
    assert np.abs(in_page - opened).max() > 0, "the picture changed while dragging"
    old = page.eval_on_selector("#picture img", "img => img.src")
    page.mouse.up()
    page.wait_for_function("(old) => document.querySelector('#picture img').src !== old", arg=old, timeout=10_000)
    on_server = decode(page.eval_on_selector("#picture img", "img => img.src"))
    assert np.abs(in_page - on_server).max() <= 1, "the page drew the found z as the server does"
    assert page.input_value("#seed input") == "" and toasts(page) == []

    # Share it: the link carries z and restores the same picture in a fresh page.
    page.get_by_role("tab", name="Share").click()
    page.wait_for_function("() => document.querySelector('#share-link textarea, #share-link input').value.includes('z=')", timeout=10_000)
    link = page.input_value("#share-link textarea, #share-link input")
    assert "seed=" not in link and "amounts=" in link
    shared = open_page(browser, link)
    shared.wait_for_selector("#picture .gan-origin", timeout=20_000)
    assert np.abs(decode(shared.eval_on_selector("#picture img", "img => img.src")) - on_server).max() == 0
    shared.close()

    # Interpolate starts from it.
    page.get_by_role("tab", name="Interpolate").click()
    page.click("#from-explore")
    page.wait_for_function("() => document.querySelector('#start-state textarea, #start-state input').value.includes('\"z\"')", timeout=10_000)
    page.wait_for_timeout(800)
    assert toasts(page) == []
    page.close()


def test_stop_ends_a_long_search_early_and_shows_the_best_z_so_far(browser, server):
    page = open_page(browser, server.url)
    page.click("#model input")
    page.get_by_role("option", name="plain").click()
    page.wait_for_function("() => document.querySelector('#picture img').naturalWidth === 32", timeout=10_000)
    open_draw_tab(page)
    draw_stroke(page)
    steps = page.locator("#search-steps input[type=number]")
    steps.fill(str(LONG_SEARCH))
    steps.press("Enter")
    page.wait_for_timeout(300)
    page.click("#find-z")
    # The search's progress shows over the result ("Searching z - 2.6%"), then Stop ends it.
    page.wait_for_function("() => document.querySelector('#found').innerText.includes('Searching z')", timeout=20_000)
    page.click("#stop-search", timeout=30_000)
    page.wait_for_selector("#found .gan-found", timeout=60_000)
    found = page.locator("#found .gan-found")
    assert found.get_attribute("data-stopped") == "true"
    assert 0 < int(found.get_attribute("data-steps")) < LONG_SEARCH
    assert "Stopped after" in found.inner_text() and "No encoder ships with this model" in found.inner_text()
    page.close()


def test_an_untouched_canvas_says_what_to_do(browser, server):
    page = open_page(browser, server.url)
    open_draw_tab(page)
    page.click("#find-z")
    toast = page.locator("[data-testid=toast-body]").first
    toast.wait_for(timeout=20_000)
    assert "No picture was given: draw one or upload a file." in toast.inner_text()
    assert server.alive()
    page.close()
