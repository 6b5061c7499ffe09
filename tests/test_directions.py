"""Named directions: the picture measures on known pictures, the effect size on known numbers, a generator whose
direction is known gets the right name (SeFa and GANSpace), the names file, the command and the explorer's views."""

from __future__ import annotations

import json
import logging
import math

import pytest
import torch
from app_fixtures import make_model_folder
from torch import nn

from gan_core import GanPipeline
from gan_core.evaluation import measures
from gan_core.evaluation.classifier import Classifier
from gan_core.explorer import directions as named
from gan_core.explorer import explorer as ex
from gan_core.name_directions import main as name_main

SIDE = 16


def pictures(*masks: torch.Tensor, figure=(255, 255, 255), background=(0, 0, 0)) -> torch.Tensor:
    """uint8 (B, 3, SIDE, SIDE): ``figure`` colour where each bool mask is set, ``background`` elsewhere."""
    out = torch.empty(len(masks), 3, SIDE, SIDE, dtype=torch.uint8)
    for i, mask in enumerate(masks):
        for c in range(3):
            out[i, c] = torch.where(mask, figure[c], background[c])
    return out


def bar(left: int, right: int, top: int = 3, bottom: int = 13) -> torch.Tensor:
    mask = torch.zeros(SIDE, SIDE, dtype=torch.bool)
    mask[top:bottom, left:right] = True
    return mask


def diagonal(rising: bool) -> torch.Tensor:
    """A 2 px wide stroke from bottom-left to top-right (``rising``), or from top-left to bottom-right."""
    mask = torch.zeros(SIDE, SIDE, dtype=torch.bool)
    for y in range(3, 13):
        x = (3 + (12 - y)) if rising else (3 + (y - 3))
        mask[y, x : x + 2] = True
    return mask


# ----------------------------------------------------------------------------- measures


def test_measures_on_known_pictures():
    thin, thick, wide = bar(7, 8), bar(6, 10), bar(2, 14)
    values = measures.measure(pictures(thin, thick, wide, diagonal(True), diagonal(False)))
    assert set(values) == {"brightness", "thickness", "width", "height", "slant", "warmth", "colourfulness"}
    assert values["brightness"][0] == pytest.approx(10 / SIDE**2) and values["brightness"][1] == pytest.approx(40 / SIDE**2)
    assert values["thickness"][0] == pytest.approx(2.0)  # a 1 px line: every pixel touches the background
    assert values["thickness"][0] < values["thickness"][1] < values["thickness"][2]
    # a filled box n px wide: sqrt(12 var) = sqrt(n^2 - 1) px
    assert values["width"][2] * SIDE == pytest.approx(math.sqrt(12**2 - 1)) and values["height"][2] * SIDE == pytest.approx(math.sqrt(10**2 - 1))
    assert values["slant"][3] > 0.5 and values["slant"][4] < -0.5 and abs(values["slant"][1]) < 1e-9
    assert torch.all(values["warmth"] == 0) and torch.all(values["colourfulness"] == 0)


def test_the_figure_is_what_differs_from_the_background():
    masks = (bar(7, 9), bar(3, 12), diagonal(True))
    light_on_black = measures.measure(pictures(*masks))
    dark_on_white = measures.measure(pictures(*masks, figure=(0, 0, 0), background=(255, 255, 255)))
    for key in ("thickness", "width", "height", "slant"):
        torch.testing.assert_close(light_on_black[key], dark_on_white[key])
    torch.testing.assert_close(light_on_black["brightness"], 1 - dark_on_white["brightness"])


def test_warmth_and_colourfulness():
    red, blue = pictures(bar(4, 12), figure=(230, 30, 30), background=(255, 255, 255)), pictures(bar(4, 12), figure=(30, 30, 230), background=(255, 255, 255))
    assert measures.warmth(measures.Figure.of(red)) > 0.5 and measures.warmth(measures.Figure.of(blue)) < -0.5
    assert measures.colourfulness(measures.Figure.of(red)) > 0.5
    grey = measures.measure(pictures(bar(4, 12))[:, :1])
    assert "warmth" not in grey and "colourfulness" not in grey


