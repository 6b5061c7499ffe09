"""What every tab uses: assets, event options, errors as sentences, the one check of uploaded files, the session."""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import ipaddress
import json
import logging
import os
import time
import weakref
from pathlib import Path

import gradio as gr
import gradio.blocks
import gradio.route_utils
import gradio.state_holder
import torch
from gradio.context import LocalContext
from gradio.exceptions import InvalidPathError
from gradio.utils import get_upload_folder as gradio_upload_folder
from pydantic import ValidationError
from starlette.requests import Request as StarletteRequest

import ui  # noqa: F401 - imports spaces before torch on ZeroGPU

logger = logging.getLogger("app")
ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "assets"

# The drag path's events (a slider's picture while it moves): always the latest value, no progress overlay, no queue.
DRAG = {"trigger_mode": "always_last", "show_progress": "hidden", "queue": False}
# Inputs reach gan_core as sent (no Gradio preprocessing), so a wrong type or range gets gan_core's sentence.
RAW = {"preprocess": False}
# What a visitor or an API client is told for any file that did not come through this app's upload, whether or not it
# exists: the answer must not tell what lies on the server's disk.
NOT_UPLOADED = "The picture must be a file uploaded to this app: the page's upload button or drawing, or gradio_client.handle_file(...) in an API call."
FILE_MODELS = ("FileData", "ImageData")  # Gradio's data models of a file value: a misfit one is a file not uploaded here


def asset(name: str) -> str:
    """A file of assets/ as text (HTML templates, CSS, JavaScript)."""
    return (ASSETS / name).read_text()


def session_of(request: gr.Request | None) -> str | None:
    """The browser session (Gradio's session hash) a request comes from; None for a raw call without one."""
    return getattr(request, "session_hash", None) if request is not None else None


def current_session() -> str | None:
    """The browser session of the request being answered, from Gradio's context: an event's ``gr.Request``, or the raw
    request of a gr.HTML server function (the drag path), whose JSON body names the session. None outside a request.

    The app hands this to its explorer (``Explorer.visitor``), which serves a visitor's own model to that visitor only.
    """
    request = LocalContext.request.get(None)
    session = session_of(request)  # an event's gr.Request
    if session is None and isinstance(request, StarletteRequest):
        # A server function gets the raw request, whose JSON body Gradio has read (Starlette keeps it parsed).
        body = getattr(request, "_json", None)
        session = body.get("session_hash") if isinstance(body, dict) else None
    return session if isinstance(session, str) and session else None


class Listener:
    """Whether the client of the queued event being answered is still there: made in the event's callback, asked by
    long work (a search's steps, a live run's chunks) so that work nobody will read stops.

    A client has gone when Gradio has marked its event dead (its page closed: the event stream disconnected) or when
    what the event sent it (progress, streamed values) has lain unread for UNREAD_SECONDS: an API client that started the
    event (``POST /gradio_api/call/...``) and never reads its stream. A reading client takes each message at once.
    Outside a queued event (a call from a test, an event with ``queue=False``) it is never gone.
    """

    UNREAD_SECONDS = 15.0  # a phone on a slow link falls seconds behind at worst; a client this far behind reads nothing
    CHECK_EVERY = 0.25  # s: asked at every step of a search, it looks at the queue this often

    def __init__(self):
        blocks = LocalContext.blocks.get(None)
        self._queue = getattr(blocks, "_queue", None)
        self._event_id = LocalContext.event_id.get(None)
        self._unread_since: float | None = None
        self._checked, self._gone = 0.0, False

    def gone(self) -> bool:
        now = time.monotonic()
        if self._gone or self._queue is None or self._event_id is None or now - self._checked < self.CHECK_EVERY:
            return self._gone
        self._checked = now
        event = next((job for jobs in list(self._queue.active_jobs) for job in jobs or () if job._id == self._event_id), None)
        if event is None:
            return False  # not running in the queue's workers: nothing to tell
        messages = self._queue.pending_messages_per_session.get(event.session_hash)
        if messages is not None and messages.qsize() > 0:
            self._unread_since = self._unread_since or now
        else:
            self._unread_since = None
        unread = self._unread_since is not None and now - self._unread_since >= self.UNREAD_SECONDS
        self._gone = not event.alive or unread
        if self._gone:
            logger.info("the client of an event has gone (%s): its work stops", "page closed" if not event.alive else "its answers lay unread")
        return self._gone


