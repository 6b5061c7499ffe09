"""The "Draw or upload" tab: find the z of a drawn or uploaded picture (/invert), how unusual it is (/score), and open
the found z in Explore. Searches run where the models were loaded (the CPU here): they report progress and read their
stop flag in this process, which a ZeroGPU worker process could not do."""

from __future__ import annotations

import threading
import time

import gradio as gr
from fastapi import HTTPException
from gradio.components.base import server

from gan_core.explorer import Explorer
from gan_core.explorer import explorer as views
from gan_core.explorer.visitors import Visitors
from gan_core.inversion.invert import RefineConfig
from ui.common import RAW, Listener, asset, client_address, logger, picture_file, session_of, ui
from ui.explore import ExploreHandle

NOTE = """
Draw a digit or a garment with the mouse or a finger (light strokes on black, like the training pictures; dark on light works
too), or **upload a picture** with the picture button beside the canvas. **Find z** looks for the z whose picture G draws
closest to yours: the encoder's guess, then gradient steps on z (f-AnoGAN, Schlegl et al. 2019). The **anomaly score**
measures what G cannot draw back, in pixels and in D's features: pictures like the training data score low, anything else
high. The result says it in words and marks your picture among the scores of real test pictures (the bars: most real
pictures sit on the left). Open the result in Explore to edit it with the sliders.
"""
PROGRESS_EVERY = 0.25  # s between a search's progress updates to the page
SKETCH_SIDE = 280  # px: the drawing canvas (10x a 28 px picture); uploads are scaled into it by the page
SEARCHES_AT_ONCE = 2  # searches running at once, whoever asks (the rest wait in the queue)
SEARCHES_PER_ADDRESS = 1  # running at once from one address: one client cannot hold every search slot
SEARCH_SECONDS = 15.0  # a search ends after this long with the best z so far, however many steps were asked (page or API)


BLOB_TYPES = ("background", "composite", "layer")  # what the drawing uploads (gr.ImageEditor's accept_blobs)
MAX_LAYERS = 4
BLOB_SETS = 16  # uploads kept at once; the page's uploads are never read back here (values as sent)
MAX_ID = 64  # characters of an upload's id (the page makes 11)
BLOB_REFUSAL = (
    "An upload to the drawing must be multipart form data with one file and the fields type (background, composite "
    f"or layer), index (a layer's, 0 to {MAX_LAYERS - 1}, else null) and id (1 to {MAX_ID} characters)."
)


def bounded_uploads(sketch: gr.ImageEditor) -> gr.ImageEditor:
    """``sketch`` with its upload of a drawing's layers (the server function ``accept_blobs``, which any client can call)
    checked and bounded.

    Gradio's own answers HTTP 500 to a malformed body, grows a layer list to any index it is sent (one request of index
    10^8 holds 800 MB) and keeps every upload until an event reads it, which this app's events (values as sent) never
    do. Here a malformed upload gets HTTP 400 with a sentence, an index is below MAX_LAYERS, and at most BLOB_SETS
    uploads are kept (the oldest go first). Replaced on the instance: a subclass of a Gradio component would make
    Gradio write a stub file beside this module at import.
    """
    accept, storing = sketch.accept_blobs, threading.Lock()

    @server
    def accept_blobs(data):
        fields, files = getattr(data, "data", None), getattr(data, "files", None)
        if not (isinstance(fields, dict) and isinstance(files, list) and len(files) == 1 and _upload_fits(fields)):
            logger.info("refused accept_blobs: a malformed upload")
            raise HTTPException(status_code=400, detail=BLOB_REFUSAL)
        with storing:
            accept(data)
            while len(sketch.blob_storage) > BLOB_SETS:
                sketch.blob_storage.pop(next(iter(sketch.blob_storage)))

    sketch.accept_blobs = accept_blobs
    return sketch


def _upload_fits(fields: dict) -> bool:
    index, upload = fields.get("index"), fields.get("id")
    if not (isinstance(upload, str) and 0 < len(upload) <= MAX_ID) or fields.get("type") not in BLOB_TYPES:
        return False
    if fields["type"] != "layer":
        return index in (None, "", "null")
    return isinstance(index, str) and index.isdigit() and int(index) < MAX_LAYERS


def drawing_file(drawing):
    """The sketchpad's picture (strokes over the optional uploaded background) as the file /invert searches for."""
    composite = drawing.get("composite") if isinstance(drawing, dict) else None
    return picture_file(composite) if isinstance(composite, dict) else None