def test_thickness_is_measured_only_for_strokes():
    strokes, shapes = pictures(bar(7, 9), diagonal(True), bar(4, 6)), pictures(bar(2, 14), bar(3, 12), bar(4, 13))
    assert measures.draws_strokes(strokes) and not measures.draws_strokes(shapes)
    assert "thickness" in [m.key for m in measures.suited_measures(strokes)]
    assert "thickness" not in [m.key for m in measures.suited_measures(shapes)]
    assert [m.key for m in measures.suited_measures(shapes[:, :1])] == ["brightness", "width", "height", "slant"]


def test_a_picture_without_figure_measures_zero():
    blank = measures.measure(torch.zeros(2, 1, 8, 8, dtype=torch.uint8))
    assert all(torch.all(torch.isfinite(v)) for v in blank.values())
    assert torch.all(blank["thickness"] == 0) and torch.all(blank["width"] == 0)


def test_measures_refuse_what_is_not_a_picture_batch():
    with pytest.raises(ValueError, match=r"uint8 \(B, 1 or 3, H, W\), got torch.float32"):
        measures.measure(torch.zeros(2, 1, 8, 8))


# ----------------------------------------------------------------------------- effect size and names


def test_effect_size_is_cohens_d():
    amounts = torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64)
    # means -1, 0, 1 (a change of 2 from the lowest to the highest amount); each amount's two values differ by 2: sd sqrt(2)
    values = torch.tensor([[-2.0, 0.0], [-1.0, 1.0], [0.0, 2.0]], dtype=torch.float64)
    assert named.effect_size(values, amounts) == pytest.approx(2 / math.sqrt(2))
    assert named.effect_size(-values, amounts) == pytest.approx(-2 / math.sqrt(2))
    assert named.effect_size(values * 1000 + 5, amounts) == pytest.approx(2 / math.sqrt(2))  # units do not matter
    assert named.effect_size(torch.ones(3, 4, dtype=torch.float64), amounts) == 0.0
    assert named.effect_size(torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]], dtype=torch.float64), amounts) == 99.0


def test_names_say_the_largest_effect_in_its_direction():
    effects = {"brightness": -0.9, "thickness": 1.4, "class:7": -2.0, "class:0": 1.0, "class:1": 0.2}
    assert named.class_change(effects) == ("7", "0")
    assert named.name_of(effects, 0.5) == ("thicker", "thickness", 1.4)
    assert named.name_of(effects, 0.5, ("7 → 0", 2.5)) == ("7 → 0", "class", 2.5)
    assert named.name_of({"brightness": -0.9, "thickness": 0.1}, 0.5) == ("darker", "brightness", 0.9)
    assert named.name_of({"brightness": -0.3, "thickness": 0.1}, 0.5)[0] == "no clear change"
    assert named.class_change({"brightness": 1.0}) is None


def test_naming_config_is_checked():
    with pytest.raises(ValueError, match="amounts must be increasing"):
        named.NamingConfig(amounts=(0.0, 1.0))
    with pytest.raises(ValueError, match="seeds must be"):
        named.NamingConfig(seeds=2)


# ----------------------------------------------------------------------------- a generator whose direction is known