def client_address(request: gr.Request | None) -> str | None:
    """Where a request comes from, for the per-address limits: the peer's address, or, when the peer is a proxy on a
    private network (a Space's), the address that proxy saw, which is the rightmost public X-Forwarded-For entry.

    Entries to the left of that are whatever the client sent, so they are never read: a client cannot claim an address
    (and with it a fresh share of the searches and live runs) by sending the header itself.
    """
    if request is None:
        return None
    peer = getattr(getattr(request, "client", None), "host", None)
    if _network(peer) != "private":
        return peer
    for entry in reversed((request.headers.get("x-forwarded-for") or "").split(",")):
        if _network(entry.strip()) == "public":
            return entry.strip()
    return peer


def _network(address: str | None) -> str | None:
    """"private" for a loopback or private-network address (a proxy of ours, or this machine), "public" for any other
    address, None for what is no address (a test client's "testclient", garbage)."""
    try:
        parsed = ipaddress.ip_address(address or "")
    except ValueError:
        return None
    return "private" if parsed.is_private or parsed.is_loopback else "public"


def best_device() -> str:
    """Where the batch views run: the GPU when there is one (inside @spaces.GPU on ZeroGPU), else the CPU."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def engine_call(call: str) -> str:
    """A JavaScript-only event handler that calls the in-browser engine, if it loaded (no request to the server)."""
    return f"(...args) => {{ window.ganWeb && window.ganWeb.{call}(...args); return []; }}"


def scroll_to(elem_id: str, phone_only: bool = False) -> str:
    """A JavaScript-only handler that scrolls element ``elem_id`` into view (on a phone only, if asked)."""
    guard = "if (window.innerWidth <= 760) " if phone_only else ""
    return f"() => {{ {guard}document.getElementById({json.dumps(elem_id)}).scrollIntoView({{block: 'start'}}); }}"


@contextlib.contextmanager
def user_errors(name: str):
    """A user error's sentence becomes a gr.Error: one short log line, no traceback.

    Anything else is a bug: logged once with its traceback, and the visitor gets a plain sentence.
    """
    try:
        yield
    except (ValueError, FileNotFoundError) as err:
        message = str(err)
        logger.info("refused %s: %s", name, message[:200])
        raise gr.Error(message, print_exception=False) from None
    except gr.Error:
        raise
    except Exception:
        logger.exception("%s failed", name)
        raise gr.Error("The server could not do that (an internal error, logged for the developers).", print_exception=False) from None


def ui(fn, *, on_loop: bool = False, **bound):
    """``fn`` as a Gradio callback: the keyword arguments ``bound`` filled in (the explorer, a registry), its errors shown
    as :func:`user_errors` does. Gradio reads ``fn``'s name and its signature without ``bound``; a generator stays one.

    ``on_loop``: a quick draw of one picture (a few ms), run on the server's event loop instead of a worker thread. In a
    thread each of its torch calls gives up Python's lock and waits for the busy loop to hand it back: under 20 clients
    at once a picture took ~11 ms instead of ~2 (benchmarks/server_load.py)."""
    call = functools.partial(fn, **bound) if bound else fn
    if inspect.isgeneratorfunction(fn):  # a callback that streams: Gradio must still see a generator function

        def wrapper(*args):
            with user_errors(fn.__name__):
                yield from call(*args)

    elif on_loop:

        async def wrapper(*args):
            with user_errors(fn.__name__):
                return call(*args)

    else:

        def wrapper(*args):
            with user_errors(fn.__name__):
                return call(*args)

    functools.update_wrapper(wrapper, fn)
    signature = inspect.signature(fn)
    wrapper.__signature__ = signature.replace(parameters=[p for p in signature.parameters.values() if p.name not in bound])
    return wrapper


def picture_file(value) -> str | None:
    """The path of a picture a request names, only if Gradio's upload folder holds it (symlinks resolved); None for no picture.

    Gradio checks the upload folder only for a value that carries ``meta``, and our file inputs take values as sent
    (``preprocess=False``): a bare ``{"path": ...}``, a string, a relative path or a symlink out of the folder would
    otherwise read any file the server can. Every such value gets the same sentence (ValueError), existing or not.
    """
    if value is None:
        return None
    path = value.get("path") if isinstance(value, dict) else None
    if isinstance(path, str) and os.path.isabs(path):
        real = Path(os.path.realpath(path))
        if real.is_relative_to(Path(os.path.realpath(gradio_upload_folder()))) and real.is_file():
            return str(real)
    raise ValueError(NOT_UPLOADED)


class LazyConfigs(dict):
    """A session's per-component configurations (Gradio's ``SessionState.config_values``), each made when first needed.

    Gradio makes all of them for every new session (one ``get_config`` per component, ~120 here: 41 ms a session, most
    of a new visitor's first request). It reads them only to update a component's value in them, and all of them only
    for deep links, which this app does not use; so each is made on first use, and iterating makes the rest.
    """

    def __init__(self, blocks_config, keys, made: dict):
        super().__init__()
        self._blocks_config, self._pending, self._made = blocks_config, dict.fromkeys(keys), made

    def _make(self, key) -> None:
        if key in self._pending:
            del self._pending[key]
            dict.__setitem__(self, key, self._config(key))

    def _config(self, key) -> dict:
        """A fresh copy of the block's configuration, made once per process (``made``, shared by every session: a
        ``get_config`` costs ~0.3 ms, and every /call/ request is a new session). Gradio writes only ``["props"]["value"]``
        into a session's copy, so a copy of the two levels keeps sessions apart."""
        block = self._blocks_config.blocks[key]
        made = self._made.get(key)
        if made is None or made[0] is not block:
            made = self._made[key] = (block, self._blocks_config.config_for_block(key, [], block))
        config = made[1]
        return {**config, "props": {**config["props"]}} if isinstance(config.get("props"), dict) else dict(config)

    def _make_all(self) -> None:
        for key in list(self._pending):
            self._make(key)

    def __missing__(self, key):
        if key not in self._pending:
            raise KeyError(key)
        self._make(key)
        return dict.__getitem__(self, key)

    def __contains__(self, key) -> bool:
        return dict.__contains__(self, key) or key in self._pending

    def __setitem__(self, key, value) -> None:
        self._pending.pop(key, None)
        dict.__setitem__(self, key, value)

    def get(self, key, default=None):
        return self[key] if key in self else default

    def __iter__(self):
        self._make_all()
        return dict.__iter__(self)

    def __len__(self) -> int:
        return dict.__len__(self) + len(self._pending)

    def keys(self):
        self._make_all()
        return dict.keys(self)

    def values(self):
        self._make_all()
        return dict.values(self)

    def items(self):
        self._make_all()
        return dict.items(self)


