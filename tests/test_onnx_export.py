"""ONNX export: onnxruntime gives torch's outputs, in one self-contained file, for any batch size."""

from __future__ import annotations

import shutil

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from torch import nn

from gan_core import export
from gan_core.core.hub import save_model
from gan_core.core.models import Discriminator, Generator
from gan_core.core.onnx_export import check_fp16_weights, export_model_folder, export_onnx, fold_batchnorm, has_fp16_weights

LATENT_DIM = 6
FEATURES = 4


def trained_looking(model: nn.Module, seed: int) -> nn.Module:
    """``model`` in eval mode with BatchNorm statistics and affine far from their init, so folding matters."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                size = module.num_features
                module.running_mean.copy_(torch.randn(size, generator=generator) * 0.5)
                module.running_var.copy_(torch.rand(size, generator=generator) * 2 + 0.1)
                module.weight.copy_(torch.rand(size, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(size, generator=generator) * 0.3)
            elif isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * 0.2)
    return model.eval()


def session(path) -> onnxruntime.InferenceSession:
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def to_uint8(images: np.ndarray) -> np.ndarray:
    """What the app shows: round((x + 1) * 127.5) of x in [-1, 1]."""
    return np.rint((np.clip(images, -1, 1) + 1) * 127.5).astype(np.int16)


def check_self_contained(path) -> None:
    model = onnx.load(str(path))
    assert [p.name for p in path.parent.iterdir()] == [path.name], "no external-data files beside the model"
    assert not any(onnx.external_data_helper.uses_external_data(t) for t in model.graph.initializer)
    assert "BatchNormalization" not in {node.op_type for node in model.graph.node}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Exported tiny G and D for each (image_size, channels) pair, built once for the module."""
    cases = {}
    for index, (image_size, channels) in enumerate([(8, 1), (16, 3), (28, 1), (32, 3)]):
        torch.manual_seed(index)
        generator = trained_looking(Generator(latent_dim=LATENT_DIM, image_size=image_size, channels=channels, g_features=FEATURES), seed=index)
        discriminator = trained_looking(Discriminator(image_size=image_size, channels=channels, d_features=FEATURES), seed=100 + index)
        folder = tmp_path_factory.mktemp(f"onnx-{image_size}-{channels}")
        (folder / "g").mkdir(), (folder / "d").mkdir()
        cases[(image_size, channels)] = (
            generator, export_onnx(generator, folder / "g" / "model.onnx"),
            discriminator, export_onnx(discriminator, folder / "d" / "model.onnx"),
        )
    return cases


CASES = [(8, 1), (16, 3), (28, 1), (32, 3)]


