"""Inversion: the encoder part, refinement, preparing pictures, the anomaly score, the pipeline API and the CLI.

Tiny models (8-16 px, 4 channels wide) whose generator's BatchNorm statistics are calibrated on its own
activations, so that its pictures vary with z as a trained G's do.
"""

from __future__ import annotations

import io
import json
import struct
import threading
import zlib

import numpy as np
import pytest
import torch
from app_fixtures import make_model_folder
from PIL import Image
from safetensors.torch import load_file, save_file

from gan_core import GanPipeline
from gan_core.core import hub
from gan_core.core.encoder import Encoder, discriminator_features
from gan_core.core.images import to_model_range
from gan_core.core.models import Discriminator, Generator
from gan_core.explorer.state import ExploreState
from gan_core.inversion import prepare as prep
from gan_core.inversion.anomaly import Reference
from gan_core.inversion.invert import RefineConfig, max_radius, project, refine
from gan_core.train_encoder import main as train_encoder_main

LATENT = 8


def calibrated_generator(image_size: int = 16, channels: int = 1, seed: int = 0) -> Generator:
    """A tiny G whose BatchNorm running statistics match its activations (as after training)."""
    torch.manual_seed(seed)
    generator = Generator(latent_dim=LATENT, image_size=image_size, channels=channels, g_features=4)
    for module in generator.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None  # cumulative average
    with torch.no_grad():
        generator.train()(torch.randn(512, LATENT))
    return generator.eval()


@pytest.fixture(scope="module")
def networks():
    generator = calibrated_generator()
    torch.manual_seed(1)
    discriminator = Discriminator(image_size=16, channels=1, d_features=4).eval()
    return generator, discriminator


@pytest.fixture
def model_dir(tmp_path):
    """A shipped-layout model folder with a calibrated G, a D and an encoder/ with reference scores."""
    folder = make_model_folder(tmp_path / "tiny", image_size=16, latent_dim=LATENT)
    hub.save_model(calibrated_generator(), folder / "generator")
    torch.manual_seed(2)
    hub.save_model(Encoder(latent_dim=LATENT, image_size=16, channels=1, e_features=4).eval(), folder / "encoder")
    Reference(dataset="synthetic", split="test", scores=[0.1, 0.2, 0.3, 0.4]).save(folder / "encoder" / "reference_scores.json")
    return folder


