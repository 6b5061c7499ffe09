"""The app as people reach it: a real headless Chromium drags sliders and downloads a GIF.

Skips without /usr/bin/chromium, fails instead when REQUIRE_BROWSER=1 (the conftest's chromium_path).
"""

from __future__ import annotations

import pytest
from conftest import BROWSER_ARGS, wait_until_restored
from app_fixtures import AppServer, make_model_folder
from gradio_client import Client
from PIL import Image

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("app-browser")
    grey = make_model_folder(root / "grey", image_size=16, channels=1, latent_dim=8)
    colour = make_model_folder(root / "colour", image_size=8, channels=3, latent_dim=6, seed=1)
    app = AppServer([grey, colour])
    yield app
    app.stop()


@pytest.fixture(scope="module")
def page(server, chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
        page.goto(server.url)
        page.wait_for_selector("#picture img")
        wait_until_restored(page)
        yield page
        browser.close()


def src(page, selector: str) -> str:
    return page.eval_on_selector(f"{selector} img", "img => img.src")


def drag(page, slider: str, start: float, end: float, steps: int = 12) -> None:
    """Press on the slider at fraction ``start`` of its width and move to ``end``, leaving the button down."""
    box = page.locator(f"{slider} input[type=range]").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * start, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * end, y, steps=steps)


def wait_for_new_src(page, selector: str, old: str) -> str:
    page.wait_for_function("([sel, old]) => { const img = document.querySelector(sel + ' img'); return img && img.src !== old; }", arg=[selector, old], timeout=10_000)
    return src(page, selector)


def test_dragging_a_direction_changes_the_picture_while_dragging(page, server):
    before = src(page, "#picture")
    drag(page, "#direction-1", 0.5, 0.9)
    during = wait_for_new_src(page, "#picture", before)  # the button is still down: updated live
    assert during != before
    page.mouse.up()
    value = float(page.eval_on_selector("#direction-1 input[type=range]", "r => r.value"))
    assert value > 3
    # After release the picture is exactly the API's picture for the slider's final value.
    expected = Client(server.url, verbose=False).predict("grey", 0, 1.0, value, *[0.0] * 7, api_name="/explore")["src"]
    page.wait_for_function("([want]) => document.querySelector('#picture img').src === want", arg=[expected], timeout=10_000)
    verdict = page.inner_text("#picture .gan-p-real")
    assert verdict.startswith("P(real) ") and verdict.endswith("%")


def test_reset_returns_to_the_seed(page, server):
    expected = Client(server.url, verbose=False).predict("grey", 0, 1.0, *[0.0] * 8, api_name="/explore")["src"]
    page.click("#reset")
    page.wait_for_function("([want]) => document.querySelector('#picture img').src === want", arg=[expected], timeout=10_000)
    assert page.eval_on_selector("#direction-1 input[type=range]", "r => Number(r.value)") == 0


def test_moving_t_changes_the_interpolation_picture(page):
    page.get_by_role("tab", name="Interpolate").click()
    page.wait_for_selector("#frame img")
    before = src(page, "#frame")
    drag(page, "#t", 0.5, 0.05)
    during = wait_for_new_src(page, "#frame", before)
    page.mouse.up()
    assert during != before


def test_gif_download_has_the_chosen_number_of_frames(page, tmp_path):
    page.get_by_role("tab", name="Interpolate").click()
    frames = page.locator("#frames input[type=number]")
    frames.fill("7")
    frames.press("Enter")
    page.wait_for_function("() => document.querySelector('#frames input[type=range]').value === '7'")
    page.click("#make-gif")
    link = page.locator("#gif a").first
    link.wait_for(timeout=20_000)
    with page.expect_download() as download:
        link.click()
    path = tmp_path / "walk.gif"
    download.value.save_as(path)
    gif = Image.open(path)
    assert gif.format == "GIF" and gif.n_frames == 7


def test_clicking_a_grid_tile_opens_it_in_explore(page, server):
    page.get_by_role("tab", name="Grid").click()
    page.locator("#grid img").nth(2).click()  # tiles hold seeds 0, 1, 2, ...
    page.wait_for_function("() => document.querySelector('#seed input').value === '2'", timeout=10_000)
    expected = Client(server.url, verbose=False).predict("grey", 2, 1.0, *[0.0] * 8, api_name="/explore")["src"]
    page.wait_for_function("([want]) => document.querySelector('#picture img').src === want", arg=[expected], timeout=10_000)
    assert page.locator("#picture img").is_visible()  # the Explore tab is showing


