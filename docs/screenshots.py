"""Take screenshots of the explorer in headless Chromium: the README's, or every tab at desktop and phone size.

    python docs/screenshots.py                                  # the README's: docs/screenshot*.png
    python docs/screenshots.py --all --out-dir /tmp/shots       # every tab at 1280x900 and 390x844, to look at

Builds the explorer with the given models (default: every shipped one) in this process (``app.build_demo``) and serves
it on a free port, opens a shared-state link so Explore shows a moved picture, and writes docs/screenshot.png (Explore),
docs/screenshot-<tab>.png and docs/screenshot-phone.png (Explore at 390 x 844, scrolled to the sliders: the picture
stays pinned above them). ``--all`` writes <size>-<tab>.png for every tab instead, and the phone's tab menu opened.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import app
from gan_core.explorer import Explorer, sources_from

README_TABS = {"interpolate": "Interpolate", "arithmetic": "Vector arithmetic", "grid": "Grid", "training": "How it trained"}
ALL_TABS = {
    "explore": "Explore", "invert": "Draw or upload", **README_TABS, "live": "Watch it train", "share": "Share",
}  # fmt: skip
SIZES = {"desktop": (1280, 900), "phone": (390, 844)}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def open_page(browser, url: str, size: tuple[int, int]):
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    page.goto(url)
    page.wait_for_selector("#picture img, #picture canvas")
    page.wait_for_selector("body[data-restored='1']", state="attached", timeout=60_000)  # the link's state is restored
    page.wait_for_timeout(1500)  # the in-browser engine starts and the sheet arrives
    return page


def show_tab(page, label: str) -> None:
    """Open a tab by its label, through the tab bar's overflow menu when the bar is too narrow to show it."""
    tab = page.get_by_role("tab", name=label)
    if tab.is_visible():
        tab.click()
    else:  # a phone: the tab bar's "More tabs" menu lists the rest
        page.get_by_role("button", name="More tabs").click()
        page.locator("#tabs .overflow-dropdown button", has_text=label).click()
    page.wait_for_timeout(1200)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=[], help="model folder (repeatable; default: every weights/*/)")
    parser.add_argument("--state", default="?model=mnist&seed=0&psi=1&amounts=3,0,-2,0,0,0,0,0", help="the Explore state shown, as a link's query")
    parser.add_argument("--all", action="store_true", help="every tab at desktop and phone size, named <size>-<tab>.png")
    parser.add_argument("--out-dir", default=str(ROOT / "docs"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    explorer = Explorer.from_sources(sources_from(args.model, None, ROOT / "weights"))
    demo = app.build_demo(explorer, first=app.first_state(explorer))
    # launch() returns once the server answers; with no port given Gradio takes the first free one from 7860.
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **app.LAUNCH_OPTIONS)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    url = demo.local_url + args.state
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
            if args.all:
                for size_name, size in SIZES.items():
                    page = open_page(browser, url, size)
                    for key, label in ALL_TABS.items():
                        show_tab(page, label)
                        page.screenshot(path=out / f"{size_name}-{key}.png", full_page=True)
                    page.close()
            else:
                page = open_page(browser, url, SIZES["desktop"])
                page.screenshot(path=out / "screenshot.png", full_page=True)
                for key, label in README_TABS.items():
                    show_tab(page, label)
                    page.screenshot(path=out / f"screenshot-{key}.png", full_page=True)
                phone = open_page(browser, url, SIZES["phone"])
                phone.locator("#direction-4").scroll_into_view_if_needed()
                phone.wait_for_timeout(800)
                phone.screenshot(path=out / "screenshot-phone.png")
            browser.close()
    finally:
        demo.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
