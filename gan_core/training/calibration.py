"""BatchNorm statistics for the exported networks, and D's verdict on one picture at a time.

In training every BatchNorm layer normalises a batch by that batch's own statistics. An exported network
judges or draws one picture at a time, so it needs fixed statistics, re-estimated here as exact averages
over batches like the ones it met in training:

- G (the EMA generator, whose weights no batch ever passed through): over fresh noise batches.
- D: over batches of real training pictures, as D saw them (DiffAugment'ed when the run augmented). In
  training D judged a batch of real pictures and a batch of G's apart, and BatchNorm let it compare the
  pictures within each batch; the running statistics training leaves behind average over real and fake
  batches, dominated by the last few, and put its verdict on an arbitrary scale (the MNIST D gave real test
  digits 18% on average and G's pictures 2%). With real pictures' statistics D judges any one picture as it
  judged batches of real pictures, so real pictures score about what the training log says D gave them.

:func:`measure_verdicts` then says how well D tells one picture from another, the figures Explore's note and
the discriminator's card quote. Training's export does both; :func:`calibrate_model_folder` does them for a model
exported before (``python -m gan_core.calibrate_discriminator``).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn

from gan_core.core import hub
from gan_core.core.checks import check_count
from gan_core.core.data import load_dataset, parse_dataset_name
from gan_core.core.images import to_model_range
from gan_core.core.latent import sample_noise
from gan_core.core.manifest import RunManifest, read_manifest, render_card, write_manifest
from gan_core.core.models import Discriminator, Generator
from gan_core.core.onnx_export import export_model
from gan_core.training.augment import diff_augment

VERDICT_COUNT = 1000  # real pictures and G's pictures each that measure_verdicts scores
BATCHES = 32  # batches of real pictures for a model calibrated after export (training uses --bn-calibration-batches, 32 by default)


@torch.no_grad()
def estimate_batchnorm(model: nn.Module, batches: Iterable[torch.Tensor]) -> nn.Module:
    """Set every BatchNorm layer's running statistics to the exact mean over ``batches`` passed through ``model``
    in train mode; returns ``model`` in eval mode, momentum restored."""
    layers = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in layers]
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: the exact mean over the batches
    model.train()
    for batch in batches:
        model(batch)
    for m, momentum in zip(layers, saved):
        m.momentum = momentum
    return model.eval()


def recalibrate_batchnorm(
    generator: Generator, num_batches: int, batch_size: int, noise: str, seed: int, device: torch.device
) -> Generator:
    """Re-estimate G's BatchNorm running statistics as exact averages over fresh noise batches.

    Returns ``generator`` in eval mode. With num_batches = 0 it is left unchanged.
    """
    if num_batches == 0:
        return generator.eval()
    rng = torch.Generator(device=device).manual_seed(seed)
    return estimate_batchnorm(generator, (sample_noise(batch_size, generator.latent_dim, rng, noise, device) for _ in range(num_batches)))


def _order(count: int, seed: int, device: torch.device) -> torch.Tensor:
    return torch.randperm(count, generator=torch.Generator().manual_seed(seed)).to(device)


def calibrate_discriminator(
    discriminator: Discriminator, pictures: torch.Tensor, num_batches: int, batch_size: int, seed: int, *, augment: bool = False
) -> Discriminator:
    """Re-estimate D's BatchNorm statistics over ``num_batches`` batches of the real ``pictures`` (N, C, H, W) uint8
    (a seeded shuffle, repeated when there are fewer than num_batches x batch_size), DiffAugment'ed with ``augment``.

    Returns ``discriminator`` in eval mode; with num_batches = 0 it is left unchanged.
    """
    if num_batches == 0:
        return discriminator.eval()
    device = next(discriminator.parameters()).device
    order = _order(len(pictures), seed, pictures.device)
    rng = torch.Generator(device=device).manual_seed(seed)

    def batches():
        for k in range(num_batches):
            rows = order[torch.arange(k * batch_size, (k + 1) * batch_size, device=pictures.device) % len(order)]
            batch = to_model_range(pictures[rows].to(device))
            yield diff_augment(batch, rng) if augment else batch

    return estimate_batchnorm(discriminator, batches())


@torch.inference_mode()
def measure_verdicts(
    generator: Generator, discriminator: Discriminator, pictures: torch.Tensor, *, count: int = VERDICT_COUNT, noise: str = "normal", seed: int = 0
) -> dict:
    """D's verdicts one picture at a time: {"real": mean P(real) over ``count`` real ``pictures`` (N, C, H, W) uint8,
    "generated": the mean over as many of G's pictures (fresh z), "ranked": the share of (real, G's) pairs in which
    D rates the real picture higher (ties count half; 0.5: it cannot tell them apart), "count"}.
    """
    generator.eval()
    discriminator.eval()
    device = next(discriminator.parameters()).device
    count = min(count, len(pictures))
    rows = _order(len(pictures), seed + 1, pictures.device)[:count]
    real = torch.sigmoid(discriminator(to_model_range(pictures[rows].to(device))).float())
    z = sample_noise(count, generator.latent_dim, torch.Generator(device=device).manual_seed(seed), noise, device)
    generated = torch.sigmoid(discriminator(generator(z)).float())
    above = (real[:, None] > generated[None, :]).float().mean() + 0.5 * (real[:, None] == generated[None, :]).float().mean()
    return {"real": round(real.mean().item(), 4), "generated": round(generated.mean().item(), 4), "ranked": round(above.item(), 4), "count": count}


def real_pictures(manifest: RunManifest, data_dir: str | os.PathLike | None) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """(training pictures, the pictures D's verdicts are measured on, whether those are held out) of a model's dataset,
    read as training read it: uint8 (N, C, H, W) at the model's size and channels. A folder has no test split: its
    verdicts are measured on its own pictures."""
    shape = {"image_size": manifest.image_size, "channels": manifest.channels}
    train = load_dataset(manifest.dataset, split="train", data_dir=data_dir, **shape).images
    held_out = parse_dataset_name(manifest.dataset).key not in ("folder", "synthetic")
    judged = load_dataset(manifest.dataset, split="test", data_dir=data_dir, **shape).images if held_out else train
    return train, judged, held_out


def calibrate_model_folder(model_dir: str | os.PathLike, data_dir: str | os.PathLike | None, *, batches: int = BATCHES, count: int = VERDICT_COUNT, seed: int = 0) -> dict:
    """Calibrate the discriminator of the model folder ``model_dir`` in place, for a model exported before training did it:
    D's statistics from ``batches`` batches of its training set (read as training read it: the dataset in run.json, at
    the model's size and channels); its verdicts on real held-out test pictures (a folder's own pictures: it has no test
    split) and G's; D's model.safetensors, both parts' run.json and cards and both model.onnx files written. Returns
    the verdicts as recorded."""
    check_count(batches, "--batches", 1, 10_000)
    check_count(count, "--count", 1, 100_000)
    if not Path(model_dir).expanduser().is_dir():
        raise FileNotFoundError(f"{model_dir} is not a folder; MODEL_DIR is a local model folder holding generator/ and discriminator/, e.g. weights/mnist.")
    files = hub.locate(model_dir)
    if files.discriminator is None:
        raise FileNotFoundError(f"{model_dir} holds no discriminator/ folder: there is no D to calibrate.")
    manifest = read_manifest(files.generator)
    if manifest is None:
        raise ValueError(f"{files.generator} has no run.json, so the dataset and recipe D trained with are unknown.")
    generator = hub.load_part(Generator, files.generator)
    discriminator = hub.load_part(Discriminator, files.discriminator)
    train, judged, held_out = real_pictures(manifest, data_dir)
    batch_size = manifest.setting("optim", "batch_size", 128)
    calibrate_discriminator(discriminator, train, batches, batch_size, seed, augment=manifest.setting("optim", "augment") == "on")
    verdicts = measure_verdicts(generator, discriminator, judged, count=count, noise=manifest.setting("model", "noise", "normal"), seed=seed)
    verdicts = {**verdicts, "pictures": "test" if held_out else "training", "batches": batches}
    hub.save_model(discriminator, files.discriminator)
    # D's run.json is the generator's copy, unless it was edited apart.
    parts = (("generator", files.generator, manifest), ("discriminator", files.discriminator, read_manifest(files.discriminator) or manifest))
    for part, folder, recorded in parts:
        part_manifest = dataclasses.replace(recorded, verdicts=verdicts)
        write_manifest(folder, part_manifest)
        config = json.loads((folder / hub.CONFIG_NAME).read_text())
        (folder / hub.CARD_NAME).write_text(render_card(part_manifest, part, config))
    export_model(generator, discriminator, files.root)
    return verdicts
