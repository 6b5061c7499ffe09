"""The free static site (gan_core.web.static_site, python -m gan_core.build_site): its files, and the page in Chromium.

A tiny model (16 px grey, latent_dim 6, so 6 of the 8 direction sliders show) is built into a site;
the file tests check what was written against the pipeline, the browser tests serve the site with a
real ``python -m http.server`` and drive the page in headless Chromium. The browser tests skip
without Chromium (REQUIRE_BROWSER=1 turns that skip into a failure); the runtime ships in git.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from app_fixtures import free_port, make_model_folder
from conftest import run_module_env
from PIL import Image
from test_onnx_export import trained_looking

import gan_core
from gan_core import build_site as build_site_command
from gan_core.core import latent
from gan_core.core.hub import save_model
from gan_core.core.onnx_export import FP16_MAX_VERDICT_CHANGE, export_model_folder, has_fp16_weights
from gan_core.explorer.explorer import Explorer, verdict_note
from gan_core.explorer.state import DIRECTION_LIMIT, NUM_DIRECTIONS, PSI_RANGE, ExploreState
from gan_core.pipeline import GanPipeline
from gan_core.web import runtime as web_runtime
from gan_core.web import static_site
from gan_core.web.static_site import build_site

ROOT = Path(__file__).resolve().parents[1]
LATENT_DIM = 6  # fewer than NUM_DIRECTIONS: sliders 7 and 8 stay hidden
IMAGE_SIZE = 16
NUM_SEEDS = 40
RUNTIME_FILES = static_site.RUNTIME_FILES


def tiny_model(folder: Path) -> Path:
    """make_model_folder's layout (G, D, timeline, log) with weights whose pictures vary visibly with z."""
    make_model_folder(folder, image_size=IMAGE_SIZE, latent_dim=LATENT_DIM, epochs=2)
    pipeline = GanPipeline.from_pretrained(folder)
    save_model(trained_looking(pipeline.generator, seed=1), folder / "generator")
    save_model(trained_looking(pipeline.discriminator, seed=2), folder / "discriminator")
    return folder


def fake_runtime(folder: Path) -> Path:
    """Three stand-in runtime files, kept as the repository keeps the real ones (gzip copies, LICENSE, VERSION):
    enough for the build, which checks and copies them."""
    folder.mkdir(parents=True)
    hashes, gzip_hashes = {}, {}
    for name in web_runtime.FILES:
        content = f"stand-in {name}".encode()
        compressed = web_runtime.compress(content)
        (folder / web_runtime.stored_name(name)).write_bytes(compressed)
        hashes[name], gzip_hashes[name] = web_runtime.sha256(content), web_runtime.sha256(compressed)
    (folder / web_runtime.LICENSE_NAME).write_text("stand-in licence")
    (folder / web_runtime.RECORD_NAME).write_text(web_runtime.record_text("onnxruntime-web@0.0.0", "sha512-x", hashes, gzip_hashes))
    return folder


