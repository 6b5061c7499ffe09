"""gan_core/web/gan_web.js in a real headless Chromium: the vendored runtime, served locally, draws torch's pictures.

A local ``python -m http.server`` serves a page, gan_web.js, the runtime (assets/onnxruntime-web/'s
gzip copies, decompressed into a folder: loadRuntime's folder form) and two tiny exported models.
Skips without Chromium; REQUIRE_BROWSER=1 turns that skip into a failure.
"""

from __future__ import annotations

import gzip
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from conftest import BROWSER_ARGS
import torch
from test_onnx_export import trained_looking

from gan_core.core import latent
from gan_core.core.images import to_uint8
from gan_core.core.models import Discriminator, Generator
from gan_core.core.onnx_export import export_onnx
from gan_core.web import runtime as web_runtime

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]
# (name, latent_dim, image_size, channels): a grey 28 px model and a colour 16 px one.
MODELS = [("grey", 8, 28, 1), ("colour", 6, 16, 3)]
PAGE = """<!doctype html><meta charset="utf-8"><title>gan_web</title>
<canvas id="picture" style="width: 112px; image-rendering: pixelated"></canvas>
<script type="module">
  import * as gan from './gan_web.js';
  window.gan = gan;
  window.ready = gan.loadRuntime('./vendor/onnxruntime-web/').then(() => true);
</script>
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory, vendor):
    """A static site on 127.0.0.1: the page, gan_web.js, the runtime and each model's two .onnx files."""
    root = tmp_path_factory.mktemp("site")
    (root / "index.html").write_text(PAGE)
    shutil.copy(ROOT / "gan_core" / "web" / "gan_web.js", root / "gan_web.js")
    (root / "vendor" / "onnxruntime-web").mkdir(parents=True)
    for name in web_runtime.FILES:
        (root / "vendor" / "onnxruntime-web" / name).write_bytes(gzip.decompress((vendor / web_runtime.stored_name(name)).read_bytes()))
    models = {}
    for index, (name, latent_dim, image_size, channels) in enumerate(MODELS):
        torch.manual_seed(index)
        generator = trained_looking(Generator(latent_dim=latent_dim, image_size=image_size, channels=channels, g_features=4), seed=index)
        discriminator = trained_looking(Discriminator(image_size=image_size, channels=channels, d_features=4), seed=10 + index)
        export_onnx(generator, root / name / "generator" / "model.onnx")
        export_onnx(discriminator, root / name / "discriminator" / "model.onnx")
        models[name] = (generator, discriminator)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(root)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url, timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            pytest.fail(f"python -m http.server did not answer at {url}")
        yield url, models
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def page(site, chromium_path):
    from playwright.sync_api import sync_playwright

    url, _ = site
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=BROWSER_ARGS)
        page = browser.new_page()
        page.requested = []
        page.on("request", lambda request: page.requested.append(request.url))
        page.goto(url)
        page.wait_for_function("window.ready !== undefined")
        page.evaluate("window.ready")
        yield page
        browser.close()


DRAW = """async ([name, z]) => {
  const model = await gan.loadModel({generatorUrl: name + '/generator/model.onnx', discriminatorUrl: name + '/discriminator/model.onnx'});
  const result = await model.draw(Float32Array.from(z));
  const canvas = document.getElementById('picture');
  gan.paint(canvas, result.pixels, model.imageSize);
  const shown = canvas.getContext('2d').getImageData(0, 0, model.imageSize, model.imageSize).data;
  await model.release();
  return {pixels: Array.from(result.pixels), shown: Array.from(shown), pReal: result.pReal, ms: result.ms,
          size: [model.latentDim, model.channels, model.imageSize]};
}"""


@pytest.mark.parametrize("name, latent_dim, image_size, channels", MODELS)
def test_draws_torch_pixels(page, site, name, latent_dim, image_size, channels):
    url, models = site
    generator, discriminator = models[name]
    z = torch.randn(1, latent_dim, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        images = generator(z)
        p_real = torch.sigmoid(discriminator(images)).item()
    expected = to_uint8(images)[0].permute(1, 2, 0).numpy().astype(int)  # (H, W, C)
    result = page.evaluate(DRAW, [name, z[0].tolist()])
    assert result["size"] == [latent_dim, channels, image_size], "sizes are read from the .onnx file"
    rgba = np.array(result["pixels"]).reshape(image_size, image_size, 4)
    assert (rgba[..., 3] == 255).all()
    rgb = rgba[..., :3]
    if channels == 1:
        assert (rgb == rgb[..., :1]).all(), "grey is R = G = B"
    assert np.abs(rgb[..., :channels] - expected).max() <= 1
    assert result["shown"] == result["pixels"], "paint puts the pixels on the canvas 1:1"
    assert result["pReal"] == pytest.approx(p_real, abs=1e-4)
    # Nothing comes from anywhere but the local server (no CDN), and only the three runtime files.
    assert all(request.startswith(url) for request in page.requested), page.requested
    runtime_files = {Path(r).name for r in page.requested if "/vendor/" in r}
    assert runtime_files == {"ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"}


def test_latent_math_matches_gan_core(page):
    a, b = torch.randn(2, 16, generator=torch.Generator().manual_seed(0))
    directions = torch.randn(3, 16, generator=torch.Generator().manual_seed(1))
    amounts = [0.5, -1.25, 2.0]
    got = page.evaluate(
        """([a, b, directions, amounts]) => {
          const A = Float32Array.from(a), B = Float32Array.from(b);
          return {
            slerp: [0, 0.3, 1].map(t => Array.from(gan.slerp(A, B, t))),
            parallel: Array.from(gan.slerp(A, A.map(x => 2 * x), 0.3)),
            lerp: Array.from(gan.lerp(A, B, 0.3)),
            latent: Array.from(gan.latentFor(A, 0.7, Float32Array.from(directions.flat()), amounts)),
          };
        }""",
        [a.tolist(), b.tolist(), directions.tolist(), amounts],
    )
    for t, values in zip([0, 0.3, 1], got["slerp"]):
        np.testing.assert_allclose(values, latent.slerp(a, b, t).numpy(), atol=1e-5)
    np.testing.assert_allclose(got["parallel"], latent.slerp(a, 2 * a, 0.3).numpy(), atol=1e-5)
    np.testing.assert_allclose(got["lerp"], latent.lerp(a, b, 0.3).numpy(), atol=1e-5)
    np.testing.assert_allclose(got["latent"], latent.move(latent.truncate(a, 0.7), directions, amounts).numpy(), atol=1e-5)


def test_pixel_rounding_is_torchs(page):
    # Exact ties ((x + 1) * 127.5 = k + 0.5 in float32) round half to even, as torch.round does.
    values = torch.cat([torch.arange(256) / 127.5 - 1 + 0.5 / 127.5, torch.linspace(-1.3, 1.3, 144)]).float()
    got = page.evaluate("(values) => Array.from(gan.toPixels(Float32Array.from(values), 1, 20)).filter((_, i) => i % 4 === 0)", values.tolist())
    assert got == to_uint8(values).tolist()


@pytest.mark.parametrize("options, message", [
    ("{generatorUrl: 'grey/generator/model.onnx', latentDim: 9}", "latentDim=9 does not fit the generator, which was exported with latentDim=8"),
    ("{generatorUrl: 'missing/model.onnx'}", "HTTP 404"),
], ids=["latent_dim mismatch", "missing file"])
def test_load_errors_say_what_is_wrong(page, options, message):
    error = page.evaluate(f"() => gan.loadModel({options}).then(() => null, err => err.message)")
    assert error is not None and message in error
