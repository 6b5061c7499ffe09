"""The in-browser engine's routes (ui/engine.py): what the page fetches to draw in the browser, served from a whitelist
under URLs that carry their content's hash and name no folder of the server. A Starlette app with
:class:`ui.engine.WebRoutes` in front, driven by Starlette's test client (no browser, no Gradio server)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import shutil
import time

import pytest
from app_fixtures import ROOT, make_model_folder
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from gan_core.explorer import Explorer
from gan_core.pipeline import GanPipeline
from gan_core.web import runtime as web_runtime
from ui import engine


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("routes")
    return {
        "grey": make_model_folder(root / "grey", image_size=8, latent_dim=4, onnx=True),
        "plain": make_model_folder(root / "plain", image_size=8, latent_dim=4, seed=1),  # no model.onnx
        "private": make_model_folder(root / "private", image_size=8, latent_dim=4, seed=2, onnx=True),
    }


@pytest.fixture
def files():
    return engine.FILES  # the app's whitelist, which web_model hands out URLs from


@pytest.fixture
def client():
    app = Starlette(routes=[Route("/{path:path}", lambda request: PlainTextResponse("the app"))])
    return TestClient(engine.WebRoutes(app))


def integrity(data: bytes) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_engine_and_runtime_are_served_gzipped_immutable_and_checked(files, client):
    config = files.engine_config()
    assert config["engine"].startswith("engine/") and config["engine"].endswith("/in_browser.mjs")
    assert config["runtime"]["version"] == "1.30.0"
    shipped = web_runtime.load_runtime()
    for name, file in config["runtime"]["files"].items():
        response = client.get(file["url"], headers={"accept-encoding": "gzip"})
        assert response.status_code == 200
        assert response.headers["content-encoding"] == "gzip" and response.headers["cache-control"] == engine.IMMUTABLE
        assert len(response.content) == shipped.files[name].size  # the client decoded it
        assert integrity(response.content) == file["integrity"] and file["gzip"] is False
    wasm = client.get(config["runtime"]["files"]["ort-wasm-simd-threaded.wasm"]["url"], headers={"accept-encoding": "gzip"})
    assert wasm.headers["content-type"] == "application/wasm"
    assert int(wasm.headers["content-length"]) == len(shipped.files["ort-wasm-simd-threaded.wasm"].compressed)
    page_module = client.get(config["ganWeb"])
    assert page_module.content == (ROOT / "gan_core" / "web" / "gan_web.js").read_bytes()
    assert page_module.headers["content-type"].startswith("text/javascript")


def test_a_browser_that_takes_brotli_gets_the_runtime_smaller(files, client):
    url = files.engine_config()["runtime"]["files"]["ort-wasm-simd-threaded.wasm"]["url"]
    served = files.find(url)
    deadline = time.monotonic() + 120
    while served.brotli is None and time.monotonic() < deadline:  # made once, in the background
        time.sleep(0.2)
    response = client.get(url, headers={"accept-encoding": "gzip, deflate, br"})
    assert response.headers["content-encoding"] == "br" and int(response.headers["content-length"]) < 0.8 * len(served.body)
    assert hashlib.sha256(response.content).hexdigest() == web_runtime.load_runtime().files["ort-wasm-simd-threaded.wasm"].sha256


def test_a_client_without_gzip_gets_the_plain_bytes_and_head_gets_none(files, client):
    url = files.engine_config()["engine"]
    plain = client.get(url, headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == (ROOT / "assets" / "in_browser.mjs").read_bytes()
    head = client.head(url)
    assert head.status_code == 200 and head.content == b""


def test_nothing_off_the_whitelist_and_no_path_in_any_answer(files, client, models):
    explorer = Explorer([GanPipeline.from_pretrained(models["grey"])])
    bundle = engine.web_model(["grey"], explorer=explorer)
    text = json.dumps(bundle) + json.dumps(files.engine_config())
    assert str(ROOT) not in text and str(models["grey"]) not in text and "file=" not in text
    for url in ("engine/0123456789abcdef/in_browser.mjs", "engine/x/..%2F..%2Fapp.py", "models/grey/0123456789abcdef/generator.onnx",
                "models/nobody/" + bundle["generator_url"].split("/")[2] + "/generator.onnx", "models/grey/generator.onnx", "engine/"):
        response = client.get(url)
        assert response.status_code == 404 and response.text == "Not found.", url
    assert client.get("gradio_api/info").text == "the app", "other paths go on to the app"
    assert client.post(bundle["generator_url"]).status_code == 405, "only GET and HEAD are answered here; a POST goes on to the app"


def test_a_models_onnx_files_and_its_limits(client, models):
    explorer = Explorer([GanPipeline.from_pretrained(models["grey"]), GanPipeline.from_pretrained(models["plain"])])
    bundle = engine.web_model(["grey"], explorer=explorer)
    assert (bundle["sliders"], bundle["psi_range"], bundle["direction_limit"], bundle["max_keyframes"]) == (8, [0.0, 2.0], 8.0, 8)
    for part in ("generator", "discriminator"):
        response = client.get(bundle[f"{part}_url"])
        assert response.status_code == 200 and response.headers["cache-control"] == engine.IMMUTABLE
        assert response.content == (models["grey"] / part / "model.onnx").read_bytes()
    plain = engine.web_model(["plain"], explorer=explorer)
    assert plain["generator_url"] is None and plain["discriminator_url"] is None, "not exported: the page draws on the server"


def test_a_private_model_added_at_run_time_is_served_to_its_owner(client, models):
    explorer = Explorer([GanPipeline.from_pretrained(models["grey"])])
    name = explorer.add(GanPipeline.from_pretrained(models["private"]), "live-abc", owner="a-session")
    for visitor in (None, "another-session"):
        explorer.visitor = lambda visitor=visitor: visitor
        assert engine.web_model([name], explorer=explorer) == {"error": "Unknown model 'live-abc'; this app serves: grey."}
    explorer.visitor = lambda: "a-session"
    bundle = engine.web_model([name], explorer=explorer)
    assert bundle["generator_url"].startswith("models/live-abc/")
    assert client.get(bundle["generator_url"]).content == (models["private"] / "generator" / "model.onnx").read_bytes()
    explorer.remove(name)
    assert client.get(bundle["generator_url"]).status_code == 404, "a removed model is no longer served"


def test_a_changed_file_gets_a_new_url(tmp_path, client, models):
    folder = tmp_path / "changing"
    shutil.copytree(models["grey"], folder)
    explorer = Explorer([GanPipeline.from_pretrained(folder)])
    old = engine.web_model(["changing"], explorer=explorer)["generator_url"]
    onnx = folder / "generator" / "model.onnx"
    onnx.write_bytes(onnx.read_bytes() + b"\0")
    os.utime(onnx, ns=(1, 1))
    new = engine.web_model(["changing"], explorer=explorer)["generator_url"]
    assert new != old and client.get(old).status_code == 404 and client.get(new).content == onnx.read_bytes()


def test_a_damaged_runtime_turns_in_browser_drawing_off_and_says_why_in_the_log(tmp_path, caplog):
    damaged = tmp_path / "onnxruntime-web"
    shutil.copytree(web_runtime.RUNTIME_DIR, damaged)
    (damaged / "ort.wasm.min.mjs.gz").write_bytes(gzip.compress(b"edited"))
    with caplog.at_level("WARNING", logger="app"):
        config = engine.WebFiles(damaged).engine_config()
    assert config["runtime"] is None and config["engine"].endswith("in_browser.mjs")
    assert "does not match the sha256 recorded in VERSION" in caplog.text


def test_the_page_preloads_the_engine_and_the_runtime_but_not_for_the_server_path(files, client):
    links = client.get("/").headers.get_list("link")
    wanted = [file["url"] for file in files.engine_config()["runtime"]["files"].values()]
    assert all(any(f"<{url}>; rel=preload; as=fetch; crossorigin=anonymous" == link for link in links) for url in wanted), links
    assert any(link.startswith(f"<{files.engine_config()['engine']}>; rel=modulepreload") for link in links)
    assert client.get("/?render=server").headers.get_list("link") == []
    assert client.get("/other").headers.get_list("link") == [], "only the page itself"


def test_a_request_that_makes_the_framework_fail_gets_a_sentence_not_a_500():
    from starlette.middleware import Middleware
    from starlette.responses import JSONResponse, StreamingResponse

    async def fails(request):
        raise KeyError(99999)  # what Gradio raises for an event index that does not exist

    async def refuses(request):
        return JSONResponse({"error": "The seed must be a whole number from 0 to 2147483647, got -1."}, status_code=500)

    async def breaks(request):
        return JSONResponse({"error": None}, status_code=500)  # an internal failure: no sentence to pass on

    async def stream_fails(request):
        async def events():
            yield b"data: one\n\n"
            raise RuntimeError("the stream broke")

        return StreamingResponse(events(), media_type="text/event-stream")

    app = Starlette(
        routes=[Route("/gradio_api/queue/join", fails, methods=["POST"]), Route("/gradio_api/component_server/", fails, methods=["POST"]),
                Route("/gradio_api/run/explore", refuses, methods=["POST"]), Route("/gradio_api/run/other", breaks, methods=["POST"]),
                Route("/gradio_api/queue/data", stream_fails)],
        middleware=[Middleware(engine.RequestErrors)],
    )  # fmt: skip
    with TestClient(app, raise_server_exceptions=True) as client:
        answer = client.post("/gradio_api/queue/join", json={})
        assert answer.status_code == 400 and answer.json()["detail"] == engine.RequestErrors.ANY
        answer = client.post("/gradio_api/component_server/", json={})
        assert answer.status_code == 400 and answer.json()["detail"] == engine.RequestErrors.SERVER_FUNCTIONS
        answer = client.post("/gradio_api/run/explore", json={})
        assert answer.status_code == 400 and answer.json()["error"].startswith("The seed must be")
        assert client.post("/gradio_api/run/other", json={}).status_code == 500
        assert client.get("/gradio_api/queue/data").text == "data: one\n\n"  # the stream ends where it broke
