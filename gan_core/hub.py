"""Saving, loading and publishing models: Hub-style folders and model cards.

A model folder holds ``config.json`` + ``model.safetensors`` (written by
``PyTorchModelHubMixin.save_pretrained``) and a ``README.md`` model card. Loading is
strict and safe: safetensors only, every tensor present with the right shape.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
from pathlib import Path
from typing import TypeVar

import torch
from torch import nn

from gan_core.models import REPO_URL, Discriminator, Generator

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=nn.Module)

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"


def is_local_model_dir(path: str | os.PathLike) -> bool:
    return Path(path).is_dir()


def load_model(cls: type[M], name_or_path: str | os.PathLike, *, device: str | torch.device = "cpu", **hub_kwargs) -> M:
    """Load ``cls`` (Generator or Discriminator) from a local folder or a Hub repo id, strictly.

    The model is rebuilt from its own ``config.json``; a missing, unexpected or misshaped tensor
    raises ValueError naming it. Returns the model in eval mode on ``device``.
    """
    source = str(name_or_path)
    local = Path(source)
    if local.exists():
        if not local.is_dir():
            raise ValueError(f"{source} is a file; a model is a folder holding {CONFIG_NAME} and {WEIGHTS_NAME}.")
        for needed in (CONFIG_NAME, WEIGHTS_NAME):
            if not (local / needed).is_file():
                raise FileNotFoundError(
                    f"Model folder {source} has no {needed}. A model folder is written by "
                    "`save_pretrained` (or `python -m gan_core.train`) and holds config.json and model.safetensors."
                )
        try:
            config = json.loads((local / CONFIG_NAME).read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{local / CONFIG_NAME} is not valid JSON: {err}") from err
        _check_config_kind(cls, config, source)
    elif source.startswith((".", "/", "~")) or source.count("/") > 1:
        raise FileNotFoundError(f"No model folder at {source}: the path does not exist.")
    try:
        # from_pretrained print()s "Loading weights from local directory"; keep stdout clean for CLIs.
        with contextlib.redirect_stdout(io.StringIO()):
            model = cls.from_pretrained(source, strict=True, map_location=str(device), **hub_kwargs)
    except RuntimeError as err:
        # safetensors/torch name the offending tensors ("Missing key(s)", "size mismatch for ...").
        raise ValueError(f"The weights in {source} do not fit {cls.__name__} built from its config.json: {err}") from err
    except TypeError as err:
        raise ValueError(f"{source}/{CONFIG_NAME} does not describe a {cls.__name__}: {err}") from err
    except OSError as err:
        raise FileNotFoundError(
            f"Could not load {cls.__name__} from {source!r}: not a local folder, and the Hugging Face Hub "
            f"did not provide it ({type(err).__name__}: {err}). Offline? Pass a local model folder instead."
        ) from err
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


def write_card(directory: str | os.PathLike, card: str) -> None:
    (Path(directory) / CARD_NAME).write_text(card)


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


def model_card(
    *,
    title: str,
    role: str,
    config: dict,
    dataset: str,
    data_note: str,
    command: str,
    steps: int,
    epochs: float,
    metrics: dict[str, float] | None = None,
    extra: str = "",
) -> str:
    """Render a model card (README.md) that states data, training command, steps and metrics."""
    metric_rows = "\n".join(f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in (metrics or {}).items())
    metrics_md = f"| metric | value |\n|---|---|\n{metric_rows}" if metric_rows else "No metrics measured yet."
    config_md = "\n".join(f"- `{k}`: {v}" for k, v in config.items())
    return f"""---
library_name: gan_core
license: mit
tags:
- dcgan
- gan
- unconditional-image-generation
datasets:
- {dataset}
---

# {title}

The {role} of a DCGAN (Radford et al. 2015, https://arxiv.org/abs/1511.06434) trained by
[`gan_core`]({REPO_URL}) on **{dataset}**.

## Data
{data_note}

## Training
```
{command}
```
Trained for {steps} steps ({epochs:.2f} epochs) with BCE-with-logits for D and the non-saturating
loss for G, Adam(lr 2e-4, betas (0.5, 0.999)).

## Config
{config_md}

## Metrics
{metrics_md}

## Use
```python
from gan_core.hub import load_generator
generator = load_generator("path/or/repo-id")
```
{extra}
"""
