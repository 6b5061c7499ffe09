"""The latent-space explorer's logic: warm models and the functions the app calls.

Every public function takes plain values (a model name, a seed, floats, strings) and returns
what the UI shows: dicts holding tiny PNG data URLs (the browser upscales them with crisp,
nearest-neighbour pixels), numpy images, GIF files, tables. Nothing reads a file per call: a
model's generator, discriminator, SeFa directions, timeline pictures and training log are loaded
once by :func:`load_warm_model`. Bad values raise ValueError with a sentence that says what was
given and what is accepted; the app shows that sentence as a ``gr.Error``.

A picture in Explore is fixed by a *state*: model name, seed, truncation psi and the amounts
moved along the first :data:`NUM_DIRECTIONS` SeFa directions,
``z = psi * z(seed) + sum_k amounts[k] * direction[k]``.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import os
import re
import secrets
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import parse_qs, urlencode

import numpy as np
import torch

from gan_core import latent, render
from gan_core.hub import find_part, load_discriminator, load_generator, resolve_source
from gan_core.models import Discriminator, Generator
from gan_core.plots import read_log

logger = logging.getLogger(__name__)

SEED_MAX = 2**31 - 1
NUM_DIRECTIONS = 8  # sliders in Explore: the strongest SeFa directions
DIRECTION_LIMIT = 8.0  # a slider moves z by at most this many units along a unit direction
PSI_RANGE = (0.0, 2.0)  # truncation: 0 = the centre of z-space, 1 = the seed as drawn
FRAMES_RANGE = (2, 64)  # interpolation strip / GIF length
MAX_KEYFRAMES = 8
GRID_SIDES = (2, 8)  # the grid is side x side tiles
MAX_TERM_SEEDS = 8  # seeds averaged per arithmetic term
GRID_TILE_SCALE = 4  # grid/GIF tiles are upscaled by this (nearest) so they stay crisp anywhere

SEFA_EXPLANATION = (
    "Directions are found in closed form (SeFa, Shen & Zhou 2021): G's first layer is linear in z, "
    "y = A z, so the top eigenvectors of A^T A are the moves in z that change G's first feature map "
    "the most. They are listed strongest first; the strength is how much that map changes per unit step."
)


# --------------------------------------------------------------------------- validation


def check_seed(seed, what: str = "seed") -> int:
    """A whole number in 0..SEED_MAX (floats like 3.0 accepted), else ValueError."""
    if isinstance(seed, bool) or not isinstance(seed, (int, float, np.integer, np.floating)):
        raise ValueError(f"The {what} must be a whole number from 0 to {SEED_MAX}, got {seed!r}.")
    if not math.isfinite(seed) or seed != int(seed) or not 0 <= seed <= SEED_MAX:
        raise ValueError(f"The {what} must be a whole number from 0 to {SEED_MAX}, got {seed!r}.")
    return int(seed)


def check_number(value, what: str, low: float, high: float) -> float:
    """A finite number in [low, high], else ValueError naming ``what`` and the range."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{what} must be a number from {low:g} to {high:g}, got {value!r}.")
    if not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"{what} must be a number from {low:g} to {high:g}, got {value!r}.")
    return float(value)


