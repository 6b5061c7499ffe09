"""The 2-D game: the project's GAN objective played on points in the plane, small enough to watch.

As in GAN Lab (Kahng et al. 2018): G maps noise z to a point x in the plane, the real data is a
small mixture of Gaussians (8 on a ring, or 25 on a grid), and D's verdict D(x) in [0, 1] can be
drawn over the whole plane as a heat map. The objective is the image GAN's
(``gan_core/training/trainer.py``): D minimises BCE on logits with targets 1 (real) and 0 (fake);
G minimises the non-saturating loss -log D(G(z)) (or, to show why that loss exists, the minimax
loss log(1 - D(G(z))), which saturates while D rejects G's points), both with Adam.

A preset, "D gets a head start" (:data:`PRESETS`), shows why G's loss is the non-saturating one: D trains alone
first until it rejects G's points with confidence, then G takes plain gradient steps (SGD). Under the minimax loss
G's gradient is then almost zero and its points stay where they are; under the non-saturating loss they reach the
data. (With Adam the same head start hardly shows: Adam divides each step by the gradient's recent size, so even a
gradient a million times smaller moves G as fast; BENCHMARKS.md, "The 2-D game".) Each frame measures how hard both
losses pull G's points (:meth:`ToyGame.pulls`), whichever trains, for the page's chart.

Everything runs on the CPU in a few milliseconds per step (MLPs of two hidden layers, a batch of
256), so a game reaches all 8 modes of the ring in seconds, and a collapse onto a few modes shows
as it happens (:func:`mode_coverage` counts the modes G's points reach). All randomness comes from
one ``torch.Generator`` seeded by the config: a game replays exactly.

The app calls :func:`run` (a generator of frames while training), :func:`one_step` (one D update
and one G update, with the formula's terms and the picture before and after each) and :func:`reset`,
each with plain values; a frame is a dict whose ``src`` is a PNG data URL drawn by :func:`render`.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont
from torch import nn

from gan_core.core.checks import check_choice, check_count, check_number, check_seed
from gan_core.core.images import jpeg_data_url

# --------------------------------------------------------------------------- the real data


@dataclass(frozen=True)
class Mixture:
    """Equal-weight isotropic Gaussians: ``centres`` (M, 2), standard deviation ``sigma``; the plane shown is [-extent, extent]^2."""

    name: str
    label: str
    centres: tuple[tuple[float, float], ...]
    sigma: float
    extent: float

    @property
    def modes(self) -> int:
        return len(self.centres)

    def centres_tensor(self) -> torch.Tensor:
        return torch.tensor(self.centres, dtype=torch.float32)  # (M, 2)


def _ring(count: int, radius: float) -> tuple[tuple[float, float], ...]:
    return tuple((radius * math.cos(2 * math.pi * k / count), radius * math.sin(2 * math.pi * k / count)) for k in range(count))


def _grid(side: int, spacing: float) -> tuple[tuple[float, float], ...]:
    offsets = [spacing * (k - (side - 1) / 2) for k in range(side)]
    return tuple((x, y) for y in offsets for x in offsets)


# The usual benchmarks of mode collapse (Metz et al. 2017, Srivastava et al. 2017), a little wider than
# their sigma 0.02 so that a point is visible at 360 px.
MIXTURES: dict[str, Mixture] = {
    m.name: m
    for m in (
        Mixture("ring8", "8 Gaussians on a ring", _ring(8, 2.0), 0.05, 3.0),
        Mixture("grid25", "25 Gaussians on a grid", _grid(5, 2.0), 0.05, 5.5),
    )
}


def get_mixture(name) -> Mixture:
    """The mixture called ``name`` (one of MIXTURES), else ValueError listing them."""
    return MIXTURES[check_choice(name, "The real data", tuple(MIXTURES))]


def sample_mixture(mixture: Mixture, count: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` points of the mixture, (count, 2) float32: a uniformly chosen centre plus N(0, sigma^2 I)."""
    centres = mixture.centres_tensor()
    modes = torch.randint(len(centres), (count,), generator=generator)
    return centres[modes] + mixture.sigma * torch.randn(count, 2, generator=generator)


# --------------------------------------------------------------------------- mode coverage

COVER_SIGMAS = 3.0  # a point belongs to a mode when it lies within 3 sigma of the mode's centre
COVER_SHARE = 0.25  # a mode is covered when it holds at least a quarter of its fair share (1/M) of G's points


@dataclass(frozen=True)
class Coverage:
    """How G's points sit on the modes: ``counts[m]`` points within ``sigmas`` sigma of mode m, out of ``total``."""

    counts: tuple[int, ...]
    total: int
    threshold: int  # points a mode needs to count as covered
    sigmas: float

    @property
    def modes(self) -> int:
        return len(self.counts)

    @property
    def covered(self) -> int:
        return sum(count >= self.threshold for count in self.counts)

    @property
    def on_modes(self) -> float:
        """The fraction of G's points within ``sigmas`` sigma of some mode (the "high-quality" samples), in [0, 1]."""
        return sum(self.counts) / self.total if self.total else 0.0

    @property
    def complete(self) -> bool:
        """Every mode covered, and most of G's points on one: what the page calls "all modes covered"."""
        return self.covered == self.modes and self.on_modes >= 0.5

    def sentence(self) -> str:
        """What the coverage says about the game, in one or two sentences."""
        rule = f"a mode counts when at least {self.threshold} of G's {self.total} points lie within {self.sigmas:g}σ of it"
        if self.on_modes < 0.5:
            return f"G has not found the data yet: {self.on_modes:.0%} of its points lie near a mode; {self.covered} of {self.modes} modes covered ({rule})."
        if self.complete:
            return f"All {self.modes} modes covered ({rule}); {self.on_modes:.0%} of G's points lie near a mode."
        return (
            f"Mode collapse: G's points sit on only {self.covered} of the {self.modes} modes ({rule}). "
            "G puts its points where D currently says 'real' instead of spreading over all the data; it may spread out later, or keep hopping between modes."
        )


