"""The evaluation and classifier CLIs on tiny fixtures: outputs, model card, and bad arguments."""

from __future__ import annotations

import json

import pytest
import torch

from gan_core import train_classifier as classifier_cli
from gan_core import evaluate, train
from gan_core.core.manifest import read_manifest
from gan_core.evaluation.classifier import load_classifier
from gan_core.evaluation.metrics import METRIC_INFO
from gan_core.core.models import Generator


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory):
    """A synthetic-set classifier trained through the classifier CLI."""
    out = tmp_path_factory.mktemp("classifier") / "synthetic"
    argv = ["--dataset", "synthetic", "--out", str(out), "--epochs", "20", "--lr", "1e-2", "--features", "4", "--embed-dim", "16", "--no-progress"]
    assert classifier_cli.main(argv) == 0
    return out


@pytest.fixture()
def generator_dir(tmp_path):
    torch.manual_seed(0)
    out = tmp_path / "generator"
    Generator(latent_dim=8, image_size=16, channels=1, g_features=4).save_pretrained(out)
    (out / "README.md").write_text("# tiny\n\n## Metrics\nNo metrics measured yet.\n\n## Use\nload it\n")
    return out


def run_evaluate(generator_dir, classifier_dir, tmp_path, *extra) -> dict:
    out = tmp_path / "result.json"
    argv = [str(generator_dir), "--dataset", "synthetic", "--classifier", str(classifier_dir), "--num", "64", "--kid-subsets", "5", "--json", str(out), *extra]
    assert evaluate.main(argv) == 0
    return json.loads(out.read_text())


def test_classifier_cli_writes_a_loadable_model_with_its_accuracy(classifier_dir):
    card = (classifier_dir / "README.md").read_text()
    assert "Test accuracy" in card and "python -m gan_core.train_classifier --dataset synthetic" in card
    model = load_classifier(classifier_dir)
    assert model.class_names == ["small", "medium", "large"]
    assert evaluate.classifier_accuracy(classifier_dir).endswith("%")


def test_evaluate_prints_every_metric_beside_its_floor(generator_dir, classifier_dir, tmp_path, capsys):
    result = run_evaluate(generator_dir, classifier_dir, tmp_path)
    printed = capsys.readouterr().out
    assert result["num"] == 64 and result["dataset"] == "synthetic"
    for name, (label, _) in METRIC_INFO.items():
        assert name in result["generated"] and name in result["floor"]
        assert label in printed
    # An untrained generator is far from real data; real test images are not.
    assert result["generated"]["fid"] > 10 * result["floor"]["fid"]
    assert result["floor"]["classes_hit"] == 3


def test_evaluate_is_deterministic(generator_dir, classifier_dir, tmp_path):
    first = run_evaluate(generator_dir, classifier_dir, tmp_path)
    second = run_evaluate(generator_dir, classifier_dir, tmp_path)
    assert first["generated"] == second["generated"] and first["floor"] == second["floor"]


def test_write_card_replaces_the_metrics_section(generator_dir, classifier_dir, tmp_path):
    run_evaluate(generator_dir, classifier_dir, tmp_path, "--write-card")
    run_evaluate(generator_dir, classifier_dir, tmp_path, "--write-card")
    card = (generator_dir / "README.md").read_text()
    assert card.count("## Metrics") == 1 and "No metrics measured yet" not in card
    assert "| FID (classifier features) | lower |" in card
    assert card.index("## Metrics") < card.index("## Use")  # later sections survive


def test_update_card_appends_when_there_is_no_section():
    assert evaluate.update_card("# card\n", "## Metrics\nx\n") == "# card\n\n## Metrics\nx\n"


