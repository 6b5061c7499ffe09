"""The in-browser engine's files and the drag path: how a picture follows a slider while it moves.

A slider's ``.input`` event runs JavaScript only (:func:`drag_trigger`), which hands the values to the picture's drag
path (assets/drag.js): drawn in the page by the engine (assets/in_browser.mjs on gan_core/web/gan_web.js and
onnxruntime-web) when it can, else one POST to the picture's server function. One frame is in flight at a time and
the latest values always follow.
"""

from __future__ import annotations

import functools
from pathlib import Path

from gan_core.explorer import Explorer, page_call
from ui.common import ASSETS, ROOT, asset

GAN_WEB = ROOT / "gan_core" / "web" / "gan_web.js"
VENDOR = ASSETS / "vendor" / "onnxruntime-web"  # python scripts/get_web_runtime.py puts it there


def file_url(path: Path) -> str:
    """The page-relative URL under which Gradio serves a static file (see web_files)."""
    return f"gradio_api/file={Path(path).resolve()}"


def web_files(explorer: Explorer) -> list[Path]:
    """Every file the page fetches to draw in the browser: the engine, gan_web.js, the runtime, the models' ONNX files."""
    files = [ASSETS / "in_browser.mjs", GAN_WEB, *sorted(VENDOR.glob("*"))]
    for name in explorer.names:
        bundle = explorer.browser_model(name)
        files += [path for path in (bundle["generator_onnx"], bundle["discriminator_onnx"]) if path is not None]
    return [path.resolve() for path in files]


def drag_props(kind: str, fn_name: str, engine: bool) -> dict:
    """A picture's drag path as gr.HTML arguments: assets/drag.js on load, told by its prop ``drag`` which picture it is
    (``kind`` 'explore' or 'interpolate'), its server fallback ``fn_name`` and, where it loads the engine, where from."""
    config = {"engine": file_url(ASSETS / "in_browser.mjs"), "ganWeb": file_url(GAN_WEB), "vendor": file_url(VENDOR) + "/", "forceServer": False} if engine else {}
    return {"js_on_load": asset("drag.js"), "drag": {"kind": kind, "fn": fn_name, "config": config}}


def server_function(fn, **bound):
    """``fn`` with ``bound`` keyword arguments filled in, under ``fn``'s name (a gr.HTML server function is called by name)."""
    return functools.update_wrapper(functools.partial(fn, **bound), fn)


def drag_trigger(kind: str) -> str:
    """The client-side handler of a slider's .input: hand the values to the picture's drag path (no request from here)."""
    return f"(...args) => {{ window.ganDrag && window.ganDrag['{kind}'] && window.ganDrag['{kind}'](args); }}"


def web_model(args, *, explorer: Explorer) -> dict:
    """What the page needs to draw a model itself (args = [model]): shapes, directions, ONNX URLs."""

    def bundle(model):
        out = explorer.browser_model(model)
        for part in ("generator", "discriminator"):
            path = out.pop(f"{part}_onnx")
            out[f"{part}_url"] = file_url(path) if path is not None else None
        return out

    return page_call(bundle, args)


def web_seed(args, *, explorer: Explorer) -> list | dict:
    """A seed's z exactly as the server draws it (args = [model, seed])."""
    return page_call(explorer.browser_seed, args)


def web_keyframes(args, *, explorer: Explorer) -> list | dict:
    """The keyframe latents of an interpolation (args = [model, keyframes, start state])."""
    return page_call(explorer.browser_keyframes, args)