def mode_coverage(points: torch.Tensor, mixture: Mixture, sigmas: float = COVER_SIGMAS, share: float = COVER_SHARE) -> Coverage:
    """Count G's ``points`` (N, 2) near each of the mixture's modes: each point goes to its nearest centre when within ``sigmas`` sigma.

    A mode is covered when it holds at least ``share`` of its fair share, ceil(share * N / M) points.
    """
    if points.dim() != 2 or points.shape[1] != 2 or len(points) == 0:
        raise ValueError(f"points must be a non-empty (N, 2) tensor, got shape {tuple(points.shape)}.")
    distances = torch.cdist(points.float(), mixture.centres_tensor())  # (N, M)
    nearest_distance, nearest = distances.min(dim=1)
    near = nearest_distance <= sigmas * mixture.sigma
    counts = torch.bincount(nearest[near], minlength=mixture.modes)
    threshold = max(1, math.ceil(share * len(points) / mixture.modes))
    return Coverage(tuple(int(c) for c in counts), len(points), threshold, sigmas)


# --------------------------------------------------------------------------- the networks


class ToyGenerator(nn.Module):
    """G: noise (B, noise_dim) -> points (B, 2), an MLP with ReLU hidden layers and a linear output (the plane is unbounded)."""

    def __init__(self, noise_dim: int = 2, hidden: int = 128, layers: int = 2):
        super().__init__()
        widths = [noise_dim] + [hidden] * layers
        blocks: list[nn.Module] = []
        for width_in, width_out in itertools.pairwise(widths):
            blocks += [nn.Linear(width_in, width_out), nn.ReLU()]
        self.net = nn.Sequential(*blocks, nn.Linear(hidden, 2))

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        return self.net(noise)


class ToyDiscriminator(nn.Module):
    """D: points (B, 2) -> logits (B,), an MLP with LeakyReLU(0.2) hidden layers as in DCGAN's D. D(x) = sigmoid(logit)."""

    def __init__(self, hidden: int = 128, layers: int = 2):
        super().__init__()
        widths = [2] + [hidden] * layers
        blocks: list[nn.Module] = []
        for width_in, width_out in itertools.pairwise(widths):
            blocks += [nn.Linear(width_in, width_out), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*blocks, nn.Linear(hidden, 1))

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        return self.net(points).squeeze(1)


def _built(cls, generator: torch.Generator, **kwargs) -> nn.Module:
    """``cls(**kwargs)`` with PyTorch's default Linear initialisation drawn from ``generator`` (the global RNG is left alone)."""
    with torch.device("meta"):
        module = cls(**kwargs)
    module = module.to_empty(device="cpu")
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)  # what nn.Linear.reset_parameters does
            bound = 1 / math.sqrt(layer.in_features)
            nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
    return module


# --------------------------------------------------------------------------- the game

LOSSES = ("non-saturating", "minimax")
BETAS = (0.5, 0.999)  # Adam's, as in DCGAN and the image trainer
LR_RANGE = (1e-5, 0.1)
NOISE_DIMS = (1, 16)
D_STEPS = (1, 10)


@dataclass(frozen=True)
class Preset:
    """How a game starts: ``head_start`` updates of D alone before G's first step, and G's optimiser ("adam" or "sgd",
    plain gradient descent without momentum, whose step is as long as the gradient). D always uses Adam."""

    name: str
    label: str  # in plain words, for the page
    head_start: int
    g_optimizer: str
    lr_g: float  # the G learning rate the page suggests with this preset


# "head-start": after 1,000 steps alone D gives G's points D(G(z)) ~ 5e-5, so the minimax gradient is ~1e-4 of the
# non-saturating one; with SGD (lr 0.01) the minimax G then stays put while the non-saturating G reaches the data
# (benchmarks/toy_game.py --preset head-start; BENCHMARKS.md).
PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("usual", "Both start together; G uses Adam", 0, "adam", 1e-3),
        Preset("head-start", "D gets a head start: D trains alone for 1,000 steps, then G takes plain gradient steps", 1000, "sgd", 1e-2),
    )
}


