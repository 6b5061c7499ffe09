"""Evaluating a model of a folder of pictures: no labels, no classifier.

Tiny fixtures: a folder of PNGs written here (discs of ``make_synthetic``), a tiny untrained
generator whose run.json names that folder, and the label-free reference built on the pictures.
"""

from __future__ import annotations

import json

import pytest
import torch
from app_fixtures import make_model_folder
from PIL import Image

from gan_core import evaluate
from gan_core.core.data import load_dataset, make_synthetic
from gan_core.core.models import Generator
from gan_core.evaluation.embedding import RandomEmbedding
from gan_core.evaluation.label_free import LabelFreeReference, split_folder
from gan_core.evaluation.quality import build_label_free_reference

NUM_PICTURES = 80  # 16 held out


def write_pictures(folder, channels: int, num: int = NUM_PICTURES):
    """``num`` 16x16 PNGs of bright discs (grey or colour) in ``folder``."""
    folder.mkdir(parents=True)
    images = make_synthetic(num, 16, channels, seed=0).images.permute(0, 2, 3, 1).numpy()  # (N, H, W, C)
    for index, picture in enumerate(images):
        Image.fromarray(picture[..., 0] if channels == 1 else picture).save(folder / f"picture_{index:03d}.png")
    return folder


@pytest.fixture(params=[1, 3], ids=["grey", "colour"])
def folder_model(request, tmp_path):
    """(model folder whose run.json names a folder dataset, that folder, channels)."""
    channels = request.param
    pictures = write_pictures(tmp_path / "my pictures", channels)
    model = make_model_folder(tmp_path / "model", image_size=16, channels=channels, dataset=f"folder:{pictures}")
    return model, pictures, channels


def run(argv, capsys) -> tuple[dict, str]:
    assert evaluate.main(argv) == 0
    printed = capsys.readouterr().out
    start = printed.index("\n{") + 1
    return json.loads(printed[start : printed.index("\n}", start) + 2]), printed


def test_a_folder_model_is_scored_without_labels(folder_model, capsys):
    model, pictures, channels = folder_model
    result, printed = run([str(model), "--num", "1000", "--kid-subsets", "5"], capsys)
    assert result["dataset"] == f"folder:{pictures}" and result["features"] == "random"
    assert result["feature_space"].startswith(f"random-cnn-v1 (seed 0, {channels} channel")
    assert f"feature space: {result['feature_space']}" in printed
    # 80 pictures, 16 held out: --num is capped at the held-out side, and the output says so.
    assert (
        result["num"] == 16 and f"using 16 samples, not --num 1,000: the held-out side of folder:{pictures} has only that many" in printed
    )
    assert "16 pictures held out of the folder's 80" in result["real_sides"]
    assert "not available: class KL, classes hit and the Inception-Score analogue" in printed
    assert "| FID (random-cnn-v1 features)" not in printed and "FID (random-cnn-v1 features)" in printed
    assert "floor (held-out pictures)" in printed
    for side in ("generated", "floor"):
        assert {"fid", "kid", "precision", "recall", "density", "coverage", "copy_fraction", "nn_ratio"} <= result[side].keys()
        assert "class_kl" not in result[side]
    # An untrained generator makes noise, far from the pictures; held-out pictures are close.
    assert result["generated"]["fid"] > 5 * result["floor"]["fid"]
    assert result["floor"]["nn_ratio"] == 1.0 and not result["floor"]["memorisation_flag"]


def test_write_card_names_the_feature_space(folder_model, capsys):
    model, _, _ = folder_model
    run([str(model), "--num", "16", "--kid-subsets", "2", "--write-card"], capsys)
    card = (model / "generator" / "README.md").read_text()
    assert card.count("## Metrics") == 1 and "Not measured yet" not in card
    assert "| metric | better | generated | floor (held-out pictures) |" in card
    assert "| FID (random-cnn-v1 features) | lower |" in card and "| coverage (k=5) | higher |" in card
    assert "in the feature space `random-cnn-v1 (seed 0," in card and "Not measured: class KL" in card


def test_a_folder_that_is_gone_is_named_with_the_way_out(folder_model, capsys):
    model, pictures, _ = folder_model
    for file in pictures.iterdir():
        file.unlink()
    pictures.rmdir()
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main([str(model), "--num", "16"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"was trained on folder:{pictures}, which is not a folder here any more; pass --dataset folder:PATH" in err


def test_evaluate_is_deterministic(folder_model, capsys):
    model, _, _ = folder_model
    first, _ = run([str(model), "--num", "16", "--kid-subsets", "3"], capsys)
    second, _ = run([str(model), "--num", "16", "--kid-subsets", "3"], capsys)
    assert first["generated"] == second["generated"] and first["floor"] == second["floor"]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--features", "classifier"], "has no labels, so no classifier to take features from; use --features random"),
        (["--features", "random", "--classifier", "somewhere"], "--classifier was given with --features random"),
    ],
)
def test_impossible_feature_choices_stop_with_a_clear_message(folder_model, capsys, extra, message):
    model, _, _ = folder_model
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main([str(model), "--num", "16", *extra])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_a_labelled_dataset_without_classifier_can_be_scored_without_labels(tmp_path, capsys):
    torch.manual_seed(0)
    Generator(latent_dim=8, image_size=16, channels=1, g_features=4).save_pretrained(tmp_path / "g")
    with pytest.raises(SystemExit):  # no weights/classifiers/synthetic: the error names the label-free way
        evaluate.main([str(tmp_path / "g"), "--dataset", "synthetic", "--num", "32"])
    assert "Or measure without one: --features random" in capsys.readouterr().err
    result, printed = run(
        [str(tmp_path / "g"), "--dataset", "synthetic", "--features", "random", "--num", "32", "--kid-subsets", "2"], capsys
    )
    assert result["features"] == "random" and result["num"] == 32 and "floor (real test)" in printed
    assert "--features random leaves the classifier out" in result["not_available"]