def check_count(value, what: str, low: int, high: int) -> int:
    """A whole number in [low, high], else ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{what} must be a whole number from {low} to {high}, got {value!r}.")
    if not math.isfinite(value) or value != int(value) or not low <= value <= high:
        raise ValueError(f"{what} must be a whole number from {low} to {high}, got {value!r}.")
    return int(value)


def check_choice(value, what: str, choices) -> str:
    if value not in choices:
        raise ValueError(f"{what} must be one of {', '.join(map(str, choices))}; got {value!r}.")
    return value


def parse_seeds(text, what: str, low: int = 1, high: int = MAX_TERM_SEEDS) -> list[int]:
    """'3, 7 12' -> [3, 7, 12]: between ``low`` and ``high`` seeds separated by commas or spaces."""
    if isinstance(text, (list, tuple)):
        items = list(text)
    elif isinstance(text, str):
        items = [item for item in re.split(r"[,\s]+", text.strip()) if item]
    else:
        raise ValueError(f"{what} must be seeds separated by commas, like '3, 7, 12'; got {text!r}.")
    seeds = []
    for item in items:
        if isinstance(item, str):
            if not re.fullmatch(r"\d+", item):
                raise ValueError(f"{what} must be whole-number seeds separated by commas, like '3, 7, 12'; {item!r} is not one.")
            item = int(item)
        seeds.append(check_seed(item, f"seed {item!r} in {what}"))
    if not low <= len(seeds) <= high:
        raise ValueError(f"{what} needs {low} to {high} seeds, got {len(seeds)} ({text!r}).")
    return seeds


def check_amounts(amounts, count: int = NUM_DIRECTIONS) -> list[float]:
    """Slider amounts for a model with ``count`` directions -> exactly ``count`` floats.

    Up to NUM_DIRECTIONS values, each in [-DIRECTION_LIMIT, DIRECTION_LIMIT]; missing ones are 0,
    and those past ``count`` (sliders the UI hides for a small latent) must be 0.
    """
    if not isinstance(amounts, (list, tuple)):
        raise ValueError(f"Direction amounts must be a list of up to {NUM_DIRECTIONS} numbers, got {amounts!r}.")
    if len(amounts) > max(count, NUM_DIRECTIONS):
        raise ValueError(f"Got {len(amounts)} direction amounts; the app has {NUM_DIRECTIONS} direction sliders.")
    values = [check_number(a, f"Direction {i + 1}", -DIRECTION_LIMIT, DIRECTION_LIMIT) for i, a in enumerate(amounts)]
    for i, value in enumerate(values[count:], start=count):
        if value != 0:
            raise ValueError(f"Direction {i + 1} must be 0: this model has only {count} directions, got {value:g}.")
    return (values + [0.0] * count)[:count]


# --------------------------------------------------------------------------- models


@dataclass
class WarmModel:
    """A model held in memory with everything the app shows about it, computed once."""

    name: str
    source: str
    generator: Generator
    discriminator: Discriminator | None
    directions: torch.Tensor  # (K, D) strongest SeFa directions, orthonormal rows
    strengths: torch.Tensor  # (K,) output change per unit step, descending
    timeline: list[tuple[int, str]] = field(default_factory=list)  # (epoch, PNG data URL) of the fixed-z grid
    log: list[dict] = field(default_factory=list)  # train_log.jsonl records
    noise: str = "normal"

    @property
    def latent_dim(self) -> int:
        return self.generator.latent_dim

    @property
    def num_directions(self) -> int:
        return self.directions.shape[0]


def _read_timeline(root: Path) -> list[tuple[int, str]]:
    frames = []
    for png in sorted((root / "timeline").glob("epoch_*.png")):
        match = re.fullmatch(r"epoch_(\d+)\.png", png.name)
        if match:
            frames.append((int(match.group(1)), "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")))
    return frames


def load_warm_model(spec: str, name: str | None = None) -> WarmModel:
    """Load a model folder / run folder / Hub repo id with its D, directions, timeline and log."""
    root = resolve_source(spec)
    generator_dir = find_part(root, "generator")
    generator = load_generator(generator_dir)
    discriminator = None
    for candidate in (root / "discriminator", generator_dir.parent / "discriminator"):
        if (candidate / "config.json").is_file():
            discriminator = load_discriminator(candidate)
            break
    directions, strengths = latent.sefa_directions(generator.first_layer.weight)
    count = min(NUM_DIRECTIONS, directions.shape[0])
    log_path = root / "train_log.jsonl"
    model = WarmModel(
        name=name or (root.name if Path(spec).expanduser().exists() else spec),
        source=spec,
        generator=generator,
        discriminator=discriminator,
        directions=directions[:count],
        strengths=strengths[:count],
        timeline=_read_timeline(root),
        log=read_log(log_path) if log_path.is_file() else [],
        noise=generator.noise,  # seeds draw z from the distribution G was trained on
    )
    logger.info("loaded %s from %s (latent_dim %d, D %s)", model.name, generator_dir, model.latent_dim, "yes" if discriminator else "no")
    return model


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


# --------------------------------------------------------------------------- the explorer


@lru_cache(maxsize=4096)
def _seed_noise(seed: int, latent_dim: int, kind: str, num: int) -> torch.Tensor:
    return latent.noise_for_seed(seed, latent_dim, kind, num)


class Explorer:
    """The models an app serves, by name, and every view the app shows of them."""

    def __init__(self, models: list[WarmModel]):
        if not models:
            raise ValueError(
                "No models to serve. Start the app with --model FOLDER_OR_REPO_ID, set GAN_MODELS, "
                "or put a model folder holding generator/ under weights/."
            )
        self.models = {model.name: model for model in models}

    @classmethod
    def from_sources(cls, specs: list[str]) -> Explorer:
        return cls([load_warm_model(spec) for spec in specs])

    @property
    def names(self) -> list[str]:
        return list(self.models)

    def get(self, model) -> WarmModel:
        """The warm model called ``model``, else ValueError listing the served names."""
        if not isinstance(model, str) or model not in self.models:
            raise ValueError(f"Unknown model {model!r}; this app serves: {', '.join(self.models)}.")
        return self.models[model]

    # -- pictures -----------------------------------------------------------

    @torch.inference_mode()
    def _pictures(self, model: WarmModel, z: torch.Tensor) -> tuple[np.ndarray, list[float | None]]:
        """z (B, D) -> uint8 images (B, H, W[, 3]) and D's P(real) for each (None without a D)."""
        images = model.generator(z)  # (B, C, H, W) in [-1, 1]
        if model.discriminator is not None:
            p_real = torch.sigmoid(model.discriminator(images)).tolist()  # D's verdict, logits (B,) -> probabilities
        else:
            p_real = [None] * z.shape[0]
        return render.to_numpy_images(images), p_real

    def state_latent(self, model, seed, psi, amounts) -> tuple[WarmModel, torch.Tensor]:
        """The z (1, D) of an Explore state, validated."""
        model = self.get(model)
        seed = check_seed(seed)
        psi = check_number(psi, "Truncation psi", *PSI_RANGE)
        amounts = check_amounts(list(amounts), model.num_directions)
        z = latent.truncate(_seed_noise(seed, model.latent_dim, model.noise, 1), psi)
        return model, latent.move(z, model.directions, amounts)

    def explore(self, model, seed, psi, *amounts) -> dict:
        """The Explore picture: {"src": PNG data URL (H x W), "p_real": D's P(real) or None, "seed", "model"}."""
        model, z = self.state_latent(model, seed, psi, amounts)
        images, p_real = self._pictures(model, z)
        return {"src": render.data_url(images[0]), "p_real": p_real[0], "model": model.name, "seed": int(seed)}

    def start(self, model, seed) -> tuple:
        """A fresh Explore state for a seed: (seed, psi 1.0, NUM_DIRECTIONS zeros..., picture)."""
        seed = check_seed(seed)
        return (seed, 1.0, *([0.0] * NUM_DIRECTIONS), self.explore(model, seed, 1.0))

    def random_start(self, model) -> tuple:
        """:meth:`start` at a fresh random seed (the one place the app draws its own randomness)."""
        self.get(model)
        return self.start(model, secrets.randbelow(SEED_MAX + 1))

    def summary(self, model) -> str:
        """One line of Markdown describing the model."""
        model = self.get(model)
        g = model.generator
        colour = "grey" if g.channels == 1 else "colour"
        verdict = "discriminator loaded" if model.discriminator is not None else "no discriminator shipped"
        epochs = f", {model.timeline[-1][0]} epochs" if model.timeline else ""
        return f"**{model.name}** · {g.image_size}×{g.image_size} {colour} · z in R^{g.latent_dim}{epochs} · {verdict} · from `{model.source}`"

    def direction_labels(self, model) -> list[str]:
        """Slider labels, strongest first: 'Direction 1 · strength 2.31'."""
        model = self.get(model)
        return [f"Direction {k + 1} · strength {s:.2f}" for k, s in enumerate(model.strengths.tolist())]

    # -- grid ---------------------------------------------------------------

    def grid(self, model, start_seed, side) -> list[tuple[np.ndarray, str]]:
        """side x side samples for seeds start_seed, start_seed + 1, ...: (upscaled tile, 'seed N') pairs."""
        model = self.get(model)
        start = check_seed(start_seed, "start seed")
        side = check_count(side, "Grid side", *GRID_SIDES)
        seeds = [start + i for i in range(side * side)]
        if seeds[-1] > SEED_MAX:
            raise ValueError(f"The start seed must be at most {SEED_MAX - side * side + 1} for a {side}x{side} grid, got {start}.")
        z = torch.cat([_seed_noise(s, model.latent_dim, model.noise, 1) for s in seeds])
        images, _ = self._pictures(model, z)
        return [(render.upscale(image, GRID_TILE_SCALE), f"seed {s}") for image, s in zip(images, seeds)]

    def grid_pick(self, start_seed, index) -> int:
        """The seed of grid tile ``index`` (tiles hold consecutive seeds)."""
        start = check_seed(start_seed, "start seed")
        index = check_count(index, "Tile index", 0, GRID_SIDES[1] ** 2 - 1)
        return check_seed(start + index, "picked seed")

    # -- interpolation ------------------------------------------------------

    def _keyframes(self, model: WarmModel, keyframes, start_state) -> torch.Tensor:
        """(K, D): the optional Explore state (JSON or link) first, then the keyframe seeds."""
        seeds = parse_seeds(keyframes, "Keyframes", 1, MAX_KEYFRAMES)
        z = [_seed_noise(s, model.latent_dim, model.noise, 1) for s in seeds]
        if start_state is not None and not isinstance(start_state, str):
            raise ValueError(f"The start state must be text (the JSON or link from the Share tab) or empty, got {start_state!r}.")
        if start_state and start_state.strip():
            state = parse_state(start_state)
            if state["model"] != model.name:
                raise ValueError(f"The Explore state is for model {state['model']!r}, not {model.name!r}.")
            z.insert(0, self.state_latent(model.name, state["seed"], state["psi"], state["directions"])[1])
        if len(z) < 2:
            raise ValueError(
                f"An interpolation needs at least 2 keyframes; got {len(z)}. Give two seeds like '0, 1', "
                "or one seed and a start state (press 'Start from the Explore picture')."
            )
        return torch.cat(z)  # (K, D)

    def interpolation_frame(self, model, keyframes, method, t, start_state="") -> dict:
        """The picture at position t in [0, 1] along the keyframe path: {"src", "p_real", "t"}."""
        model = self.get(model)
        check_choice(method, "Interpolation", tuple(latent.INTERPOLATIONS))
        t = check_number(t, "t", 0.0, 1.0)
        keys = self._keyframes(model, keyframes, start_state)
        segments = keys.shape[0] - 1
        index = min(int(t * segments), segments - 1)
        z = latent.interpolate(keys[index : index + 1], keys[index + 1 : index + 2], t * segments - index, method)
        images, p_real = self._pictures(model, z)
        return {"src": render.data_url(images[0]), "p_real": p_real[0], "t": t}

    def interpolation_frames(self, model, keyframes, method, frames, start_state="") -> np.ndarray:
        """uint8 frames (N, H, W[, 3]) evenly along the keyframe path."""
        model = self.get(model)
        check_choice(method, "Interpolation", tuple(latent.INTERPOLATIONS))
        frames = check_count(frames, "Frames", *FRAMES_RANGE)
        keys = self._keyframes(model, keyframes, start_state)
        images, _ = self._pictures(model, latent.path(keys, frames, method))
        return images

    def interpolation_strip(self, model, keyframes, method, frames, start_state="") -> dict:
        """The N frames side by side in one row: {"src": PNG data URL, "frames": N}."""
        images = self.interpolation_frames(model, keyframes, method, frames, start_state)
        strip = render.make_grid(images, ncols=len(images), padding=1)
        return {"src": render.data_url(strip), "frames": len(images)}

    def interpolation_gif(self, model, keyframes, method, frames, start_state="", directory=None) -> str:
        """Write the walk as an animated GIF (tiles upscaled x4, looping) and return its path."""
        images = self.interpolation_frames(model, keyframes, method, frames, start_state)
        big = np.stack([render.upscale(image, GRID_TILE_SCALE) for image in images])
        handle, path = tempfile.mkstemp(prefix=f"{model.replace('/', '_')}-walk-", suffix=".gif", dir=directory)
        with os.fdopen(handle, "wb") as out:
            out.write(render.gif_bytes(big, duration_ms=80))
        return path

    # -- vector arithmetic --------------------------------------------------

    def arithmetic(self, model, seeds_a, seeds_b, seeds_c) -> dict:
        """DCGAN arithmetic A - B + C, each term the mean z of its seeds: pictures of the terms and the result."""
        model = self.get(model)
        terms = [parse_seeds(text, f"Term {label}") for text, label in ((seeds_a, "A"), (seeds_b, "B"), (seeds_c, "C"))]
        z_terms = [torch.cat([_seed_noise(s, model.latent_dim, model.noise, 1) for s in seeds]) for seeds in terms]  # (N_i, D)
        means = torch.stack([z.mean(0) for z in z_terms])  # (3, D)
        result = latent.arithmetic(*z_terms)[None]  # (1, D)
        images, p_real = self._pictures(model, torch.cat([means, result]))
        out = {label: render.data_url(image) for label, image in zip(("a", "b", "c", "result"), images)}
        out.update(p_real=p_real[3], seeds={"a": terms[0], "b": terms[1], "c": terms[2]})
        return out

    # -- how it trained -----------------------------------------------------

    def timeline_info(self, model) -> tuple[int, int]:
        """(number of timeline pictures, last epoch); (0, 0) when the model shipped none."""
        model = self.get(model)
        return len(model.timeline), (model.timeline[-1][0] if model.timeline else 0)

    def timeline(self, model, position) -> dict:
        """The fixed-z grid at timeline position 1..N: {"src", "epoch", "count"}."""
        model = self.get(model)
        if not model.timeline:
            raise ValueError(f"Model {model.name!r} shipped no timeline/ pictures, so there is no training timeline to show.")
        position = check_count(position, "Timeline position", 1, len(model.timeline))
        epoch, src = model.timeline[position - 1]
        return {"src": src, "epoch": epoch, "count": len(model.timeline)}

    def training_curves(self, model) -> tuple[list[dict], list[dict]]:
        """Long-format rows for two plots: losses (Loss_D, Loss_G) and D's outputs (D(x), D(G(z)))."""
        model = self.get(model)
        losses, outputs = [], []
        for record in model.log:
            epoch = float(record.get("epoch", 0.0))
            losses += [{"epoch": epoch, "value": record["loss_d"], "series": "Loss_D"}, {"epoch": epoch, "value": record["loss_g"], "series": "Loss_G"}]
            outputs += [{"epoch": epoch, "value": record["d_real"], "series": "D(x) on real"}, {"epoch": epoch, "value": record["d_fake"], "series": "D(G(z)) on fake"}]
        return losses, outputs

    # -- share --------------------------------------------------------------

    def share(self, model, seed, psi, *amounts) -> tuple[str, str]:
        """The Explore state as (JSON text, URL query string '?model=...') after validating it."""
        model, _ = self.state_latent(model, seed, psi, amounts)
        state = {"model": model.name, "seed": int(seed), "psi": round(float(psi), 4), "directions": [round(float(a), 4) for a in check_amounts(list(amounts), model.num_directions)]}
        query = urlencode({"model": state["model"], "seed": state["seed"], "psi": state["psi"], "d": ",".join(f"{a:g}" for a in state["directions"])}, safe=",")
        return json.dumps(state), "?" + query

    def restore(self, text) -> dict:
        """A shared state (JSON or a link / query string) -> validated {"model", "seed", "psi", "directions"}."""
        state = parse_state(text)
        model, _ = self.state_latent(state["model"], state["seed"], state["psi"], state["directions"])
        state["directions"] = check_amounts(state["directions"], model.num_directions)
        return state