@dataclass
class ToyConfig:
    """One game's settings. ``mixture``, ``noise_dim``, ``hidden``, ``batch_size`` and ``seed`` make the game
    (changing one starts a new game); learning rates, D steps per G step and the loss may change while it runs."""

    mixture: str = "ring8"
    noise_dim: int = 2
    lr_g: float = 1e-3
    lr_d: float = 1e-3
    d_steps: int = 1
    loss: str = "non-saturating"
    seed: int = 0
    hidden: int = 128
    batch_size: int = 256
    preset: str = "usual"

    def __post_init__(self) -> None:
        get_mixture(self.mixture)
        check_choice(self.preset, "The start", tuple(PRESETS))
        self.noise_dim = check_count(self.noise_dim, "The noise dimension", *NOISE_DIMS)
        self.lr_g = check_number(self.lr_g, "G's learning rate", *LR_RANGE)
        self.lr_d = check_number(self.lr_d, "D's learning rate", *LR_RANGE)
        self.d_steps = check_count(self.d_steps, "D steps per G step", *D_STEPS)
        check_choice(self.loss, "G's loss", LOSSES)
        self.seed = check_seed(self.seed)
        self.hidden = check_count(self.hidden, "The hidden width", 4, 512)
        self.batch_size = check_count(self.batch_size, "The batch size", 8, 2048)

    def game_key(self) -> tuple:
        """What makes a game: equal keys, same game (the rest are settings of the running game)."""
        return (self.mixture, self.noise_dim, self.seed, self.hidden, self.batch_size, self.preset)


@dataclass(frozen=True)
class Terms:
    """The two terms of V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))] on one batch; D ascends V, G descends it."""

    real: float  # E_x[log D(x)], <= 0; 0 when D calls every real point real
    fake: float  # E_z[log(1 - D(G(z)))], <= 0; 0 when D calls every generated point fake

    @property
    def value(self) -> float:
        return self.real + self.fake


SHOWN_REAL = 512  # real points in the picture
TRACE_POINTS = 400  # records the pull chart keeps (halved, every other, when full)
SHOWN_FAKE = 1024  # G's points in the picture, from fixed noise (a steady cloud from frame to frame); also what coverage counts