ANALYTICS_EVERY = 1000  # finished queue events between two of Gradio's analytics summaries (Blocks.queue)

# Each app's component configurations, made once (:meth:`LazyConfigs._config`), by the app's default configuration.
CONFIGS_MADE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class SessionState(gradio.state_holder.SessionState):
    """Gradio's per-session state, its configurations made lazily (:class:`LazyConfigs`): the same state without the
    41 ms. Its ``__init__`` is Gradio 6.31's (requirements.txt pins it exactly) with that one change."""

    def __init__(self, blocks):  # noqa: super-init-not-called - the parent's would make every configuration
        self.blocks_config = copy.copy(blocks.default_config)
        made = CONFIGS_MADE.setdefault(blocks.default_config, {})
        self.config_values = LazyConfigs(self.blocks_config, [key for key in self.blocks_config.blocks if key in blocks.blocks], made)
        self.state_data = {}
        self._state_ttl = {}
        self.is_closed = False
        self.STATE_TTL_WHEN_CLOSED = 1 if os.getenv("GRADIO_IS_E2E_TEST", None) else 3600


class Blocks(gr.Blocks):
    """gr.Blocks whose requests that fail inside Gradio, before our function runs, still get a sentence.

    Gradio checks a request's values (their count, a file's folder, a component's data model) before calling the
    function, and answers a failed check with an error that has no message, after logging a traceback. Here such a
    request gets one sentence that says what the endpoint takes, and one log line. A new session's state is made
    lazily (:class:`SessionState`, put in place of Gradio's, for every app of this process, when a page is built).
    """

    def __init__(self, *args, **kwargs):
        # What Gradio makes for each new session: StateHolder's, and a raw request's without one (/run/<name>, blocks).
        for module in (gradio.state_holder, gradio.route_utils, gradio.blocks):
            module.SessionState = SessionState
        super().__init__(*args, **kwargs)

    def queue(self, *args, **kwargs):
        """Gradio's queue, its analytics summary remade every ANALYTICS_EVERY finished events instead of after each one.

        The summary (per endpoint: success rate, time percentiles) is a pandas table of up to the last 10,000 events,
        remade from scratch: after each event that cost 2.3 ms at 2,000 events, and more as the history grew. Only
        Gradio's monitoring page shows it. ``GRADIO_ANALYTICS_CACHE_FREQUENCY`` in the environment still wins."""
        os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", str(ANALYTICS_EVERY))
        return super().queue(*args, **kwargs)

    async def preprocess_data(self, block_fn, inputs, state, explicit_call: bool = False):
        inputs = self.with_defaults(block_fn, inputs)
        try:
            return await super().preprocess_data(block_fn, inputs, state, explicit_call)
        except (InvalidPathError, ValidationError) as err:
            if isinstance(err, ValidationError) and err.title not in FILE_MODELS:
                raise self.misfit(block_fn, err) from None
            logger.info("refused %s: not a file of the upload folder", block_fn.name)
            raise gr.Error(NOT_UPLOADED, print_exception=False) from None
        except Exception as err:  # noqa: BLE001 - every check of Gradio's, whatever it raises, becomes one sentence
            raise self.misfit(block_fn, err) from None

    @staticmethod
    def with_defaults(block_fn, inputs: list) -> list:
        """``inputs`` with left-out trailing optional parameters as None (their default): a raw request written before an
        optional parameter was added (z, then kind) still fits its endpoint."""
        missing = len(block_fn.inputs) - len(inputs)
        if missing <= 0 or block_fn.fn is None:
            return inputs
        parameters = [p for p in inspect.signature(block_fn.fn).parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        optional = [p for p in parameters[len(inputs) : len(block_fn.inputs)] if p.default is not p.empty]
        return [*inputs, *[None] * missing] if len(optional) == missing else inputs

    @staticmethod
    def misfit(block_fn, err: Exception) -> gr.Error:
        logger.info("refused %s before it ran: %s", block_fn.name, str(err).splitlines()[0][:200] if str(err) else type(err).__name__)
        endpoint = f"/{block_fn.api_name}" if block_fn.api_name else "this event"
        names = [block.label or type(block).__name__.lower() for block in block_fn.inputs]
        return gr.Error(
            f"The values sent to {endpoint} do not fit it: it takes {len(names)} value(s) ({', '.join(names)}); "
            "see the page's API description (Use via API) for their types.",
            print_exception=False,
        )