def parse_state(text) -> dict:
    """Parse an Explore state from JSON or from a link / query string (model, seed, psi, d)."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("Paste a state: the JSON or the link from the Share tab.")
    text = text.strip()
    if text.startswith(("{", "[")):
        try:
            state = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"The state is not valid JSON ({err}); paste the JSON from the Share tab.") from err
        if not isinstance(state, dict):
            raise ValueError("The state JSON must be an object like {\"model\": ..., \"seed\": ..., \"psi\": ..., \"directions\": [...]}.")
    else:
        query = parse_qs(text.split("?", 1)[-1])
        state = {key: values[-1] for key, values in query.items()}
        try:
            if "seed" in state:
                state["seed"] = float(state["seed"])
            state["psi"] = float(state.get("psi", 1.0))
            state["directions"] = [float(a) for a in state.get("d", "").split(",") if a]
        except ValueError as err:
            raise ValueError(f"The link's seed, psi and d must be numbers: {err}.") from err
    missing = [key for key in ("model", "seed") if key not in state]
    if missing:
        raise ValueError(f"The state lacks {', '.join(missing)}; a state names model and seed (psi and directions are optional).")
    directions = state.get("directions", [])
    if not isinstance(directions, list):
        raise ValueError(f"The state's directions must be a list of numbers, got {directions!r}.")
    return {"model": state["model"], "seed": state["seed"], "psi": state.get("psi", 1.0), "directions": directions}


def add_seed(target, a, b, c, seed) -> tuple[str, str, str]:
    """Append ``seed`` to the seeds text of term A, B or C; returns the three texts."""
    check_choice(target, "The term", ("A", "B", "C"))
    terms = {"A": a or "", "B": b or "", "C": c or ""}
    terms[target] = f"{terms[target].strip().rstrip(',')}, {check_seed(seed)}".lstrip(", ")
    return terms["A"], terms["B"], terms["C"]


def live(fn, args) -> dict:
    """Call a view function for the browser's live path with the list ``args``.

    A bad value comes back as {"error": message} instead of a traceback in the server log.
    """
    if not isinstance(args, list):
        return {"error": f"The live update needs a list of values, got {args!r}."}
    try:
        return fn(*args)
    except (ValueError, TypeError) as err:
        return {"error": str(err)}
