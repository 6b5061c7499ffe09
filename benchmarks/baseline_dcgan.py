"""The baseline: pytorch/examples' DCGAN training loop, as a typical user runs it.

https://github.com/pytorch/examples/blob/main/dcgan/main.py, kept as it is where it matters for
speed and quality: a per-item ``Dataset`` (PIL image -> ToTensor -> Normalize((0.5,), (0.5,)) on
every item) and a ``DataLoader`` with shuffling and its default 2 worker processes; D ends in a
Sigmoid and is trained with ``BCELoss``; ``.item()`` on D's outputs every step; the fixed-noise
batch is drawn through G (in train mode, as the example does) every 100 iterations and saved as a
PNG. The only changes: no torchvision (the transforms are written out), and G and D are
``gan_core.core.models``' networks, the same architecture and widths as ours at the same batch
size, so the comparison measures the training procedure and not the networks; and the fixed-noise
PNG is drawn through ``GanPipeline``, like every picture of G.

``python benchmarks/baseline_dcgan.py --dataset fashion-mnist --minutes 12 --out runs/baseline``
trains it and saves G as a Hub-style folder (G in eval mode is loadable by ``gan_core``).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gan_core import GanPipeline
from gan_core.core import images
from gan_core.core.data import ImageData, load_dataset
from gan_core.core.models import Discriminator, Generator


class ItemDataset(Dataset):
    """torchvision-MNIST style: one PIL image per ``__getitem__``, transformed on every access."""

    def __init__(self, data: ImageData):
        self.images = data.images.numpy()  # (N, C, H, W) uint8
        self.labels = data.labels.numpy() if data.labels is not None else np.zeros(len(self.images), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        image = self.images[index]
        picture = Image.fromarray(image[0], mode="L") if image.shape[0] == 1 else Image.fromarray(image.transpose(1, 2, 0), mode="RGB")
        # transforms.ToTensor(): (H, W[, C]) uint8 -> (C, H, W) float in [0, 1]
        array = np.asarray(picture, dtype=np.uint8)
        tensor = torch.from_numpy(array.copy()).float().div(255)
        tensor = tensor.unsqueeze(0) if tensor.dim() == 2 else tensor.permute(2, 0, 1)
        # transforms.Normalize((0.5,), (0.5,)) -> [-1, 1]
        return (tensor - 0.5) / 0.5, int(self.labels[index])


@dataclass
class BaselineConfig:
    dataset: str = "fashion-mnist"
    data_dir: str | None = None
    batch_size: int = 128
    workers: int = 2  # pytorch/examples' default
    latent_dim: int = 100
    g_features: int = 64
    d_features: int = 64
    lr: float = 2e-4
    beta1: float = 0.5
    seed: int = 0
    device: str = "cpu"
    sample_dir: str | None = None  # where the every-100-iterations fixed-noise PNG goes


@dataclass
class BaselineRun:
    generator: Generator
    discriminator: nn.Module
    steps: int = 0
    images_per_sec: list[float] = field(default_factory=list)  # one value per log window
    seconds: float = 0.0


def train_baseline(config: BaselineConfig, *, max_seconds: float | None = None, max_steps: int | None = None, log_every: int = 50, data: ImageData | None = None, log=None) -> BaselineRun:
    """Run the pytorch/examples loop until ``max_seconds`` of training or ``max_steps`` iterations."""
    if max_seconds is None and max_steps is None:
        raise ValueError("give max_seconds or max_steps")
    device = torch.device(config.device)
    torch.manual_seed(config.seed)
    data = data if data is not None else load_dataset(config.dataset, data_dir=config.data_dir)
    dataset = ItemDataset(data)
    dataloader = DataLoader(dataset, batch_size=config.batch_size, shuffle=True, num_workers=config.workers)
    netG = Generator(config.latent_dim, data.image_size, data.channels, config.g_features).to(device)  # noqa: N806 - the example's names
    netD = nn.Sequential(Discriminator(data.image_size, data.channels, config.d_features), nn.Sigmoid()).to(device)  # noqa: N806
    criterion = nn.BCELoss()
    fixed_noise = torch.randn(config.batch_size, config.latent_dim, 1, 1, device=device)
    real_label, fake_label = 1.0, 0.0
    optimizerD = torch.optim.Adam(netD.parameters(), lr=config.lr, betas=(config.beta1, 0.999))  # noqa: N806
    optimizerG = torch.optim.Adam(netG.parameters(), lr=config.lr, betas=(config.beta1, 0.999))  # noqa: N806

    samples = GanPipeline(netG)  # draws the fixed-noise PNG; leaves netG in train mode, as the example does
    run = BaselineRun(netG, netD)
    start = time.perf_counter()
    window_start, window_step = start, 0
    epoch = 0
    while True:
        for i, batch in enumerate(dataloader, 0):
            # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
            netD.zero_grad()
            real_cpu = batch[0].to(device)
            batch_size = real_cpu.size(0)
            label = torch.full((batch_size,), real_label, dtype=real_cpu.dtype, device=device)
            output = netD(real_cpu).view(-1)
            errD_real = criterion(output, label)  # noqa: N806
            errD_real.backward()
            D_x = output.mean().item()  # noqa: N806
            noise = torch.randn(batch_size, config.latent_dim, 1, 1, device=device)
            fake = netG(noise)
            label.fill_(fake_label)
            output = netD(fake.detach()).view(-1)
            errD_fake = criterion(output, label)  # noqa: N806
            errD_fake.backward()
            D_G_z1 = output.mean().item()  # noqa: N806
            errD = errD_real + errD_fake  # noqa: N806
            optimizerD.step()

            # (2) Update G network: maximize log(D(G(z)))
            netG.zero_grad()
            label.fill_(real_label)
            output = netD(fake).view(-1)
            errG = criterion(output, label)  # noqa: N806
            errG.backward()
            D_G_z2 = output.mean().item()  # noqa: N806
            optimizerG.step()

            if log is not None:
                print(f"[{epoch}][{i}/{len(dataloader)}] Loss_D: {errD.item():.4f} Loss_G: {errG.item():.4f} D(x): {D_x:.4f} D(G(z)): {D_G_z1:.4f} / {D_G_z2:.4f}", file=log)
            if i % 100 == 0 and config.sample_dir:
                fake = samples(fixed_noise.flatten(1), verdict=False).images  # (B, H, W[, 3]) uint8
                images.save_png(images.make_grid(fake), Path(config.sample_dir) / "fake_samples.png")

            run.steps += 1
            now = time.perf_counter()
            if run.steps % log_every == 0:
                run.images_per_sec.append((run.steps - window_step) * config.batch_size / (now - window_start))
                window_start, window_step = now, run.steps
            if (max_steps is not None and run.steps >= max_steps) or (max_seconds is not None and now - start >= max_seconds):
                run.seconds = now - start
                return run
        epoch += 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--data-dir")
    p.add_argument("--minutes", type=float, help="training wall-clock budget")
    p.add_argument("--steps", type=int, help="training iterations")
    p.add_argument("--workers", type=int, default=2, help="DataLoader worker processes (pytorch/examples' default: 2)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="folder for generator/ (saved in eval mode) and fake_samples.png")
    args = p.parse_args(argv)
    if args.minutes is None and args.steps is None:
        p.error("give --minutes or --steps")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    config = BaselineConfig(dataset=args.dataset, data_dir=args.data_dir, workers=args.workers, device=args.device, seed=args.seed, sample_dir=args.out)
    run = train_baseline(config, max_seconds=args.minutes * 60 if args.minutes else None, max_steps=args.steps, log=sys.stdout)
    run.generator.cpu().eval().save_pretrained(Path(args.out) / "generator")
    print(f"{run.steps} iterations in {run.seconds:.0f} s; saved {args.out}/generator")
    return 0


if __name__ == "__main__":
    sys.exit(main())
