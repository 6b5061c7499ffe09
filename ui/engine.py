"""The in-browser engine: the files the page draws with, the routes that serve them, and the drag path.

**Files.** The page fetches the engine (assets/in_browser.mjs, gan_core/web/gan_web.js), onnxruntime-web (the gzip
copies in git, assets/onnxruntime-web/, checked against their recorded sha256: gan_core.web.runtime) and the open
model's two ONNX files. :class:`WebRoutes` (ASGI middleware) serves them from a whitelist, under URLs that name no
folder of the server and that carry their content's hash, so a browser keeps them for a year:

    engine/<hash>/in_browser.mjs | gan_web.js | ort.wasm.min.mjs | ort-wasm-simd-threaded.mjs | ort-wasm-simd-threaded.wasm
    models/<model name>/<hash>/generator.onnx | discriminator.onnx      (any model the explorer serves, a visitor's private one too)

The page's own answer (``/``) names the engine and the runtime in ``Link: rel=preload`` headers, so they download from
the first moments of a visit instead of once Gradio has built the page (seconds on a slow link); the engine then finds
them in the browser's cache and starts the runtime while the open model's files download.

Compressed where it pays: the runtime as its gzip copy, or brotli (made once in the background at start-up: the .wasm
is 2.7 MB instead of 3.7) for a browser that takes it; the engine's scripts and the ONNX files with gzip.

**The drag path.** A slider's movement is drawn by the picture's drag path (assets/drag.js), which listens to the
slider's own ``input`` events (and, for the values it cannot read from the page, to the slider's Gradio ``.input``
event, :func:`drag_trigger`): in the page by the engine when it can, else one POST to the picture's server function.
One frame is in flight at a time and the latest values always follow.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import json
import logging
import threading
import weakref

import brotli  # a dependency of Gradio (its own responses are brotli-compressed)
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, quote

from starlette.concurrency import run_in_threadpool

from gan_core.explorer import Explorer, page_call
from gan_core.explorer.state import NUM_DIRECTIONS
from gan_core.web import runtime as web_runtime
from ui.common import ASSETS, ROOT, asset

logger = logging.getLogger("app")

GAN_WEB = ROOT / "gan_core" / "web" / "gan_web.js"
ENGINE_FILES = {"in_browser.mjs": ASSETS / "in_browser.mjs", "gan_web.js": GAN_WEB}
PARTS = ("generator", "discriminator")
CONTENT_TYPES = {".mjs": "text/javascript; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".wasm": "application/wasm", ".onnx": "application/octet-stream"}
IMMUTABLE = "public, max-age=31536000, immutable"  # every URL names its content's hash: a new content is a new URL
HASH_CHARS = 16  # hex digits of a file's sha256 in its URL
GZIP_GAIN = 0.95  # a model file is sent compressed when gzip makes it at most this fraction of its size
BROTLI_QUALITY = 9  # the runtime's .wasm: 2.69 MB in about 1.7 s of one core, once, in the background (quality 5: 2.83 MB)
MODEL_CACHE = 8  # compressed model files kept in memory
# The page's inputs each drag path reads itself, in the order of its server function's arguments (the elem_ids of
# ui/explore.py and ui/interpolate.py). None marks what the page does not show (a found picture's z): it comes with the
# Gradio event (drag_trigger).
DRAG_INPUTS = {
    "explore": ["#model", "#seed", "#psi", *[f"#direction-{k + 1}" for k in range(NUM_DIRECTIONS)], None, "#direction-kind"],
    "interpolate": ["#model", "#keyframes", "#method", "#t", "#start-state"],
}


@dataclass
class Served:
    """A response body: ``body`` as stored (gzip-compressed when ``compressed``), its content type, and a brotli copy
    once one is made."""

    body: bytes
    content_type: str
    compressed: bool
    brotli: bytes | None = None

    def for_client(self, encodings: set[str]) -> tuple[bytes, str | None]:
        """(body, content encoding) for a client that takes ``encodings`` (from its Accept-Encoding)."""
        if self.brotli is not None and "br" in encodings:
            return self.brotli, "br"
        if self.compressed and "gzip" not in encodings:
            return gzip.decompress(self.body), None
        return self.body, "gzip" if self.compressed else None

    def add_brotli(self) -> None:
        plain = gzip.decompress(self.body) if self.compressed else self.body
        self.brotli = brotli.compress(plain, quality=BROTLI_QUALITY)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:HASH_CHARS]


def _content_type(name: str) -> str:
    return CONTENT_TYPES.get(Path(name).suffix, "application/octet-stream")


class WebFiles:
    """The whitelist of what the page fetches to draw in the browser, and their URLs.

    The engine and the runtime are read once (the runtime checked against its record; if that fails the server log
    says why and the page draws on the server). Model files are found through the explorers that handed out their
    URLs (a private model added at run time too), read when asked for and checked against the hash in the URL.
    """

    def __init__(self, runtime_dir: Path = web_runtime.RUNTIME_DIR):
        self.runtime_dir = runtime_dir
        self._lock = threading.Lock()
        self._engine: dict[str, Served] | None = None  # URL path -> what it serves
        self._config: dict | None = None
        self._explorers: weakref.WeakSet[Explorer] = weakref.WeakSet()
        self._hashes: dict[tuple, str] = {}  # (path, mtime_ns, size) -> content hash
        self._models: OrderedDict[tuple, Served] = OrderedDict()  # (path, mtime_ns, size) -> the file as served

    # -- the engine and the runtime: read once

    def _load_engine(self) -> None:
        with self._lock:
            if self._engine is not None:
                return
            engine, urls = {}, {}
            for name, path in ENGINE_FILES.items():
                data = path.read_bytes()
                urls[name] = f"engine/{_digest(data)}/{name}"
                engine[urls[name]] = Served(gzip.compress(data, compresslevel=9, mtime=0), _content_type(name), True)
            runtime = None
            try:
                checked = web_runtime.load_runtime(self.runtime_dir)
            except (OSError, ValueError) as err:
                logger.warning("in-browser drawing is off: %s", err)
            else:
                runtime = {"version": checked.record.version, "files": {}}
                for name, file in checked.files.items():
                    url = f"engine/{file.sha256[:HASH_CHARS]}/{name}"
                    engine[url] = Served(file.compressed, _content_type(name), True)
                    # The page checks each file it fetches (Subresource Integrity of the decompressed bytes).
                    runtime["files"][name] = {"url": url, "integrity": file.integrity, "gzip": False}
            self._config = {"engine": urls["in_browser.mjs"], "ganWeb": urls["gan_web.js"], "runtime": runtime}
            self._engine = engine
        threading.Thread(target=self._add_brotli, name="brotli", daemon=True).start()

    def _add_brotli(self) -> None:
        """Brotli copies of the engine and the runtime, smallest first (served as each is ready; gzip until then)."""
        for served in sorted(self._engine.values(), key=lambda served: len(served.body)):
            served.add_brotli()

    def engine_config(self) -> dict:
        """{"engine", "ganWeb": page-relative URLs, "runtime": {"version", "files": {name: {"url", "integrity", "gzip"}}}
        or None when the runtime is unusable}."""
        self._load_engine()
        return {**self._config, "runtime": self._config["runtime"] and {**self._config["runtime"]}}

    # -- the models' ONNX files: whatever the explorers serve now

    @staticmethod
    def _key(path: Path) -> tuple:
        stat = path.stat()
        return (str(path), stat.st_mtime_ns, stat.st_size)

    def _hash(self, path: Path) -> tuple[tuple, str]:
        key = self._key(path)
        found = self._hashes.get(key)
        if found is None:
            if len(self._hashes) > 1024:  # files that changed many times: start over
                self._hashes.clear()
            found = self._hashes[key] = _digest(path.read_bytes())
        return key, found

    def model_urls(self, explorer: Explorer, model: str, onnx: dict[str, Path | None]) -> dict[str, str | None]:
        """{"generator_url", "discriminator_url"}: page-relative URLs of ``model``'s ONNX files (None for one not exported)."""
        self._explorers.add(explorer)
        urls = {}
        for part in PARTS:
            path = onnx.get(part)
            urls[f"{part}_url"] = f"models/{quote(model, safe='')}/{self._hash(path)[1]}/{part}.onnx" if path is not None else None
        return urls

    def preloads(self, query: str) -> list[str]:
        """What the page's answer preloads (``Link`` header values): the engine and the runtime, which the page needs first
        and which are most of its bytes; nothing for ``?render=server``. The open model's files are not: fetched once
        the page knows its model, they download while the runtime starts, which measured faster than sharing the link
        with them from the start (BENCHMARKS.md, "First visit")."""
        if parse_qs(query).get("render", [""])[-1] == "server":
            return []
        config = self.engine_config()
        links = [f"<{config[key]}>; rel=modulepreload" for key in ("engine", "ganWeb")]
        if config["runtime"] is not None:
            links += [f"<{file['url']}>; rel=preload; as=fetch; crossorigin=anonymous" for file in config["runtime"]["files"].values()]
        return links

    def _model_file(self, name: str, digest: str, part: str) -> Served | None:
        for explorer in list(self._explorers):
            pipeline = explorer.models.get(name)
            files = pipeline.files if pipeline is not None else None
            path = files.onnx(part) if files is not None and (part == "generator" or pipeline.discriminator is not None) else None
            if path is None:
                continue
            key, current = self._hash(path)
            if current != digest:
                continue  # the file changed since its URL was handed out: the page asks for the new one next time
            served = self._models.get(key)
            if served is None:
                data = path.read_bytes()
                packed = gzip.compress(data, compresslevel=6, mtime=0)
                served = Served(packed, _content_type(path.name), True) if len(packed) <= GZIP_GAIN * len(data) else Served(data, _content_type(path.name), False)
                with self._lock:
                    self._models[key] = served
                    while len(self._models) > MODEL_CACHE:
                        self._models.popitem(last=False)
            return served
        return None

    def find(self, path: str) -> Served | None:
        """What the page-relative ``path`` serves (``engine/...`` or ``models/...``), None when it is not on the whitelist."""
        if path.startswith("engine/"):
            self._load_engine()
            return self._engine.get(path)
        parts = path.split("/")
        if len(parts) >= 4 and parts[0] == "models" and parts[-1] in (f"{part}.onnx" for part in PARTS):
            # models/<name>/<hash>/<part>.onnx; a name may itself hold '/' (read from the right).
            return self._model_file("/".join(parts[1:-2]), parts[-2], parts[-1].removesuffix(".onnx"))
        return None


