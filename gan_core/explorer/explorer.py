"""What the latent-space explorer app shows, as functions of plain values.

Every public method takes plain values (a model name, a seed, floats, strings) and returns what
the UI shows: dicts holding tiny PNG data URLs (the browser upscales them with crisp,
nearest-neighbour pixels), numpy images, GIF files, tables. Pictures come from each model's
:class:`~gan_core.pipeline.GanPipeline`, loaded once; nothing reads a file per call. Bad values
raise ValueError with a sentence that says what was given and what is accepted; the app shows
that sentence as a ``gr.Error``.
"""

from __future__ import annotations

import logging
import math
import os
import re
import secrets
import tempfile
import threading
from dataclasses import dataclass, field
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from gan_core.core import images, latent
from gan_core.core.checks import SEED_MAX, check_choice, check_count, check_number, check_seed, shown
from gan_core.explorer import directions as named
from gan_core.explorer import nearest, presets
from gan_core.explorer.state import DIRECTION_LIMIT, MAX_LATENT_DIM, NUM_DIRECTIONS, PSI_RANGE, ExploreState
from gan_core.inversion.anomaly import read_score
from gan_core.inversion.invert import MAX_STEPS
from gan_core.pipeline import GanPipeline

logger = logging.getLogger(__name__)

FRAMES_RANGE = (2, 64)  # interpolation strip / GIF length
MAX_KEYFRAMES = 8
GRID_SIDES = (2, 8)  # the grid is side x side tiles
MAX_TERM_SEEDS = 8  # seeds averaged per arithmetic term
GRID_TILE_SCALE = 4  # grid/GIF tiles are upscaled by this (nearest) so they stay crisp anywhere
SHEET_STEPS = (-4.0, -2.0, 0.0, 2.0, 4.0)  # the direction sheet: each direction at these amounts
SEARCH_STEPS = (0, MAX_STEPS)  # refinement steps a visitor may ask of one inversion

SEFA_EXPLANATION = (
    "Each slider moves z along one direction, found in closed form (SeFa, Shen & Zhou 2021): G's first layer "
    "is linear in z, y = A z, so the top eigenvectors of AᵀA are the moves in z that change G's first feature map "
    "the most. Strongest first; the strength is how much that map changes per unit step."
)
GANSPACE_EXPLANATION = (
    "Each slider moves z along one direction found by GANSpace (Härkönen et al. 2020): G draws the first feature maps "
    "of 4096 random z, a PCA finds the patterns in which those maps differ most, and a regression finds the move in z "
    "that goes with each. In order of how much of the maps' variety each explains; the strength is how much that "
    "pattern changes per unit step."
)


def _superscript(number: int) -> str:
    return str(number).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))


def parse_seeds(text, what: str, low: int = 1, high: int = MAX_TERM_SEEDS) -> list[int]:
    """'3, 7 12' -> [3, 7, 12]: between ``low`` and ``high`` seeds separated by commas or spaces."""
    if isinstance(text, (list, tuple)):
        items = list(text)
    elif isinstance(text, str) and len(text) <= 1000:
        items = [item for item in re.split(r"[,\s]+", text.strip()) if item]
    else:
        raise ValueError(f"{what} must be seeds separated by commas, like '3, 7, 12'; got {shown(text)}.")
    if not low <= len(items) <= high:
        raise ValueError(f"{what} needs {low} to {high} seeds, got {len(items)} ({shown(text)}).")
    seeds = []
    for item in items:
        if isinstance(item, str):
            if not re.fullmatch(r"\d{1,12}", item):
                raise ValueError(f"{what} must be whole-number seeds separated by commas, like '3, 7, 12'; {shown(item)} is not one.")
            item = int(item)
        seeds.append(check_seed(item, f"seed {shown(item)} in {what}"))
    return seeds


def add_seed(target, a, b, c, seed) -> tuple[str, str, str]:
    """Append ``seed`` to the seeds text of term A, B or C; returns the three texts."""
    check_choice(target, "The term", ("A", "B", "C"))
    terms = {"A": a or "", "B": b or "", "C": c or ""}
    terms[target] = f"{terms[target].strip().rstrip(',')}, {check_seed(seed)}".lstrip(", ")
    return terms["A"], terms["B"], terms["C"]


def found_latent(z) -> tuple[float, ...] | None:
    """A found picture's z as the page or an API client sends it (a list of numbers), or None for none ([] and "" too)."""
    if z is None or (isinstance(z, (str, list, tuple)) and len(z) == 0):
        return None
    if not isinstance(z, (list, tuple)) or len(z) > MAX_LATENT_DIM:
        raise ValueError(f"z must be a list of up to {MAX_LATENT_DIM} numbers (the \"z\" that /invert returns) or empty, got {shown(z)}.")
    for i, value in enumerate(z):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"z must be a list of finite numbers; z[{i}] is {shown(value)}.")
    return tuple(float(value) for value in z)