def files_under(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(parent: Path) -> list[str]:
    """Temporary build folders left beside a site (a finished or failed build leaves none)."""
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A model folder without model.onnx: the build exports into the site."""
    return tiny_model(tmp_path_factory.mktemp("plain") / "tiny")


@pytest.fixture(scope="module")
def exported_dir(tmp_path_factory, model_dir) -> Path:
    """The same model with generator/model.onnx and discriminator/model.onnx beside the weights."""
    folder = tmp_path_factory.mktemp("exported") / "tiny"
    shutil.copytree(model_dir, folder)
    export_model_folder(folder)
    assert has_fp16_weights(folder / "generator" / "model.onnx"), "the browser's tests draw a generator stored with fp16 weights"
    return folder


@pytest.fixture(scope="module")
def pipeline(model_dir) -> GanPipeline:
    return GanPipeline.from_pretrained(model_dir)


@pytest.fixture(scope="module")
def runtime(tmp_path_factory) -> Path:
    return fake_runtime(tmp_path_factory.mktemp("runtime") / "onnxruntime-web")


@pytest.fixture(scope="module")
def site(tmp_path_factory, model_dir, runtime) -> Path:
    before = files_under(model_dir)
    out = build_site(model_dir, tmp_path_factory.mktemp("built") / "site", runtime_dir=runtime, num_seeds=NUM_SEEDS)
    assert files_under(model_dir) == before, "the source folder is only read (the ONNX export goes into the site)"
    return out


# ------------------------------------------------------------------ what the build writes


def test_site_holds_the_page_module_runtime_and_networks(site, runtime, pipeline):
    names = set(files_under(site))
    assert names == {
        "index.html", "site.js", "site.css", "gan_web.js", "README.md", "model.json", "seeds.bin", "timeline.png",
        "generator.onnx", "discriminator.onnx", *(f"vendor/onnxruntime-web/{name}" for name in RUNTIME_FILES),
    }
    assert (site / "gan_web.js").read_bytes() == (ROOT / "gan_core" / "web" / "gan_web.js").read_bytes(), "the Gradio page's module, as is"
    for name in ("index.html", "site.js", "site.css"):
        assert (site / name).read_bytes() == (ROOT / "gan_core" / "web" / "site" / name).read_bytes()
    for name in RUNTIME_FILES:
        assert (site / "vendor" / "onnxruntime-web" / name).read_bytes() == (runtime / name).read_bytes()
    assert (site / "timeline.png").read_bytes() == pipeline.timeline[-1].png
    # The networks were exported into the site (the source has none): both are ONNX files with gan_web.js's names.
    for name, input_name in (("generator.onnx", "z"), ("discriminator.onnx", "images")):
        graph = onnx.load(str(site / name)).graph
        assert graph.input[0].name == input_name
    # No page file reaches outside the site: no CDN, no fonts, no absolute URLs.
    for name in ("index.html", "site.js", "site.css"):
        text = (site / name).read_text()
        assert "http://" not in text.replace("http://127.0.0.1:8000/", "") and "https://" not in text, name


def test_model_json_and_seeds_are_the_servers(site, pipeline):
    config = json.loads((site / "model.json").read_text())
    assert config[static_site.SITE_MARKER] == static_site.SITE_FORMAT
    assert config["name"] == "tiny" and config["dataset"] == pipeline.dataset
    assert (config["latentDim"], config["channels"], config["imageSize"], config["noise"]) == (LATENT_DIM, 1, IMAGE_SIZE, pipeline.noise)
    assert config["numSeeds"] == NUM_SEEDS and config["discriminator"] == "discriminator.onnx"
    assert (config["psiRange"], config["directionLimit"], config["numDirections"]) == (list(PSI_RANGE), DIRECTION_LIMIT, NUM_DIRECTIONS)
    directions, strengths = pipeline.sefa
    count = min(NUM_DIRECTIONS, LATENT_DIM)
    # float32 -> JSON -> float32 is exact: the page moves along exactly the server's directions.
    assert torch.equal(torch.tensor(config["directions"], dtype=torch.float32), directions[:count])
    assert torch.equal(torch.tensor(config["strengths"], dtype=torch.float32), strengths[:count])
    assert config["timeline"] == {"file": "timeline.png", "epoch": 2}
    assert config["verdictNote"] == verdict_note(pipeline) and "D's verdict is its probability" in config["verdictNote"]
    seeds = np.fromfile(site / "seeds.bin", dtype="<f4")
    assert seeds.size == NUM_SEEDS * LATENT_DIM
    seeds = seeds.reshape(NUM_SEEDS, LATENT_DIM)
    for seed in range(NUM_SEEDS):
        assert np.array_equal(seeds[seed], pipeline.seed_noise([seed])[0].numpy()), f"seed {seed}"


def test_readme_is_a_static_space_card(site):
    text = (site / "README.md").read_text()
    front = text.split("---\n")[1]
    fields = dict(line.split(": ", 1) for line in front.splitlines())
    assert fields["sdk"] == "static" and fields["app_file"] == "index.html" and fields["license"] == "mit"
    assert {"title", "emoji", "colorFrom", "colorTo", "short_description"} <= set(fields)
    assert len(json.loads(fields["short_description"])) <= 60, "the Hub's limit"
    assert f"gan_core {gan_core.__version__}" in text and "python -m http.server" in text


def test_rebuild_replaces_a_previous_site_from_exported_onnx(tmp_path, exported_dir, runtime):
    out = tmp_path / "site"
    build_site(exported_dir, out, runtime_dir=runtime, num_seeds=3, name="first")
    (out / "stale.txt").write_text("from an older build")
    build_site(exported_dir, out, runtime_dir=runtime, num_seeds=5, name="second")
    config = json.loads((out / "model.json").read_text())
    assert (config["name"], config["numSeeds"]) == ("second", 5)
    assert (out / "seeds.bin").stat().st_size == 5 * LATENT_DIM * 4
    assert not (out / "stale.txt").exists(), "a previous site is replaced whole"
    shipped = (exported_dir / "generator" / "model.onnx").read_bytes()
    assert (out / "generator.onnx").read_bytes() == shipped, "ONNX files beside the weights are copied"
    assert leftovers(tmp_path) == []


def test_refuses_a_missing_runtime(tmp_path, exported_dir):
    with pytest.raises(FileNotFoundError, match=r"does not exist; run `python scripts/get_web_runtime.py`"):
        build_site(exported_dir, tmp_path / "site", runtime_dir=tmp_path / "nowhere")
    partial = fake_runtime(tmp_path / "partial")
    (partial / "ort-wasm-simd-threaded.wasm.gz").unlink()
    with pytest.raises(FileNotFoundError, match=r"lacks ort-wasm-simd-threaded.wasm"):
        build_site(exported_dir, tmp_path / "site", runtime_dir=partial)
    assert not (tmp_path / "site").exists()


def test_refuses_a_foreign_output_folder(tmp_path, exported_dir, runtime):
    out = tmp_path / "my-documents"
    out.mkdir()
    (out / "thesis.tex").write_text("keep me")
    with pytest.raises(ValueError, match=r"is not empty and holds no site built by gan_core .* refusing to overwrite it"):
        build_site(exported_dir, out, runtime_dir=runtime)
    assert (out / "thesis.tex").read_text() == "keep me" and files_under(out) == {"thesis.tex": b"keep me"}
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        build_site(exported_dir, tmp_path / "a-file", runtime_dir=runtime)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (build_site(exported_dir, empty, runtime_dir=runtime, num_seeds=1) / "model.json").is_file(), "an empty folder is fine"


@pytest.fixture(scope="module")
def generator_only(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("generator-only") / "g-only"
    make_model_folder(folder, image_size=IMAGE_SIZE, latent_dim=LATENT_DIM, epochs=1, with_discriminator=False)
    export_model_folder(folder)
    return folder


def test_a_model_without_d_ships_no_discriminator(tmp_path, generator_only, runtime):
    out = build_site(generator_only, tmp_path / "site", runtime_dir=runtime, num_seeds=2)
    assert json.loads((out / "model.json").read_text())["discriminator"] is None
    assert not (out / "discriminator.onnx").exists() and (out / "generator.onnx").is_file()


@pytest.mark.parametrize("num_seeds", [0, 100_001, 2.5, True, "10"])
def test_refuses_bad_seed_counts(tmp_path, exported_dir, runtime, num_seeds):
    with pytest.raises(ValueError, match="The number of seeds must be a whole number from 1 to 100000"):
        build_site(exported_dir, tmp_path / "site", runtime_dir=runtime, num_seeds=num_seeds)


def test_a_failed_build_leaves_the_previous_site(tmp_path, exported_dir, runtime, monkeypatch):
    out = build_site(exported_dir, tmp_path / "site", runtime_dir=runtime, num_seeds=2)
    before = files_under(out)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(static_site, "space_card", broken)
    with pytest.raises(OSError, match="disk full"):
        build_site(exported_dir, out, runtime_dir=runtime, num_seeds=3)
    with pytest.raises(OSError, match="disk full"):
        build_site(exported_dir, tmp_path / "new", runtime_dir=runtime)
    assert files_under(out) == before and not (tmp_path / "new").exists()
    assert leftovers(tmp_path) == []


def test_exporting_without_the_onnx_extra_says_what_to_install(tmp_path, model_dir, runtime, monkeypatch):
    def no_onnxscript(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'onnxscript'")

    monkeypatch.setattr(static_site, "export_onnx", no_onnxscript)
    with pytest.raises(ImportError, match=r"has no model.onnx, and exporting one needs the onnx extra .*pip install"):
        build_site(model_dir, tmp_path / "site", runtime_dir=runtime)
    assert leftovers(tmp_path) == [] and not (tmp_path / "site").exists()


def test_cli_builds_and_says_how_to_deploy(tmp_path, exported_dir, runtime, capsys):
    out = tmp_path / "site"
    assert build_site_command.main([str(exported_dir), "--out", str(out), "--seeds", "4", "--runtime", str(runtime), "--name", "Tiny"]) == 0
    printed = capsys.readouterr().out
    assert "seeds.bin" in printed and "total" in printed and "bytes" in printed
    assert f"python -m http.server -d {out}" in printed
    assert f"hf upload <you>/<space> {out} --repo-type space" in printed
    assert json.loads((out / "model.json").read_text())["name"] == "Tiny"


@pytest.mark.parametrize("argv, message", [
    (["{tmp}/missing", "--out", "{tmp}/site"], "No model folder at"),
    (["{model}", "--out", "{tmp}/site", "--seeds", "abc"], "argument --seeds: invalid int value: 'abc'"),
    (["{model}", "--out", "{tmp}/site", "--seeds", "0"], "The number of seeds must be a whole number from 1 to 100000"),
    (["{model}", "--out", "{tmp}/site", "--runtime", "{tmp}/none"], "python scripts/get_web_runtime.py"),
    (["{model}"], "the following arguments are required: --out"),
], ids=["missing model", "seeds not a number", "seeds out of range", "missing runtime", "no --out"])
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, exported_dir, capsys, argv, message):
    assert build_site_command.main([a.format(tmp=tmp_path, model=exported_dir) for a in argv]) == 2
    printed = capsys.readouterr()
    assert printed.err.startswith("python -m gan_core.build_site: error: ") and printed.err.count("\n") == 1, printed.err
    assert message in printed.err
    assert printed.out == "" and not (tmp_path / "site").exists()


def test_cli_missing_model_as_a_process(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "gan_core.build_site", str(tmp_path / "missing"), "--out", str(tmp_path / "site")],
        cwd=ROOT, env=run_module_env(), capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "No model folder at" in done.stderr and "Traceback" not in done.stderr, done.stderr


# ------------------------------------------------------------------ the page in Chromium


class StaticServer:
    """``python -m http.server`` on 127.0.0.1 serving ``folder``; its request log says what was fetched."""

    def __init__(self, folder: Path, log: Path):
        self.url = f"http://127.0.0.1:{free_port()}/"
        self.log_path = log
        port = self.url.rsplit(":", 1)[1].strip("/")
        with open(log, "w") as stderr:  # the server keeps its own copy of the handle
            command = [sys.executable, "-m", "http.server", port, "--bind", "127.0.0.1", "--directory", str(folder)]
            self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
        for _ in range(200):
            try:
                urllib.request.urlopen(self.url + "model.json", timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"python -m http.server did not answer at {self.url}")

    def requests(self) -> int:
        return sum('"GET ' in line or '"HEAD ' in line for line in self.log_path.read_text().splitlines())

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory, exported_dir, vendor):
    root = tmp_path_factory.mktemp("www")
    out = build_site(exported_dir, root / "site", runtime_dir=vendor, num_seeds=NUM_SEEDS)
    server = StaticServer(out, root / "http.log")
    yield server
    server.stop()


def open_page(browser, url: str, viewport=(1280, 900)):
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    page.requested = []
    page.errors = []
    page.on("request", lambda request: page.requested.append(request.url))
    page.on("pageerror", lambda err: page.errors.append(str(err)))
    page.goto(url)
    page.evaluate("site.ready")
    return page


@pytest.fixture(scope="module")
def page(browser, server):
    page = open_page(browser, server.url)
    yield page
    page.close()


def canvas(page, name: str = "explore") -> np.ndarray:
    """The canvas' pixels (H, W, 4) once every asked-for draw is done."""
    values = page.evaluate(
        """async (id) => {
          await site.idle();
          const canvas = document.getElementById(id);
          return Array.from(canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data);
        }""",
        f"{name}-picture",
    )
    return np.array(values, dtype=int).reshape(IMAGE_SIZE, IMAGE_SIZE, 4)


def set_inputs(page, values: dict) -> None:
    """Set inputs by id and fire `input` (and `change`), as a user's edits do."""
    page.evaluate(
        """(values) => {
          for (const [id, value] of Object.entries(values)) {
            const input = document.getElementById(id);
            input.value = String(value);
            input.dispatchEvent(new Event('input', {bubbles: true}));
            input.dispatchEvent(new Event('change', {bubbles: true}));
          }
        }""",
        values,
    )


def set_explore(page, seed: int, psi: float, amounts: list[float]) -> None:
    amounts = list(amounts) + [0.0] * (LATENT_DIM - len(amounts))
    set_inputs(page, {"seed": seed, "psi": psi, **{f"direction-{k + 1}": a for k, a in enumerate(amounts)}})


def expected(pipeline: GanPipeline, z: torch.Tensor) -> tuple[np.ndarray, float]:
    pictures = pipeline(z)
    return pictures.images[0].astype(int), pictures.p_real[0]  # (H, W) grey


def assert_shows(page, picture: np.ndarray, name: str = "explore") -> np.ndarray:
    rgba = canvas(page, name)
    assert (rgba[..., 3] == 255).all() and (rgba[..., 0] == rgba[..., 1]).all() and (rgba[..., 0] == rgba[..., 2]).all()
    assert np.abs(rgba[..., 0] - picture).max() <= 1, "the browser draws the server's picture to within one grey level"
    return rgba


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("seed, psi, amounts", [
    (0, 1.0, []),
    (7, 0.5, [1.5, -2.0, 0.0, 0.75, 0.0, 3.0]),
    (NUM_SEEDS - 1, 1.7, [0.0, 0.0, -8.0]),
])
def test_explore_draws_the_pipelines_picture(page, pipeline, exported_dir, seed, psi, amounts):
    set_explore(page, seed, psi, amounts)
    picture, p_real = expected(pipeline, pipeline.latents([seed], psi, amounts))
    assert_shows(page, picture)
    verdict = page.text_content("#explore-verdict")
    assert verdict.startswith("P(real) ") and verdict.endswith("%")
    # In percent to one decimal; a generator stored with fp16 weights may move D's verdict by up to FP16_MAX_VERDICT_CHANGE.
    tolerance = 0.051 + (100 * FP16_MAX_VERDICT_CHANGE if has_fp16_weights(exported_dir / "generator" / "model.onnx") else 0)
    assert float(verdict[8:-1]) == pytest.approx(100 * p_real, abs=tolerance), "D's verdict"
    assert page.text_content("#explore-timing").startswith("drawn in your browser · ")
    assert page.text_content("#verdict-note") == verdict_note(pipeline)  # how to read it, as the app says
    # The link the page wrote is the Gradio app's: it parses to the same state.
    state = ExploreState.parse(page.url)
    assert (state.model, state.seed, state.psi) == ("tiny", seed, pytest.approx(psi))
    assert list(state.amounts) == pytest.approx(list(amounts) + [0.0] * (LATENT_DIM - len(amounts)))
    assert page.errors == []


@pytest.mark.browser
@pytest.mark.slow
def test_reset_and_random(page, pipeline):
    set_explore(page, 11, 0.3, [2.0, -1.0])
    page.click("#reset")
    shown = [page.input_value(f"#{name}") for name in ("seed", "psi", "direction-1", "direction-2")]
    assert shown == ["11", "1", "0", "0"]
    assert_shows(page, expected(pipeline, pipeline.latents([11]))[0])
    page.click("#random")
    seed = int(page.input_value("#seed"))
    assert 0 <= seed < NUM_SEEDS and ExploreState.parse(page.url).seed == seed
    assert_shows(page, expected(pipeline, pipeline.latents([seed]))[0])


@pytest.mark.browser
@pytest.mark.slow
def test_sliders_past_the_models_directions_are_hidden(page, pipeline):
    labels = page.eval_on_selector_all("#directions .slider", "rows => rows.map(r => [r.hidden, r.querySelector('label').textContent])")
    strengths = pipeline.sefa[1].tolist()
    assert labels[:LATENT_DIM] == [[False, f"Direction {k + 1} · strength {strengths[k]:.2f}"] for k in range(LATENT_DIM)]
    assert [hidden for hidden, _ in labels[LATENT_DIM:]] == [True] * (NUM_DIRECTIONS - LATENT_DIM)


@pytest.mark.browser
@pytest.mark.slow
def test_dragging_a_direction_draws_in_the_page_without_requests(page, server, pipeline):
    set_explore(page, 3, 1.0, [])
    start = canvas(page)
    slider = page.locator("#direction-1").bounding_box()
    x, y = slider["x"] + slider["width"] / 2, slider["y"] + slider["height"] / 2  # the thumb sits at 0, the middle
    served, page.requested[:] = server.requests(), []
    draws = page.evaluate("site.draws")
    page.mouse.move(x, y)
    page.mouse.down()
    seen = []
    for step in range(1, 6):
        page.mouse.move(x + step * slider["width"] / 12, y)
        seen.append(canvas(page).tobytes())  # while the button is still down
        assert float(page.input_value("#direction-1")) > 0
    page.mouse.up()
    assert len(set(seen)) >= 4 and start.tobytes() not in seen, "the picture changes while the slider is dragged"
    assert page.evaluate("site.draws") - draws >= 5
    assert page.requested == [] and server.requests() == served, "a drag is drawn in the page: no request reaches the server"
    amount = float(page.input_value("#direction-1"))
    picture, _ = expected(pipeline, pipeline.latents([3], 1.0, [amount]))
    assert_shows(page, picture)
    assert ExploreState.parse(page.url).amounts[0] == pytest.approx(amount), "the link follows once the drag ends"


@pytest.mark.browser
@pytest.mark.slow
def test_a_burst_of_input_events_is_one_draw_of_the_latest_values(page, pipeline):
    set_explore(page, 5, 1.0, [])
    canvas(page)
    draws = page.evaluate("""() => {
      const slider = document.getElementById('direction-2');
      const before = site.draws;
      for (let i = 1; i <= 50; i++) {
        slider.value = String(i / 10);
        slider.dispatchEvent(new Event('input', {bubbles: true}));
      }
      return site.idle().then(() => site.draws - before);
    }""")
    assert draws <= 2, f"50 input events made {draws} draws: they must not pile up"
    picture, _ = expected(pipeline, pipeline.latents([5], 1.0, [0.0, 5.0]))
    assert_shows(page, picture)


@pytest.mark.browser
@pytest.mark.slow
def test_interpolate_follows_the_explorers_path(page, pipeline):
    set_explore(page, 0, 1.0, [])
    seed_zero = canvas(page)
    page.click("#tab-interpolate")
    assert page.is_visible("#interpolate-picture") and not page.is_visible("#explore-picture")
    set_inputs(page, {"keyframes": "0, 1", "t": 0})
    assert np.array_equal(canvas(page, "interpolate"), seed_zero), "t = 0 is the first keyframe's picture"
    explorer = Explorer([pipeline])
    for keyframes, method, t in [("0, 1", "slerp", 0.5), ("0, 9, 4", "lerp", 0.75), ("0, 9, 4", "slerp", 1.0)]:
        page.check(f"input[name='method'][value='{method}']")
        set_inputs(page, {"keyframes": keyframes, "t": t})
        frame = explorer.interpolation_frame("tiny", keyframes, method, t)
        picture = np.asarray(Image.open(io.BytesIO(base64.b64decode(frame["src"].split(",", 1)[1])))).astype(int)
        assert_shows(page, picture, "interpolate")
    # t = 0.75 of "0, 9, 4" is halfway along the second segment.
    page.check("input[name='method'][value='lerp']")
    set_inputs(page, {"keyframes": "0, 9, 4", "t": 0.75})
    assert_shows(page, expected(pipeline, latent.lerp(*pipeline.latents([9, 4]).split(1), 0.5))[0], "interpolate")
    set_inputs(page, {"keyframes": "0, 99"})
    assert page.get_attribute("#keyframes", "aria-invalid") == "true"
    assert "ships seeds 0 to 39" in page.text_content("#keyframes-hint")
    page.click("#tab-explore")


@pytest.mark.browser
@pytest.mark.slow
def test_a_link_restores_the_picture(browser, server, pipeline):
    page = open_page(browser, server.url + "?seed=3&psi=0.5&amounts=1.5")
    assert (page.input_value("#seed"), page.input_value("#psi"), page.input_value("#direction-1")) == ("3", "0.5", "1.5")
    assert page.is_hidden("#note")
    picture, _ = expected(pipeline, pipeline.latents([3], 0.5, [1.5]))
    assert_shows(page, picture)
    assert all(request.startswith(server.url) for request in page.requested), "nothing is fetched from anywhere else"
    page.close()


@pytest.mark.browser
@pytest.mark.slow
def test_a_bad_link_falls_back_with_a_note(browser, server, pipeline):
    page = open_page(browser, server.url + "?seed=4000&psi=abc&amounts=1,2,3,4,5,6,7")
    note = page.text_content("#note")
    assert page.is_visible("#note") and "seeds 0 to 39" in note and "psi must be a number from 0 to 2" in note and "6 directions" in note
    assert (page.input_value("#seed"), page.input_value("#psi"), page.input_value("#direction-1")) == ("0", "1", "0")
    assert_shows(page, expected(pipeline, pipeline.latents([0]))[0])
    page.close()


@pytest.mark.browser
@pytest.mark.slow
def test_on_a_phone_the_picture_stays_in_view_while_sliders_move(browser, server):
    page = open_page(browser, server.url, viewport=(390, 844))
    last = page.locator(f"#direction-{LATENT_DIM}")
    last.scroll_into_view_if_needed()
    page.mouse.wheel(0, 2000)
    page.wait_for_timeout(100)
    picture = page.locator("#explore-picture").bounding_box()
    slider = last.bounding_box()
    assert page.evaluate("scrollY") > 0
    assert picture["y"] >= 0 and picture["y"] + picture["height"] <= 844, "the picture is pinned on screen"
    assert 0 <= slider["y"] <= 844 and slider["y"] >= picture["y"] + picture["height"], "and the slider shows below it"
    page.close()


@pytest.mark.browser
@pytest.mark.slow
def test_without_d_the_page_says_so(browser, tmp_path, generator_only, vendor):
    out = build_site(generator_only, tmp_path / "site", runtime_dir=vendor, num_seeds=2)
    server = StaticServer(out, tmp_path / "http.log")
    try:
        page = open_page(browser, server.url)
        assert page.text_content("#explore-verdict") == "no D shipped" and page.is_hidden("#explore-meter")
        assert page.is_hidden("#verdict-note")
        pipeline = GanPipeline.from_pretrained(generator_only)
        assert_shows(page, expected(pipeline, pipeline.latents([0]))[0])
        page.close()
    finally:
        server.stop()


@pytest.mark.browser
@pytest.mark.slow
def test_a_link_between_slider_steps_is_rounded_with_a_note(browser, server):
    page = open_page(browser, server.url + "?model=tiny&seed=2&psi=0.503&amounts=0,1.52")
    assert (page.input_value("#psi"), page.input_value("#direction-2")) == ("0.5", "1.5")
    assert "rounded to the sliders' steps" in page.text_content("#note")
    page.close()