FILES = WebFiles()  # the app's whitelist (one per process: the routes of WebRoutes)
PREFIXES = ("/engine/", "/models/")


class WebRoutes:
    """ASGI middleware: GET/HEAD of ``engine/...`` and ``models/...`` answered from :data:`FILES` (content-hashed, cached
    for a year, gzip where it pays); anything else, and a path not on the whitelist with a plain 404, as it is."""

    def __init__(self, app, files: WebFiles | None = None):
        self.app, self.files = app, files if files is not None else FILES

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            return await self.app(scope, receive, send)
        path = app_path(scope)
        if path == "/" and scope["method"] == "GET":
            return await self._page(scope, receive, send)
        if not path.startswith(PREFIXES):
            return await self.app(scope, receive, send)
        served = await run_in_threadpool(self.files.find, path.lstrip("/"))
        if served is None:
            return await answer(send, 404, b"Not found.", [(b"content-type", b"text/plain; charset=utf-8"), (b"cache-control", b"no-store")])
        accepted = dict(scope.get("headers") or []).get(b"accept-encoding", b"").decode("latin-1")
        body, encoding = served.for_client({token.split(";")[0].strip() for token in accepted.split(",")})
        headers = [(b"content-type", served.content_type.encode()), (b"cache-control", IMMUTABLE.encode()), (b"vary", b"accept-encoding")]
        if encoding is not None:
            headers.append((b"content-encoding", encoding.encode()))
        await answer(send, 200, b"" if scope["method"] == "HEAD" else body, headers, length=len(body))

    async def _page(self, scope, receive, send):
        """The page, with ``Link`` headers that start the engine's downloads at once."""
        links = await run_in_threadpool(self.files.preloads, scope.get("query_string", b"").decode("latin-1"))

        async def with_links(message):
            if message["type"] == "http.response.start" and message["status"] == 200 and links:
                message = {**message, "headers": [*message.get("headers", []), *((b"link", link.encode()) for link in links)]}
            await send(message)

        await self.app(scope, receive, with_links)