def no_seed(seed) -> bool:
    """The seed box is empty (None or ""): the page shows a found picture's z, or the box is being edited."""
    return seed is None or seed == ""


def shareable(value: float) -> float:
    """``value`` at the precision a shared state carries (6 significant digits, at most 6 decimals): a found z is
    kept at this precision, so its picture, its JSON and its link all draw exactly the same picture."""
    return float(f"{round(value, 6):g}")


def blank_canvas(side: int) -> np.ndarray:
    """A black canvas, uint8 (side, side, 3): the drawing pad's background, as the training pictures' background."""
    return np.zeros((side, side, 3), dtype=np.uint8)


def shown_source(source) -> str:
    """A model's source as a visitor may see it: a Hub repo id or a relative folder as it is, a folder under the app's
    working folder relative to it (weights/mnist), any other folder by its name alone (no path of the server's disk)."""
    path = Path(str(source))
    if not path.is_absolute():
        return str(source)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return path.name


def default_sources(weights_dir: str | os.PathLike = "weights") -> list[str]:
    """Every folder under ``weights_dir`` that holds a generator/ folder, sorted by name."""
    root = Path(weights_dir)
    if not root.is_dir():
        return []
    return [str(p) for p in sorted(root.iterdir()) if (p / "generator" / "config.json").is_file()]


def sources_from(cli: list[str] | None = None, env: str | None = None, weights_dir: str | os.PathLike = "weights") -> list[str]:
    """Model specs to serve: the command line's, else $GAN_MODELS (comma-separated), else weights/*/."""
    if cli:
        return list(cli)
    if env and env.strip():
        return [item.strip() for item in env.split(",") if item.strip()]
    return default_sources(weights_dir)


@dataclass(frozen=True)
class ModelView:
    """Everything the page shows that follows the model, whether on the first page or after a switch."""

    summary: str  # one line of Markdown
    labels: list[str]  # one per direction slider the model has, strongest first
    timeline_count: int  # pictures in the training timeline (0: none shipped)
    timeline: dict | None  # the last timeline picture, as :meth:`Explorer.timeline` returns it
    losses: list[dict]  # long-format rows of the loss curves
    outputs: list[dict]  # long-format rows of D's outputs
    verdict_note: str  # how to read D's verdict for this model
    direction_names: list[str] = field(default_factory=list)  # one per slider, what it does: '7 → 0 · effect 2.4' (SeFa's)


