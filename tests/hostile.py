"""Hostile input against a running app: every named endpoint and every live-path server function,
each parameter in turn replaced by values no page would send. Used by tests/test_app_hostile.py
and by benchmarks/hostile_inputs.py (which prints the counts for the closing notes).

A request ends in one of: ``ok`` (answered), ``clean`` (refused with a sentence), ``too_large``
(HTTP 413 before the body was read) or ``uncaught`` (HTTP 5xx, or an error without a message: the
kind of failure that must not happen).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field

NESTED = "[" * 100_000 + "]" * 100_000
HOSTILE_VALUES: list[tuple[str, object]] = [
    ("negative", -1),
    ("huge int", 10**400),
    ("huge negative int", -(10**400)),
    ("big float", 1.7e308),
    ("tiny float", 5e-324),
    ("negative zero", -0.0),
    ("bool", True),
    ("null", None),
    ("empty list", []),
    ("list", [1, 2, 3]),
    ("nested list", [[[[[[1]]]]]]),
    ("deep list", json.loads("[" * 500 + "]" * 500)),
    ("dict", {"a": 1}),
    ("empty string", ""),
    ("space", " "),
    ("nul byte", "\x00"),
    ("emoji", "😀" * 500),
    ("path", "../../../etc/passwd"),
    ("html", "<script>alert(1)</script>"),
    ("nan string", "NaN"),
    ("inf string", "1e999"),
    ("number string", "42"),
    ("long string", "x" * 100_000),
    ("nested json string", NESTED),
    ("open braces", "{" * 100_000),
    ("hostile link", "?model=grey&seed=1e999&psi=nan&amounts=inf"),
    ("hostile json state", '{"model": "grey", "seed": 1, "z": [1e999]}'),
    ("huge state", '{"model": "grey", "seed": 1, "amounts": [' + ",".join(["1"] * 50_000) + "]}"),
    ("oversized body", "y" * 2_000_000),
]

# A valid call of every named endpoint (models "grey" 16 px with D, "colour" 8 px without); the trailing None of the
# Explore endpoints is z (a found picture's, None for a seed). /invert and /score take an uploaded file, which a raw
# request cannot carry: tests/test_app_api.py sends them bad files and bad values instead.
ZEROS = [0.0] * 8
ENDPOINTS: dict[str, list] = {
    "explore": ["grey", 3, 1.0, *ZEROS, None, "ganspace"],
    "reset": ["grey", 3, None, "sefa"],
    "random_seed": ["grey"],
    "select_model": ["colour", 3, "ganspace"],
    "switch_kind": ["grey", 3, 1.0, None, "ganspace"],
    "directions": ["grey", "ganspace"],
    "interpolate": ["grey", "1, 2", "slerp", 0.5, ""],
    "strip": ["grey", "1, 2", "slerp", 4, ""],
    "gif": ["grey", "1, 2", "slerp", 4, ""],
    "explore_state": ["grey", 3, 1.0, *ZEROS, None, "sefa"],
    "arithmetic_tiles": ["grey", 100],
    "arithmetic": ["grey", "1, 2", "3", "4"],
    "grid": ["grey", 0, 2],
    "grid_pick": ["grey", 0, 3],
    "timeline": ["grey", 2],
    "share": ["grey", 3, 1.0, *ZEROS, None, "ganspace"],
    "restore": ['{"model": "grey", "seed": 3}'],
    "nearest": ["grey", 3, 1.0, *ZEROS, None, "sefa"],
    "arithmetic_presets": ["grey"],
    # The 2-D game (its game is a gr.State: not an API parameter); a run of 5 steps.
    "toy_run": ["ring8", 2, 0.001, 0.001, 1, "non-saturating", 0, 5],
    "toy_step": ["ring8", 2, 0.001, 0.001, 1, "non-saturating", 0],
    "toy_reset": ["ring8", 2, 0.001, 0.001, 1, "non-saturating", 0],
    # The image run: a seed (tests/test_app_hostile.py's server caps a run at 2 s); /live_stop takes nothing.
    "live_train": [0],
}
LIVE = {
    "drag_explore": ["grey", 3, 1.0, *ZEROS, None, "ganspace"],
    "web_model": ["grey"],
    "web_seed": ["grey", 3],
    "web_keyframes": ["grey", "1, 2", ""],
    "drag_interpolate": ["grey", "1, 2", "slerp", 0.5, ""],
}


@dataclass
class Outcome:
    counts: Counter = field(default_factory=Counter)
    uncaught: list[str] = field(default_factory=list)  # what failed badly, for the report

    def add(self, kind: str, what: str) -> None:
        self.counts[kind] += 1
        if kind == "uncaught":
            self.uncaught.append(what)


def post_raw(url: str, payload: bytes, timeout: float = 60, content_type: str = "application/json", headers: dict | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=payload, headers={"Content-Type": content_type, **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
    except urllib.error.URLError as err:
        # A server that refuses an oversized body early answers 413 and closes while the client is still sending.
        if isinstance(err.reason, (BrokenPipeError, ConnectionResetError)) and len(payload) > 1_000_000:
            return 413, b""
        raise


def call(base: str, endpoint: str, args: list, headers: dict | None = None, timeout: float = 60) -> str:
    """One /gradio_api/call/<endpoint> request (with ``headers``) and its event stream, read for up to ``timeout`` s
    -> ok / clean / too_large / uncaught."""
    status, body = post_raw(f"{base}gradio_api/call/{endpoint}", json.dumps({"data": args}).encode(), headers=headers)
    if status == 413:
        return "too_large"
    if status >= 500:
        return "uncaught"
    if status >= 400:
        return "clean"  # refused before our code ran (e.g. Gradio's own validation), with a message
    kinds, message = read_stream(base, endpoint, json.loads(body)["event_id"], timeout)
    if "complete" in kinds:
        return "ok"
    if isinstance(message, dict) and message.get("error"):
        return "clean"
    return "uncaught"


def read_stream(base: str, endpoint: str, event_id: str, timeout: float = 60) -> tuple[list[str], object]:
    """The event stream of /gradio_api/call/<endpoint>'s event ``event_id``, read whole: (its events' kinds, its last data,
    None for none)."""
    with urllib.request.urlopen(f"{base}gradio_api/call/{endpoint}/{event_id}", timeout=timeout) as response:
        lines = response.read().decode().splitlines()
    data = [line[5:] for line in lines if line.startswith("data:")]
    return [line[len("event: ") :] for line in lines if line.startswith("event: ")], json.loads(data[-1]) if data else None


def server_function(base: str, component_id: int, fn_name: str, args, session: str):
    """A gr.HTML server function's answer, called as the page calls it, from browser session ``session``."""
    payload = json.dumps({"session_hash": session, "component_id": component_id, "fn_name": fn_name, "data": args}).encode()
    status, body = post_raw(f"{base}gradio_api/component_server/", payload)
    assert status == 200, (status, body[:300])
    return json.loads(body)


