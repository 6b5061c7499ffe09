"""Export G and D to ONNX so they run in a visitor's browser (onnxruntime-web) or any ONNX runtime.

Each network becomes one self-contained ``model.onnx`` (weights inside, no external-data files)
with a dynamic batch dimension:

- generator: input ``z`` (B, latent_dim) -> output ``images`` (B, C, H, W) in [-1, 1];
- discriminator: input ``images`` (B, C, H, W) in [-1, 1] -> output ``logits`` (B,).

BatchNorm is folded into the preceding (transposed) convolution first, so the graph holds only
Conv/ConvTranspose, activations and a reshape: fewer nodes to run per frame and no running
statistics to get wrong. ``export_model_folder`` writes ``model.onnx`` beside each part's
``model.safetensors``.

**fp16 weights.** A generator's file stores its weights as fp16 (half the bytes a visitor downloads) where that keeps
the page's promise for this model: on 2,000 latents, every picture within one grey level of the network's own, and D's
verdict on it within half a percentage point (its last shown decimal may differ). Each weight is cast back to fp32 by a Cast node
when the session starts, so the network still computes in fp32; only the weights are rounded. A model that fails the
check (measured: the shipped Fashion-MNIST and Emoji models, some pictures 2 grey levels apart) keeps fp32 weights. D
keeps fp32 weights: its file is a fifth of G's, and rounding them moved its verdict by up to 0.36 percentage points.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
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
FP16_PICTURES = 2000  # latents the fp16-weights check draws
FP16_MAX_GREY_LEVELS = 1  # the page promises the server's picture to within one grey level
FP16_MAX_VERDICT_CHANGE = 0.005  # D's P(real): half a percentage point (measured: at most 0.20 on the shipped models)
SMALL_TENSOR = 16  # a weight of at most this many values stays fp32: nothing to save


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


def _finish_file(path: Path, fp16_weights: bool) -> None:
    """Rewrite the exported file at ``path`` once: without the exporter's per-node debug records (source stack traces
    with this machine's paths, FX names), so the shipped file holds the graph and weights only and the same weights
    export to the same bytes; and with fp16 weights (:func:`with_fp16_weights`) when ``fp16_weights``."""
    import onnx  # present wherever torch.onnx.export ran: its exporter needs it

    model = onnx.load(str(path))
    for node in model.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    del model.metadata_props[:]
    onnx.save(with_fp16_weights(model) if fp16_weights else model, str(path))


def _round_to_fp16(tensor: torch.Tensor) -> bool:
    return tensor.is_floating_point() and tensor.numel() > SMALL_TENSOR


def with_fp16_weights(model):
    """The ONNX ``model`` (an onnx.ModelProto, changed in place and returned) with each float32 weight of more than
    SMALL_TENSOR values stored as fp16 and cast back to fp32 by a Cast node at the start of the graph: the same network
    with its weights rounded to fp16."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    kept, casts = [], []
    for tensor in graph.initializer:
        values = numpy_helper.to_array(tensor)
        if values.dtype == np.float32 and values.size > SMALL_TENSOR:
            kept.append(numpy_helper.from_array(values.astype(np.float16), tensor.name + "_fp16"))
            casts.append(helper.make_node("Cast", [tensor.name + "_fp16"], [tensor.name], to=TensorProto.FLOAT, name=tensor.name + "_cast"))
        else:
            kept.append(tensor)
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    return model


def has_fp16_weights(path: str | os.PathLike) -> bool:
    """Whether the ONNX file at ``path`` stores weights as fp16 (see the module's docstring)."""
    import onnx

    return any(tensor.data_type == onnx.TensorProto.FLOAT16 for tensor in onnx.load(str(path)).graph.initializer)


@dataclass(frozen=True)
class Fp16Check:
    """How far fp16 weights move a generator's pictures from its own, and D's verdict on them, on ``pictures`` latents."""

    pictures: int
    grey_levels: int  # the most any pixel moved, in grey levels (0-255)
    verdict_change: float | None  # the most D's P(real) moved; None without a discriminator

    @property
    def keeps_promise(self) -> bool:
        """Within one grey level everywhere, and D's verdict within half a percentage point."""
        verdict_kept = self.verdict_change is None or self.verdict_change <= FP16_MAX_VERDICT_CHANGE
        return self.grey_levels <= FP16_MAX_GREY_LEVELS and verdict_kept

    def __str__(self) -> str:
        verdict = "" if self.verdict_change is None else f", D's verdict by at most {100 * self.verdict_change:.2f} percentage points"
        return f"fp16 weights move its pictures by at most {self.grey_levels} grey level(s){verdict} on {self.pictures:,d} latents"