class Explorer:
    """The models an app serves, by name, and every view the app shows of them."""

    def __init__(self, pipelines: list[GanPipeline]):
        if not pipelines:
            raise ValueError(
                "No models to serve. Start the app with --model FOLDER_OR_REPO_ID, set GAN_MODELS, "
                "or put a model folder holding generator/ under weights/."
            )
        self.models: dict[str, GanPipeline] = {}
        for pipeline in pipelines:
            # Two sources may share a folder name (runs/mnist and weights/mnist): every model gets its own.
            name, n = pipeline.name, 2
            while name in self.models:
                name, n = f"{pipeline.name}-{n}", n + 1
            pipeline.name = name
            self.models[name] = pipeline
        self._elsewhere: dict[torch.device, Explorer] = {}  # the same models on other devices, see on()
        self._owners: dict[str, str] = {}  # model -> the visitor it belongs to (see add()): served to them, never listed
        # Who is asking: the app sets this to read the browser session of the request being answered. A model with an
        # owner is served only while it returns that owner.
        self.visitor: Callable[[], str | None] = lambda: None
        self._names: dict[tuple[str, str], named.DirectionNames] = {}  # (model, kind) -> its named directions, see named_directions()
        self._naming = threading.Lock()  # one naming at a time: two pages opening a new model wait for one computation

    @classmethod
    def from_sources(cls, specs: list[str]) -> Explorer:
        return cls([GanPipeline.from_pretrained(spec) for spec in specs])

    def on(self, device: str | torch.device) -> Explorer:
        """The same views computed on ``device`` (the pipelines copied there once, then kept)."""
        device = torch.device(device)
        if all(p.device == device for p in list(self.models.values())):
            return self
        if device not in self._elsewhere:
            moved = Explorer([p.to(device) for p in list(self.models.values())])
            moved._owners, moved.visitor = self._owners, lambda: self.visitor()
            moved._names, moved._naming = self._names, self._naming  # names follow the weights, not the device
            self._elsewhere[device] = moved
        return self._elsewhere[device]

    @property
    def names(self) -> list[str]:
        """The models every visitor sees (those that belong to one visitor are left out)."""
        return [name for name in self.models if name not in self._owners]

    def get(self, model) -> GanPipeline:
        """The pipeline called ``model``, else ValueError listing the served names.

        A model that belongs to a visitor (:meth:`add`) is found only when :attr:`visitor` returns that visitor; anyone
        else gets the same sentence as for a name never served, so the answer does not tell that it exists.
        """
        models, owners = self.models, self._owners
        if not isinstance(model, str) or model not in models or (model in owners and owners[model] != self.visitor()):
            raise ValueError(f"Unknown model {shown(model)}; this app serves: {', '.join(self.names)}.")
        return models[model]

    def owned(self, model: str) -> bool:
        """Whether ``model`` belongs to one visitor (a run of Watch it train) rather than to every visitor."""
        return model in self._owners

    def add(self, pipeline: GanPipeline, name: str, *, owner: str | None = None) -> str:
        """Serve ``pipeline`` as ``name`` from now on (ValueError if that name is taken); returns the name.

        ``owner``: the visitor (a browser session) the model belongs to: it is left out of :attr:`names` and of error
        messages, and :meth:`get` finds it for that visitor only. None: a model every visitor sees. The tables are
        replaced, never changed in place, so a view running in another thread keeps a consistent table.
        """
        if name in self.models:
            raise ValueError(f"A model called {name!r} is already served; choose another name.")
        pipeline.name = name
        self._forget_names(name)
        for device, other in list(self._elsewhere.items()):
            other.add(pipeline.to(device), name, owner=owner)
        if owner is not None:  # owned before it is served: never visible to everyone, not even for a moment
            self._owners = {**self._owners, name: owner}
        self.models = {**self.models, name: pipeline}
        return name

    def remove(self, name: str) -> None:
        """Stop serving an :meth:`add` ed model (nothing happens if it is not served)."""
        self.models = {key: value for key, value in self.models.items() if key != name}
        self._owners = {key: value for key, value in self._owners.items() if key != name}
        self._forget_names(name)
        for other in list(self._elsewhere.values()):
            other.remove(name)

    def num_directions(self, model) -> int:
        """The direction sliders a model has: NUM_DIRECTIONS, or fewer for a smaller latent."""
        return min(NUM_DIRECTIONS, self.get(model).latent_dim)

    # -- pictures -----------------------------------------------------------

    def state_latent(self, state: ExploreState) -> torch.Tensor:
        """The z (1, D) of an Explore state, validated against its model."""
        pipeline = self.get(state.model)
        state = state.fit(self.num_directions(state.model))
        if state.z is None:
            return pipeline.latents([state.seed], state.psi, state.amounts, state.kind)
        if len(state.z) != pipeline.latent_dim:
            raise ValueError(f"The state's z has {len(state.z)} numbers; model {pipeline.name!r} takes {pipeline.latent_dim}.")
        return pipeline.edit(torch.tensor([state.z], dtype=torch.float32), state.psi, state.amounts, state.kind)

    def picture(self, state: ExploreState) -> dict:
        """{"src": PNG data URL (H x W), "p_real": D's P(real) or None, "model", "seed"} of a state."""
        pictures = self.get(state.model)(self.state_latent(state))
        return {"src": images.data_url(pictures.images[0]), "p_real": pictures.p_real[0], "model": state.model, "seed": state.seed}

    def state_of(self, model, seed, psi, amounts, z=None, kind=None) -> ExploreState:
        """The Explore state of the page's values: a seed's, or (with the seed empty, None) a found picture's ``z``;
        ``kind`` of directions 'sefa' (None too) or 'ganspace'.

        A seed wins over ``z``: typing a seed leaves the found picture.
        """
        self.get(model)
        found = found_latent(z)
        kind = latent.DIRECTION_KINDS[0] if kind is None else kind
        if found is not None and no_seed(seed):
            return ExploreState(model, z=found, psi=psi, amounts=tuple(amounts), kind=kind)
        return ExploreState(model, check_seed(seed), psi=psi, amounts=tuple(amounts), kind=kind)

    def explore(self, model, seed, psi, *amounts, z=None, kind=None) -> dict:
        """The Explore picture of (model, seed or z, psi, amounts along directions of ``kind``): see :meth:`picture` and :meth:`state_of`."""
        return self.picture(self.state_of(model, seed, psi, amounts, z, kind))

    def start(self, model, seed, z=None, kind=None) -> tuple:
        """A fresh Explore state for a seed (or, with the seed empty, a found ``z``): (seed, psi 1.0, NUM_DIRECTIONS zeros..., picture)."""
        state = self.state_of(model, seed, 1.0, (), z, kind)
        return (state.seed, 1.0, *([0.0] * NUM_DIRECTIONS), self.picture(state))

    def random_start(self, model) -> tuple:
        """:meth:`start` at a fresh random seed (the one place the app draws its own randomness)."""
        self.get(model)
        return self.start(model, secrets.randbelow(SEED_MAX + 1))

    # -- what follows the model ---------------------------------------------

    def summary(self, model) -> str:
        """One line of Markdown describing the model."""
        pipeline = self.get(model)
        colour = "grey" if pipeline.channels == 1 else "colour"
        verdict = "discriminator loaded" if pipeline.discriminator is not None else "no discriminator shipped"
        epochs = f", {pipeline.timeline[-1].epoch} epochs" if pipeline.timeline else ""
        data = f" · trained on {pipeline.dataset}" if pipeline.dataset else ""
        size = pipeline.image_size
        problems = "".join(f" · ⚠ {problem}" for problem in pipeline.problems)
        # A model one visitor added is their run of Watch it train: its folder is a temporary one, not worth showing.
        origin = "your run of Watch it train, kept until you close the page" if self.owned(pipeline.name) else f"from `{shown_source(pipeline.source)}`"
        return f"**{pipeline.name}** · {size}×{size} {colour} · z in ℝ{_superscript(pipeline.latent_dim)}{epochs} · {verdict}{data} · {origin}{problems}"

    def direction_labels(self, model, kind: str = "sefa") -> list[str]:
        """Slider labels, strongest first: 'Direction 1 · strength 2.31' (``kind``: 'sefa' or 'ganspace')."""
        _, strengths = self.get(model).directions(kind)
        return [f"Direction {k + 1} · strength {s:.2f}" for k, s in enumerate(strengths[: self.num_directions(model)].tolist())]

    def _named(self, model, kind: str) -> named.DirectionNames:
        """The model's named directions of ``kind``: kept from its directions.json, else computed once (seconds) and remembered."""
        pipeline = self.get(model)
        kind = latent.check_direction_kind(kind)
        key = (pipeline.name, kind)
        found = self._names.get(key)
        if found is None:
            with self._naming:
                found = self._names.get(key)
                if found is None:
                    found = named.names_for(pipeline, kind, named.NamingConfig(num_directions=self.num_directions(model)))
                    if self.models.get(pipeline.name) is pipeline:  # not removed meanwhile
                        self._names[key] = found
        return found

    def _forget_names(self, name: str) -> None:
        for kind in latent.DIRECTION_KINDS:
            self._names.pop((name, kind), None)

    def direction_names(self, model, kind: str = "sefa") -> list[str]:
        """What each slider does, strongest first: '7 → 0 · effect 2.4', 'thicker · effect 1.5', 'no clear change'
        (see :mod:`gan_core.explorer.directions`; ``kind``: 'sefa' or 'ganspace')."""
        return self._named(model, kind).labels

    def named_directions(self, model, kind: str = "sefa") -> dict:
        """Everything known about what each slider does, for the page and the API.

        {"model", "kind", "explanation" (how directions of this kind are found), "naming" (how they were named),
        "classifier" (the folder that read the pictures, or None), "directions": [{"index", "name", "label", "effect",
        "measure", "effects" {measure: signed Cohen's d}, "pixel_change", "class_change", "class_effect", "class_flips"}]}.
        """
        names = self._named(model, kind)
        return {
            "model": self.get(model).name,
            "kind": names.kind,
            "explanation": GANSPACE_EXPLANATION if names.kind == "ganspace" else SEFA_EXPLANATION,
            "naming": named.NAMES_EXPLANATION,
            "classifier": names.classifier,
            "directions": [{**record, "label": name.label} for record, name in zip(names.to_dict()["directions"], names.directions)],
        }

    def verdict_note(self, model) -> str:
        """How to read D's verdict for this model: see :func:`verdict_note`."""
        return verdict_note(self.get(model))

    def view(self, model) -> ModelView:
        """What the page shows of ``model`` beside the pictures (one source for first page and model switch)."""
        count = len(self.get(model).timeline)
        losses, outputs = self.training_curves(model)
        return ModelView(
            self.summary(model),
            self.direction_labels(model),
            count,
            self.timeline(model, count) if count else None,
            losses,
            outputs,
            self.verdict_note(model),
            direction_names=self.direction_names(model),
        )

    def direction_sheet(self, model, seed, psi, z=None, kind: str = "sefa") -> dict:
        """Each direction's meaning at a glance: row k is the seed (or found z) moved along direction k of ``kind`` by SHEET_STEPS.

        {"src": PNG data URL of a (K rows x 5) grid, "steps": SHEET_STEPS, "rows": K, "kind"}.
        """
        pipeline = self.get(model)
        count = self.num_directions(model)
        z0 = self.state_latent(self.state_of(model, seed, psi, (), z))  # (1, D)
        directions, _ = pipeline.directions(kind)
        steps = torch.tensor(SHEET_STEPS)
        z = (z0[None] + steps[None, :, None] * directions[:count, None, :]).reshape(-1, pipeline.latent_dim)  # (K * 5, D)
        sheet = images.make_grid(pipeline(z, verdict=False).images, ncols=len(SHEET_STEPS), padding=1)
        return {"src": images.data_url(sheet), "steps": list(SHEET_STEPS), "rows": count, "kind": latent.check_direction_kind(kind)}

    # -- drawing in the visitor's browser ------------------------------------

    def browser_model(self, model, kind: str = "sefa") -> dict:
        """What a page needs to draw ``model`` itself: shapes, the slider directions of ``kind`` (K x D), the limits of a
        state and the ONNX files.

        ``generator_onnx``/``discriminator_onnx`` are paths (None when not exported: the page then
        draws through the server).
        """
        pipeline = self.get(model)
        kind = latent.check_direction_kind(kind)
        directions, _ = pipeline.directions(kind)
        files = pipeline.files
        return {
            "model": pipeline.name,
            "kind": kind,
            "latent_dim": pipeline.latent_dim,
            "channels": pipeline.channels,
            "image_size": pipeline.image_size,
            "directions": directions[: self.num_directions(model)].tolist(),
            # The limits the page checks a state against before drawing it itself (the server's own checks).
            "sliders": NUM_DIRECTIONS,  # direction sliders on the page; those past len(directions) stay at 0
            "psi_range": list(PSI_RANGE),
            "direction_limit": DIRECTION_LIMIT,
            "max_keyframes": MAX_KEYFRAMES,  # keyframe seeds of an interpolation
            "generator_onnx": files.onnx("generator") if files else None,
            "discriminator_onnx": files.onnx("discriminator") if files and pipeline.discriminator is not None else None,
        }

    def browser_seed(self, model, seed) -> list[float]:
        """z of a seed exactly as the server draws it (latent_dim floats), for the page to draw from."""
        return self.get(model).seed_noise([check_seed(seed)])[0].tolist()

    def browser_keyframes(self, model, keyframes, start_state="") -> list[list[float]]:
        """The interpolation's keyframe latents (K x D), start state first, for the page to draw the walk."""
        return self._keyframes(self.get(model), keyframes, start_state).tolist()

    # -- grid ---------------------------------------------------------------

    def grid(self, model, start_seed, side) -> list[tuple[np.ndarray, str]]:
        """side x side samples for seeds start_seed, start_seed + 1, ...: (upscaled tile, 'seed N') pairs."""
        pipeline = self.get(model)
        start = check_seed(start_seed, "start seed")
        side = check_count(side, "Grid side", *GRID_SIDES)
        seeds = [start + i for i in range(side * side)]
        if seeds[-1] > SEED_MAX:
            raise ValueError(f"The start seed must be at most {SEED_MAX - side * side + 1} for a {side}x{side} grid, got {start}.")
        tiles = pipeline(pipeline.latents(seeds), verdict=False).images
        return [(images.upscale(tile, GRID_TILE_SCALE), f"seed {s}") for tile, s in zip(tiles, seeds)]

    def grid_pick(self, start_seed, index) -> int:
        """The seed of grid tile ``index`` (tiles hold consecutive seeds)."""
        start = check_seed(start_seed, "start seed")
        index = check_count(index, "Tile index", 0, GRID_SIDES[1] ** 2 - 1)
        return check_seed(start + index, "picked seed")

    # -- interpolation ------------------------------------------------------

    def _keyframes(self, model: GanPipeline, keyframes, start_state) -> torch.Tensor:
        """(K, D): the optional Explore state (JSON or link) first, then the keyframe seeds."""
        seeds = parse_seeds(keyframes, "Keyframes", 1, MAX_KEYFRAMES)
        z = [model.latents(seeds)]
        if start_state is not None and not isinstance(start_state, str):
            raise ValueError(f"The start state must be text (the JSON or link from the Share tab) or empty, got {shown(start_state)}.")
        if start_state and start_state.strip():
            state = ExploreState.parse(start_state)
            if state.model != model.name:
                raise ValueError(f"The Explore state is for model {state.model!r}, not {model.name!r}.")
            z.insert(0, self.state_latent(state))
        keys = torch.cat(z)
        if len(keys) < 2:
            raise ValueError(
                f"An interpolation needs at least 2 keyframes; got {len(keys)}. Give two seeds like '0, 1', "
                "or one seed and a start state (press 'Start from the Explore picture')."
            )
        return keys

    def interpolation_frame(self, model, keyframes, method, t, start_state="") -> dict:
        """The picture at position t in [0, 1] along the keyframe path: {"src", "p_real", "t"}."""
        pipeline = self.get(model)
        check_choice(method, "Interpolation", tuple(latent.INTERPOLATIONS))
        t = check_number(t, "t", 0.0, 1.0)
        keys = self._keyframes(pipeline, keyframes, start_state)
        segments = keys.shape[0] - 1
        index = min(int(t * segments), segments - 1)
        z = latent.interpolate(keys[index : index + 1], keys[index + 1 : index + 2], t * segments - index, method)
        pictures = pipeline(z)
        return {"src": images.data_url(pictures.images[0]), "p_real": pictures.p_real[0], "t": t}

    def interpolation_frames(self, model, keyframes, method, frames, start_state="") -> np.ndarray:
        """uint8 frames (N, H, W[, 3]) evenly along the keyframe path."""
        pipeline = self.get(model)
        check_choice(method, "Interpolation", tuple(latent.INTERPOLATIONS))
        frames = check_count(frames, "Frames", *FRAMES_RANGE)
        keys = self._keyframes(pipeline, keyframes, start_state)
        return pipeline(latent.path(keys, frames, method), verdict=False).images

    def interpolation_strip(self, model, keyframes, method, frames, start_state="") -> dict:
        """The N frames side by side in one row: {"src": PNG data URL, "frames": N}."""
        frames = self.interpolation_frames(model, keyframes, method, frames, start_state)
        strip = images.make_grid(frames, ncols=len(frames), padding=1)
        return {"src": images.data_url(strip), "frames": len(frames)}

    def interpolation_gif(self, model, keyframes, method, frames, start_state="", directory=None) -> str:
        """Write the walk as an animated GIF (tiles upscaled x4, looping) and return its path."""
        frames = self.interpolation_frames(model, keyframes, method, frames, start_state)
        big = np.stack([images.upscale(frame, GRID_TILE_SCALE) for frame in frames])
        handle, path = tempfile.mkstemp(prefix=f"{model.replace('/', '_')}-walk-", suffix=".gif", dir=directory)
        with os.fdopen(handle, "wb") as out:
            out.write(images.gif_bytes(big, duration_ms=80))
        return path

    # -- vector arithmetic --------------------------------------------------

    def arithmetic(self, model, seeds_a, seeds_b, seeds_c) -> dict:
        """DCGAN arithmetic A - B + C, each term the mean z of its seeds: pictures of the terms and the result."""
        pipeline = self.get(model)
        terms = [parse_seeds(text, f"Term {label}") for text, label in ((seeds_a, "A"), (seeds_b, "B"), (seeds_c, "C"))]
        z_terms = [pipeline.seed_noise(seeds) for seeds in terms]  # (N_i, D)
        means = torch.stack([z.mean(0) for z in z_terms])  # (3, D)
        result = latent.arithmetic(*z_terms)[None]  # (1, D)
        pictures = pipeline(torch.cat([means, result]))
        out = {label: images.data_url(image) for label, image in zip(("a", "b", "c", "result"), pictures.images)}
        out.update(p_real=pictures.p_real[3], seeds={"a": terms[0], "b": terms[1], "c": terms[2]})
        return out

    def arithmetic_presets(self, model) -> dict:
        """The model's vector arithmetic presets (``presets.json``, :mod:`gan_core.explorer.presets`), best first:
        {"model", "presets": [{"name", "result", "a", "b", "c" (the terms' seeds as text), "description" (the preset and its
        check in words), "check"}], "note" (how presets are chosen, or how to make them when the model has none)}."""
        pipeline = self.get(model)
        chosen = presets.presets_for(pipeline)
        where = pipeline.files.root if pipeline.files is not None else "MODEL_DIR"
        note = presets.EXPLANATION if chosen else f"This model ships no presets; choose some with: python -m gan_core.choose_presets {where}"
        return {
            "model": pipeline.name,
            "presets": [dict(zip(("a", "b", "c"), p.terms()), name=p.name, result=p.result, description=p.description, check=p.check) for p in chosen],
            "note": note,
        }

    # -- how it trained -----------------------------------------------------

    def timeline(self, model, position) -> dict:
        """The fixed-z grid at timeline position 1..N: {"src", "epoch", "count"}."""
        pipeline = self.get(model)
        if not pipeline.timeline:
            raise ValueError(f"Model {pipeline.name!r} shipped no timeline/ pictures, so there is no training timeline to show.")
        position = check_count(position, "Timeline position", 1, len(pipeline.timeline))
        frame = pipeline.timeline[position - 1]
        return {"src": images.png_data_url(frame.png), "epoch": frame.epoch, "count": len(pipeline.timeline)}

    def training_curves(self, model) -> tuple[list[dict], list[dict]]:
        """Long-format rows for two plots: losses (Loss_D, Loss_G) and D's outputs (D(x), D(G(z)))."""
        losses, outputs = [], []
        for record in self.get(model).log:
            epoch = float(record.get("epoch", 0.0))
            losses += [{"epoch": epoch, "value": record["loss_d"], "series": "Loss_D"}, {"epoch": epoch, "value": record["loss_g"], "series": "Loss_G"}]
            outputs += [{"epoch": epoch, "value": record["d_real"], "series": "D(x) on real"}, {"epoch": epoch, "value": record["d_fake"], "series": "D(G(z)) on fake"}]
        return losses, outputs

    # -- a picture's z: inversion and anomaly score ---------------------------

    def found_state(self, model, z) -> ExploreState:
        """The Explore state of a found z (psi 1, every amount 0), z at the precision a shared state carries."""
        found = found_latent(z)
        if found is None:
            raise ValueError("There is no found z yet: draw or upload a picture and press Find z.")
        state = ExploreState(self.get(model).name, z=tuple(shareable(v) for v in found)).fit(self.num_directions(model))
        self.state_latent(state)
        return state

    def invert(self, model, picture, steps=None, *, progress=None, should_stop=None) -> dict:
        """Find ``picture`` in G's latent space and score how unusual it is (:meth:`GanPipeline.invert`).

        ``picture``: a file path, bytes, a PIL image or a uint8 array (see :func:`gan_core.inversion.prepare.read_picture`).
        ``steps``: refinement steps (None: the library's default, which the reference percentile was measured with).
        ``progress(done, total)`` and ``should_stop()`` are handed to the search. Returns {"model", "z" (list),
        "state" (the Explore state's JSON: open it with :meth:`restore`), "prepared", "reconstruction", "residual"
        (PNG data URLs: what the model sees, G(z), |x - G(z)|), "score", "percentile" (0..100 or None), "summary",
        "reading" (the score in plain words), "scale" (the real test pictures' scores with this one marked, None
        without a reference: :meth:`~gan_core.inversion.anomaly.Reference.scale`), "p_real", "p_real_reconstruction"
        (D's verdicts, None without a D), "pixel_error", "steps", "stopped", "seconds", "used_encoder", "note"}.
        """
        pipeline = self.get(model)
        if steps is not None:
            steps = check_count(steps, "Search steps", *SEARCH_STEPS)
        found = pipeline.invert(picture, steps=steps, progress=progress, should_stop=should_stop)
        state = self.found_state(model, found.z)
        reading, scale = read_score(pipeline.reference, found.score)
        return {
            "model": pipeline.name,
            "z": list(state.z),
            "state": state.to_json(),
            "prepared": images.data_url(found.prepared),
            "reconstruction": images.data_url(found.reconstruction),
            "residual": images.data_url(found.residual),
            "score": found.score,
            "percentile": found.percentile,
            "summary": found.summary,
            "reading": reading,
            "scale": scale,
            "p_real": found.p_real,
            "p_real_reconstruction": found.p_real_reconstruction,
            "pixel_error": found.pixel_error,
            "steps": found.steps,
            "stopped": found.stopped,
            "seconds": round(found.seconds, 3),
            "used_encoder": found.used_encoder,
            "note": found.note,
        }

    def score(self, model, picture) -> dict:
        """How unusual ``picture`` is for ``model``: {"score", "percentile" (0..100 or None), "summary", "reading", "scale"}
        (:meth:`GanPipeline.anomaly_score`; "reading" and "scale" as :meth:`invert` gives them)."""
        pipeline = self.get(model)
        found = pipeline.anomaly_score(picture)
        reading, scale = read_score(pipeline.reference, found.score)
        return {"score": found.score, "percentile": found.percentile, "summary": found.summary, "reading": reading, "scale": scale}

    # -- does G copy? the nearest training pictures ----------------------------

    def nearest(self, model, seed, psi, *amounts, z=None, kind=None) -> dict:
        """The training pictures nearest to the Explore picture of (model, seed or z, psi, amounts), and how near that is
        compared with real test pictures (:mod:`gan_core.explorer.nearest`).

        {"model", "available" (False when the model ships no training pictures: then only "picture" and "reading"),
        "picture" (PNG data URL of the Explore picture), "nearest": [{"src", "distance", "row"}] (3, nearest first),
        "distance" (to the nearest), "typical" (a typical real test picture's distance to its nearest), "percentile"
        (share of the real test pictures nearer to theirs), "reading" (in plain words), "searched", "compared_with"}.
        """
        state = self.state_of(model, seed, psi, amounts, z, kind)
        pipeline = self.get(state.model)
        drawn = pipeline(self.state_latent(state), verdict=False)
        out = {"model": pipeline.name, "picture": images.data_url(drawn.images[0])}
        shipped = nearest.for_folder(pipeline.files.root if pipeline.files is not None else None)
        if shipped is None:
            where = nearest.ship_command(pipeline.files.root if pipeline.files is not None else "MODEL_DIR")
            return out | {"available": False, "reading": f"This model ships no copy of its training pictures, so they cannot be searched here (ship them with: {where})."}
        if tuple(shipped.pictures.shape[1:]) != tuple(drawn.uint8.shape[1:]):
            return out | {"available": False, "reading": f"The training pictures shipped with this model are {tuple(shipped.pictures.shape[1:])}, not the {tuple(drawn.uint8.shape[1:])} G draws: ship them again."}
        distances, rows = shipped.nearest(drawn.uint8[0])
        tiles = images.channels_last_numpy(shipped.pictures[rows])
        return out | {
            "available": True,
            "nearest": [{"src": images.data_url(tile), "distance": round(d, 4), "row": r} for tile, d, r in zip(tiles, distances, rows)],
            "distance": round(distances[0], 4),
            "typical": round(shipped.typical, 4),
            "percentile": round(shipped.percentile(distances[0]), 1),
            "reading": shipped.reading(distances[0]),
            "searched": shipped.searched,
            "compared_with": shipped.compared_with,
        }

    # -- share --------------------------------------------------------------

    def share(self, model, seed, psi, *amounts, z=None, kind=None) -> tuple[str, str]:
        """The Explore state (a seed's, or a found picture's ``z``) as (JSON text, URL query string '?model=...') after validating it."""
        state = self.state_of(model, seed, psi, amounts, z, kind).fit(self.num_directions(model))
        self.state_latent(state)
        return state.to_json(), state.to_query()

    def restore(self, text) -> ExploreState:
        """A shared state (JSON or a link / query string), validated against its model, with all its amounts."""
        state = ExploreState.parse(text)
        self.get(state.model)
        state = state.fit(self.num_directions(state.model))
        self.state_latent(state)
        return state