class ToyGame:
    """One 2-D game: G, D, their Adam optimisers, the random stream, the step count and the fixed noise the picture shows.

    Not shared between threads: every method that changes the game holds ``lock`` (a stopped run may still be
    finishing its last step when the next request arrives). :meth:`release` frees it when its page closes.
    """

    def __init__(self, config: ToyConfig):
        self.config = config
        self.mixture = get_mixture(config.mixture)
        self.random = torch.Generator().manual_seed(config.seed)
        self.generator = _built(ToyGenerator, self.random, noise_dim=config.noise_dim, hidden=config.hidden)
        self.discriminator = _built(ToyDiscriminator, self.random, hidden=config.hidden)
        self.preset = PRESETS[config.preset]
        if self.preset.g_optimizer == "sgd":
            self.opt_g = torch.optim.SGD(self.generator.parameters(), lr=config.lr_g)
        else:
            self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=config.lr_g, betas=BETAS)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=config.lr_d, betas=BETAS)
        self.shown_real = sample_mixture(self.mixture, SHOWN_REAL, self.random)  # (SHOWN_REAL, 2)
        self.shown_noise = torch.randn(SHOWN_FAKE, config.noise_dim, generator=self.random)  # (SHOWN_FAKE, noise_dim)
        self.step = 0  # G's steps
        self.head_start_left = self.preset.head_start  # D's updates alone still to come before G's first step
        self.last: dict[str, float] = {}  # the last step's losses and D's mean outputs
        self.trace: list[dict] = []  # one record per frame for the pull chart: "at" (see position), "non-saturating", "minimax", "d_fake"
        self.lock = threading.RLock()
        self.released = False

    def release(self) -> None:
        """Free the networks, optimisers and tensors (the page that played the game closed); it cannot be played again."""
        with self.lock:
            self.released = True
            self.generator = self.discriminator = self.opt_g = self.opt_d = self.shown_real = self.shown_noise = None

    def check_open(self) -> None:
        if self.released:
            raise ValueError("This 2-D game was closed with its page; press Reset or Start for a new one.")

    def configure(self, config: ToyConfig) -> None:
        """Take the settings that may change while the game runs (learning rates, D steps, loss)."""
        assert config.game_key() == self.config.game_key(), "a different game: build a new ToyGame"
        self.config = config
        for group in self.opt_g.param_groups:
            group["lr"] = config.lr_g
        for group in self.opt_d.param_groups:
            group["lr"] = config.lr_d

    # ---------------------------------------------------------------- batches
    def real_batch(self) -> torch.Tensor:
        return sample_mixture(self.mixture, self.config.batch_size, self.random)  # (B, 2)

    def noise_batch(self) -> torch.Tensor:
        return torch.randn(self.config.batch_size, self.config.noise_dim, generator=self.random)  # (B, noise_dim)

    # ---------------------------------------------------------------- the two updates
    def g_loss(self, logits: torch.Tensor) -> torch.Tensor:
        """G's loss per point from D's logits on G's points, (B,): -log D(G(z)) or log(1 - D(G(z)))."""
        if self.config.loss == "non-saturating":
            return F.softplus(-logits)  # -log sigmoid(l)
        return -F.softplus(logits)  # log(1 - sigmoid(l))

    def update_d(self, real: torch.Tensor, noise: torch.Tensor) -> float:
        """One Adam step of D on a real batch (B, 2) and G(noise); returns Loss_D."""
        # (1) Update D: maximise log D(x) + log(1 - D(G(z))), i.e. minimise BCE on logits with targets 1 and 0.
        with torch.no_grad():
            fake = self.generator(noise)  # (B, 2)
        logits = self.discriminator(torch.cat([real, fake]))  # (2B,)
        d_real, d_fake = logits[: len(real)], logits[len(real) :]
        loss_d = F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
        loss_d = loss_d + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        self.last.update(loss_d=loss_d.item(), d_real=torch.sigmoid(d_real).mean().item(), d_fake=torch.sigmoid(d_fake).mean().item())
        return self.last["loss_d"]

    def update_g(self, noise: torch.Tensor) -> float:
        """One Adam step of G on noise (B, noise_dim); returns Loss_G."""
        # (2) Update G: minimise -log D(G(z)) (non-saturating) or log(1 - D(G(z))) (minimax). D is only read.
        self.discriminator.requires_grad_(False)
        try:
            loss_g = self.g_loss(self.discriminator(self.generator(noise))).mean()
        finally:
            self.discriminator.requires_grad_(True)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        self.last["loss_g"] = loss_g.item()
        return self.last["loss_g"]

    @property
    def position(self) -> int:
        """Where the game is, in steps: G's step, or minus the updates D's head start still has to make (-1000 .. 0)."""
        return self.step - self.head_start_left

    def head_start(self, updates: int) -> int:
        """Up to ``updates`` of the D updates alone that the preset gives D before G's first step; returns how many were made."""
        with self.lock:
            self.check_open()
            count = min(updates, self.head_start_left)
            for _ in range(count):
                self.update_d(self.real_batch(), self.noise_batch())
            self.head_start_left -= count
            return count

    def train(self, steps: int) -> None:
        """``steps`` training steps (after whatever is left of D's head start): each ``d_steps`` updates of D on fresh
        batches, then one update of G."""
        with self.lock:
            self.check_open()
            self.head_start(self.head_start_left)
            for _ in range(steps):
                for _ in range(self.config.d_steps):
                    self.update_d(self.real_batch(), self.noise_batch())
                self.update_g(self.noise_batch())
                self.step += 1

    # ---------------------------------------------------------------- what the picture shows
    @torch.no_grad()
    def terms(self, real: torch.Tensor, noise: torch.Tensor) -> Terms:
        """E_x[log D(x)] and E_z[log(1 - D(G(z)))] on a real batch (B, 2) and noise (B, noise_dim)."""
        real_logits = self.discriminator(real)
        fake_logits = self.discriminator(self.generator(noise))
        return Terms(real=-F.softplus(-real_logits).mean().item(), fake=-F.softplus(fake_logits).mean().item())

    def pull(self, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """G's points x = G(noise) (B, 2) and -dLoss_G/dx at each (B, 2): where G's loss pulls each point.

        Both losses pull up D's logit: -dL/dx = (1 - D(x)) grad logit for the non-saturating loss and D(x) grad logit
        for the minimax one, which vanishes where D rejects x (saturation).
        """
        with torch.no_grad():
            points = self.generator(noise)
        points.requires_grad_(True)
        self.discriminator.requires_grad_(False)
        try:
            (gradient,) = torch.autograd.grad(self.g_loss(self.discriminator(points)).sum(), points)
        finally:
            self.discriminator.requires_grad_(True)
        return points.detach(), -gradient

    def pulls(self, noise: torch.Tensor | None = None) -> dict[str, float]:
        """How hard each loss pulls G's points G(noise) (default: the shown noise), whichever loss trains: the mean over the
        points of ||dLoss_G/dx|| under the non-saturating and the minimax loss, and D's mean verdict D(G(z)) on them.

        Per point the two are (1 - D(x)) and D(x) times ||grad logit||, so where D rejects x the minimax pull vanishes.
        """
        noise = self.shown_noise if noise is None else noise
        with torch.no_grad():
            points = self.generator(noise)  # (B, 2)
        points.requires_grad_(True)
        self.discriminator.requires_grad_(False)
        try:
            logits = self.discriminator(points)  # (B,)
            (grad_logit,) = torch.autograd.grad(logits.sum(), points)
        finally:
            self.discriminator.requires_grad_(True)
        verdict = torch.sigmoid(logits.detach())  # (B,)
        steepness = grad_logit.norm(dim=1)  # (B,)
        return {
            "non-saturating": float(((1 - verdict) * steepness).mean()),
            "minimax": float((verdict * steepness).mean()),
            "d_fake": float(verdict.mean()),
        }

    def traced(self) -> dict:
        """:meth:`pulls` now, recorded in ``trace`` at :attr:`position` (once per position; at most TRACE_POINTS, thinned)."""
        record = {"at": self.position, **self.pulls()}
        if self.trace and self.trace[-1]["at"] == record["at"]:
            self.trace[-1] = record
        else:
            if len(self.trace) >= TRACE_POINTS:
                self.trace = self.trace[::2]
            self.trace.append(record)
        return record

    @torch.no_grad()
    def verdict_field(self, resolution: int = 48) -> np.ndarray:
        """D(x) on a resolution x resolution grid of pixel centres over the shown plane, float32 in [0, 1]; row 0 is the top (largest y)."""
        extent = self.mixture.extent
        ticks = (torch.arange(resolution, dtype=torch.float32) + 0.5) / resolution * 2 * extent - extent
        ys, xs = torch.meshgrid(ticks.flip(0), ticks, indexing="ij")
        points = torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)  # (R*R, 2)
        return torch.sigmoid(self.discriminator(points)).reshape(resolution, resolution).numpy()

    @torch.no_grad()
    def shown_fake(self) -> torch.Tensor:
        return self.generator(self.shown_noise)  # (SHOWN_FAKE, 2)

    def coverage(self) -> Coverage:
        return mode_coverage(self.shown_fake(), self.mixture)