def g_samples(generator: Generator, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    z = torch.randn(count, LATENT, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return z, generator(z)


# ----------------------------------------------------------------------------- the encoder part


@pytest.mark.parametrize("image_size, channels", [(8, 1), (16, 3), (28, 1), (32, 3)])
def test_encoder_maps_pictures_of_every_size_to_z(image_size, channels):
    encoder = Encoder(latent_dim=LATENT, image_size=image_size, channels=channels, e_features=4).eval()
    assert encoder(torch.zeros(2, channels, image_size, image_size)).shape == (2, LATENT)
    uniform = Encoder(latent_dim=LATENT, image_size=image_size, channels=channels, e_features=4, noise="uniform").eval()
    assert uniform(torch.randn(2, channels, image_size, image_size) * 10).abs().max() <= 1


def test_encoder_save_then_load_gives_identical_outputs(tmp_path):
    torch.manual_seed(0)
    encoder = Encoder(latent_dim=LATENT, image_size=16, channels=3, e_features=4)
    encoder.train()(torch.randn(8, 3, 16, 16))  # non-trivial BatchNorm buffers must travel too
    hub.save_model(encoder.eval(), tmp_path / "encoder")
    assert json.loads((tmp_path / "encoder" / "config.json").read_text()) == {"latent_dim": LATENT, "image_size": 16, "channels": 3, "e_features": 4, "noise": "normal"}
    loaded = hub.load_part(Encoder, tmp_path / "encoder")
    pictures = torch.rand(3, 3, 16, 16) * 2 - 1
    assert not loaded.training
    assert torch.equal(loaded(pictures), encoder(pictures))
    assert torch.equal(hub.load_model(Encoder, tmp_path)(pictures), encoder(pictures))  # found as root/encoder


def test_encoder_loading_is_strict(tmp_path):
    hub.save_model(Encoder(latent_dim=LATENT, image_size=16, channels=1, e_features=4), tmp_path / "encoder")
    weights = tmp_path / "encoder" / "model.safetensors"
    tensors = load_file(weights)
    del tensors["net.3.running_mean"]
    save_file(tensors, weights)
    with pytest.raises(ValueError, match="missing net.3.running_mean"):
        hub.load_part(Encoder, tmp_path / "encoder")
    (tmp_path / "encoder" / "config.json").write_text(json.dumps({"latent_dim": LATENT, "image_size": 16, "channels": 1, "e_features": 8}))
    with pytest.raises(ValueError, match="misshaped"):
        hub.load_part(Encoder, tmp_path / "encoder")
    hub.save_model(Generator(latent_dim=LATENT, image_size=16, channels=1, g_features=4), tmp_path / "g")
    with pytest.raises(ValueError, match="holds a generator config; expected an encoder folder"):
        hub.load_part(Encoder, tmp_path / "g")
    with pytest.raises(ValueError, match="holds an encoder config; expected a generator folder"):
        hub.load_part(Generator, tmp_path / "encoder")


def test_locate_finds_an_optional_encoder(model_dir, tmp_path):
    assert hub.locate(model_dir).encoder == model_dir / "encoder"
    assert hub.locate(model_dir / "generator").encoder == model_dir / "encoder"
    bare = make_model_folder(tmp_path / "bare", image_size=16, latent_dim=LATENT)
    assert hub.locate(bare).encoder is None
    assert GanPipeline.from_pretrained(bare).encoder is None


def test_pipeline_loads_the_encoder_and_its_reference(model_dir):
    pipeline = GanPipeline.from_pretrained(model_dir)
    assert isinstance(pipeline.encoder, Encoder) and not pipeline.encoder.training
    assert pipeline.reference.scores == (0.1, 0.2, 0.3, 0.4)
    assert pipeline.to("cpu") is pipeline


def test_an_encoder_of_another_shape_is_refused(model_dir):
    hub.save_model(Encoder(latent_dim=LATENT + 1, image_size=16, channels=1, e_features=4), model_dir / "encoder")
    with pytest.raises(ValueError, match="Retrain it"):
        GanPipeline.from_pretrained(model_dir)


def test_a_damaged_reference_leaves_the_percentile_out_and_says_so(model_dir):
    (model_dir / "encoder" / "reference_scores.json").write_text("{oops")
    pipeline = GanPipeline.from_pretrained(model_dir)
    assert pipeline.reference is None and "reference_scores.json is not a valid reference" in pipeline.problems[0]


def test_discriminator_features_are_the_activations_before_the_last_conv(networks):
    _, discriminator = networks
    pictures = torch.rand(2, 1, 16, 16) * 2 - 1
    features = discriminator_features(discriminator, pictures)
    assert features.shape == (2, 8 * 4 * 4)  # 2 d_features maps of the 4 x 4 base
    last = discriminator.net[-1]
    assert torch.allclose(last(features.view(2, 8, 4, 4)).flatten(), discriminator(pictures))


# ----------------------------------------------------------------------------- refinement


def test_projection_keeps_z_where_the_prior_puts_it():
    z = torch.randn(4, 100) * 5
    projected = project(z)
    assert torch.all(projected.norm(dim=1) <= max_radius(100) + 1e-4)
    inside = torch.randn(3, 100)
    assert torch.equal(project(inside), inside * 1.0) or torch.allclose(project(inside), inside)
    assert project(torch.full((1, 3), 5.0), "uniform").max() == 1


def test_refinement_finds_g_s_own_samples_and_beats_random_z(networks):
    generator, discriminator = networks
    _, pictures = g_samples(generator, 4, seed=5)
    config = RefineConfig(steps=120, restarts=4)
    found = refine(generator, pictures, discriminator=discriminator, config=config, seed=0)
    with torch.no_grad():
        error = (generator(found.z) - pictures).abs().mean(dim=(1, 2, 3)) / 2
        random_z = torch.randn(64, LATENT, generator=torch.Generator().manual_seed(9))
        random_error = (generator(random_z)[None] - pictures[:, None]).abs().mean(dim=(2, 3, 4)) / 2  # (4, 64)
    assert found.z.shape == (4, LATENT) and found.steps == 120 and not found.stopped
    assert torch.all(error < random_error.mean(1))  # better than a random z
    assert torch.all(error <= random_error.min(1).values)  # and than the best of 64 random z
    assert error.mean() < 0.02  # close: 5 grey levels on average
    start_error = refine(generator, pictures, config=RefineConfig(steps=0, restarts=4), seed=0).loss
    assert torch.all(found.loss < start_error)  # refinement reduced the objective


def test_refinement_is_deterministic_in_its_seed(networks):
    generator, discriminator = networks
    _, pictures = g_samples(generator, 2, seed=3)
    config = RefineConfig(steps=15, restarts=2)
    first = refine(generator, pictures, discriminator=discriminator, config=config, seed=4)
    again = refine(generator, pictures, discriminator=discriminator, config=config, seed=4)
    other = refine(generator, pictures, discriminator=discriminator, config=config, seed=5)
    assert torch.equal(first.z, again.z)
    assert not torch.equal(first.z, other.z)


def test_refinement_works_inside_no_grad_and_inference_mode(networks):
    generator, _ = networks
    _, pictures = g_samples(generator, 1, seed=3)
    config = RefineConfig(steps=5, restarts=1)
    expected = refine(generator, pictures, config=config).z
    with torch.no_grad():
        assert torch.equal(refine(generator, pictures, config=config).z, expected)
    with torch.inference_mode():
        assert torch.equal(refine(generator, pictures.clone(), config=config).z, expected)


def test_a_picture_s_result_does_not_depend_on_its_batch(networks):
    generator, discriminator = networks
    _, pictures = g_samples(generator, 3, seed=3)
    config = RefineConfig(steps=10, restarts=2)
    together = refine(generator, pictures, discriminator=discriminator, config=config, seed=1)
    alone = refine(generator, pictures[1:2], discriminator=discriminator, config=config, seed=1)
    assert torch.allclose(together.z[1], alone.z[0], atol=1e-4)


def test_progress_is_reported_and_should_stop_stops_early(networks):
    generator, _ = networks
    _, pictures = g_samples(generator, 1, seed=3)
    calls = []
    refine(generator, pictures, config=RefineConfig(steps=30, restarts=1), progress=lambda done, total: calls.append((done, total)))
    assert calls == [(10, 30), (20, 30), (30, 30)]
    asked = []
    stopped = refine(generator, pictures, config=RefineConfig(steps=30, restarts=1), should_stop=lambda: asked.append(1) or len(asked) > 5)
    assert stopped.stopped and stopped.steps == 5 and stopped.z.shape == (1, LATENT)
    event = threading.Event()
    event.set()
    at_once = refine(generator, pictures, config=RefineConfig(steps=30, restarts=1), should_stop=event)
    assert at_once.stopped and at_once.steps == 0 and torch.isfinite(at_once.loss).all()


def test_refinement_refuses_bad_pictures_and_settings(networks):
    generator, _ = networks
    with pytest.raises(ValueError, match=r"shape \(N, 1, 16, 16\)"):
        refine(generator, torch.zeros(1, 3, 16, 16))
    with pytest.raises(ValueError, match="NaN"):
        refine(generator, torch.full((1, 1, 16, 16), float("nan")))
    with pytest.raises(ValueError, match="at least one start"):
        refine(generator, torch.zeros(1, 1, 16, 16), config=RefineConfig(restarts=0))
    with pytest.raises(ValueError, match="steps must be a whole number"):
        RefineConfig(steps=-1)


# ----------------------------------------------------------------------------- the anomaly score


def test_noise_and_blank_pictures_score_higher_than_g_s_own_samples(model_dir):
    pipeline = GanPipeline.from_pretrained(model_dir)
    samples = pipeline.generate(6, seed=1).uint8
    noise = torch.randint(0, 256, (6, 1, 16, 16), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    blank = torch.full((2, 1, 16, 16), 255, dtype=torch.uint8)
    own = pipeline.invert_images(samples, steps=60)
    other = pipeline.invert_images(torch.cat([noise, blank]), steps=60)
    assert other.scores.min() > own.scores.max()
    assert own.pixel_error.mean() < other.pixel_error.mean()
    assert own.used_encoder and own.feature_residual is not None


def test_reference_percentiles():
    reference = Reference(dataset="mnist", split="test", scores=[0.4, 0.1, 0.3, 0.2])
    assert reference.scores == (0.1, 0.2, 0.3, 0.4)
    assert reference.percentile(0.0) == 0 and reference.percentile(1.0) == 100
    assert reference.percentile(0.25) == 50 and reference.percentile(0.2) == 37.5  # ties count half
    assert reference.describe(0.35) == "More unusual than 75% of 4 real mnist test pictures."
    with pytest.raises(ValueError, match="a reference score must be a number"):
        Reference(dataset="mnist", split="test", scores=[float("nan")])


def test_reference_reads_a_score_in_plain_words():
    reference = Reference(dataset="mnist", split="test", scores=[0.01 * i for i in range(1, 1001)])  # 0.01 .. 10.0
    assert reference.reading(27.0) == "This does not look like a digit: it is more unusual than every one of 1,000 real test digits."
    assert reference.reading(9.995) == "This hardly looks like a digit: only 1 of 1,000 real test digits is as unusual."
    assert reference.reading(9.5).startswith("This looks like an unusual digit: it is more unusual than 949 of 1,000")
    assert reference.reading(5.0).startswith("This looks like an ordinary digit")
    assert reference.reading(0.0) == "This looks like a very typical digit: it is less unusual than every one of 1,000 real test digits."
    clothes = Reference(dataset="fashion-mnist", split="test", scores=[1.0])
    assert clothes.reading(2.0) == "This does not look like a garment: it is more unusual than every one of 1 real test garments."
    assert Reference(dataset="emoji", split="test", scores=[1.0]).reading(2.0).startswith("This does not look like an emoji picture")


def test_reference_scale_marks_the_score_among_the_reference_scores():
    reference = Reference(dataset="mnist", split="test", scores=[0.1, 0.2, 0.2, 0.4])
    scale = reference.scale(0.2, bins=4)
    assert scale["counts"] == [0, 1, 2, 1] and scale["edges"] == [0.0, 0.1, 0.2, 0.3, 0.4]
    assert (scale["position"], scale["off_scale"], scale["percentile"], scale["of"]) == (0.5, False, 50.0, "4 real test digits")
    beyond = reference.scale(0.8, bins=4)  # the axis reaches on to the score...
    assert beyond["high"] == pytest.approx(0.8) and beyond["position"] == 1.0 and not beyond["off_scale"] and sum(beyond["counts"]) == 4
    far = reference.scale(100.0)  # ...up to 3x the highest reference score
    assert far["high"] == pytest.approx(1.2) and far["position"] == 1.0 and far["off_scale"]


# ----------------------------------------------------------------------------- preparing pictures


def canvas(size=280, background=255) -> np.ndarray:
    return np.full((size, size), background, dtype=np.uint8)


def png(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **options)
    return buffer.getvalue()


def digit_like(size=280) -> np.ndarray:
    """A dark '7'-ish stroke drawn on a white canvas, off centre."""
    picture, u = canvas(size), size / 280
    picture[round(40 * u) : round(60 * u), round(60 * u) : round(200 * u)] = 0  # the bar
    for row in range(round(60 * u), round(240 * u)):
        column = round(200 * u - (row - 60 * u) / 2)
        picture[row, column - round(10 * u) : column + round(10 * u)] = 0  # the slanted stem
    return picture


def test_a_drawing_becomes_an_mnist_digit():
    out = prep.prepare(digit_like(), image_size=28, channels=1, style="digit")
    assert out.shape == (28, 28) and out.dtype == np.uint8
    assert out.max() == 255 and out[0].max() == 0 and out[:, 0].max() == 0  # light strokes on black
    rows, cols = np.nonzero(out > 64)
    assert max(rows.max() - rows.min(), cols.max() - cols.min()) + 1 <= 21  # fitted into 20 x 20 (+ antialias)
    ys, xs = np.indices(out.shape)
    centre = ((ys * out).sum() / out.sum(), (xs * out).sum() / out.sum())
    assert abs(centre[0] - 13.5) <= 1 and abs(centre[1] - 13.5) <= 1  # centred by centre of mass
    inverted = prep.prepare(255 - digit_like(), image_size=28, channels=1, style="digit")
    assert np.abs(inverted.astype(int) - out).max() <= 1  # light-on-dark gives the same input


def test_objects_fill_the_frame_and_photos_are_cropped():
    picture = canvas(200)
    picture[20:180, 70:130] = 40  # a tall dark object on white
    out = prep.prepare(picture, image_size=28, channels=1, style="object")
    rows, cols = np.nonzero(out > 30)
    assert rows.min() == 0 and rows.max() == 27  # fitted to the full height
    assert 8 <= cols.max() - cols.min() + 1 <= 12  # aspect kept
    assert 200 <= out.max() <= 220  # tones kept (255 - 40), not stretched
    rgb = np.zeros((40, 80, 3), dtype=np.uint8)
    rgb[:, :40] = (255, 0, 0)
    photo = prep.prepare(rgb, image_size=16, channels=3, style="photo")
    assert photo.shape == (16, 16, 3)


def test_styles_follow_the_dataset_or_the_samples():
    assert prep.style_for("mnist", 1).name == "digit"
    assert prep.style_for("fashion-mnist", 1).name == "object"
    dark = np.zeros((4, 16, 16), dtype=np.uint8)
    dark[:, 5:11, 5:11] = 200
    assert prep.style_for("synthetic", 1, dark).name == "dark"
    assert prep.style_for(None, 1, np.full((4, 16, 16), 128, dtype=np.uint8)).name == "photo"
    assert prep.style_for(None, 3, None).name == "photo"


def test_transparent_and_palette_pictures_and_gifs_are_read(tmp_path):
    drawing = np.zeros((100, 100, 4), dtype=np.uint8)  # a canvas: transparent, with black strokes
    drawing[20:80, 45:55] = (0, 0, 0, 255)
    from_rgba = prep.prepare(drawing, image_size=28, channels=1, style="digit")
    assert from_rgba.max() == 255 and from_rgba[0, 0] == 0
    white_strokes = drawing.copy()
    white_strokes[20:80, 45:55, :3] = 255  # white strokes on transparent: still light on black
    assert np.array_equal(prep.prepare(white_strokes, image_size=28, channels=1, style="digit"), from_rgba)
    palette = Image.fromarray(digit_like(100)).convert("P")
    assert prep.prepare(png(palette), image_size=28, channels=1, style="digit").max() == 255
    first, second = digit_like(100), canvas(100)
    second[10:90, 10:20] = 0
    gif = tmp_path / "anim.gif"
    Image.fromarray(first).save(gif, save_all=True, append_images=[Image.fromarray(second)], duration=100)
    expected = prep.prepare(first, image_size=28, channels=1, style="digit")
    assert np.abs(prep.prepare(gif, image_size=28, channels=1, style="digit").astype(int) - expected).max() <= 2  # the first frame
    sixteen = Image.fromarray(digit_like(64).astype(np.uint16) * 257)
    assert prep.prepare(png(sixteen), image_size=28, channels=1, style="digit").max() == 255
    assert prep.prepare({"composite": drawing, "layers": []}, image_size=28, channels=1, style="digit").max() == 255


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width x height in its header and holds no real pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "picture, message",
    [
        (None, "No picture was given"),
        (canvas(), "The picture is empty"),
        (np.zeros((50, 50, 4), dtype=np.uint8), "The picture is empty: it is fully transparent"),
        (np.full((28, 28), 7, dtype=np.uint8), "The picture is empty"),
        (np.zeros((1, 1), dtype=np.uint8), "1x1 pixels: too small"),
        (png_header_only(10_000, 10_000), "10000x10000 pixels; the largest accepted is 4096x4096"),
        (png_header_only(100_000, 100_000), "too large to decode safely|100000x100000 pixels"),
        (b"this is not a picture, only text renamed .png", "not a picture Pillow can read"),
        (b"", "empty \\(0 bytes\\)"),
        (png(Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)))[:300], "could not be decoded"),
        (np.full((28, 28), np.nan), "NaN or infinite"),
        (np.zeros((28, 28, 2), dtype=np.uint8), "expected \\(H, W\\) grey"),
        (np.zeros((2, 3, 28, 28), dtype=np.uint8), "expected \\(H, W\\) grey"),
        (np.zeros((3, 28, 28), dtype=np.uint8), "channels first"),
        (np.zeros((5000, 10), dtype=np.uint8), "10x5000 pixels|5000 pixels"),
        (np.full((28, 28), 2.0), "floats from 2 to 2"),
        (np.full((28, 28), 300, dtype=np.int64), "whole numbers from 300 to 300"),
        (np.zeros((0, 28), dtype=np.uint8), "empty"),
        ("/nonexistent/picture.png", "No picture file"),
        (12, "got int"),
    ],
    ids=lambda value: type(value).__name__ if not isinstance(value, str) else None,
)
def test_bad_pictures_are_refused_with_one_sentence(picture, message):
    """Each refusal is one ValueError (FileNotFoundError for a missing file) saying what is wrong."""
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        prep.prepare(picture, image_size=28, channels=1, style="digit")