def verdict_note(pipeline: GanPipeline) -> str:
    """How to read D's verdict for this model: from D's verdicts one picture at a time, measured when it was exported
    (run.json's ``verdicts``), and from how its training ended (the last 10 entries of its train_log.jsonl)."""
    if pipeline.discriminator is None:
        return "This model shipped no discriminator, so there is no verdict to show."
    note = "D's verdict is its probability that the picture is real; 50% means it cannot tell."
    ended = [
        r for r in pipeline.log[-10:] if all(isinstance(r.get(k), (int, float)) and math.isfinite(r[k]) for k in ("d_real", "d_fake"))
    ]
    trained = None
    if ended:
        d_real = sum(r["d_real"] for r in ended) / len(ended)
        d_fake = sum(r["d_fake"] for r in ended) / len(ended)
        entries = f"its last {len(ended)} log entries" if len(ended) > 1 else "its last log entry"
        trained = (d_real, d_fake, entries)
    verdicts = pipeline.manifest.verdicts if pipeline.manifest is not None else None
    if verdicts is None:
        if trained is None:
            return note
        d_real, d_fake, entries = trained
        return f"{note} When training ended ({entries}), D gave real pictures {d_real:.0%} on average and G's {d_fake:.0%}: {_training_reading(d_real, d_fake)}"
    real, generated, ranked = verdicts["real"], verdicts["generated"], verdicts["ranked"]
    if generated >= real or ranked <= 0.55:
        reading = "it cannot tell G's pictures from real ones, so a high number does not mean that a picture looks real."
    elif ranked >= 0.95:
        reading = (
            "it tells them apart with confidence, so expect high numbers for real pictures and low ones for G's, "
            "even where G's picture looks right to you."
        )
    else:
        reading = "it tells them apart only partly, so expect real pictures to score higher than G's on average, with much overlap."
    note = (
        f"{note} Judging one picture at a time, this D gives real {verdicts.get('pictures', 'training')} pictures {real:.0%} on average "
        f"and G's {generated:.0%}, and rates the real one higher in {ranked:.0%} of pairs: {reading}"
    )
    if trained is not None:
        d_real, d_fake, entries = trained
        note += (
            f" In training it judged whole batches, all real or all G's, and when training ended ({entries}) gave real batches "
            f"{d_real:.0%} and G's {d_fake:.0%}: BatchNorm let it compare the pictures within a batch, which it cannot do with one picture."
        )
    return note