def prepared(game, config: ToyConfig) -> ToyGame:
    """``game`` with ``config``'s settings, or a new game when there is none or ``config`` makes a different one."""
    if not isinstance(game, ToyGame) or game.released or game.config.game_key() != config.game_key():
        return ToyGame(config)
    with game.lock:
        game.configure(config)
    return game


# --------------------------------------------------------------------------- the picture

# A light diverging map (ColorBrewer PRGn's pale half): purple where D says fake (0), white at 0.5, green where it says real (1);
# the points are drawn in PRGn's dark ends on top of it.
HEAT_STOPS = np.array([[194, 165, 207], [231, 212, 232], [247, 247, 247], [217, 240, 211], [166, 219, 160]], dtype=np.float32)
REAL_COLOUR = (27, 120, 55)
FAKE_COLOUR = (118, 42, 131)
ARROW_COLOUR = (20, 20, 20)
PICTURE_SIDE = 360  # px
FIELD_RESOLUTION = 48  # D is evaluated on a 48 x 48 grid, then interpolated to the picture
ARROWS_SHOWN = 64  # arrows on this many of G's points (more clutter the picture)
# Arrow lengths are logarithmic and the same in every picture, so pictures (and losses) compare: a pull
# ||dLoss_G/dx|| of ARROW_FLOOR or less gets no arrow, each tenfold stronger pull adds ARROW_PX_PER_DECADE px, and
# pulls of 10 or more get the longest arrow. (Scaled linearly to the longest, most arrows were a few px long.)
ARROW_FLOOR = 1e-4
ARROW_PX_PER_DECADE = 10
ARROW_LONGEST = 50  # px, at a pull of ARROW_FLOOR * 10 ** 5 = 10
ARROW_KEY = (10.0, 0.1, 0.001)  # the pulls the picture's key shows
ARROW_KEY_SIDE = 200  # px: smaller pictures have no room for the key


def _heat_lut() -> np.ndarray:
    positions = np.linspace(0.0, 1.0, len(HEAT_STOPS))
    levels = np.linspace(0.0, 1.0, 256)
    return np.stack([np.interp(levels, positions, HEAT_STOPS[:, c]) for c in range(3)], axis=1).round().astype(np.uint8)  # (256, 3)


HEAT_LUT = _heat_lut()


def _disc(radius: int) -> tuple[np.ndarray, np.ndarray]:
    dy, dx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    inside = dx * dx + dy * dy <= radius * radius + 1
    return dy[inside], dx[inside]


def to_pixels(points: np.ndarray, extent: float, side: int) -> np.ndarray:
    """Plane coordinates (N, 2) -> pixel (row, column) (N, 2) int of a side x side picture of [-extent, extent]^2; y points up.

    Points outside the plane land on its edge, so a point that flew off still shows where it went.
    """
    scale = side / (2 * extent)
    columns = np.floor((points[:, 0] + extent) * scale)
    rows = np.floor((extent - points[:, 1]) * scale)
    return np.clip(np.stack([rows, columns], axis=1), 0, side - 1).astype(np.int64)


def _stamp(picture: np.ndarray, pixels: np.ndarray, colour: tuple[int, int, int], radius: int = 2) -> None:
    side = picture.shape[0]
    dy, dx = _disc(radius)
    rows = np.clip(pixels[:, :1] + dy[None], 0, side - 1).ravel()
    columns = np.clip(pixels[:, 1:] + dx[None], 0, side - 1).ravel()
    picture[rows, columns] = colour


def arrow_pixels(lengths: np.ndarray) -> np.ndarray:
    """Drawn arrow lengths in px for pulls ``lengths`` (N,) >= 0: log scale, 0 at ARROW_FLOOR and below, ARROW_LONGEST from 10."""
    decades = np.log10(np.maximum(np.asarray(lengths, dtype=np.float64), ARROW_FLOOR) / ARROW_FLOOR)
    return np.clip(ARROW_PX_PER_DECADE * decades, 0.0, ARROW_LONGEST)


def _arrow(draw: ImageDraw.ImageDraw, start: tuple[float, float], angle: float, pixels: float) -> None:
    """An arrow of ``pixels`` px from ``start`` (column, row) at ``angle`` (radians, counter-clockwise from +x, rows down)."""
    tip = (start[0] + pixels * math.cos(angle), start[1] - pixels * math.sin(angle))
    draw.line([start, tip], fill=ARROW_COLOUR, width=2)
    head = min(7.0, 0.5 * pixels)
    for turn in (2.6, -2.6):  # the two barbs, about 30 degrees off the shaft
        draw.line([tip, (tip[0] + head * math.cos(angle + turn), tip[1] - head * math.sin(angle + turn))], fill=ARROW_COLOUR, width=2)


