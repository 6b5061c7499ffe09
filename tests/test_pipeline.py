"""GanPipeline: the one path from seeds or z to uint8 pictures and D's verdicts."""

import numpy as np
import pytest
import torch

from gan_core import GanPipeline
from gan_core.core import images, latent
from gan_core.core.hub import save_model
from gan_core.core.models import Discriminator, Generator


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("pipeline")
    generator = Generator(latent_dim=6, image_size=8, channels=3, g_features=4)
    generator.train()(torch.randn(16, 6))  # non-trivial BatchNorm statistics
    save_model(generator.eval(), folder / "generator")
    save_model(Discriminator(image_size=8, channels=3, d_features=4).eval(), folder / "discriminator")
    return GanPipeline.from_pretrained(folder)


def test_pictures_are_g_of_z_in_uint8_and_d_judges_them(pipeline):
    z = torch.randn(5, 6)
    pictures = pipeline(z)
    with torch.no_grad():
        generated = pipeline.generator(z)
        p_real = torch.sigmoid(pipeline.discriminator(generated))
    assert torch.equal(pictures.uint8, images.to_uint8(generated))
    assert pictures.images.shape == (5, 8, 8, 3) and pictures.images.dtype == np.uint8
    assert pictures.p_real == pytest.approx(p_real.tolist(), abs=1e-6)
    assert pipeline(z, verdict=False).p_real == [None] * 5


def test_batching_does_not_change_the_pictures(pipeline):
    z = torch.randn(7, 6)
    assert torch.equal(pipeline(z, batch_size=2).uint8, pipeline(z).uint8)


def test_latents_from_seeds_psi_and_amounts(pipeline):
    directions, strengths = pipeline.sefa
    assert directions.shape == (6, 6) and torch.all(strengths[:-1] >= strengths[1:])
    z = pipeline.latents([3, 4], psi=0.5, amounts=[1.0, -2.0])
    expected = 0.5 * torch.cat([latent.noise_for_seed(3, 6), latent.noise_for_seed(4, 6)]) + torch.tensor([1.0, -2.0]) @ directions[:2]
    torch.testing.assert_close(z, expected)
    with pytest.raises(ValueError, match="7 direction amounts for a model with 6 directions"):
        pipeline.latents([0], amounts=[0.0] * 7)
    with pytest.raises(ValueError, match="z must have shape"):
        pipeline(torch.zeros(2, 5))


def test_ganspace_directions_are_a_second_kind(pipeline):
    directions, strengths = pipeline.directions("ganspace")
    assert directions.shape == (6, 6) and strengths.shape == (6,) and torch.all(strengths > 0)
    torch.testing.assert_close(directions.norm(dim=1), torch.ones(6))
    assert pipeline.directions() is pipeline.sefa and pipeline.directions("ganspace") is pipeline.ganspace
    z = pipeline.latents([3], amounts=[1.0, -2.0], kind="ganspace")
    torch.testing.assert_close(z, latent.noise_for_seed(3, 6) + torch.tensor([1.0, -2.0]) @ directions[:2])
    with pytest.raises(ValueError, match="Direction kind must be one of sefa, ganspace"):
        pipeline.directions("pca")


def test_generate_is_deterministic_in_seed_and_count(pipeline):
    a, b = pipeline.generate(4, seed=1), pipeline.generate(4, seed=1)
    assert torch.equal(a.uint8, b.uint8) and not torch.equal(a.uint8, pipeline.generate(4, seed=2).uint8)
    with torch.no_grad():
        expected = images.to_uint8(pipeline.generator(latent.noise_for_seed(1, 6, "normal", 4)))
    assert torch.equal(a.uint8, expected)


def test_a_damaged_training_log_leaves_the_curves_out_and_says_so(tmp_path, pipeline):
    save_model(pipeline.generator, tmp_path / "generator")
    (tmp_path / "train_log.jsonl").write_text('{"step": 1, "loss_d": 1}\n')
    loaded = GanPipeline.from_pretrained(tmp_path)
    assert loaded.log == [] and "train_log.jsonl is damaged" in loaded.problems[0]


def test_the_device_is_where_g_is_now():
    pipeline = GanPipeline(Generator(latent_dim=4, image_size=8, channels=1, g_features=4))
    assert pipeline.device == torch.device("cpu")
    pipeline.generator.to("meta")  # moved in place: its parameters are new objects on the new device
    assert pipeline.device == torch.device("meta")