@torch.no_grad()
def check_fp16_weights(generator: Generator, discriminator: Discriminator | None = None, *, pictures: int = FP16_PICTURES,
                       seed: int = 0, batch: int = 250) -> Fp16Check:
    """Compare ``generator`` with the network its fp16-weights ONNX file computes (BatchNorm folded, every weight of more
    than SMALL_TENSOR values rounded to fp16, fp32 arithmetic) on ``pictures`` latents z ~ N(0, I) scaled by a
    truncation drawn from [0, 2] (the explorer's range); with ``discriminator``, also D's P(real) on both pictures."""
    from gan_core.core.images import to_uint8

    generator = copy.deepcopy(generator).float().cpu().eval()  # the caller's network stays where and as it was
    rounded = fold_batchnorm(generator)
    for tensor in rounded.state_dict().values():
        if _round_to_fp16(tensor):
            tensor.copy_(tensor.half().float())
    if discriminator is not None:
        discriminator = copy.deepcopy(discriminator).float().cpu().eval()
    rng = torch.Generator().manual_seed(seed)
    grey_levels, verdict_change = 0, 0.0
    for start in range(0, pictures, batch):
        size = min(batch, pictures - start)
        z = torch.randn(size, generator.latent_dim, generator=rng) * torch.rand(size, 1, generator=rng) * 2  # (B, latent_dim)
        own, half = generator(z), rounded(z)  # (B, C, H, W)
        grey_levels = max(grey_levels, int((to_uint8(own).int() - to_uint8(half).int()).abs().max()))
        if discriminator is not None:
            verdict_change = max(verdict_change, float((torch.sigmoid(discriminator(own)) - torch.sigmoid(discriminator(half))).abs().max()))
    return Fp16Check(pictures, grey_levels, verdict_change if discriminator is not None else None)


def choose_fp16_weights(generator: Generator, discriminator: Discriminator | None = None) -> bool:
    """Whether ``generator``'s ONNX file stores fp16 weights: when :func:`check_fp16_weights` finds the promise kept."""
    check = check_fp16_weights(generator, discriminator)
    logger.info("the generator's ONNX weights: %s (%s)", "fp16" if check.keeps_promise else "fp32", check)
    return check.keeps_promise


def _example_input(model: nn.Module) -> torch.Tensor:
    device = next(model.parameters()).device
    if isinstance(model, Generator):
        return torch.zeros(EXAMPLE_BATCH, model.latent_dim, device=device)  # (B, latent_dim)
    return torch.zeros(EXAMPLE_BATCH, model.channels, model.image_size, model.image_size, device=device)  # (B, C, H, W)


def export_onnx(model: nn.Module, path: str | os.PathLike, *, fp16_weights: bool = False) -> Path:
    """Write ``model`` (a Generator or Discriminator) as one self-contained ONNX file at ``path``.

    BatchNorm is folded first (see ``fold_batchnorm``); the batch dimension is dynamic, so one file
    serves any batch size. Generator: ``z`` (B, latent_dim) -> ``images`` (B, C, H, W) in [-1, 1].
    Discriminator: ``images`` (B, C, H, W) in [-1, 1] -> ``logits`` (B,). With ``fp16_weights`` the
    weights are stored as fp16 and cast to fp32 in the graph (:func:`choose_fp16_weights` says when that
    is safe). The file is written to a temporary folder beside ``path`` and moved into place, so a failed
    export leaves nothing. Returns ``path``. Raises ValueError for any other kind of model.
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
        _finish_file(staged, fp16_weights)
        written = sorted(p.name for p in Path(scratch).iterdir())
        assert written == [path.name], f"the ONNX export wrote external data beside the model: {written}"
        os.replace(staged, path)
    logger.info("exported %s to %s (%d bytes%s)", kind.__name__, path, path.stat().st_size, ", fp16 weights" if fp16_weights else "")
    return path


def export_parts(source: str | os.PathLike) -> list[tuple[type[nn.Module], Path]]:
    """The (class, part folder) pairs :func:`export_model_folder` exports: the generator, then D if one ships.

    Resolves the source like every loader (:func:`gan_core.core.hub.locate`) and reads no weights, so a
    command can refuse bad folders before any work. FileNotFoundError/ValueError say what is wrong.
    """
    files = locate(source)
    return [(Generator, files.generator)] + ([(Discriminator, files.discriminator)] if files.discriminator else [])


def _export_pair(generator: Generator, discriminator: Discriminator | None, folders: list[Path], allow_fp16: bool) -> list[Path]:
    fp16_weights = allow_fp16 and choose_fp16_weights(generator, discriminator)
    written = [export_onnx(generator, folders[0] / ONNX_NAME, fp16_weights=fp16_weights)]
    if discriminator is not None:
        written.append(export_onnx(discriminator, folders[1] / ONNX_NAME))
    return written


def export_model(generator: Generator, discriminator: Discriminator | None, folder: str | os.PathLike, *, allow_fp16: bool = True) -> list[Path]:
    """Write ``generator/model.onnx`` (and ``discriminator/model.onnx``) under a run or model folder; G's weights as
    fp16 where :func:`choose_fp16_weights` allows it (never with ``allow_fp16=False``)."""
    folder = Path(folder)
    return _export_pair(generator, discriminator, [folder / "generator", folder / "discriminator"], allow_fp16)


def export_model_folder(source: str | os.PathLike, *, allow_fp16: bool = True) -> list[Path]:
    """Export each part of a model source to ``model.onnx`` beside its ``model.safetensors``.

    ``source`` holds ``generator/`` (and optionally ``discriminator/``), or is a generator folder
    itself. G's weights are stored as fp16 where that keeps the page's promise (see :func:`export_model`).
    Returns the written paths, generator first. Raises FileNotFoundError when the folder
    holds no generator, ValueError when its weights do not fit its config.
    """
    parts = export_parts(source)
    networks = [load_part(cls, part) for cls, part in parts]
    return _export_pair(networks[0], networks[1] if len(networks) > 1 else None, [part for _, part in parts], allow_fp16)
