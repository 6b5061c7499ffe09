"""Finding, loading, saving and publishing models: Hub-style folders.

A model folder holds ``config.json`` + ``model.safetensors`` (written by
``PyTorchModelHubMixin.save_pretrained``), the run manifest ``run.json`` and a ``README.md``
model card rendered from it. A *source* is a local folder (a part folder, a run/weights folder
holding ``generator/`` and ``discriminator/``, a run in progress) or a Hub repo id; it is
resolved once by :func:`resolve_source`. Loading is strict and safe: safetensors only, every
tensor present with the right shape.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import torch
from safetensors.torch import load_file as load_safetensors
from torch import nn

from gan_core.core.checks import shown
from gan_core.core.encoder import Encoder
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
PARTS = {Generator: "generator", Discriminator: "discriminator", Encoder: "encoder"}
# The arguments a saved config.json must name (save_pretrained writes every argument).
REQUIRED = {
    Generator: {"latent_dim", "image_size", "channels", "g_features"},
    Discriminator: {"image_size", "channels", "d_features"},
    Encoder: {"latent_dim", "image_size", "channels", "e_features"},
}


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
    """The ``part`` ("generator", "discriminator" or "encoder") folder of a model source.

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
    encoder: Path | None = None  # its encoder folder (picture -> z, gan_core.inversion), if one ships

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
    encoder = next((c for c in (root / "encoder", generator.parent / "encoder") if (c / CONFIG_NAME).is_file()), None)
    return ModelFiles(root=root, generator=generator, discriminator=discriminator, encoder=encoder)


def load_model(cls: type[M], name_or_path: str | os.PathLike, *, device: str | torch.device = "cpu") -> M:
    """Load ``cls`` (Generator, Discriminator or Encoder) from a source (folder or Hub repo id), strictly.

    ``name_or_path`` is the model folder itself, a run/weights folder holding ``generator/`` and
    ``discriminator/``, or a Hub repo id with either layout. The model is rebuilt from its own
    ``config.json``; a missing, unexpected or misshaped tensor raises ValueError naming it.
    Returns the model in eval mode on ``device``.
    """
    return load_part(cls, find_part(resolve_source(name_or_path), PARTS[cls]), device=device)


def load_part(cls: type[M], folder: Path, *, device: str | torch.device = "cpu") -> M:
    """Load ``cls`` from its part folder (config.json + model.safetensors), strictly and safely.

    In order, before any large allocation: config.json must be an object naming ``cls``'s arguments
    (and nothing else); the safetensors header must be well formed and list exactly the tensors, with
    the shapes, of ``cls`` built from that config (checked on the meta device, so absurd sizes cost
    nothing); then the weights are read and must all be finite. Each failure is one ValueError or
    FileNotFoundError naming the file and what is wrong. See :func:`load_model`.
    """
    config_path, weights_path = folder / CONFIG_NAME, folder / WEIGHTS_NAME
    if not weights_path.is_file():
        raise FileNotFoundError(
            f"Model folder {folder} has no {WEIGHTS_NAME}. A model folder is written by "
            "`save_pretrained` (or `python -m gan_core.train`) and holds config.json and model.safetensors."
        )
    config = read_config(cls, config_path)
    try:
        with torch.device("meta"):
            expected = {name: tuple(t.shape) for name, t in cls(**config).state_dict().items()}
    except (TypeError, ValueError) as err:
        raise ValueError(f"{config_path} does not describe a {cls.__name__}: {err}") from None
    header = read_safetensors_header(weights_path)
    found = {name: tuple(info["shape"]) for name, info in header.items() if name != "__metadata__"}
    missing, unexpected = sorted(expected.keys() - found.keys()), sorted(found.keys() - expected.keys())
    misshaped = [f"{name} {found[name]} (expected {expected[name]})" for name in sorted(expected.keys() & found.keys()) if found[name] != expected[name]]
    if missing or unexpected or misshaped:
        problems = [f"missing {', '.join(missing[:5])}" if missing else "", f"unexpected {', '.join(unexpected[:5])}" if unexpected else "", f"misshaped {'; '.join(misshaped[:5])}" if misshaped else ""]
        raise ValueError(f"The weights in {weights_path} do not fit {cls.__name__} built from its config.json: {'; '.join(p for p in problems if p)}.")
    try:
        tensors = load_safetensors(str(weights_path), device="cpu")
    except Exception as err:  # safetensors raises its own SafetensorError (and OSError) for damaged files
        raise ValueError(f"{weights_path} could not be read as safetensors ({type(err).__name__}: {str(err)[:120]}); the file is damaged.") from None
    bad = [name for name, tensor in tensors.items() if tensor.is_floating_point() and not torch.isfinite(tensor).all()]
    if bad:
        raise ValueError(f"{weights_path} holds non-finite weights (NaN or infinity) in {', '.join(bad[:5])}: the model diverged or the file is damaged.")
    model = cls(**config)
    model.load_state_dict(tensors, strict=True)
    return model.to(device).eval()


