"""Finding, loading, saving and publishing models: Hub-style folders.

A model folder holds ``config.json`` + ``model.safetensors`` (written by
``PyTorchModelHubMixin.save_pretrained``), the run manifest ``run.json`` and a ``README.md``
model card rendered from it. A *source* is a local folder (a part folder, a run/weights folder
holding ``generator/`` and ``discriminator/``, a run in progress) or a Hub repo id; it is
resolved once by :func:`resolve_source`. Loading is strict and safe: safetensors only, every
tensor present with the right shape.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import torch
from torch import nn

from gan_core.core.manifest import CARD_NAME
from gan_core.core.models import Discriminator, Generator

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=nn.Module)

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
ONNX_NAME = "model.onnx"  # the same network for ONNX runtimes (the browser), written by gan_core.export
LOG_NAME = "train_log.jsonl"
TIMELINE_DIR = "timeline"
SNAPSHOT_DIR = "snapshots"


HUB_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
PARTS = {Generator: "generator", Discriminator: "discriminator"}


def resolve_source(spec: str | os.PathLike) -> Path:
    """A local folder as is, or a Hub repo id (``owner/name``) downloaded (or taken from the HF cache)."""
    source = str(spec)
    path = Path(source).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"{source} is a file; a model is a folder holding {CONFIG_NAME} and {WEIGHTS_NAME} (or generator/).")
        return path
    if HUB_REPO_ID.match(source):
        from huggingface_hub import snapshot_download

        try:
            return Path(snapshot_download(source, allow_patterns=["*.json", "*.safetensors", "*.onnx", "*.md", "*.jsonl", "*.png"]))
        except Exception as err:  # offline, private, missing: all mean "not available here"
            raise FileNotFoundError(
                f"Could not get the Hub repo {source!r} ({type(err).__name__}: {err}). "
                "Offline? Pass a local model folder instead."
            ) from err
    raise FileNotFoundError(f"No model folder at {source}: the path does not exist and it is not a Hub repo id (owner/name).")


def find_part(root: Path, part: str) -> Path:
    """The ``part`` ("generator" or "discriminator") folder of a model source.

    Accepts the part folder itself, a run/weights folder holding ``part/``, and for the generator a
    run still in progress (its newest ``snapshots/epoch_NNN/``).
    """
    if (root / part / CONFIG_NAME).is_file():
        return root / part
    if (root / CONFIG_NAME).is_file():
        return root
    snapshots = sorted((root / SNAPSHOT_DIR).glob("epoch_*")) if part == "generator" and (root / SNAPSHOT_DIR).is_dir() else []
    if snapshots:
        return snapshots[-1]
    raise FileNotFoundError(
        f"{root} holds no {part}: expected {root}/{part}/{CONFIG_NAME} (a shipped model or finished run) or "
        f"{root}/{CONFIG_NAME} (a {part} folder)" + (f" or {root}/snapshots/epoch_NNN/ (a run in progress)." if part == "generator" else ".")
    )


@dataclass(frozen=True)
class ModelFiles:
    """Where the parts of a model source are, resolved once by :func:`locate`."""

    root: Path  # the run/weights folder (or the part folder itself)
    generator: Path  # the generator folder
    discriminator: Path | None  # its discriminator folder, if one ships

    def onnx(self, part: str) -> Path | None:
        """``part``'s model.onnx ("generator" or "discriminator"), None when it was not exported."""
        folder = self.generator if part == "generator" else self.discriminator
        return folder / ONNX_NAME if folder is not None and (folder / ONNX_NAME).is_file() else None

    @property
    def log(self) -> Path:
        return self.root / LOG_NAME

    @property
    def timeline(self) -> list[tuple[int, Path]]:
        """(epoch, PNG path) of the fixed-noise grid after each epoch, in order."""
        frames = []
        for png in sorted((self.root / TIMELINE_DIR).glob("epoch_*.png")):
            match = re.fullmatch(r"epoch_(\d+)\.png", png.name)
            if match:
                frames.append((int(match.group(1)), png))
        return frames


def locate(spec: str | os.PathLike) -> ModelFiles:
    """Resolve a source (folder, run folder, run in progress, Hub repo id) into its parts' folders."""
    root = resolve_source(spec)
    generator = find_part(root, "generator")
    candidates = (root / "discriminator", generator.parent / "discriminator")
    discriminator = next((c for c in candidates if (c / CONFIG_NAME).is_file()), None)
    return ModelFiles(root=root, generator=generator, discriminator=discriminator)