def test_a_single_dot_is_refused_and_a_small_shape_is_not():
    dot = canvas()
    dot[140:146, 140:146] = 0
    with pytest.raises(ValueError, match="only a dot"):
        prep.prepare(dot, image_size=28, channels=1, style="digit")
    one = canvas()
    one[60:220, 135:145] = 0  # a thin '1'
    assert prep.prepare(one, image_size=28, channels=1, style="digit").max() == 255


def test_the_largest_accepted_picture_is_prepared_quickly():
    picture = np.full((4096, 4096), 255, dtype=np.uint8)
    picture[1000:3000, 1900:2200] = 0  # a '1' drawn on a huge white canvas
    out = prep.prepare(picture, image_size=28, channels=1, style="digit")
    assert out.shape == (28, 28) and out.max() == 255 and out[:, :5].max() == 0


def test_a_renamed_file_and_a_huge_upload_are_refused_from_disk(tmp_path):
    fake = tmp_path / "digit.png"
    fake.write_text("not a picture")
    with pytest.raises(ValueError, match="'digit.png' is not a picture"):
        prep.prepare(fake, image_size=28, channels=1, style="digit")
    huge = tmp_path / "huge.png"
    huge.write_bytes(png_header_only(10_000, 10_000))
    with pytest.raises(ValueError, match="10000x10000"):
        prep.prepare(huge, image_size=28, channels=1, style="digit")