@pytest.mark.parametrize("image_size, channels", CASES)
def test_generator_matches_torch(exported, image_size, channels):
    generator, path, _, _ = exported[(image_size, channels)]
    check_self_contained(path)
    runtime = session(path)
    assert [i.name for i in runtime.get_inputs()] == ["z"] and [o.name for o in runtime.get_outputs()] == ["images"]
    for batch in (1, 5):  # one file, any batch size
        z = torch.randn(batch, LATENT_DIM, generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            expected = generator(z).numpy()
        (images,) = runtime.run(None, {"z": z.numpy()})
        assert images.shape == (batch, channels, image_size, image_size)
        np.testing.assert_allclose(images, expected, atol=1e-4, rtol=0)
        assert np.abs(to_uint8(images) - to_uint8(expected)).max() <= 1


@pytest.mark.parametrize("image_size, channels", CASES)
def test_discriminator_matches_torch(exported, image_size, channels):
    _, _, discriminator, path = exported[(image_size, channels)]
    check_self_contained(path)
    runtime = session(path)
    assert [i.name for i in runtime.get_inputs()] == ["images"] and [o.name for o in runtime.get_outputs()] == ["logits"]
    for batch in (1, 5):
        images = torch.rand(batch, channels, image_size, image_size, generator=torch.Generator().manual_seed(batch)) * 2 - 1
        with torch.no_grad():
            expected = discriminator(images).numpy()
        (logits,) = runtime.run(None, {"images": images.numpy()})
        assert logits.shape == (batch,)
        np.testing.assert_allclose(logits, expected, atol=1e-4, rtol=0)


def test_folding_keeps_the_function_and_removes_batchnorm():
    generator = trained_looking(Generator(latent_dim=LATENT_DIM, image_size=16, channels=3, g_features=FEATURES), seed=7)
    before = {name: tensor.clone() for name, tensor in generator.state_dict().items()}
    folded = fold_batchnorm(generator)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert all(torch.equal(before[name], tensor) for name, tensor in generator.state_dict().items()), "the original is untouched"
    z = torch.randn(3, LATENT_DIM)
    with torch.no_grad():
        torch.testing.assert_close(folded(z), generator(z), atol=1e-5, rtol=0)


def steep(generator: Generator) -> Generator:
    """``generator`` with its last layer's weights 30 times larger: a steep tanh, where rounding the weights to fp16
    moves pictures by several grey levels."""
    with torch.no_grad():
        generator.net[-2].weight.mul_(30)
    return generator


def test_fp16_weights_file_is_the_rounded_network(tmp_path):
    generator = trained_looking(Generator(latent_dim=LATENT_DIM, image_size=16, channels=3, g_features=FEATURES), seed=11)
    half = export_onnx(generator, tmp_path / "half" / "model.onnx", fp16_weights=True)
    full = export_onnx(generator, tmp_path / "full" / "model.onnx")
    check_self_contained(half)
    onnx.checker.check_model(onnx.load(str(half)))
    assert has_fp16_weights(half) and not has_fp16_weights(full)
    weight_bytes = [sum(len(t.raw_data) for t in onnx.load(str(path)).graph.initializer) for path in (half, full)]
    assert weight_bytes[0] < 0.55 * weight_bytes[1], "the weights take about half the bytes"
    rounded = fold_batchnorm(generator)
    with torch.no_grad():
        for tensor in rounded.state_dict().values():
            if tensor.numel() > 16:
                tensor.copy_(tensor.half().float())
        z = torch.randn(64, LATENT_DIM, generator=torch.Generator().manual_seed(0)) * 2
        expected, own = rounded(z).numpy(), generator(z).numpy()
    (images,) = session(half).run(None, {"z": z.numpy()})
    np.testing.assert_allclose(images, expected, atol=1e-4, rtol=0)  # computed in fp32 from the rounded weights
    assert not np.array_equal(images, own)
    assert np.abs(to_uint8(images) - to_uint8(own)).max() <= 1


def test_fp16_weights_only_where_pictures_stay(tmp_path, capsys):
    for name, make in (("gentle", lambda g: g), ("steep", steep)):
        generator = make(trained_looking(Generator(latent_dim=LATENT_DIM, image_size=16, channels=1, g_features=FEATURES), seed=3))
        save_model(generator, tmp_path / name / "generator")
        save_model(trained_looking(Discriminator(image_size=16, channels=1, d_features=FEATURES), seed=4), tmp_path / name / "discriminator")
    check = check_fp16_weights(steep(trained_looking(Generator(latent_dim=LATENT_DIM, image_size=16, channels=1, g_features=FEATURES), seed=3)))
    assert check.grey_levels > 1 and not check.keeps_promise and check.verdict_change is None

    assert export.main([str(tmp_path / "gentle"), str(tmp_path / "steep")]) == 0
    out = capsys.readouterr().out
    assert has_fp16_weights(tmp_path / "gentle" / "generator" / "model.onnx")
    assert f"{tmp_path / 'gentle' / 'generator' / 'model.onnx'} (" in out and "fp16 weights)" in out
    assert not has_fp16_weights(tmp_path / "steep" / "generator" / "model.onnx"), "the steep model keeps fp32 weights"
    assert not any(has_fp16_weights(tmp_path / name / "discriminator" / "model.onnx") for name in ("gentle", "steep"))

    assert export.main([str(tmp_path / "gentle"), "--fp32"]) == 0
    assert not has_fp16_weights(tmp_path / "gentle" / "generator" / "model.onnx")


def test_export_refuses_other_models(tmp_path):
    with pytest.raises(ValueError, match="Generator or Discriminator, got a Sequential"):
        export_onnx(nn.Sequential(nn.Conv2d(1, 1, 3)), tmp_path / "model.onnx")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def model_folder(tmp_path):
    """A finished-run layout: generator/ and discriminator/ with config.json + model.safetensors."""
    torch.manual_seed(0)
    save_model(Generator(latent_dim=LATENT_DIM, image_size=8, channels=1, g_features=FEATURES).eval(), tmp_path / "run" / "generator")
    save_model(Discriminator(image_size=8, channels=1, d_features=FEATURES).eval(), tmp_path / "run" / "discriminator")
    return tmp_path / "run"


def test_cli_writes_both_files(model_folder, capsys):
    assert export.main([str(model_folder)]) == 0
    out = capsys.readouterr().out
    for part in ("generator", "discriminator"):
        path = model_folder / part / "model.onnx"
        assert path.is_file() and str(path) in out and "bytes" in out
        onnx.checker.check_model(onnx.load(str(path)))


def test_bare_generator_folder(model_folder, tmp_path):
    # Like every loader, a generator folder brings its sibling discriminator/ along.
    assert export_model_folder(model_folder / "generator") == [model_folder / part / "model.onnx" for part in ("generator", "discriminator")]
    alone = tmp_path / "alone"
    shutil.copytree(model_folder / "generator", alone)
    assert export_model_folder(alone) == [alone / "model.onnx"]


@pytest.mark.parametrize("name, message", [
    ("missing", "No model folder at"),
    ("run/discriminator", "holds a discriminator config; expected a generator folder"),
    ("run/generator/model.safetensors", "is a file"),
])
def test_cli_fails_cleanly(model_folder, name, message, capsys):
    assert export.main([str(model_folder.parent / name)]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and "Traceback" not in captured.err
    assert captured.err.count("\n") == 1, "one line"


def test_cli_checks_every_folder_before_exporting(model_folder, tmp_path, capsys):
    assert export.main([str(model_folder), str(tmp_path / "missing")]) == 2
    assert not (model_folder / "generator" / "model.onnx").exists()


def test_missing_folder_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="holds no generator"):
        export_model_folder(tmp_path)
