"""DiffAugment: shapes, gradients, determinism, shares of a global batch, each transformation's effect,
and when the trainer turns it on."""

import pytest
import torch

from gan_core.core.data import make_synthetic
from gan_core.training import TrainConfig, Trainer, load_checkpoint
from gan_core.training.augment import CUTOUT, TRANSLATION, color, cutout, diff_augment, translation


def rng(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize(("channels", "size"), [(1, 8), (1, 28), (3, 16), (3, 32)])
def test_shape_kept_and_gradients_reach_the_input(channels, size):
    x = torch.rand(5, channels, size, size, requires_grad=True)
    y = diff_augment(x * 2 - 1, rng())
    assert y.shape == x.shape
    y.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_same_generator_same_result_and_another_seed_differs():
    x = torch.rand(6, 3, 16, 16) * 2 - 1
    assert torch.equal(diff_augment(x, rng(1)), diff_augment(x, rng(1)))
    assert not torch.equal(diff_augment(x, rng(1)), diff_augment(x, rng(2)))


def test_shares_of_a_global_batch_are_augmented_as_the_whole_batch():
    """Several processes each augment their rows; together they equal one process augmenting all rows."""
    x = torch.rand(8, 1, 16, 16) * 2 - 1
    whole = diff_augment(x, rng(3))
    halves = torch.cat([diff_augment(x[:4], rng(3), total=8, offset=0), diff_augment(x[4:], rng(3), total=8, offset=4)])
    assert torch.equal(whole, halves)


def test_translation_moves_a_dot_by_at_most_the_shift_and_pads_with_zero():
    x = torch.full((64, 1, 16, 16), -1.0)
    x[:, :, 8, 8] = 1.0
    y = translation(x, rng(), 64, 0)
    limit = int(16 * TRANSLATION + 0.5)
    moved = set()
    for picture in y[:, 0]:
        where = (picture == 1.0).nonzero()
        assert len(where) == 1
        dy, dx = (where[0] - 8).tolist()
        assert abs(dy) <= limit and abs(dx) <= limit
        moved.add((dy, dx))
    assert len(moved) > 5  # the shifts vary from picture to picture
    assert (y == 0).any()  # uncovered border pixels are zero-padded


def test_cutout_erases_one_square_of_the_stated_size():
    y = cutout(torch.ones(32, 1, 16, 16), rng(), 32, 0)
    side = int(16 * CUTOUT + 0.5)
    erased = (y == 0).sum(dim=(1, 2, 3))
    assert (erased > 0).all() and (erased <= side * side).all()
    assert (erased == side * side).any()  # a square fully inside the picture


def test_color_changes_brightness_and_contrast_but_keeps_grey_pictures_grey():
    x = torch.rand(16, 1, 8, 8) * 2 - 1
    y = color(x, rng(), 16, 0)
    assert not torch.allclose(x.mean(dim=(1, 2, 3)), y.mean(dim=(1, 2, 3)))
    rgb = x.repeat(1, 3, 1, 1)  # a grey picture in three channels stays grey: saturation has nothing to scale
    out = color(rgb, rng(), 16, 0)
    assert torch.allclose(out[:, 0], out[:, 1]) and torch.allclose(out[:, 1], out[:, 2])


def tiny(tmp_path, name, num_images, **overrides):
    config = TrainConfig.from_flat(dataset="synthetic", image_size=8, g_features=4, d_features=4, latent_dim=8, batch_size=16, log_every=4,
                                   num_fixed=4, bn_calibration_batches=2, progress=False, onnx=False, out_dir=str(tmp_path / name), **overrides)
    return Trainer.create(config, data=make_synthetic(num_images, 8, 1), command="pytest")


def test_augment_is_off_unless_asked_and_the_run_says_which(tmp_path):
    plain = tiny(tmp_path, "plain", 64)
    assert plain.config.optim.augment == "off" and plain.augment_note == "DiffAugment off"
    asked = tiny(tmp_path, "asked", 64, augment="on")
    assert asked.config.optim.augment == "on" and asked.augment_note == "DiffAugment on"
    with pytest.raises(ValueError, match="augment"):
        TrainConfig.from_flat(augment="auto")


def test_a_run_with_augment_trains_resumes_exactly_and_differs_from_one_without(tmp_path):
    one = tiny(tmp_path, "one", 64, steps=8, augment="on")
    one.train()
    half = tiny(tmp_path, "half", 64, steps=4, augment="on")
    half.train()
    resumed = Trainer.create(TrainConfig.from_dict(load_checkpoint(tmp_path / "half" / "checkpoint.pt")["config"]).override({"steps": 8}),
                      data=make_synthetic(64, 8, 1), checkpoint=load_checkpoint(tmp_path / "half" / "checkpoint.pt"))
    resumed.train()
    assert all(torch.equal(a, b) for a, b in zip(one.generator.state_dict().values(), resumed.generator.state_dict().values(), strict=True))
    plain = tiny(tmp_path, "plain", 64, steps=8, augment="off")
    plain.train()
    assert not all(torch.equal(a, b) for a, b in zip(one.generator.state_dict().values(), plain.generator.state_dict().values(), strict=True))


def test_checkpoints_from_before_augment_resume_without_it():
    old = TrainConfig().to_dict()
    del old["optim"]["augment"]
    assert TrainConfig.from_dict(old).optim.augment == "off"
    flat = {"dataset": "mnist", "lr": 2e-4}  # the oldest, flat format
    assert TrainConfig.from_dict(flat).optim.augment == "off"