def test_sixteen_bit_and_float_pictures_are_reduced_before_their_values_are_scaled(tmp_path):
    """A 16-bit PNG and a float TIFF give the 8-bit picture's result (no full-size float copy is made on the way)."""
    from PIL import Image

    grey = np.zeros((1200, 1000), dtype=np.uint8)
    grey[200:1000, 450:550] = 255  # a '1'
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "deep.png")
    Image.fromarray(grey.astype(np.float32)).save(tmp_path / "float.tif")
    Image.fromarray(grey).save(tmp_path / "plain.png")
    expected = prep.prepare(tmp_path / "plain.png", image_size=28, channels=1, style="digit").astype(int)
    for name in ("deep.png", "float.tif"):
        out = prep.prepare(tmp_path / name, image_size=28, channels=1, style="digit").astype(int)
        assert np.abs(out - expected).max() <= 1, name


def test_a_picture_too_costly_to_decode_is_refused_before_decoding(tmp_path, monkeypatch):
    from PIL import Image

    Image.new("RGBA", (200, 100), (255, 255, 255, 255)).save(tmp_path / "wide.png")
    monkeypatch.setattr(prep, "MAX_DECODED_BYTES", 50_000)  # 200 x 100 RGBA is 80,000 bytes decoded
    with pytest.raises(ValueError, match=r"would take 0 MB to decode \(200x100 pixels of mode RGBA\)"):
        prep.prepare(tmp_path / "wide.png", image_size=28, channels=1, style="digit")


