import pytest
import torch
from torch import nn

from gan_core.core.models import Discriminator, Generator, plan_stack


@pytest.mark.parametrize("image_size", [8, 16, 28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_for_every_supported_size(image_size, channels, device):
    generator = Generator(latent_dim=12, image_size=image_size, channels=channels, g_features=4).to(device)
    discriminator = Discriminator(image_size=image_size, channels=channels, d_features=4).to(device)
    images = generator(torch.randn(2, 12, device=device))
    assert images.shape == (2, channels, image_size, image_size)
    assert images.abs().max() <= 1.0  # Tanh output
    assert discriminator(images).shape == (2,)


def test_64px_colour_with_default_widths_builds_and_runs(device):
    generator = Generator(latent_dim=100, image_size=64, channels=3).to(device)
    discriminator = Discriminator(image_size=64, channels=3).to(device)
    logits = discriminator(generator(torch.randn(2, 100, device=device)))
    assert logits.shape == (2,) and torch.isfinite(logits).all()
    # pytorch/examples' 64px stack: 8f at 4x4 -> ... -> f at 32x32 -> 3 at 64x64.
    widths = [m.out_channels for m in generator.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert widths == [512, 256, 128, 64, 3]


def test_latent_accepts_flat_and_4d(device):
    generator = Generator(latent_dim=10, image_size=8, g_features=4).to(device).eval()
    z = torch.randn(3, 10, device=device)
    assert torch.equal(generator(z), generator(z[:, :, None, None]))


@pytest.mark.parametrize("bad", [0, 2, 7, 30, 100, 12.0, "28", True])
def test_unbuildable_image_size_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="image_size"):
        Generator(image_size=bad)


def test_plan_covers_28_and_64():
    assert plan_stack(28).base == 7 and plan_stack(28).num_upsamples == 2
    assert plan_stack(64).base == 4 and plan_stack(64).num_upsamples == 4


@pytest.mark.parametrize("kwargs", [{"channels": 2}, {"latent_dim": 0}, {"g_features": -1}])
def test_bad_generator_arguments(kwargs):
    with pytest.raises(ValueError):
        Generator(image_size=16, **kwargs)


def test_dcgan_guidelines_batchnorm_placement_and_activations():
    generator = Generator(latent_dim=8, image_size=32, channels=3, g_features=8)
    discriminator = Discriminator(image_size=32, channels=3, d_features=8)
    g_layers = list(generator.net)
    assert isinstance(g_layers[-1], nn.Tanh) and isinstance(g_layers[-2], nn.ConvTranspose2d)  # no BN on G's output
    assert all(isinstance(m, nn.ReLU) for m in g_layers if isinstance(m, (nn.ReLU, nn.LeakyReLU)))
    d_layers = list(discriminator.net)
    assert isinstance(d_layers[0], nn.Conv2d) and isinstance(d_layers[1], nn.LeakyReLU)  # no BN on D's input
    assert all(m.negative_slope == 0.2 for m in d_layers if isinstance(m, nn.LeakyReLU))
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d_layers) == 2
    assert not any(isinstance(m, (nn.MaxPool2d, nn.Linear)) for m in generator.modules())


def test_weights_are_initialised_from_n_0_002():
    torch.manual_seed(0)
    generator = Generator(latent_dim=100, image_size=64, channels=3)
    weights = torch.cat([m.weight.flatten() for m in generator.modules() if isinstance(m, nn.ConvTranspose2d)])
    assert abs(weights.mean().item()) < 1e-3
    assert weights.std().item() == pytest.approx(0.02, rel=0.02)
    gammas = torch.cat([m.weight for m in generator.modules() if isinstance(m, nn.BatchNorm2d)])
    assert gammas.mean().item() == pytest.approx(1.0, abs=0.01)


def test_same_seed_same_network_and_output():
    torch.manual_seed(3)
    a = Generator(latent_dim=8, image_size=16, g_features=4).eval()
    torch.manual_seed(3)
    b = Generator(latent_dim=8, image_size=16, g_features=4).eval()
    z = torch.randn(2, 8)
    assert torch.equal(a(z), b(z))
