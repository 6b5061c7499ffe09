"""The note under Explore's verdict (Explorer.verdict_note) says what D's verdicts measured at export (run.json) and the
model's own training log say: checked against each shipped model's files, against made-up verdicts of every kind of D, and
against made-up logs for every way a training can end (the note of a model exported before verdicts were measured)."""

from __future__ import annotations

import json
import dataclasses
import math

import pytest
from app_fixtures import ROOT, make_model_folder

from gan_core.core.manifest import RunManifest, read_manifest
from gan_core.explorer import Explorer
from gan_core.pipeline import GanPipeline

SHIPPED = ("mnist", "fashion-mnist", "emoji")


def ended(log: list[dict]) -> tuple[float, float]:
    """D's mean outputs on real and on G's pictures over the log's last 10 entries: what the note reports."""
    last = log[-10:]
    return sum(r["d_real"] for r in last) / len(last), sum(r["d_fake"] for r in last) / len(last)


def expected_reading(d_real: float, d_fake: float) -> str:
    """The words the numbers call for, written out here independently of the explorer."""
    if 0.35 < d_real < 0.65 and 0.35 < d_fake < 0.65:
        return "unsure about both"
    if d_fake >= d_real:
        return "as real as real ones or more"
    if d_real - d_fake >= 0.7:
        return "told them apart with confidence"
    return "told them apart only partly"


READINGS = ("unsure about both", "as real as real ones or more", "told them apart with confidence", "told them apart only partly")


def check(note: str, d_real: float, d_fake: float) -> None:
    assert f"D gave real pictures {d_real:.0%} on average and G's {d_fake:.0%}" in note
    reading = expected_reading(d_real, d_fake)
    assert reading in note
    assert not [other for other in READINGS if other != reading and other in note]  # one reading, never two that contradict


def expected_verdict_reading(real: float, generated: float, ranked: float) -> str:
    if generated >= real or ranked <= 0.55:
        return "cannot tell G's pictures from real ones"
    if ranked >= 0.95:
        return "tells them apart with confidence"
    return "tells them apart only partly"


VERDICT_READINGS = ("cannot tell G's pictures from real ones", "tells them apart with confidence", "tells them apart only partly")


def check_verdicts(note: str, verdicts: dict) -> None:
    real, generated, ranked = verdicts["real"], verdicts["generated"], verdicts["ranked"]
    assert f"gives real {verdicts['pictures']} pictures {real:.0%} on average and G's {generated:.0%}, and rates the real one higher in {ranked:.0%} of pairs" in note
    reading = expected_verdict_reading(real, generated, ranked)
    assert reading in note and not [other for other in VERDICT_READINGS if other != reading and other in note]


@pytest.mark.parametrize("name", SHIPPED)
def test_the_note_follows_each_shipped_models_verdicts_and_log(name):
    folder = ROOT / "weights" / name
    log = [json.loads(line) for line in (folder / "train_log.jsonl").read_text().splitlines() if line.strip()]
    pipeline = GanPipeline.from_pretrained(folder)
    note = Explorer([pipeline]).verdict_note(pipeline.name)
    verdicts = read_manifest(folder / "discriminator").verdicts
    assert verdicts == read_manifest(folder / "generator").verdicts  # both parts record the same measurement
    check_verdicts(note, verdicts)
    d_real, d_fake = ended(log)
    assert f"gave real batches {d_real:.0%} and G's {d_fake:.0%}" in note
    assert not [reading for reading in READINGS if reading in note]  # the log's numbers are not read as one picture's
    # Every shipped D tells one real picture from one of G's only partly (80-87% of pairs; BENCHMARKS.md).
    assert "only partly" in note


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    pipeline = GanPipeline.from_pretrained(make_model_folder(tmp_path_factory.mktemp("verdict") / "tiny"))
    return Explorer([pipeline]), pipeline


def records(pairs) -> list[dict]:
    return [{"step": 10 * i, "d_real": r, "d_fake": f, "loss_d": 1.0, "loss_g": 1.0} for i, (r, f) in enumerate(pairs)]


@pytest.mark.parametrize(
    ("d_real", "d_fake", "reading"),
    [
        (0.55, 0.45, "unsure about both"),
        (0.62, 0.40, "unsure about both"),
        (0.97, 0.03, "told them apart with confidence"),
        (0.90, 0.15, "told them apart with confidence"),
        (0.77, 0.23, "told them apart only partly"),
        (0.66, 0.34, "told them apart only partly"),
        (0.95, 0.60, "told them apart only partly"),
        (0.30, 0.70, "as real as real ones or more"),
        (0.80, 0.80, "as real as real ones or more"),
    ],
)
def test_the_note_follows_made_up_logs_of_each_ending(tiny, d_real, d_fake, reading):
    explorer, pipeline = tiny
    # 30 entries; only the last 10 count, and they average to (d_real, d_fake) around a little noise.
    noise = [0.02, -0.02, 0.01, -0.01, 0.0, 0.0, 0.015, -0.015, 0.005, -0.005]
    pipeline.log = records([(0.99, 0.01)] * 20 + [(d_real + n, d_fake - n) for n in noise])
    note = explorer.verdict_note(pipeline.name)
    check(note, d_real, d_fake)
    assert expected_reading(d_real, d_fake) == reading and "its last 10 log entries" in note


def test_the_note_without_numbers(tiny):
    explorer, pipeline = tiny
    pipeline.log = []
    assert explorer.verdict_note(pipeline.name) == "D's verdict is its probability that the picture is real; 50% means it cannot tell."
    pipeline.log = [{"step": 1, "d_real": math.nan, "d_fake": 0.2}, {"step": 2, "loss_d": 1.0}]  # unreadable entries are left out
    assert "D gave" not in explorer.verdict_note(pipeline.name)
    pipeline.log = [{"step": 1, "d_real": 0.9, "d_fake": 0.05}]
    assert "(its last log entry)" in explorer.verdict_note(pipeline.name)


@pytest.mark.parametrize(
    ("real", "generated", "ranked"),
    [(0.85, 0.53, 0.87), (0.97, 0.04, 0.99), (0.60, 0.58, 0.53), (0.40, 0.55, 0.40), (0.92, 0.76, 0.81), (0.90, 0.10, 0.95)],
)
def test_the_note_reads_made_up_verdicts(tiny, real, generated, ranked):
    explorer, pipeline = tiny
    pipeline.log = records([(0.83, 0.16)] * 10)
    verdicts = {"real": real, "generated": generated, "ranked": ranked, "count": 1000, "pictures": "test"}
    manifest = RunManifest(dataset="mnist", image_size=16, channels=1, num_images=0, data_note="", training={}, steps=0, epochs=0.0)
    pipeline.manifest = dataclasses.replace(manifest, verdicts=verdicts)
    try:
        note = explorer.verdict_note(pipeline.name)
        check_verdicts(note, verdicts)
        assert "gave real batches 83% and G's 16%" in note
        pipeline.log = []
        alone = explorer.verdict_note(pipeline.name)
        check_verdicts(alone, verdicts)
        assert "batches" not in alone
    finally:
        pipeline.manifest = None