# ----------------------------------------------------------------------------- the pipeline API


def test_invert_returns_pictures_z_and_a_percentile(model_dir):
    pipeline = GanPipeline.from_pretrained(model_dir)
    picture = pipeline.generate(1, seed=3).images[0]
    calls = []
    result = pipeline.invert(picture, steps=20, restarts=2, seed=1, progress=lambda d, t: calls.append(d))
    assert result.prepared.shape == result.reconstruction.shape == result.residual.shape == (16, 16)
    assert result.reconstruction.dtype == result.residual.dtype == np.uint8
    assert len(result.z) == LATENT and all(isinstance(v, float) for v in result.z)
    assert 0 <= result.percentile <= 100 and "real synthetic test pictures" in result.summary
    assert 0 <= result.p_real <= 1 and 0 <= result.p_real_reconstruction <= 1
    assert result.steps == 20 and not result.stopped and result.used_encoder and result.note == "" and calls[-1] == 20
    assert result.score_from == "encoder"  # f-AnoGAN: the score is taken at E(x), not at the refined z
    drawn = pipeline(torch.tensor([result.z])).images[0]
    assert np.abs(drawn.astype(int) - result.reconstruction).max() <= 1  # z draws the reconstruction
    expected = np.abs(result.prepared.astype(int) - result.reconstruction.astype(int))
    assert np.abs(result.residual.astype(int) - expected).max() <= 1
    state = ExploreState(model="tiny", z=result.z)  # opens in Explore
    assert pipeline.edit(torch.tensor([state.z]), state.psi).shape == (1, LATENT)
    again = pipeline.invert(picture, steps=20, restarts=2, seed=1)
    assert again.z == result.z and again.score == result.score
    anomaly = pipeline.anomaly_score(picture, steps=20, restarts=2, seed=1)
    assert anomaly.score == result.score and anomaly.percentile == result.percentile
    assert anomaly.score == pytest.approx(anomaly.pixel_residual + anomaly.feature_residual, rel=1e-5)