# ----------------------------------------------------------------------------- the reference itself


@pytest.fixture(scope="module")
def folder_reference(tmp_path_factory):
    pictures = write_pictures(tmp_path_factory.mktemp("ref") / "pictures", 3, num=200)
    reference, _ = build_label_free_reference(f"folder:{pictures}", image_size=16, channels=3, num=40, kid_subsets=10)
    return reference


def test_copies_of_training_pictures_are_flagged_and_real_pictures_are_not(folder_reference):
    copies = folder_reference.seen[
        torch.randperm(len(folder_reference.seen), generator=torch.Generator().manual_seed(1))[: folder_reference.num]
    ]
    scores, floor = folder_reference.score(copies), folder_reference.floor()
    assert scores["copy_fraction"] == 1.0 and scores["memorisation_flag"] and scores["nn_ratio"] == 0.0
    assert floor["copy_fraction"] < 0.05 and not floor["memorisation_flag"]


def test_real_against_real_is_near_zero_and_below_noise(folder_reference):
    same = folder_reference.score(folder_reference.train_sample)
    assert same["fid"] == pytest.approx(0.0, abs=1e-4) and same["precision"] == 1.0 and same["coverage"] == 1.0
    noise = torch.randint(0, 256, folder_reference.test_sample.shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    noisy, floor = folder_reference.score(noise), folder_reference.floor()
    assert floor["fid"] < 0.2 * noisy["fid"]
    assert noisy["precision"] == 0.0 and noisy["coverage"] == 0.0 and floor["coverage"] > 0.5


def test_split_is_deterministic_in_any_order_and_refuses_tiny_folders():
    pictures = make_synthetic(100, 8, 1, seed=0).images
    train, held = split_folder(pictures)
    assert len(held) == 20 and len(train) == 80 and set(train.tolist()).isdisjoint(held.tolist())
    order = torch.randperm(100, generator=torch.Generator().manual_seed(3))
    _, held_shuffled = split_folder(pictures[order])
    same = {bytes(p.flatten().tolist()) for p in pictures[held]} == {bytes(p.flatten().tolist()) for p in pictures[order][held_shuffled]}
    assert same
    with pytest.raises(ValueError, match="the folder has 30 readable pictures; the label-free metrics need at least 50"):
        split_folder(pictures[:30])


def test_the_folder_is_loaded_at_the_generators_size(tmp_path):
    pictures = write_pictures(tmp_path / "p", 1, num=60)
    reference, sides = build_label_free_reference(f"folder:{pictures}", image_size=8, channels=3, num=100, kid_subsets=2)
    assert tuple(reference.train_sample.shape[1:]) == (3, 8, 8) and reference.num == 12
    assert len(reference.seen) == len(load_dataset(f"folder:{pictures}", image_size=8, channels=3)) == 60
    assert "12 pictures held out of the folder's 60" in sides


def test_reference_rejects_mismatched_images(folder_reference):
    with pytest.raises(ValueError, match="uint8"):
        folder_reference.score(folder_reference.test_sample[:, :1])
    with pytest.raises(ValueError, match="num must be"):
        LabelFreeReference.build(folder_reference.seen, folder_reference.seen, num=1)


# ----------------------------------------------------------------------------- the embedding


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [8, 16, 28, 64, 128])
def test_embedding_shapes_for_every_size(channels, size):
    embedding = RandomEmbedding(channels)
    features = embedding(torch.rand(2, channels, size, size) * 2 - 1)
    assert features.shape == (2, embedding.num_features) and torch.isfinite(features).all()


def test_embedding_is_fixed_by_its_seed_alone():
    images = torch.rand(4, 3, 16, 16) * 2 - 1
    torch.manual_seed(123)  # the global RNG must not matter
    first = RandomEmbedding(3, seed=0)(images)
    torch.manual_seed(456)
    assert torch.equal(first, RandomEmbedding(3, seed=0)(images))
    assert not torch.allclose(first, RandomEmbedding(3, seed=1)(images))


def test_embedding_rejects_bad_input():
    with pytest.raises(ValueError, match=r"expected images \(B, 1, H, W\)"):
        RandomEmbedding(1)(torch.zeros(2, 3, 16, 16))
    with pytest.raises(ValueError, match="channels"):
        RandomEmbedding(2)