def _arrow_key(image: Image.Image) -> None:
    """The arrows' scale in the bottom-left corner: one arrow per pull of ARROW_KEY, labelled, on a pale box."""
    font = ImageFont.load_default(size=12)
    side = image.height
    row_height = 15
    top = side - 6 - row_height * (len(ARROW_KEY) + 1)
    draw = ImageDraw.Draw(image, "RGBA")
    draw.rounded_rectangle([4, top, 4 + ARROW_LONGEST + 56, side - 4], radius=4, fill=(255, 255, 255, 190))
    draw.text((9, top + 2), "pull (log scale)", fill=ARROW_COLOUR, font=font)
    for k, pull in enumerate(ARROW_KEY):
        row = top + row_height * (k + 1) + 8
        _arrow(draw, (9.0, row), 0.0, float(arrow_pixels(np.array([pull]))[0]))
        draw.text((9 + ARROW_LONGEST + 8, row - 7), f"{pull:g}", fill=ARROW_COLOUR, font=font)


def render(
    field: np.ndarray, real: np.ndarray, fake: np.ndarray, extent: float, side: int = PICTURE_SIDE, arrows: np.ndarray | None = None
) -> np.ndarray:
    """The game as a picture, uint8 (side, side, 3): D's verdict ``field`` (R, R) in [0, 1] (row 0 at the top) as a heat map over
    [-extent, extent]^2, ``G's ``fake`` points (M, 2) in purple, ``real`` points (N, 2) in green on top, and, if given, ``arrows``
    (M, 2): one per fake point (the first ARROWS_SHOWN of them), their lengths on the log scale of :func:`arrow_pixels`
    (the same in every picture), with the scale's key in the bottom-left corner (from ARROW_KEY_SIDE px).
    """
    if field.ndim != 2 or field.shape[0] != field.shape[1]:
        raise ValueError(f"field must be a square (R, R) array, got shape {field.shape}.")
    heat = Image.fromarray(np.ascontiguousarray(field, dtype=np.float32), mode="F").resize((side, side), Image.BILINEAR)
    levels = np.clip(np.asarray(heat) * 255 + 0.5, 0, 255).astype(np.uint8)
    picture = np.take(HEAT_LUT, levels, axis=0)  # (side, side, 3); np.take is 4x faster than fancy indexing here
    if arrows is not None and side >= ARROW_KEY_SIDE:  # the key under the points, so that no point hides behind it
        image = Image.fromarray(picture)
        _arrow_key(image)
        picture = np.asarray(image).copy()
    fake_pixels = to_pixels(fake, extent, side)
    _stamp(picture, fake_pixels, FAKE_COLOUR)
    _stamp(picture, to_pixels(real, extent, side), REAL_COLOUR)  # on top: where the data is stays visible under G's points
    if arrows is None:
        return picture
    shown = arrows[:ARROWS_SHOWN]
    pixels = arrow_pixels(np.linalg.norm(shown, axis=1))
    image = Image.fromarray(picture)
    draw = ImageDraw.Draw(image)
    for (row, column), (gx, gy), length in zip(fake_pixels[:ARROWS_SHOWN], shown, pixels, strict=True):
        if length >= 1.5:
            _arrow(draw, (float(column), float(row)), math.atan2(gy, gx), length)
    return np.asarray(image).copy()


# --------------------------------------------------------------------------- what the app shows


def describe(config: ToyConfig) -> str:
    """The settings in one line, as the page shows them."""
    loss = "−log D(G(z)) (non-saturating)" if config.loss == "non-saturating" else "log(1 − D(G(z))) (minimax)"
    preset = PRESETS[config.preset]
    if preset.g_optimizer == "sgd":
        optimisers = (
            f"D: Adam, lr {config.lr_d:g}, betas {BETAS}, alone for its first {preset.head_start:,} steps; "
            f"G: plain gradient descent (SGD), lr {config.lr_g:g}"
        )
    else:
        optimisers = f"Adam, lr G {config.lr_g:g}, lr D {config.lr_d:g}, betas {BETAS}"
    return (
        f"{optimisers}; {config.d_steps} D step(s) per G step; G's loss {loss}; "
        f"batch {config.batch_size}; noise {config.noise_dim}-D; MLPs of 2 × {config.hidden}; seed {config.seed}"
    )


# The pull chart: a log axis for ||dLoss_G/dx|| (fixed, so that an empty chart and every game share it) over a linear
# axis for D(G(z)). Coordinates go to the page in thousandths of each panel, y from the top.
PULL_DECADES = (-8, 2)  # the log axis: 1e-8 .. 1e2
CHART_UNITS = 1000


def _ticks(low: int, high: int) -> list[int]:
    """About five round ticks from ``low`` to ``high`` (steps), 0 among them when in range."""
    span = max(high - low, 1)
    size = 10 ** math.floor(math.log10(span / 4))
    size *= next(m for m in (1, 2, 5, 10) if span / (size * m) <= 5)
    return [t for t in range(math.ceil(low / size) * size, high + 1, size)]