def _training_reading(d_real: float, d_fake: float) -> str:
    """What D's mean outputs on real and G's batches when training ended say about its verdict."""
    if abs(d_real - 0.5) < 0.15 and abs(d_fake - 0.5) < 0.15:
        return "it was unsure about both, so expect middling numbers, not 100% and 0%."
    if d_fake >= d_real:
        return "it rated G's pictures as real as real ones or more, so a high number does not mean that a picture looks real."
    if d_real - d_fake >= 0.7:
        return (
            "it still told them apart with confidence, so expect high numbers for real pictures and low ones for G's, "
            "even where G's picture looks right to you."
        )
    return "it told them apart only partly, so expect real pictures to score higher than G's on average, with much overlap."


def page_call(fn, args) -> dict:
    """Call a view function for the page's JavaScript (a gr.HTML server function: the drag path, the engine) with the list ``args``.

    A bad value comes back as {"error": message} instead of a traceback in the server log; anything
    else is a bug, logged once, and the page gets a plain sentence.
    """
    if not isinstance(args, list):
        return {"error": f"The live update needs a list of values, got {shown(args)}."}
    try:
        return fn(*args)
    except (ValueError, TypeError) as err:
        return {"error": str(err)}
    except Exception:
        logger.exception("page call %s failed", getattr(fn, "__name__", fn))
        return {"error": "The server could not draw that (an internal error, logged for the developers)."}
