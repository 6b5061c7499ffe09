"""Shared fixtures. Tests run on the CPU by default; set GAN_TEST_DEVICE=cuda to target a GPU."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def device() -> torch.device:
    """The device for device-agnostic tests: $GAN_TEST_DEVICE (cpu, cuda, cuda:N, mps), default cpu."""
    name = os.environ.get("GAN_TEST_DEVICE", "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        pytest.fail(f"GAN_TEST_DEVICE={name} but CUDA is not available")
    return dev


@pytest.fixture(autouse=True)
def _isolated_data_env(tmp_path_factory, monkeypatch):
    """No test reads the user's data folders or download cache."""
    monkeypatch.delenv("GAN_DATA_DIR", raising=False)
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's chromium, or a skip (a failure when REQUIRE_BROWSER=1, as in CI)."""
    if Path(CHROMIUM).exists():
        return CHROMIUM
    found = shutil.which("chromium")
    if found:
        return found
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail("REQUIRE_BROWSER=1 but no chromium found; install Debian's chromium package")
    pytest.skip("chromium not installed (apt-get install chromium)")


def run_module_env() -> dict[str, str]:
    """Environment for `python -m gan_core...` subprocesses: this checkout first on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


PYTHON = sys.executable
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def browser(chromium_path):
    """A headless Debian Chromium driven by Playwright, shared by a test module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=BROWSER_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def vendor(chromium_path) -> Path:
    """assets/onnxruntime-web/: the runtime as the repository keeps it (gzip copies), checked against its record."""
    from gan_core.web.runtime import RUNTIME_DIR, load_runtime

    load_runtime(RUNTIME_DIR)
    return RUNTIME_DIR


def wait_until_restored(page, timeout: float = 30_000) -> None:
    """Wait until the app's load event (restoring the state from the link) has run.

    Not the "networkidle" load state: the page keeps a heartbeat stream open (so that closing it
    stops the visitor's runs), so the network never goes idle."""
    page.wait_for_selector("body[data-restored='1']", state="attached", timeout=timeout)
