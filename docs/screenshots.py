"""Take the README's screenshots of the explorer in headless Chromium.

    python docs/screenshots.py --model weights/fashion-mnist --model weights/mnist

Starts ``app.py`` with the given models on a free port, opens a shared-state link so Explore shows
a moved picture, and writes docs/screenshot.png (Explore) and docs/screenshot-<tab>.png.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TABS = {"interpolate": "Interpolate", "arithmetic": "Vector arithmetic", "grid": "Grid", "training": "How it trained"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True)
    parser.add_argument("--state", default="seed=7&psi=1&d=3,0,-2,0,0,0,0,0", help="query of the Explore state shown (the first model's)")
    parser.add_argument("--out-dir", default=str(ROOT / "docs"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = dict(os.environ, GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port))
    server = subprocess.Popen([sys.executable, "app.py", *[x for m in args.model for x in ("--model", m)]], cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(url + "gradio_api/info", timeout=2)
                break
            except OSError:
                time.sleep(0.3)
        from playwright.sync_api import sync_playwright

        out = Path(args.out_dir)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            model = Path(args.model[0]).name if Path(args.model[0]).exists() else args.model[0]
            page.goto(f"{url}?model={model}&{args.state}")
            page.wait_for_selector("#picture img")
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(800)
            page.screenshot(path=out / "screenshot.png", full_page=True)
            for key, label in TABS.items():
                page.get_by_role("tab", name=label).click()
                page.wait_for_timeout(1200)
                page.screenshot(path=out / f"screenshot-{key}.png", full_page=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