class BrighteningGenerator(nn.Module):
    """Generator-compatible: z (B, 4) -> (B, 1, 8, 8). z[0] brightens the whole picture (SeFa's and GANSpace's first
    direction, by the first layer's weight); z[1] makes a bar wider; z[2], z[3] do nothing to the picture."""

    latent_dim, image_size, channels, noise = 4, 8, 1, "normal"

    def __init__(self):
        super().__init__()
        self.first_layer = nn.ConvTranspose2d(4, 2, 4, bias=False)
        with torch.no_grad():
            self.first_layer.weight.zero_()
            self.first_layer.weight[0, 0] = 1.0  # |row 0| = 4: the strongest direction is z[0]
            self.first_layer.weight[1, 1, 0, 0] = 0.5
            self.first_layer.weight[2, 1, 0, 1] = 0.3
            self.first_layer.weight[3, 1, 0, 2] = 0.2

    def first_features(self, z: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.first_layer(z[:, :, None, None]))  # (B, 2, 4, 4)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        xs = torch.arange(8, dtype=z.dtype)
        half_width = 1.5 + 0.5 * z[:, 1:2].clamp(-2, 2)  # (B, 1)
        figure = ((xs[None] - 3.5).abs() < half_width).to(z.dtype)  # (B, 8): a vertical bar
        figure = figure[:, None, None, :].expand(-1, 1, 8, 8).clone()
        figure[:, :, :2] = 0  # background rows above and below
        figure[:, :, -2:] = 0
        level = -0.5 + 0.08 * z[:, 0, None, None, None]  # the background's grey, and the bar 0.7 above it
        return (level + 0.7 * figure).clamp(-1, 1)


@pytest.fixture(scope="module")
def brightening():
    return GanPipeline(BrighteningGenerator(), name="bright")


@pytest.mark.parametrize("kind", ["sefa", "ganspace"])
def test_a_direction_that_brightens_is_named_brighter(brightening, kind):
    names = named.name_directions(brightening, kind, config=named.NamingConfig(seeds=64, num_directions=4), classifier=None)
    first = names.directions[0]
    assert first.name == "brighter" and first.measure == "brightness" and first.effect > 3
    assert first.label == f"brighter · effect {first.effect:.1f}"
    assert abs(first.effects["width"]) < 0.5 and first.class_change is None and first.pixel_change > 0
    assert names.classifier is None and names.kind == kind


def test_the_moved_bar_is_named_wider(brightening):
    names = named.name_directions(brightening, config=named.NamingConfig(seeds=64, num_directions=4), classifier=None)
    assert names.directions[1].name == "wider"
    assert names.directions[3].name == "no clear change"  # z[3] changes nothing
    assert names.labels[3] == "no clear change"


class BrightnessClassifier(Classifier):
    """Reads a picture as 'dark' or 'bright' by its mean grey: a class change a test can predict."""

    def __init__(self):
        super().__init__(channels=1, num_classes=2, features=1, embed_dim=1, class_names=["dark", "bright"])
        self.head = nn.Linear(1, 2)  # logits (-20 f - 6, 20 f + 6): 'bright' when the mean f (in [-1, 1]) is above -0.3
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor([[-20.0], [20.0]]))
            self.head.bias.copy_(torch.tensor([-6.0, 6.0]))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return images.mean((1, 2, 3))[:, None]  # (B, 1)


def test_a_classifier_reads_the_class_change(brightening):
    classifier = BrightnessClassifier()
    names = named.name_directions(brightening, config=named.NamingConfig(seeds=64, num_directions=2), classifier=classifier)
    first = names.directions[0]
    assert first.class_change == "dark → bright" and first.class_effect > 1 and first.class_flips > 0.5
    assert first.name in ("brighter", "dark → bright")
    assert names.directions[1].class_flips < first.class_flips  # a wider bar is brighter too, but less so


# ----------------------------------------------------------------------------- the names file and the command


@pytest.fixture
def folder(tmp_path):
    return make_model_folder(tmp_path / "grey", image_size=16, channels=1, latent_dim=8)