def invert(model, picture, steps, request: gr.Request, progress=gr.Progress(), *, explorer: Explorer, searches: Visitors, addresses: Visitors):  # noqa: B008 - how Gradio hands in its progress bar
    """Find the z of a picture (an image file), G(z), the residual, the anomaly score and its percentile, and the
    Explore state of that z; the page's Stop button ends the search early with the best z so far, and so does the
    clock after SEARCH_SECONDS, and a client that has gone (:class:`~ui.common.Listener`). One address runs
    SEARCHES_PER_ADDRESS searches at once."""
    busy = "A search from your address is still running: wait for it to finish (or press Stop), then try again."
    last_sent = [0.0]  # when progress was last sent: a few updates a second, however fast the steps run
    deadline, listener = time.monotonic() + SEARCH_SECONDS, Listener()

    def report(done, total):
        now = time.monotonic()
        if now - last_sent[0] >= PROGRESS_EVERY or done == total:
            last_sent[0] = now
            progress((done, total), desc="Searching z", unit="steps")

    with searches.holding(session_of(request), threading.Event()) as stop, addresses.holding(client_address(request), stop, at_most=SEARCHES_PER_ADDRESS, refusal=busy):
        return explorer.invert(model, picture_file(picture), steps, progress=report, should_stop=lambda: stop.is_set() or time.monotonic() > deadline or listener.gone())


def score(model, picture, *, explorer: Explorer):
    """How unusual a picture is for the model: the anomaly score, its percentile among real test pictures, a sentence, the
    same in plain words ("reading") and the real test pictures' scores with this one marked ("scale")."""
    return explorer.score(model, picture_file(picture))


def stop_search(request: gr.Request, *, searches: Visitors):
    """Stop this page's running search (the search shows the best z it found so far)."""
    running = searches.of(session_of(request))
    for event in running:
        event.set()
    logger.info("stop: %d running search(es) of this session asked to stop", len(running))


def open_found(found, *, explorer: Explorer):
    """The found z's Explore state: psi 1, every direction 0, the sliders and sharing working on it."""
    if not isinstance(found, dict) or not isinstance(found.get("state"), str):
        raise ValueError("There is no found z yet: draw or upload a picture and press Find z.")  # noqa: TRY004 - shown as a gr.Error
    return explorer.restore(found["state"])


def build(handle: ExploreHandle) -> None:
    """The tab and its events."""
    with gr.Tab("Draw or upload", id="invert", elem_id="tab-invert"):
        gr.Markdown(NOTE)
        with gr.Row():
            with gr.Column(scale=4, min_width=300, elem_id="invert-input"):
                sketch = bounded_uploads(gr.ImageEditor(
                    value={"background": views.blank_canvas(SKETCH_SIDE), "layers": [], "composite": None},
                    label="Your picture", type="filepath", format="png",
                    image_mode="RGBA", sources=("upload", "clipboard"), canvas_size=(SKETCH_SIDE, SKETCH_SIDE), fixed_canvas=True,
                    brush=gr.Brush(colors=["#ffffff", "#9ca3af", "#000000"], default_color="#ffffff", default_size=12, color_mode="fixed"),
                    eraser=gr.Eraser(default_size=16), layers=False, transforms=(), height=400, elem_id="sketch",
                ))
                with gr.Row(elem_classes="gan-controls"):
                    find_button = gr.Button("Find z", variant="primary", scale=2, elem_id="find-z", elem_classes="gan-button")
                    stop_button = gr.Button("Stop", variant="stop", scale=1, elem_id="stop-search", elem_classes="gan-button")
                steps = gr.Slider(
                    *views.SEARCH_STEPS, value=RefineConfig().steps, step=10, label="Search steps",
                    info=f"more find a closer z and take longer; the percentile was measured with {RefineConfig().steps}", elem_id="search-steps",
                )
            with gr.Column(scale=5, min_width=320, elem_id="invert-output"):
                found = gr.HTML(None, html_template=asset("templates/inversion.html"), elem_id="found")
                open_button = gr.Button("Open in Explore: edit it with the sliders", elem_id="open-found", elem_classes="gan-button")
        # What /invert and /score read: the drawing's file (or an API client's upload). /score has no button.
        searched = gr.Image(type="filepath", visible=False, label="Picture", elem_id="invert-picture")
        score_trigger = gr.Button(visible=False)
        score_out = gr.JSON(visible=False)

    # The drawing's file becomes the picture /invert searches for (an API client sends its own); Stop ends this page's
    # search; the found z opens in Explore like a restored state.
    explorer, searches, addresses = handle.explorer, Visitors(), Visitors()
    search_group = {"concurrency_limit": SEARCHES_AT_ONCE, "concurrency_id": "search"}
    find_button.click(ui(drawing_file), sketch, searched, api_visibility="private", show_progress="hidden", **RAW).success(
        ui(invert, explorer=explorer, searches=searches, addresses=addresses), [handle.model, searched, steps], found, api_name="invert", **search_group, **RAW
    )
    # On a phone the result sits below the canvas and buttons: bring it into view while the search runs.
    find_button.click(None, None, None, js="() => { if (window.innerWidth <= 760) document.getElementById('found').scrollIntoView({block: 'center'}); }")
    stop_button.click(ui(stop_search, searches=searches), None, None, api_visibility="private", queue=False, show_progress="hidden")
    score_trigger.click(ui(score, explorer=explorer), [handle.model, searched], score_out, api_name="score", **search_group, **RAW)
    handle.opens(open_button.click, open_found, found, api_visibility="private")
