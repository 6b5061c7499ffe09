"""Gradio's two-request API recipe, for the endpoints that do not queue, answered without the queue.

Gradio's curl recipe (``POST /gradio_api/call/<name>``, answered with an event id, then
``GET /gradio_api/call/<name>/<event id>``, an event stream) puts every call through Gradio's queue, even one of an
endpoint built with ``queue=False``. For this app's quick endpoints (a picture in about 3 ms: /explore, /reset,
/random_seed, /interpolate, /timeline; the Stop buttons) the queue's bookkeeping, its event stream and heartbeat cost more than the picture:
7-9 ms of the server's CPU per call, against about 4 ms for the same call as one ``POST /gradio_api/run/<name>``.
Under 20 clients at once that put p95 at 200-270 ms instead of about 140 (benchmarks/server_load.py).

:class:`DirectCalls` answers the POST of such an endpoint by running it through Gradio's own direct route
(``/run/<name>``: the same checks of the values, the same function, post-processing and error payload), keeps the
answer, and gives it to the GET as the event stream Gradio sends: ``event: complete`` with the data, or
``event: error`` with the error. What it cannot take as a call (not JSON with a list of data; a request Gradio refuses
before running anything) goes to Gradio's own ``/call`` as it came, so those refusals stay Gradio's.
"""

from __future__ import annotations

import collections
import inspect
import json
import re
import time
import uuid
import weakref

from ui.engine import answer, app_path

POST_CALL = re.compile(r"/gradio_api/call/(?P<name>[\w-]+)/?")
GET_CALL = re.compile(r"/gradio_api/call/(?:v2/)?[\w-]+/(?P<event>[0-9a-f]{32})/?")
CALL_FIELDS = ("data", "session_hash", "oauth_token")  # what Gradio's /call takes (gradio.data_classes.SimplePredictBody)


def direct_names(blocks) -> frozenset[str]:
    """The API names of ``blocks``' endpoints that a direct POST answers in full: not queued, one answer (no generator),
    every input part of the API."""
    names = set()
    for fn in blocks.fns.values():
        if not fn.api_name or fn.queue or fn.fn is None or any(getattr(block, "skip_api", False) for block in fn.inputs):
            continue
        if inspect.isgeneratorfunction(fn.fn) or inspect.isasyncgenfunction(fn.fn):
            continue
        names.add(fn.api_name)
    return frozenset(names)


def event(kind: str, data) -> bytes:
    """One message of Gradio's /call event stream, formatted as Gradio formats it (``json.dumps``)."""
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode()


class DirectCalls:
    """ASGI middleware: ``/gradio_api/call/<name>`` of an unqueued endpoint, run as ``/gradio_api/run/<name>``.

    Answers wait for their GET at most ``keep_seconds`` and, beyond ``keep`` answers or ``keep_bytes`` bytes, the oldest
    go first: a client that never reads its answers holds a bounded amount of memory. An answer is given once, as
    Gradio gives an event's stream once."""

    def __init__(self, app, keep: int = 1000, keep_bytes: int = 32 * 1024 * 1024, keep_seconds: float = 300.0):
        self.app = app
        self.keep, self.keep_bytes, self.keep_seconds = keep, keep_bytes, keep_seconds
        self.answers: collections.OrderedDict[str, tuple[float, bytes]] = collections.OrderedDict()
        self.held = 0  # bytes in self.answers
        self.names: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # blocks -> direct_names(blocks)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            path = app_path(scope)
            if scope["method"] == "POST" and (match := POST_CALL.fullmatch(path)) and match["name"] in self._direct(scope):
                return await self._call(scope, receive, send, match["name"])
            if scope["method"] == "GET" and (match := GET_CALL.fullmatch(path)) and match["event"] in self.answers:
                return await self._stream(send, match["event"])
        await self.app(scope, receive, send)

    def _direct(self, scope) -> frozenset[str]:
        app = scope.get("app")
        blocks = app.get_blocks() if hasattr(app, "get_blocks") else None
        if blocks is None:
            return frozenset()
        names = self.names.get(blocks)
        if names is None:
            names = self.names[blocks] = direct_names(blocks)
        return names

    async def _call(self, scope, receive, send, name: str) -> None:
        body = await read_body(receive)
        try:
            request = json.loads(body)
        except ValueError:
            request = None
        if not isinstance(request, dict) or not isinstance(request.get("data"), list):
            return await self.app(scope, replay(body, receive), send)  # Gradio's own refusal (HTTP 422, what was wrong)
        forwarded = {key: request[key] for key in CALL_FIELDS if key in request} | {"simple_format": True}
        path = f"{scope.get('root_path') or ''}/gradio_api/run/{name}"
        run = {**scope, "path": path, "raw_path": path.encode()}
        status, content = await captured(self.app, run, replay(json.dumps(forwarded).encode(), receive))
        try:
            ran = json.loads(content)
        except ValueError:
            ran = None
        if status == 200 and isinstance(ran, dict) and "data" in ran:
            message = event("complete", ran["data"])
        elif status == 500 and isinstance(ran, dict) and "error" in ran:
            message = event("error", ran)  # Gradio's error payload: the sentence, title, duration
        else:
            return await self.app(scope, replay(body, receive), send)  # refused before it ran: Gradio's /call says why
        event_id = uuid.uuid4().hex
        self._keep(event_id, message)
        reply = json.dumps({"event_id": event_id}, separators=(",", ":")).encode()  # as Gradio writes it
        await answer(send, 200, reply, [(b"content-type", b"application/json")])

    def _keep(self, event_id: str, message: bytes) -> None:
        now = time.monotonic()
        self.answers[event_id] = (now, message)
        self.held += len(message)
        while self.answers:
            oldest, (kept_at, kept) = next(iter(self.answers.items()))
            if len(self.answers) <= self.keep and self.held <= self.keep_bytes and now - kept_at <= self.keep_seconds:
                break
            del self.answers[oldest]
            self.held -= len(kept)

    async def _stream(self, send, event_id: str) -> None:
        _, message = self.answers.pop(event_id)
        self.held -= len(message)
        await answer(send, 200, message, [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-store")])


async def read_body(receive) -> bytes:
    """The whole body of an HTTP request (the body limit is an outer middleware's: app.BodyLimit)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replay(body: bytes, receive):
    """A ``receive`` that gives ``body`` (already read from ``receive``) once, then what ``receive`` gives."""
    sent = False

    async def replayed():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def captured(app, scope, receive) -> tuple[int, bytes]:
    """``app``'s answer to a request, kept instead of sent: (status, body)."""
    status, chunks = 500, []

    async def send(message):
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)