def test_a_shared_link_restores_the_state(page, server):
    text, link = Client(server.url, verbose=False).predict("grey", 5, 0.5, 2.0, *[0.0] * 7, api_name="/share")
    expected = Client(server.url, verbose=False).predict("grey", 5, 0.5, 2.0, *[0.0] * 7, api_name="/explore")["src"]
    page.goto(server.url + link)
    page.wait_for_function("([want]) => { const img = document.querySelector('#picture img'); return img && img.src === want; }", arg=[expected], timeout=15_000)
    assert page.eval_on_selector("#direction-1 input[type=range]", "r => Number(r.value)") == 2.0
    assert page.input_value("#seed input") == "5"


def test_switching_model_relabels_sliders_and_redraws_without_errors(page, server):
    page.goto(server.url)
    page.wait_for_selector("#picture img")
    wait_until_restored(page)
    page.get_by_role("tab", name="Interpolate").click()
    page.click("#from-explore")  # a start state that belongs to the first model
    page.wait_for_function("() => document.querySelector('#start-state textarea, #start-state input').value.includes('grey')")
    page.get_by_role("tab", name="Explore").click()
    page.click("#model input")
    page.get_by_role("option", name="colour").click()
    expected = Client(server.url, verbose=False).predict("colour", 0, 1.0, *[0.0] * 8, api_name="/explore")["src"]
    page.wait_for_function("([want]) => document.querySelector('#picture img').src === want", arg=[expected], timeout=10_000)
    assert not page.locator("#direction-7").is_visible()  # the colour model has 6 directions
    page.get_by_role("tab", name="Interpolate").click()
    page.wait_for_function("() => document.querySelector('#start-state textarea, #start-state input').value === ''")
    page.wait_for_timeout(500)
    assert page.locator("[data-testid=toast-body]").all_inner_texts() == []
    page.goto(server.url)  # leave the page as the other tests expect it
    page.wait_for_selector("#picture img")
    wait_until_restored(page)


def test_on_a_phone_every_tab_is_reached_from_explore_through_the_menu(page, server):
    """At 390 x 844 the tab bar shows two tabs; its "More tabs" menu opens above the pinned picture and reaches the last."""
    phone = page.context.browser.new_page(viewport={"width": 390, "height": 844})
    phone.goto(server.url)
    phone.wait_for_selector("#picture img")
    wait_until_restored(phone)
    assert not phone.get_by_role("tab", name="Share").is_visible()
    phone.get_by_role("button", name="More tabs").click()
    last = phone.locator("#tabs .overflow-dropdown button", has_text="Share")
    last.click()  # Playwright refuses to click an element another covers: the menu must be on top
    phone.wait_for_function("() => document.querySelector('#tab-share').style.display !== 'none'")
    assert phone.locator("#share-link").is_visible()
    phone.close()


def test_on_a_phone_every_tile_of_the_grid_and_the_tile_pool_is_in_view(page, server):
    """Gradio's gallery gives each column at least 100 px: at 390 px a grid 6 wide showed 3 columns and cut off the rest."""
    phone = page.context.browser.new_page(viewport={"width": 390, "height": 844})
    phone.goto(server.url)
    phone.wait_for_selector("#picture img")
    for label, gallery in (("Grid", "#grid"), ("Vector arithmetic", "#pool")):
        phone.get_by_role("button", name="More tabs").click()
        phone.locator("#tabs .overflow-dropdown button", has_text=label).click()
        phone.wait_for_selector(f"{gallery} .thumbnail-item img")
        boxes = phone.eval_on_selector_all(f"{gallery} .thumbnail-item", "tiles => tiles.map(t => t.getBoundingClientRect().toJSON())")
        assert len(boxes) == 36, (label, len(boxes))
        assert all(0 <= box["left"] and box["right"] <= 390 for box in boxes), (label, [round(box["right"]) for box in boxes[:6]])
        assert all(abs(box["width"] - box["height"]) <= 1 for box in boxes), (label, boxes[0])  # square, as the pictures are
    phone.close()


def test_sliders_say_what_they_do_and_switch_to_ganspace(page, server):
    info = page.locator("#direction-1").inner_text()
    assert "effect" in info or "no clear change" in info
    page.get_by_label("GANSpace: PCA of G's first features").check()
    page.wait_for_function("() => document.querySelector('#directions-note').innerText.includes('GANSpace')", timeout=15_000)
    page.get_by_label("SeFa: G's first layer").check()
    page.wait_for_function("() => document.querySelector('#directions-note').innerText.includes('SeFa')", timeout=15_000)