def test_invert_works_without_an_encoder_and_says_so(tmp_path):
    folder = make_model_folder(tmp_path / "plain", image_size=16, latent_dim=LATENT)
    hub.save_model(calibrated_generator(), folder / "generator")
    pipeline = GanPipeline.from_pretrained(folder)
    event = threading.Event()
    event.set()
    result = pipeline.invert(pipeline.generate(1, seed=0).images[0], steps=10, restarts=2, should_stop=event)
    assert not result.used_encoder and "No encoder ships with this model" in result.note
    assert result.stopped and "Stopped after 0 steps" in result.note
    assert result.percentile is None and "no reference scores" in result.summary and result.score_from == "refinement"
    with pytest.raises(ValueError, match="restarts must be at least 1"):
        pipeline.invert(pipeline.generate(1, seed=0).images[0], restarts=0)


def test_invert_images_reports_progress_over_all_chunks(model_dir):
    pipeline = GanPipeline.from_pretrained(model_dir)
    calls = []
    found = pipeline.invert_images(pipeline.generate(3, seed=0).uint8, steps=10, batch_size=2, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(10, 20), (20, 20)] and len(found) == 3 and found.reconstructions.dtype == torch.uint8


def test_invert_images_refuses_unprepared_pictures(model_dir):
    pipeline = GanPipeline.from_pretrained(model_dir)
    with pytest.raises(ValueError, match="no pictures"):
        pipeline.invert_images(torch.zeros(0, 1, 16, 16, dtype=torch.uint8))
    with pytest.raises(ValueError, match="use pipeline.prepare"):
        pipeline.invert_images(torch.zeros(1, 1, 28, 28, dtype=torch.uint8))
    with pytest.raises(ValueError, match="use pipeline.prepare"):
        pipeline.invert_images(to_model_range(torch.zeros(1, 1, 16, 16, dtype=torch.uint8)))