@pytest.mark.parametrize(
    "change, message",
    [
        ({"model": "no/such/folder"}, "No model folder at no/such/folder"),
        ({"--dataset": "imagenet"}, "Unknown dataset 'imagenet'"),
        ({"--num": "1"}, "--num must be between 2"),
        ({"--classifier": "missing"}, "python -m gan_core.train_classifier"),
    ],
)
def test_bad_arguments_stop_with_a_clear_message(generator_dir, classifier_dir, tmp_path, capsys, change, message):
    values = {"model": str(generator_dir), "--dataset": "synthetic", "--classifier": str(classifier_dir), "--num": "16"} | change
    if change.get("--classifier") == "missing":
        values["--classifier"] = str(tmp_path / "missing")
    argv = [values.pop("model")] + [item for pair in values.items() for item in pair]
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_a_generator_of_another_size_is_rejected(classifier_dir, tmp_path, capsys):
    Generator(latent_dim=8, image_size=8, channels=1, g_features=4).save_pretrained(tmp_path / "g8")
    with pytest.raises(SystemExit):
        evaluate.main([str(tmp_path / "g8"), "--dataset", "synthetic", "--classifier", str(classifier_dir), "--num", "16"])
    assert "makes 1x8x8 images but synthetic images are 1x16x16" in capsys.readouterr().err


def test_classifier_cli_rejects_unlabelled_data(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        classifier_cli.main(["--dataset", f"folder:{tmp_path}", "--out", str(tmp_path / "c")])
    assert exit_info.value.code == 2 and "has no labels" in capsys.readouterr().err


def test_the_dataset_comes_from_the_run_manifest_and_write_card_records_it(classifier_dir, tmp_path, capsys):
    run = tmp_path / "run"
    assert train.main(["--dry-run", "--steps", "2", "--out-dir", str(run), "--no-progress", "--no-onnx"]) == 0
    out = tmp_path / "from-manifest.json"
    argv = [str(run), "--classifier", str(classifier_dir), "--num", "32", "--kid-subsets", "2", "--json", str(out), "--write-card"]
    assert evaluate.main(argv) == 0
    assert json.loads(out.read_text())["dataset"] == "synthetic"  # no --dataset given
    recorded = read_manifest(run / "generator").evaluation
    assert recorded["rows"][0] == ["metric", "better", "generated", "floor (real test)"]
    card = (run / "generator" / "README.md").read_text()
    assert card.count("## Metrics") == 1 and "| FID (classifier features) | lower |" in card and "Not measured yet" not in card


def test_a_model_without_manifest_needs_dataset(generator_dir, classifier_dir, capsys):
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main([str(generator_dir), "--classifier", str(classifier_dir)])
    assert exit_info.value.code == 2 and "has no run.json naming its dataset; pass --dataset" in capsys.readouterr().err


def scores(fid, precision, recall, copy_fraction=0.0, classes_hit=10, flagged=False) -> dict:
    return {"fid": fid, "precision": precision, "recall": recall, "copy_fraction": copy_fraction, "classes_hit": classes_hit, "memorisation_flag": flagged}


FLOOR = scores(0.2, 0.9, 0.93, 0.01)


@pytest.mark.parametrize(
    "generated, trained_on, says",
    [
        (scores(0.3, 0.9, 0.92), 60_000, "the samples are as close to the real pictures as real pictures are to each other; 90% of the samples "
         "lie among real pictures (of real pictures, 90%) and they are as varied as the data; it does not copy its training pictures."),
        (scores(11.66, 0.686, 0.885), 8_000, "recognisably like the real pictures but clearly apart from them (FID 58 times the floor); 69% of the "
         "samples lie among real pictures (of real pictures, 90%) and they are as varied as the data; it does not copy its training pictures; "
         "what usually helps: training longer."),
        (scores(506.7, 0.2, 0.0, classes_hit=3), 300, "far from the real pictures (FID 2534 times the floor); 20% of the samples lie among real "
         "pictures (of real pictures, 90%) and they cover little of the data's variety (a sign of mode collapse), with 7 of the 10 classes missing or rare; it does not copy its "
         "training pictures; what usually helps: training longer and augmentation (--augment on), as small sets need."),
        (scores(3.0, 0.9, 0.9, copy_fraction=0.4, flagged=True), 200, "it copies training pictures (40% of samples are near-copies); what usually "
         "helps: augmentation (--augment on), as small sets need and more pictures or stopping earlier."),
    ],
)  # fmt: skip
def test_the_reading_puts_the_numbers_in_plain_words(generated, trained_on, says):
    from gan_core.evaluation.quality import reading

    sentence = reading({"generated": generated, "floor": FLOOR}, trained_on)
    assert sentence.startswith("In plain words: ") and says in sentence
    if "augment" in sentence:  # a run that trained with it already is not told to switch it on
        assert "augment" not in reading({"generated": generated, "floor": FLOOR}, trained_on, augmented=True)