def load_model(cls: type[M], name_or_path: str | os.PathLike, *, device: str | torch.device = "cpu") -> M:
    """Load ``cls`` (Generator or Discriminator) from a source (folder or Hub repo id), strictly.

    ``name_or_path`` is the model folder itself, a run/weights folder holding ``generator/`` and
    ``discriminator/``, or a Hub repo id with either layout. The model is rebuilt from its own
    ``config.json``; a missing, unexpected or misshaped tensor raises ValueError naming it.
    Returns the model in eval mode on ``device``.
    """
    return load_part(cls, find_part(resolve_source(name_or_path), PARTS[cls]), device=device)


def load_part(cls: type[M], folder: Path, *, device: str | torch.device = "cpu") -> M:
    """Load ``cls`` from its part folder (config.json + model.safetensors), strictly; see :func:`load_model`."""
    if not (folder / WEIGHTS_NAME).is_file():
        raise FileNotFoundError(
            f"Model folder {folder} has no {WEIGHTS_NAME}. A model folder is written by "
            "`save_pretrained` (or `python -m gan_core.train`) and holds config.json and model.safetensors."
        )
    try:
        config = json.loads((folder / CONFIG_NAME).read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{folder / CONFIG_NAME} is not valid JSON: {err}") from err
    _check_config_kind(cls, config, str(folder))
    try:
        # from_pretrained print()s "Loading weights from local directory"; keep stdout clean for CLIs.
        with contextlib.redirect_stdout(io.StringIO()):
            model = cls.from_pretrained(str(folder), strict=True, map_location=str(device))
    except RuntimeError as err:
        # safetensors/torch name the offending tensors ("Missing key(s)", "size mismatch for ...").
        raise ValueError(f"The weights in {folder} do not fit {cls.__name__} built from its config.json: {err}") from err
    except TypeError as err:
        raise ValueError(f"{folder / CONFIG_NAME} does not describe a {cls.__name__}: {err}") from err
    return model.to(device).eval()


def _check_config_kind(cls: type[nn.Module], config: dict, source: str) -> None:
    # A generator's config has latent_dim; a discriminator's does not. Catch swapped folders early.
    is_generator_config = "latent_dim" in config or "g_features" in config
    if cls is Generator and not is_generator_config:
        raise ValueError(f"{source} holds a discriminator config; expected a generator folder.")
    if cls is Discriminator and is_generator_config:
        raise ValueError(f"{source} holds a generator config; expected a discriminator folder.")


def load_generator(name_or_path: str | os.PathLike, device: str | torch.device = "cpu") -> Generator:
    return load_model(Generator, name_or_path, device=device)


def load_discriminator(name_or_path: str | os.PathLike, device: str | torch.device = "cpu") -> Discriminator:
    return load_model(Discriminator, name_or_path, device=device)


def save_model(model: nn.Module, directory: str | os.PathLike, card: str | None = None) -> Path:
    """Write ``model`` as a Hub-style folder (config.json, model.safetensors) and its model card."""
    directory = Path(directory)
    model.save_pretrained(directory)
    if card is not None:
        (directory / CARD_NAME).write_text(card)
    return directory


def read_log(path: str | os.PathLike) -> list[dict]:
    """The records of a train_log.jsonl, in order (blank lines skipped)."""
    with open(path) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def push_folder(directory: str | os.PathLike, repo_id: str, *, token: str | None = None, path_in_repo: str | None = None) -> str:
    """Upload a model folder to the Hub repo ``repo_id`` (created if needed). Returns the commit URL.

    Needs a token (argument, ``HF_TOKEN`` or a prior ``hf auth login``); raises ValueError without one.
    """
    from huggingface_hub import HfApi, get_token

    token = token or get_token()
    if not token:
        raise ValueError(
            f"Pushing to {repo_id} needs a Hugging Face token: set HF_TOKEN or run `hf auth login`."
        )
    api = HfApi(token=token)
    api.create_repo(repo_id, exist_ok=True)
    info = api.upload_folder(folder_path=str(directory), repo_id=repo_id, path_in_repo=path_in_repo)
    logger.info("pushed %s to %s", directory, repo_id)
    return str(info)