# ----------------------------------------------------------------------------- the command


def test_train_encoder_writes_a_loadable_encoder_with_reference_scores(tmp_path, capsys):
    folder = make_model_folder(tmp_path / "model", image_size=16, latent_dim=LATENT)
    argv = [str(folder), "--dataset", "synthetic", "--epochs", "2", "--batch-size", "16", "--reference-count", "12", "--e-features", "4", "--no-progress"]
    assert train_encoder_main(argv) == 0
    assert "synthetic: encoder trained 32 steps" in capsys.readouterr().out
    files = sorted(p.name for p in (folder / "encoder").iterdir())
    assert files == ["README.md", "config.json", "model.safetensors", "reference_scores.json", "training.json"]
    record = json.loads((folder / "encoder" / "training.json").read_text())
    assert record["dataset"] == "synthetic" and record["steps"] == 32 and len(record["log"]) == 2
    pipeline = GanPipeline.from_pretrained(folder)
    assert pipeline.encoder is not None and len(pipeline.reference) == 12 and pipeline.reference.dataset == "synthetic"
    assert "# DCGAN encoder: synthetic 16x16" in (folder / "encoder" / "README.md").read_text()
    with pytest.raises(SystemExit) as exit_info:
        train_encoder_main(argv)  # an encoder is there already
    assert exit_info.value.code == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    weights = (folder / "encoder" / "model.safetensors").read_bytes()
    assert train_encoder_main([str(folder), "--reference-only", "--reference-count", "20", "--quality-count", "5"]) == 0
    assert "synthetic: rescored with its encoder" in capsys.readouterr().out
    assert (folder / "encoder" / "model.safetensors").read_bytes() == weights
    assert len(GanPipeline.from_pretrained(folder).reference) == 20
    assert json.loads((folder / "encoder" / "training.json").read_text())["steps"] == 32  # the training record is kept


