"""The Explore state: which picture the explorer shows, and its one written form (JSON and link).

A state is a model name, a starting latent (a seed, or z itself), the truncation psi, the *kind* of directions
(SeFa or GANSpace) and the *amounts* moved along the model's strongest directions of that kind:

    z = psi * z0 + sum_k amounts[k] * direction[k],      z0 = z(seed) or the given z

``amounts`` is the one name of those numbers everywhere (the API's d1..d8 are its items).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from urllib.parse import parse_qs, urlencode

from gan_core.core.checks import check_number, check_seed, shown
from gan_core.core.latent import DIRECTION_KINDS, check_direction_kind

NUM_DIRECTIONS = 8  # sliders in Explore: the strongest SeFa directions
DIRECTION_LIMIT = 8.0  # a slider moves z by at most this many units along a unit direction
PSI_RANGE = (0.0, 2.0)  # truncation: 0 = the centre of z-space, 1 = the latent as drawn
MAX_LATENT_DIM = 4096  # a z carried in a state is at most this long
MAX_STATE_CHARS = 200_000  # a pasted state longer than this is refused before parsing
PASTE_HINT = "paste the JSON or the link from the Share tab"


@dataclass(frozen=True)
class ExploreState:
    """One Explore picture: ``model``, ``seed`` or ``z`` (exactly one), ``psi``, ``amounts`` (<= 8) along directions of ``kind``."""

    model: str
    seed: int | None = None
    z: tuple[float, ...] | None = None
    psi: float = 1.0
    amounts: tuple[float, ...] = field(default=())
    kind: str = DIRECTION_KINDS[0]  # SeFa: the written forms leave it out

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", check_direction_kind(self.kind))
        if not isinstance(self.model, str) or not self.model:
            raise ValueError(f"The state's model must be a model name, got {shown(self.model)}.")
        if (self.seed is None) == (self.z is None):
            raise ValueError("A state names exactly one of seed (a whole number) and z (a list of numbers).")
        if self.seed is not None:
            object.__setattr__(self, "seed", check_seed(self.seed))
        else:
            if not isinstance(self.z, (list, tuple)) or not 1 <= len(self.z) <= MAX_LATENT_DIM:
                raise ValueError(f"The state's z must be a list of 1 to {MAX_LATENT_DIM} numbers, got {shown(self.z)}.")
            object.__setattr__(self, "z", tuple(check_number(v, f"z[{i}]") for i, v in enumerate(self.z)))
        object.__setattr__(self, "psi", check_number(self.psi, "Truncation psi", *PSI_RANGE))
        if not isinstance(self.amounts, (list, tuple)):
            raise ValueError(f"Direction amounts must be a list of up to {NUM_DIRECTIONS} numbers, got {shown(self.amounts)}.")
        if len(self.amounts) > NUM_DIRECTIONS:
            raise ValueError(f"Got {len(self.amounts)} direction amounts; the app has {NUM_DIRECTIONS} direction sliders.")
        amounts = tuple(check_number(a, f"Direction {i + 1}", -DIRECTION_LIMIT, DIRECTION_LIMIT) for i, a in enumerate(self.amounts))
        object.__setattr__(self, "amounts", amounts)

    def fit(self, num_directions: int) -> ExploreState:
        """The state for a model with ``num_directions`` sliders: exactly that many amounts.

        Missing amounts are 0; amounts past the model's directions (sliders the UI hides) must be 0.
        """
        for i, value in enumerate(self.amounts[num_directions:], start=num_directions):
            if value != 0:
                raise ValueError(f"Direction {i + 1} must be 0: this model has only {num_directions} directions, got {value:g}.")
        amounts = (self.amounts + (0.0,) * num_directions)[:num_directions]
        return ExploreState(self.model, self.seed, self.z, self.psi, amounts, self.kind)

    # ------------------------------------------------------------------ written forms

    def to_dict(self) -> dict:
        values = asdict(self)
        values["psi"] = round(self.psi, 4)
        values["amounts"] = [round(a, 4) for a in self.amounts]
        if self.kind == DIRECTION_KINDS[0]:
            del values["kind"]  # states written before there were two kinds read the same
        if self.z is None:
            del values["z"]
        else:
            del values["seed"]
            values["z"] = [round(v, 6) for v in self.z]
        return values

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def to_query(self) -> str:
        """``?model=...&seed=...&psi=...&amounts=1.5,0,-2`` (z, when the state carries one, as ``z=...``)."""
        values = self.to_dict()
        query = {"model": values["model"]}
        query |= {"seed": values["seed"]} if self.z is None else {"z": ",".join(f"{v:g}" for v in values["z"])}
        query |= {"psi": values["psi"], "amounts": ",".join(f"{a:g}" for a in values["amounts"])}
        query |= {"kind": values["kind"]} if "kind" in values else {}
        return "?" + urlencode(query, safe=",")

    @classmethod
    def parse(cls, text) -> ExploreState:
        """A state from its JSON or its link (a URL or a bare query string). ValueError says what is wrong.

        Links and JSON written before the amounts had one name (``d=``, ``"directions"``) still parse.
        """
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"Paste a state: {PASTE_HINT}.")
        if len(text) > MAX_STATE_CHARS:
            raise ValueError(f"The state is {len(text):,} characters long; a state is far shorter: {PASTE_HINT}.")
        text = text.strip()
        values = _parse_json(text) if text.startswith(("{", "[")) else _parse_query(text)
        missing = [key for key in ("model",) if key not in values] + ([] if "seed" in values or "z" in values else ["seed"])
        if missing:
            raise ValueError(f"The state lacks {', '.join(missing)}; a state names model and seed (psi and amounts are optional).")
        amounts = values.get("amounts", values.get("directions", []))
        if not isinstance(amounts, list):
            raise ValueError(f"The state's amounts must be a list of numbers, got {shown(amounts)}.")
        kind = values.get("kind", DIRECTION_KINDS[0])
        return cls(model=values["model"], seed=values.get("seed"), z=values.get("z"), psi=values.get("psi", 1.0), amounts=tuple(amounts), kind=kind)


def _parse_json(text: str) -> dict:
    try:
        values = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"The state is not valid JSON ({err.msg} at character {err.pos}); {PASTE_HINT}.") from None
    except RecursionError:
        raise ValueError(f"The state is nested too deeply to be a state; {PASTE_HINT}.") from None
    if not isinstance(values, dict):
        raise ValueError('The state JSON must be an object like {"model": ..., "seed": ..., "psi": ..., "amounts": [...]}.')
    return values


def _parse_query(text: str) -> dict:
    query = {key: items[-1] for key, items in parse_qs(text.split("?", 1)[-1]).items()}
    values: dict = {key: query[key] for key in ("model", "kind") if key in query}
    try:
        if "seed" in query:
            values["seed"] = float(query["seed"])
        if "z" in query:
            values["z"] = [float(v) for v in query["z"].split(",") if v]
        values["psi"] = float(query.get("psi", "1"))
        values["amounts"] = [float(a) for a in query.get("amounts", query.get("d", "")).split(",") if a]
    except ValueError as err:  # float('abc'); inf and nan are refused by the state's own checks
        raise ValueError(f"The link's seed, z, psi and amounts must be numbers: {err}.") from None
    return values