def live(base: str, component_id: int, fn_name: str, args) -> str:
    """One live-path request (a gr.HTML server function) -> ok / clean / too_large / uncaught."""
    payload = json.dumps({"session_hash": uuid.uuid4().hex, "component_id": component_id, "fn_name": fn_name, "data": args}).encode()
    return server_call(base, payload)


def server_call(base: str, payload: bytes, content_type: str = "application/json") -> str:
    """One request to the server functions' route -> ok / clean / too_large / uncaught."""
    status, body = post_raw(f"{base}gradio_api/component_server/", payload, content_type=content_type)
    if status == 413:
        return "too_large"
    if status >= 500:
        return "uncaught"
    if status >= 400:
        return "clean" if json.loads(body).get("detail") else "uncaught"
    answer = json.loads(body)
    if isinstance(answer, dict) and "error" in answer:
        return "clean" if answer["error"] else "uncaught"
    return "ok"


def multipart(fields: dict, files: dict[str, bytes]) -> tuple[bytes, str]:
    """A multipart form body of ``fields`` and ``files`` (name -> PNG bytes), and its content type."""
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()]
    for name, data in files.items():
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}.png"\r\nContent-Type: image/png\r\n\r\n'
        parts.append(head.encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def malformed_server_calls(base: str) -> list[tuple[str, bytes, str]]:
    """(label, body, content type) of server function calls no page sends: unknown components, missing fields, and
    uploads to the drawing (gr.ImageEditor's accept_blobs) with no file, no type, a bad or huge layer index, no id."""
    with urllib.request.urlopen(f"{base}config", timeout=30) as response:
        config = json.loads(response.read())
    editor = next(c["id"] for c in config["components"] if c["type"] == "imageeditor")  # the drawing
    session = uuid.uuid4().hex
    calls = []
    for label, body in {
        "no such component": {"session_hash": session, "component_id": 10**6, "fn_name": "drag_explore", "data": []},
        "no component_id": {"session_hash": session, "fn_name": "drag_explore", "data": []},
        "a string for fn_name's component": {"session_hash": session, "component_id": "picture", "fn_name": "drag_explore", "data": []},
        "accept_blobs as JSON": {"session_hash": session, "component_id": editor, "fn_name": "accept_blobs", "data": {}},
        "accept_blobs with null": {"session_hash": session, "component_id": editor, "fn_name": "accept_blobs", "data": None},
        "a function the editor has but does not serve": {"session_hash": session, "component_id": editor, "fn_name": "preprocess", "data": None},
    }.items():
        calls.append((label, json.dumps(body).encode(), "application/json"))
    upload = {"session_hash": session, "component_id": editor, "fn_name": "accept_blobs", "type": "layer", "index": "0", "id": "abc"}
    png = b"\x89PNG\r\n\x1a\n"
    for label, fields, files in [
        ("an upload without its file", upload, {}),
        ("an upload without type", {k: v for k, v in upload.items() if k != "type"}, {"blob": png}),
        ("an upload of layer 'x'", {**upload, "index": "x"}, {"blob": png}),
        ("an upload of layer 10^8 (800 MB of list in Gradio's own)", {**upload, "index": "100000000"}, {"blob": png}),
        ("an upload with a 1000-character id", {**upload, "id": "i" * 1000}, {"blob": png}),
        ("an upload without id", {k: v for k, v in upload.items() if k != "id"}, {"blob": png}),
        ("an upload without component_id", {k: v for k, v in upload.items() if k != "component_id"}, {"blob": png}),
        ("an upload of two files", upload, {"blob": png, "another": png}),
    ]:
        calls.append((label, *multipart(fields, files)))
    return calls


def picture_component(base: str) -> int:
    """The id of the Explore picture, whose server functions are the live path."""
    with urllib.request.urlopen(f"{base}config", timeout=30) as response:
        config = json.loads(response.read())
    return next(c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == "picture")


def probe(base: str, values: list[tuple[str, object]] = HOSTILE_VALUES, models: tuple[str, str] = ("grey", "colour")) -> Outcome:
    """Every endpoint and live function, every parameter in turn set to every hostile value.

    ``models``: the served models that stand for "grey" (with D) and "colour" in the valid calls.
    """
    outcome = Outcome()
    names = {"grey": models[0], "colour": models[1]}
    endpoints = {e: [names.get(a, a) if isinstance(a, str) else a for a in args] for e, args in ENDPOINTS.items()}
    endpoints["restore"] = [ENDPOINTS["restore"][0].replace('"grey"', f'"{models[0]}"')]
    live_fns = {f: [names.get(a, a) if isinstance(a, str) else a for a in args] for f, args in LIVE.items()}
    for endpoint, valid in endpoints.items():
        for position in range(len(valid)):
            for label, value in values:
                args = list(valid)
                args[position] = value
                outcome.add(call(base, endpoint, args), f"/{endpoint} arg {position} = {label}")
    component = picture_component(base)
    for fn_name, valid in live_fns.items():
        for position in range(len(valid)):
            for label, value in values:
                args = list(valid)
                args[position] = value
                outcome.add(live(base, component, fn_name, args), f"{fn_name} arg {position} = {label}")
        for label, value in values:  # the whole body, not a list
            outcome.add(live(base, component, fn_name, value), f"{fn_name} body = {label}")
    for label, body, content_type in malformed_server_calls(base):
        outcome.add(server_call(base, body, content_type), f"server function call: {label}")
    for label, path, body in MALFORMED_EVENTS:
        outcome.add(event_call(base, path, body), label)
    return outcome


# Requests to Gradio's event routes that no page or client sends: no such event, no such endpoint, event data of the
# wrong type, on the queued route and on the direct one (/run/<name>, where the page's unqueued events go).
MALFORMED_EVENTS = [
    ("join an event index that does not exist", "queue/join", {"data": [], "fn_index": 99999, "session_hash": "s"}),
    ("run an event index that does not exist", "run/predict", {"data": [], "fn_index": 99999, "session_hash": "s"}),
    ("run with event data 5", "run/predict", {"data": [], "event_data": 5, "fn_index": 0, "session_hash": "s"}),
    ("run /explore with event data 5", "run/explore", {"data": [], "event_data": 5, "fn_index": 0, "session_hash": "s"}),
    ("run /explore with no values", "run/explore", {"data": [], "session_hash": "s"}),
    ("call an endpoint never served", "call/nope", {"data": [], "fn_index": 99999, "session_hash": "s"}),
    ("call an endpoint never served, fn_index text", "call/nope", {"data": [], "fn_index": "x"}),
]


def event_call(base: str, path: str, body: dict) -> str:
    """One request to an event route -> clean (refused with a sentence, under 500) / too_large / uncaught."""
    status, answer = post_raw(f"{base}gradio_api/{path}", json.dumps(body).encode())
    if status == 413:
        return "too_large"
    if status >= 500:
        return "uncaught"
    message = json.loads(answer) if answer else None
    sentence = isinstance(message, dict) and any(isinstance(message.get(key), str) and message[key] for key in ("detail", "error"))
    return "clean" if status >= 400 and sentence else "ok" if status == 200 else "uncaught"
