"""The training config: sections that mirror what they configure, one resume check, a generated command line."""

import inspect

import pytest

from gan_core.core.models import Discriminator, Generator
from gan_core.training.config import ModelConfig, TrainConfig, check_resume


def test_model_config_is_exactly_the_networks_constructor_arguments():
    fields = set(ModelConfig.__dataclass_fields__)
    arguments = (set(inspect.signature(Generator.__init__).parameters) | set(inspect.signature(Discriminator.__init__).parameters)) - {"self"}
    assert fields == arguments
    model = ModelConfig(image_size=16, channels=3, g_features=4, d_features=4, latent_dim=6)
    assert Generator(**model.generator_kwargs()).image_size == 16
    assert Discriminator(**model.discriminator_kwargs()).d_features == 4


def test_flat_names_reach_their_sections_and_round_trip():
    config = TrainConfig.from_flat(dataset="mnist", lr=1e-3, g_features=16, epochs=3, device="cpu")
    assert (config.data.dataset, config.optim.lr, config.model.g_features, config.run.epochs) == ("mnist", 1e-3, 16, 3)
    assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown config fields"):
        TrainConfig.from_flat(learning_rate=1)


def test_checkpoints_written_before_the_sections_still_read():
    flat = {"dataset": "mnist", "image_size": 28, "channels": 1, "latent_dim": 100, "g_features": 64, "d_features": 64, "batch_size": 128,
            "lr": 0.0002, "beta1": 0.5, "beta2": 0.999, "noise": "normal", "ema_decay": 0.999, "seed": 0, "epochs": 100, "out_dir": "runs/mnist"}
    config = TrainConfig.from_dict(flat)
    assert config.model.g_features == 64 and config.run.epochs == 100 and config.data.dataset == "mnist"


def test_resume_compares_model_optimisation_and_data_only():
    saved = TrainConfig.from_flat(dataset="mnist", image_size=28, channels=1, epochs=5)
    check_resume(saved, saved.override({"epochs": 50, "device": "cpu", "out_dir": "elsewhere", "data_dir": "data"}))
    with pytest.raises(ValueError) as caught:
        check_resume(saved, saved.override({"lr": 1e-3, "g_features": 8, "dataset": "fashion-mnist"}))
    message = str(caught.value)
    for expected in ("optim.lr: checkpoint 0.0002 vs now 0.001", "model.g_features: checkpoint 32 vs now 8", "data.dataset: checkpoint 'mnist' vs now 'fashion-mnist'"):
        assert expected in message