def app_path(scope) -> str:
    """A request's path within the app: without the root path it is served under (behind a proxy, a mount)."""
    path, root = scope["path"], scope.get("root_path") or ""
    return path[len(root) :] if root and path.startswith(root) else path


async def answer(send, status: int, body: bytes, headers: list, length: int | None = None) -> None:
    """A whole ASGI answer from a middleware: ``status``, ``headers`` and ``body``, whose length is ``length`` when the
    body is left out (HEAD)."""
    headers = [*headers, (b"content-length", str(len(body) if length is None else length).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RequestErrors:
    """ASGI middleware: a request that makes Gradio fail before it answers (an event index that does not exist, an
    endpoint name never served, a server function call naming no component) gets HTTP 400 with a sentence and one log
    line, not a 500 with a traceback. Our own functions answer bad values themselves, before this is reached
    (``ui.common.user_errors``, ``page_call``); what arrives here is a request no page sends."""

    SERVER_FUNCTIONS = (
        "A server function call must be JSON (or, for an upload, multipart form data) with session_hash, component_id "
        "(a component of this page, as its config lists them), fn_name (one of that component's server_fns) and data."
    )
    ANY = "This request does not fit this app's API: the page's \"Use via API\" lists the endpoints and the values each takes."

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def watched(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        if scope["method"] == "POST" and any(f"/{route}/" in scope["path"] for route in ("run", "api")):
            watched = self._refusals_as_400(send)
        try:
            await self.app(scope, receive, watched)
        except Exception as err:  # noqa: BLE001 - whatever Gradio raised on a malformed request becomes one sentence
            logger.info("refused %s %s: %s", scope["method"], scope["path"][:80], f"{type(err).__name__}: {err}"[:200])
            if started:  # an answer is under way (an event stream): it ends here, as the client's read will tell it
                with contextlib.suppress(Exception):  # a body of announced length cannot end early: the server closes it
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            sentence = self.SERVER_FUNCTIONS if scope["path"].rstrip("/").endswith("/component_server") else self.ANY
            body = json.dumps({"detail": sentence}).encode()
            await answer(send, 400, body, [(b"content-type", b"application/json")])

    @staticmethod
    def _refusals_as_400(send):
        """``send`` for Gradio's direct event routes (``/run/<name>``, what the page's unqueued events post), which answer
        every error with HTTP 500: an error that carries a sentence (a gr.Error: a refused value) goes out as 400."""
        start = None

        async def sending(message):
            nonlocal start
            if message["type"] == "http.response.start" and message["status"] == 500:
                start = message  # held until the body tells what failed
                return
            if start is not None and message["type"] == "http.response.body":
                try:
                    refused = isinstance(json.loads(message.get("body") or b"null").get("error"), str)
                except (ValueError, AttributeError):
                    refused = False
                await send({**start, "status": 400} if refused else start)
                start = None
            await send(message)

        return sending


def drag_props(kind: str, fn_name: str, engine: bool) -> dict:
    """A picture's drag path as gr.HTML arguments: assets/drag.js on load, told by its prop ``drag`` which picture it is
    (``kind`` 'explore' or 'interpolate'), its server fallback ``fn_name``, the page's inputs it reads (DRAG_INPUTS),
    where gan_web.js is and, where it loads the engine (``engine``), where the engine and the runtime are."""
    config = FILES.engine_config()
    drag = {"kind": kind, "fn": fn_name, "inputs": DRAG_INPUTS[kind], "ganWeb": config["ganWeb"]}
    if engine:
        drag["config"] = {**config, "forceServer": False}
    return {"js_on_load": asset("drag.js"), "drag": drag}


def server_function(fn, **bound):
    """``fn`` with ``bound`` keyword arguments filled in, under ``fn``'s name (a gr.HTML server function is called by name)."""
    return functools.update_wrapper(functools.partial(fn, **bound), fn)


def drag_trigger(kind: str) -> str:
    """The client-side handler of a slider's Gradio .input: hand every value of the state to the picture's drag path (no
    request from here). The drag path has usually drawn that move already, from the slider's own input event."""
    return f"(...args) => {{ window.ganDrag && window.ganDrag['{kind}'] && window.ganDrag['{kind}'](args); }}"


def web_model(args, *, explorer: Explorer) -> dict:
    """What the page needs to draw a model itself (args = [model] or [model, kind]): shapes, the directions of ``kind``
    (default SeFa's), limits, the ONNX files' URLs."""

    def bundle(model, kind="sefa"):
        out = explorer.browser_model(model, kind)
        onnx = {part: out.pop(f"{part}_onnx") for part in PARTS}
        return out | FILES.model_urls(explorer, out["model"], onnx)

    return page_call(bundle, args)


def web_seed(args, *, explorer: Explorer) -> list | dict:
    """A seed's z exactly as the server draws it (args = [model, seed])."""
    return page_call(explorer.browser_seed, args)


def web_keyframes(args, *, explorer: Explorer) -> list | dict:
    """The keyframe latents of an interpolation (args = [model, keyframes, start state])."""
    return page_call(explorer.browser_keyframes, args)