def pull_chart(trace: list[dict], loss: str, head_start: int = 0) -> dict:
    """The pull chart as data the page plots: for each loss, a polyline "x,y x,y ..." of its mean pull ||dLoss_G/dx|| (log
    axis PULL_DECADES), and one of D(G(z)) (0 .. 1), in CHART_UNITS per panel (y down); the ticks of both axes, and which
    loss trains. x runs from minus D's head start (0 without one) to the last step (at least 100).

    ``trace``: records {"at", "non-saturating", "minimax", "d_fake"} as :meth:`ToyGame.traced` keeps them.
    """
    low = -head_start
    high = max(100, trace[-1]["at"] if trace else 0)
    decades = PULL_DECADES[1] - PULL_DECADES[0]

    def x(at: float) -> int:
        return round(CHART_UNITS * (at - low) / (high - low))

    def y_pull(value: float) -> int:
        decade = math.log10(max(value, 10.0 ** PULL_DECADES[0])) if value > 0 else PULL_DECADES[0]
        return round(CHART_UNITS * (PULL_DECADES[1] - min(decade, PULL_DECADES[1])) / decades)

    def line(key: str, y) -> str:
        return " ".join(f"{x(r['at'])},{y(r[key])}" for r in trace)

    latest = trace[-1] if trace else {}
    return {
        "training": loss,
        "lines": {name: line(name, y_pull) for name in LOSSES},
        "d_fake": line("d_fake", lambda v: round(CHART_UNITS * (1 - v))),
        "x_ticks": [{"at": x(t), "label": f"{t:,}"} for t in _ticks(low, high)],
        "pull_ticks": [{"at": y_pull(10.0**d), "label": f"1e{d}" if d else "1"} for d in range(PULL_DECADES[0], PULL_DECADES[1] + 1, 2)],
        "head_start": head_start,
        "zero": x(0),
        "now": {name: latest.get(name) for name in (*LOSSES, "d_fake")},
    }


def frame(game: ToyGame) -> dict:
    """What the page shows of a game now: ``src`` (a PNG data URL of :func:`render`), the step, the last losses and
    D's mean outputs (None before the first step), the mode coverage and its sentence, the settings, D's head start
    (``head_start``: its length, ``head_start_left``: the updates still to come) and ``chart`` (:func:`pull_chart`,
    with this frame's pulls recorded)."""
    with game.lock:
        game.check_open()
        fake = game.shown_fake()
        field = game.verdict_field(FIELD_RESOLUTION)
        real = game.shown_real.numpy()
        game.traced()
        chart = pull_chart(game.trace, game.config.loss, game.preset.head_start)
    coverage = mode_coverage(fake, game.mixture)
    picture = render(field, real, fake.numpy(), game.mixture.extent)
    return {
        "src": jpeg_data_url(picture),
        "step": game.step,
        "mixture": game.mixture.label,
        **{name: game.last.get(name) for name in ("loss_d", "loss_g", "d_real", "d_fake")},
        "covered": coverage.covered,
        "modes": coverage.modes,
        "on_modes": coverage.on_modes,
        "sentence": coverage.sentence(),
        "settings": describe(game.config),
        "preset": game.preset.label,
        "head_start": game.preset.head_start,
        "head_start_left": game.head_start_left,
        "chart": chart,
    }


MAX_RUN_STEPS = 20_000
MAX_RUN_SECONDS = 30.0  # a run ends after this long however many steps are left (press Start to go on)
FRAME_SECONDS = 0.1  # at most ~10 frames a second
CHUNK_STEPS = 10  # steps between looks at the clock
HEAD_START_CHUNK = 25  # D's updates alone between looks at the clock


def run(
    game,
    mixture,
    noise_dim,
    lr_g,
    lr_d,
    d_steps,
    loss,
    seed,
    steps,
    preset="usual",
    *,
    max_seconds: float = MAX_RUN_SECONDS,
    frame_seconds: float = FRAME_SECONDS,
) -> Iterator[tuple[ToyGame, dict]]:
    """Train the game for ``steps`` steps (1..MAX_RUN_STEPS) or ``max_seconds``, whichever ends first: an iterator of
    (game, :func:`frame`) pairs, one at the start, then at most one every ``frame_seconds``, and one at the end.
    A new game of the "head-start" ``preset`` first makes D's head start (its updates are not counted in ``steps``).

    ``game`` goes on with the new learning rates, D steps and loss; it is replaced by a new game when it is None or the
    real data, noise dimension, seed or preset changed. Bad values raise ValueError here, before anything runs.
    """
    config = ToyConfig(mixture=mixture, noise_dim=noise_dim, lr_g=lr_g, lr_d=lr_d, d_steps=d_steps, loss=loss, seed=seed, preset=preset)
    steps = check_count(steps, "Steps per run", 1, MAX_RUN_STEPS)
    return _frames(prepared(game, config), steps, max_seconds, frame_seconds)


def _frames(game: ToyGame, steps: int, max_seconds: float, frame_seconds: float) -> Iterator[tuple[ToyGame, dict]]:
    yield game, frame(game)
    start = last_frame = time.monotonic()
    while game.head_start_left and time.monotonic() - start < max_seconds and not game.released:
        game.head_start(HEAD_START_CHUNK)
        if time.monotonic() - last_frame >= frame_seconds:
            last_frame = time.monotonic()
            yield game, frame(game)
    done = 0
    while done < steps and time.monotonic() - start < max_seconds and not game.released:
        chunk = min(CHUNK_STEPS, steps - done)
        game.train(chunk)
        done += chunk
        if time.monotonic() - last_frame >= frame_seconds and done < steps:
            last_frame = time.monotonic()
            yield game, frame(game)
    if not game.released:  # its page closed: nobody is watching
        yield game, frame(game)


def reset(mixture, noise_dim, lr_g, lr_d, d_steps, loss, seed, preset="usual") -> tuple[ToyGame, dict]:
    """A new game from the settings, untrained, and its :func:`frame`."""
    config = ToyConfig(mixture=mixture, noise_dim=noise_dim, lr_g=lr_g, lr_d=lr_d, d_steps=d_steps, loss=loss, seed=seed, preset=preset)
    game = ToyGame(config)
    return game, frame(game)


