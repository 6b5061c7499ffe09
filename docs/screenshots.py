"""Take the README's screenshots of the explorer in headless Chromium.

    python docs/screenshots.py --model weights/fashion-mnist --model weights/mnist

Builds the explorer with the given models in this process (``app.build_demo``) and serves it on a
free port, opens a shared-state link so Explore shows a moved picture, and writes
docs/screenshot.png (Explore), docs/screenshot-<tab>.png and docs/screenshot-phone.png (Explore at
390 x 844, scrolled to the sliders: the picture stays pinned above them).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import app
from gan_core.explorer import Explorer

TABS = {"interpolate": "Interpolate", "arithmetic": "Vector arithmetic", "grid": "Grid", "training": "How it trained"}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True)
    parser.add_argument("--state", default="seed=7&psi=1&amounts=3,0,-2,0,0,0,0,0", help="query of the Explore state shown (the first model's)")
    parser.add_argument("--out-dir", default=str(ROOT / "docs"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    explorer = Explorer.from_sources(args.model)
    demo = app.build_demo(explorer)
    # launch() returns once the server answers; with no port given Gradio takes the first free one from 7860.
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **app.LAUNCH_OPTIONS)
    try:
        out = Path(args.out_dir)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(f"{demo.local_url}?model={explorer.names[0]}&{args.state}")
            page.wait_for_selector("#picture img")
            page.wait_for_load_state("networkidle")
            page.wait_for_function("() => document.querySelector('#render-status .gan-render-status').dataset.state !== 'loading'", timeout=30_000)
            page.wait_for_timeout(800)
            page.screenshot(path=out / "screenshot.png", full_page=True)
            for key, label in TABS.items():
                page.get_by_role("tab", name=label).click()
                page.wait_for_timeout(1200)
                page.screenshot(path=out / f"screenshot-{key}.png", full_page=True)
            phone = browser.new_page(viewport={"width": 390, "height": 844})
            phone.goto(f"{demo.local_url}?model={explorer.names[0]}&{args.state}")
            phone.wait_for_selector("#picture img")
            phone.wait_for_load_state("networkidle")
            phone.locator("#direction-4").scroll_into_view_if_needed()
            phone.wait_for_timeout(800)
            phone.screenshot(path=out / "screenshot-phone.png")
            browser.close()
    finally:
        demo.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
