"""Export G and D to ONNX so they run in a visitor's browser (onnxruntime-web) or any ONNX runtime.

Each network becomes one self-contained ``model.onnx`` (weights inside, no external-data files)
with a dynamic batch dimension:

- generator: input ``z`` (B, latent_dim) -> output ``images`` (B, C, H, W) in [-1, 1];
- discriminator: input ``images`` (B, C, H, W) in [-1, 1] -> output ``logits`` (B,).

BatchNorm is folded into the preceding (transposed) convolution first, so the graph holds only
Conv/ConvTranspose, activations and a reshape: fewer nodes to run per frame and no running
statistics to get wrong. ``export_model_folder`` writes ``model.onnx`` beside each part's
``model.safetensors``.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from gan_core.core.hub import ONNX_NAME, load_part, locate
from gan_core.core.models import Discriminator, Generator

logger = logging.getLogger(__name__)

# (input name, output name) of each exported network; gan_web.js relies on these names.
IO_NAMES = {Generator: ("z", "images"), Discriminator: ("images", "logits")}
PART_NAMES = {Generator: "generator", Discriminator: "discriminator"}
EXAMPLE_BATCH = 2  # torch.export specialises sizes 0 and 1, so trace with 2 and mark the batch dynamic


@torch.no_grad()
def _fold_pair(conv: nn.Conv2d | nn.ConvTranspose2d, norm: nn.BatchNorm2d) -> None:
    """Fold eval-mode ``norm`` into ``conv`` in place: conv'(x) = norm(conv(x)) for every x.

    BatchNorm computes y = gamma (x - mean) / sqrt(var + eps) + beta per output channel, that is
    y = scale x + shift, so scaling the conv's output-channel weights by ``scale`` and adding
    ``bias * scale + shift`` gives the same result. Done in float64, stored in the conv's dtype.
    """
    dtype = conv.weight.dtype
    scale = norm.running_var.double().add(norm.eps).rsqrt()  # (C_out,)
    if norm.weight is not None:
        scale = scale * norm.weight.double()
    shift = -norm.running_mean.double() * scale
    if norm.bias is not None:
        shift = shift + norm.bias.double()
    weight = conv.weight.double()
    groups = conv.groups
    if isinstance(conv, nn.ConvTranspose2d):
        # (C_in, C_out / groups, k, k): output channels are dim 1, within each group of input channels.
        c_in, c_out_per_group = weight.shape[:2]
        grouped = weight.reshape(groups, c_in // groups, c_out_per_group, *weight.shape[2:])
        weight = (grouped * scale.reshape(groups, 1, c_out_per_group, 1, 1)).reshape(weight.shape)
    else:
        # (C_out, C_in / groups, k, k): output channels are dim 0.
        weight = weight * scale.reshape(-1, 1, 1, 1)
    bias = shift if conv.bias is None else conv.bias.double() * scale + shift
    conv.weight = nn.Parameter(weight.to(dtype))
    conv.bias = nn.Parameter(bias.to(dtype))


def fold_batchnorm(module: nn.Module) -> nn.Module:
    """A deep copy of ``module`` in eval mode with each Conv2d/ConvTranspose2d -> BatchNorm2d pair fused.

    Walks every ``nn.Sequential`` inside ``module`` (for G and D that is ``.net``); a BatchNorm2d
    directly after a convolution is folded into that convolution's weight and a new bias, and is
    replaced by ``nn.Identity``. The copy computes the same function as ``module.eval()`` (up to
    float rounding); ``module`` itself is not changed.
    """
    folded = copy.deepcopy(module).eval()
    count = 0
    for sequential in [m for m in folded.modules() if isinstance(m, nn.Sequential)]:
        for index in range(len(sequential) - 1):
            conv, norm = sequential[index], sequential[index + 1]
            if not (isinstance(conv, (nn.Conv2d, nn.ConvTranspose2d)) and isinstance(norm, nn.BatchNorm2d)):
                continue
            if norm.running_mean is None or norm.running_var is None:
                # Without running statistics BatchNorm normalises with the batch's own: not a fixed affine map.
                logger.warning("left %s unfolded: it tracks no running statistics", norm)
                continue
            _fold_pair(conv, norm)
            sequential[index + 1] = nn.Identity()
            count += 1
    logger.debug("folded %d BatchNorm2d layers of %s", count, type(module).__name__)
    return folded


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporter's chatter (missing torchvision ops, deprecations) for the duration of one export."""
    onnx_logger = logging.getLogger("torch.onnx")
    level = onnx_logger.level
    onnx_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        onnx_logger.setLevel(level)