def _row(when: str, terms: Terms) -> dict:
    return {"when": when, "real": terms.real, "fake": terms.fake, "value": terms.value}


def _number(value: float) -> str:
    """A value as the sentences show it: 3 decimals, or 2 significant digits when that would read 0.000."""
    return f"{value:.3f}" if value == 0 or abs(value) >= 0.01 else f"{value:.2g}"


def _moved(before: float, after: float) -> str:
    return f"{'raised' if after > before else 'lowered' if after < before else 'left'} it from {_number(before)} to {_number(after)}"


def one_step(game, mixture, noise_dim, lr_g, lr_d, d_steps, loss, seed, preset="usual") -> tuple[ToyGame, dict, dict]:
    """One D update, then one G update, on one batch, with what each changed: (game, :func:`frame` after both, details).

    Details: ``terms``, the rows before / after D's step / after G's step of E_x[log D(x)], E_z[log(1 - D(G(z)))] and their sum
    V, all on the batch both updates used (real x and noise z, as the image trainer uses one z for both); ``pictures``, the
    batch before D's step, after it with arrows -dLoss_G/dx on G's points (where G's step pulls them), and after G's step;
    ``sentences`` saying what moved; ``pull``, the mean length ||dLoss_G/dx|| of those arrows (small where G's loss
    saturates); ``pulls``, the same under each loss and D's mean verdict on G's points (:meth:`ToyGame.pulls`).
    ``d_steps`` is a setting of the game; this mode always makes exactly one D update. A new game of the "head-start"
    ``preset`` first makes the whole of D's head start.
    """
    config = ToyConfig(mixture=mixture, noise_dim=noise_dim, lr_g=lr_g, lr_d=lr_d, d_steps=d_steps, loss=loss, seed=seed, preset=preset)
    game = prepared(game, config)
    extent = game.mixture.extent
    with game.lock:
        game.check_open()
        head_start = game.head_start(game.head_start_left)
        real, noise = game.real_batch(), game.noise_batch()  # (B, 2), (B, noise_dim)
        real_shown = real.numpy()
        before = game.terms(real, noise)
        with torch.no_grad():
            fake_before = game.generator(noise).numpy()
        picture_before = render(game.verdict_field(FIELD_RESOLUTION), real_shown, fake_before, extent)

        loss_d = game.update_d(real, noise)
        after_d = game.terms(real, noise)
        points, pull = game.pull(noise)
        pulls = game.pulls(noise)
        picture_pull = render(game.verdict_field(FIELD_RESOLUTION), real_shown, points.numpy(), extent, arrows=pull.numpy())

        loss_g = game.update_g(noise)
        after_g = game.terms(real, noise)
        with torch.no_grad():
            fake_after = game.generator(noise).numpy()
        picture_after = render(game.verdict_field(FIELD_RESOLUTION), real_shown, fake_after, extent)
        game.step += 1

    lengths = pull.norm(dim=1)  # (B,)
    pull_length = float(lengths.mean())
    shown = lengths[:ARROWS_SHOWN]
    drawn = int((arrow_pixels(shown.numpy()) >= 1.5).sum())
    sentences = [
        f"D's step (Loss_D {_number(loss_d)}) climbs V's gradient: on this batch it {_moved(before.value, after_d.value)}"
        + ("." if after_d.value >= before.value else " (one step of Adam need not raise it: its momentum still carries the directions of earlier batches)."),
        (
            f"G's step (Loss_G {_number(loss_g)}) descends E_z[log(1 − D(G(z)))]: it {_moved(after_d.fake, after_g.fake)}; "
            f"the mean pull ‖∂Loss_G/∂x‖ on G's points was {_number(pull_length)}."
        ),
        (
            f"Before G's step D gave G's points {_number(pulls['d_fake'])} on average, so the non-saturating loss pulled them "
            f"with {_number(pulls['non-saturating'])} and the minimax loss with {_number(pulls['minimax'])} (at each point the minimax "
            "pull is D(G(z)) / (1 − D(G(z))) times the other: where D rejects a point with confidence, the minimax loss hardly moves it)."
        ),
    ]
    if head_start:
        sentences.insert(0, f"First D trained alone for {head_start:,} steps (its head start); G had not moved yet.")
    details = {
        "step": game.step,
        "terms": [_row("before", before), _row("after D's step", after_d), _row("after G's step", after_g)],
        "loss_d": loss_d,
        "loss_g": loss_g,
        "pull": pull_length,
        "pulls": pulls,
        "pictures": [
            {"src": jpeg_data_url(picture_before), "caption": "Before: D's verdict and this step's batch"},
            {
                "src": jpeg_data_url(picture_pull),
                "caption": (
                    f"After D's step. Arrows: where G's step pulls {len(shown)} of its points, −∂Loss_G/∂x, on the log scale "
                    f"of the key (bottom left; the same in every step): each tenfold stronger pull adds the same length, and a "
                    f"pull under {ARROW_FLOOR:g} gets no arrow. Here the pulls go from {_number(float(shown.min()))} to "
                    f"{_number(float(shown.max()))}; {drawn} of {len(shown)} have an arrow."
                ),
            },
            {"src": jpeg_data_url(picture_after), "caption": "After G's step: G's points moved"},
        ],
        "sentences": sentences,
    }
    return game, frame(game), details