MAX_HEADER_BYTES = 100_000_000  # a safetensors header larger than this is not a DCGAN's


def read_safetensors_header(path: Path) -> dict:
    """The JSON header of a safetensors file ({name: {"dtype", "shape", "data_offsets"}}), validated against the file's size."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            prefix = handle.read(8)
            length = int.from_bytes(prefix, "little") if len(prefix) == 8 else -1
            if not 2 <= length <= min(MAX_HEADER_BYTES, size - 8):
                raise ValueError("its header length does not fit the file")
            header = json.loads(handle.read(length))
    except OSError as err:
        raise ValueError(f"{path} could not be read ({err.strerror or err}).") from None
    except (ValueError, UnicodeDecodeError, RecursionError) as err:
        raise ValueError(f"{path} is not a safetensors file ({size} bytes; {str(err)[:80]}): it is damaged, truncated or something else.") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path} is not a safetensors file: its header is not a JSON object.")
    data_size = size - 8 - length
    for name, info in header.items():
        if name == "__metadata__":
            continue
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        shape = info.get("shape") if isinstance(info, dict) else None
        valid = isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets) and 0 <= offsets[0] <= offsets[1] <= data_size
        if not valid or not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise ValueError(f"{path} is damaged or truncated: the entry for tensor {shown(name)} does not fit the file.")
    return header


def read_config(cls: type[nn.Module], path: Path) -> dict:
    """``cls``'s constructor arguments from a config.json: a JSON object naming only those arguments."""
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is missing: a model folder holds config.json beside model.safetensors.") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise ValueError(f"{path} is not valid JSON: {str(err)[:100]}") from None
    accepted = [name for name in inspect.signature(cls.__init__).parameters if name != "self"]
    if not isinstance(config, dict):
        raise ValueError(f"{path} must hold a JSON object of {cls.__name__} arguments ({', '.join(accepted)}), got {shown(config)}.")
    other = next((kind for kind in REQUIRED if kind is not cls and REQUIRED[kind] <= config.keys()), None)
    if other is not None and not REQUIRED.get(cls, set()) <= config.keys():
        raise ValueError(f"{path} holds {_a(PARTS[other])} config; expected {_a(PARTS.get(cls, cls.__name__))} folder.")
    missing = sorted(REQUIRED.get(cls, set()) - config.keys())
    unknown = sorted(config.keys() - set(accepted))
    if missing or unknown:
        detail = "; ".join(part for part in (f"lacks {', '.join(missing)}" if missing else "", f"has unknown fields {', '.join(map(shown, unknown[:5]))}" if unknown else "") if part)
        raise ValueError(f"{path} does not describe a {cls.__name__}: it {detail} (a {cls.__name__} config names {', '.join(accepted)}).")
    return config


def _a(noun: str) -> str:
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


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