def _strip_debug_info(path: Path) -> None:
    """Drop the exporter's per-node debug records (source stack traces with this machine's paths, FX names):
    the shipped file holds the graph and weights only, and the same weights export to the same bytes."""
    import onnx  # present wherever torch.onnx.export ran: its exporter needs it

    model = onnx.load(str(path))
    for node in model.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    del model.metadata_props[:]
    onnx.save(model, str(path))


def _example_input(model: nn.Module) -> torch.Tensor:
    device = next(model.parameters()).device
    if isinstance(model, Generator):
        return torch.zeros(EXAMPLE_BATCH, model.latent_dim, device=device)  # (B, latent_dim)
    return torch.zeros(EXAMPLE_BATCH, model.channels, model.image_size, model.image_size, device=device)  # (B, C, H, W)


def export_onnx(model: nn.Module, path: str | os.PathLike) -> Path:
    """Write ``model`` (a Generator or Discriminator) as one self-contained ONNX file at ``path``.

    BatchNorm is folded first (see ``fold_batchnorm``); the batch dimension is dynamic, so one file
    serves any batch size. Generator: ``z`` (B, latent_dim) -> ``images`` (B, C, H, W) in [-1, 1].
    Discriminator: ``images`` (B, C, H, W) in [-1, 1] -> ``logits`` (B,). The file is written
    to a temporary folder beside ``path`` and moved into place, so a failed export leaves nothing.
    Returns ``path``. Raises ValueError for any other kind of model.
    """
    kind = next((cls for cls in IO_NAMES if isinstance(model, cls)), None)
    if kind is None:
        raise ValueError(
            f"export_onnx exports a gan_core Generator or Discriminator, got a {type(model).__name__}; "
            "load one with Generator.from_pretrained(folder) or Discriminator.from_pretrained(folder)."
        )
    input_name, output_name = IO_NAMES[kind]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    folded = fold_batchnorm(model).float().cpu()
    example = _example_input(folded)
    batch = torch.export.Dim("batch")
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".onnx-export-") as scratch, _quiet_exporter():
        staged = Path(scratch) / path.name
        torch.onnx.export(
            folded,
            (example,),
            str(staged),
            input_names=[input_name],
            output_names=[output_name],
            dynamic_shapes={input_name: {0: batch}},
            external_data=False,
            verbose=False,
        )
        _strip_debug_info(staged)
        written = sorted(p.name for p in Path(scratch).iterdir())
        assert written == [path.name], f"the ONNX export wrote external data beside the model: {written}"
        os.replace(staged, path)
    logger.info("exported %s to %s (%d bytes)", kind.__name__, path, path.stat().st_size)
    return path


def export_parts(source: str | os.PathLike) -> list[tuple[type[nn.Module], Path]]:
    """The (class, part folder) pairs :func:`export_model_folder` exports: the generator, then D if one ships.

    Resolves the source like every loader (:func:`gan_core.core.hub.locate`) and reads no weights, so a
    command can refuse bad folders before any work. FileNotFoundError/ValueError say what is wrong.
    """
    files = locate(source)
    return [(Generator, files.generator)] + ([(Discriminator, files.discriminator)] if files.discriminator else [])


def export_model(generator: Generator, discriminator: Discriminator | None, folder: str | os.PathLike) -> list[Path]:
    """Write ``generator/model.onnx`` (and ``discriminator/model.onnx``) under a run or model folder."""
    folder = Path(folder)
    written = [export_onnx(generator, folder / "generator" / ONNX_NAME)]
    if discriminator is not None:
        written.append(export_onnx(discriminator, folder / "discriminator" / ONNX_NAME))
    return written


def export_model_folder(source: str | os.PathLike) -> list[Path]:
    """Export each part of a model source to ``model.onnx`` beside its ``model.safetensors``.

    ``source`` holds ``generator/`` (and optionally ``discriminator/``), or is a generator folder
    itself. Returns the written paths, generator first. Raises FileNotFoundError when the folder
    holds no generator, ValueError when its weights do not fit its config.
    """
    return [export_onnx(load_part(cls, part), part / ONNX_NAME) for cls, part in export_parts(source)]
