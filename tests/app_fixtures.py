"""Helpers for the app's tests: tiny model folders in the shipped layout, and a real app server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import torch

from gan_core.core import images
from gan_core.core.encoder import Encoder
from gan_core.core.hub import save_model
from gan_core.core.manifest import RunManifest, write_manifest
from gan_core.core.models import Discriminator, Generator
from gan_core.core.onnx_export import export_model_folder
from gan_core.inversion.anomaly import REFERENCE_NAME, Reference

ROOT = Path(__file__).resolve().parents[1]


def make_model_folder(
    folder: Path,
    *,
    image_size: int = 16,
    channels: int = 1,
    latent_dim: int = 8,
    epochs: int = 3,
    seed: int = 0,
    with_discriminator: bool = True,
    onnx: bool = False,
    encoder: bool = False,
    dataset: str | None = None,
) -> Path:
    """A shipped-layout model folder: generator/, discriminator/, timeline/epoch_NNN.png, train_log.jsonl (+ model.onnx files with ``onnx``).

    ``encoder``: an untrained encoder/ (what ``python -m gan_core.train_encoder`` saves) with a reference of 20
    anomaly scores 0.1, 0.2, ..., 2.0 (so a score of 1.05 is "more unusual than 50%"). ``dataset``: a generator/run.json
    naming it, e.g. "mnist" for the MNIST way of preparing pictures.
    """
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        save_model(Generator(latent_dim=latent_dim, image_size=image_size, channels=channels, g_features=4), folder / "generator")
        if with_discriminator:
            save_model(Discriminator(image_size=image_size, channels=channels, d_features=4), folder / "discriminator")
        if encoder:
            save_model(Encoder(latent_dim=latent_dim, image_size=image_size, channels=channels, e_features=4), folder / "encoder")
            reference = Reference(dataset=dataset or "synthetic", split="test", scores=[0.1 * i for i in range(1, 21)])
            reference.save(folder / "encoder" / REFERENCE_NAME)
    if dataset is not None:
        manifest = RunManifest(dataset=dataset, image_size=image_size, channels=channels, num_images=0, data_note="a test fixture", training={}, steps=0, epochs=0.0)
        write_manifest(folder / "generator", manifest)
    rng = np.random.default_rng(seed)
    (folder / "timeline").mkdir(parents=True)
    shape = (4, image_size, image_size) + ((3,) if channels == 3 else ())
    for epoch in range(1, epochs + 1):
        images.save_png(images.make_grid(rng.integers(0, 256, shape, dtype=np.uint8)), folder / "timeline" / f"epoch_{epoch:03d}.png")
    records = [
        {"step": 10 * i, "epoch": i / 2, "loss_d": 1.0 / i, "loss_g": 1.0 + i, "d_real": 0.9, "d_fake": 0.1 * i, "d_fake_after": 0.1}
        for i in range(1, 2 * epochs + 1)
    ]
    (folder / "train_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    if onnx:
        export_model_folder(folder)
    return folder


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AppServer:
    """``python app.py --model ...`` (or another Gradio ``script``) in a subprocess on a free port; stop() ends it.

    The one start-and-wait loop of the project: tests and benchmarks use it.
    """

    def __init__(
        self, models: list[Path], timeout: float = 120.0, script: Path = ROOT / "app.py", extra_args: tuple[str, ...] = (), log_dir: Path | None = None
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        env = dict(os.environ, GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(self.port), GRADIO_ANALYTICS_ENABLED="False")
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        args = [sys.executable, str(script), *[item for m in models for item in ("--model", str(m))], *extra_args]
        self.log_path = (Path(log_dir) if log_dir is not None else Path(models[0]).parent) / f"app-{self.port}.log"
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{Path(script).name} exited with {self.process.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "gradio_api/info", timeout=2):
                    return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"{Path(script).name} did not answer within {timeout:.0f} s:\n{self.log()}")

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._log.close()