@pytest.mark.parametrize(
    "extra, message",
    [
        ([], "records no dataset"),
        (["--dataset", "imagenet"], "Unknown dataset 'imagenet'"),
        (["--dataset", "synthetic", "--epochs", "-1"], "epochs must be a number"),
        (["--dataset", "synthetic", "--reference-count", "0"], "--reference-count must be"),
    ],
)
def test_train_encoder_refuses_bad_input_with_one_sentence(tmp_path, capsys, extra, message):
    folder = make_model_folder(tmp_path / "model", image_size=16, latent_dim=LATENT)
    with pytest.raises(SystemExit) as exit_info:
        train_encoder_main([str(folder), *extra])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert message in error and error.startswith("error: ") and error.count("\n") == 1


def test_train_encoder_reference_only_needs_an_encoder(tmp_path, capsys):
    folder = make_model_folder(tmp_path / "model", image_size=16, latent_dim=LATENT)
    with pytest.raises(SystemExit) as exit_info:
        train_encoder_main([str(folder), "--dataset", "synthetic", "--reference-only"])
    assert exit_info.value.code == 2 and "holds no encoder to score with" in capsys.readouterr().err


def test_train_encoder_refuses_a_missing_folder(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train_encoder_main([str(tmp_path / "nothing")])
    assert exit_info.value.code == 2 and "is not a folder" in capsys.readouterr().err
