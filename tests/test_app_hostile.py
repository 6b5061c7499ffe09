"""The app under hostile input: every endpoint and live-path function, every parameter set to values no
page sends. Each request is answered or refused with a sentence; none ends in a traceback or an HTTP 500,
the log gets one short line per refusal, and the server stays up."""

from __future__ import annotations

import pytest
from app_fixtures import AppServer, make_model_folder
from hostile import HOSTILE_VALUES, probe

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("app-hostile")
    grey = make_model_folder(root / "grey", image_size=16, channels=1, latent_dim=8)
    colour = make_model_folder(root / "colour", image_size=8, channels=3, latent_dim=6, seed=1, with_discriminator=False, epochs=2)
    app = AppServer([grey, colour], extra_args=("--live-max-seconds", "2"))  # a hostile value that is a valid seed trains 2 s
    yield app
    app.stop()


def test_hostile_input_never_ends_in_a_traceback(server):
    outcome = probe(server.url)
    total = sum(outcome.counts.values())
    assert total > 1500 and outcome.counts["clean"] > 1000, outcome.counts
    assert outcome.uncaught == [], f"{len(outcome.uncaught)} uncaught: {outcome.uncaught[:10]}"
    assert outcome.counts["too_large"] >= 20  # the 2 MB body, refused before it was read
    assert server.alive()
    log = server.log()
    assert "Traceback" not in log
    refusals = [line for line in log.splitlines() if "refused" in line]
    assert refusals and max(len(line) for line in refusals) < 400, "a refusal logged more than one short line"
    assert len(log) < 2_000_000, f"{len(log):,} bytes of log for {total} requests"
    assert len(HOSTILE_VALUES) >= 25


def test_the_drawing_keeps_a_bounded_number_of_uploads_and_refuses_malformed_ones():
    import gradio as gr
    from fastapi import HTTPException
    from gradio.data_classes import DataWithFiles

    from ui import draw

    sketch = draw.bounded_uploads(gr.ImageEditor())

    def upload(kind, index, upload_id):
        return sketch.accept_blobs(DataWithFiles(data={"type": kind, "index": index, "id": upload_id}, files=[(f"{kind}.png", b"png")]))

    for k in range(40):
        upload("composite", "null", f"id{k}")
        upload("layer", "3", f"id{k}")
    assert list(sketch.blob_storage) == [f"id{k}" for k in range(40 - draw.BLOB_SETS, 40)]
    assert sketch.blob_storage["id39"].composite == b"png" and len(sketch.blob_storage["id39"].layers) == 4
    for kind, index, upload_id in [("layer", "4", "a"), ("layer", "100000000", "a"), ("layer", "-1", "a"), ("layer", "null", "a"), ("other", "null", "a"), ("composite", "null", "")]:
        with pytest.raises(HTTPException, match="multipart form data with one file") as refused:
            upload(kind, index, upload_id)
        assert refused.value.status_code == 400
    assert len(sketch.blob_storage) == draw.BLOB_SETS