def test_names_are_kept_for_their_generator_only(folder, monkeypatch, caplog):
    pipeline = GanPipeline.from_pretrained(str(folder))
    config = named.NamingConfig(seeds=16)
    names = named.name_directions(pipeline, config=config)
    path = named.names_path(pipeline)
    assert path == folder / "directions.json"
    named.write_names(path, named.generator_hash(pipeline), [names])
    assert named.read_names(path, named.generator_hash(pipeline), "sefa", config).to_dict() == names.to_dict()
    assert named.read_names(path, "another generator", "sefa", config) is None
    assert named.read_names(path, named.generator_hash(pipeline), "ganspace", config) is None
    assert named.read_names(path, named.generator_hash(pipeline), "sefa", named.NamingConfig(seeds=32)) is None

    def refuse(*args, **kwargs):
        raise AssertionError("the names should have been read from the file")

    monkeypatch.setattr(named, "name_directions", refuse)
    assert named.names_for(pipeline, "sefa", config).to_dict() == names.to_dict()
    path.write_text("{not json")
    with caplog.at_level(logging.WARNING):
        assert named.read_names(path, named.generator_hash(pipeline), "sefa", config) is None
    assert "could not be read" in caplog.text


def test_the_command_writes_both_kinds_and_prints_the_labels(folder, capsys):
    assert name_main([str(folder), "--seeds", "16", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    stored = json.loads((folder / "directions.json").read_text())
    assert sorted(stored["kinds"]) == ["ganspace", "sefa"] and stored["format"] == 1
    pipeline = GanPipeline.from_pretrained(str(folder))
    assert stored["generator"] == named.generator_hash(pipeline)
    sefa = named.DirectionNames.from_dict(stored["kinds"]["sefa"])
    assert len(sefa.directions) == 8 and sefa.config.seeds == 16
    assert sefa.directions[0].label in out and "wrote" in out and "ganspace:" in out
    assert name_main([str(folder / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err


# ----------------------------------------------------------------------------- what the explorer shows


def test_the_explorer_names_every_slider(folder):
    explorer = ex.Explorer.from_sources([str(folder)])
    view = explorer.view("grey")
    assert len(view.direction_names) == len(view.labels) == 8
    assert view.labels[0].startswith("Direction 1 · strength")  # the labels are unchanged
    assert view.direction_names == explorer.direction_names("grey")
    info = explorer.named_directions("grey", "ganspace")
    assert info["kind"] == "ganspace" and "GANSpace" in info["explanation"] and "Cohen's d" in info["naming"]
    assert len(info["directions"]) == 8 and {"name", "label", "effect", "effects", "pixel_change"} <= set(info["directions"][0])
    with pytest.raises(ValueError, match="Direction kind must be one of sefa, ganspace"):
        explorer.direction_names("grey", "pca")


def test_the_explorer_names_a_model_from_its_file(folder):
    assert name_main([str(folder), "--kind", "sefa"]) == 0  # the explorer's config: 128 seeds, 8 directions
    stored = json.loads((folder / "directions.json").read_text())
    stored["kinds"]["sefa"]["directions"][0]["name"] = "read from the file"
    (folder / "directions.json").write_text(json.dumps(stored))
    explorer = ex.Explorer.from_sources([str(folder)])
    assert explorer.direction_names("grey")[0].startswith("read from the file")


def test_the_brightening_model_is_labelled_in_the_view(brightening):
    explorer = ex.Explorer([brightening])
    assert explorer.view("bright").direction_names[0].startswith("brighter · effect")


def test_each_kind_has_its_own_sheet_and_labels(folder):
    explorer = ex.Explorer.from_sources([str(folder)])
    sefa, ganspace = (explorer.direction_sheet("grey", 3, 1.0, kind=kind) for kind in ("sefa", "ganspace"))
    assert sefa["kind"] == "sefa" and ganspace["kind"] == "ganspace" and sefa["rows"] == ganspace["rows"] == 8
    assert sefa["src"] != ganspace["src"]
    assert explorer.direction_sheet("grey", 3, 1.0) == sefa  # SeFa unless told
    assert explorer.direction_labels("grey", "ganspace")[0].startswith("Direction 1 · strength")
