"""Does G copy? The training pictures a model ships, the nearest of them to any picture, and how near is near.

A model folder may ship a compact copy of its training pictures (all of them, or a random subset when they would not
fit in a file a Hugging Face Space takes), written by ``python -m gan_core.ship_training_pictures MODEL_DIR``:

- ``training_pictures.png``: the pictures as tiles of one lossless PNG, :data:`COLUMNS` to a row, in order
  (viewable as it is; 1.3 MB for MNIST's 8,000 digits);
- ``training_pictures.json``: how many, their shape, which training pictures they are, and the *yardstick*: each real
  test picture's distance to its nearest shipped training picture, sorted (for a dataset without a test split, each
  training picture's distance to its nearest *other* one).

A picture's nearest training pictures are found by L2 distance in pixels (on the 0..1 scale), exactly as the
memorisation check of ``gan_core.evaluate`` measures it (:func:`gan_core.evaluation.metrics.nearest_pictures`). The
distance alone means little, so :meth:`TrainingPictures.reading` places it on the yardstick: a G that copies draws
pictures much closer to a training picture than real test pictures are to theirs (closer than 99% of them, the
evaluation's "near copy", :data:`gan_core.evaluation.metrics.COPY_QUANTILE`); a G that does not draws them about as close
as a real test picture is.
"""

from __future__ import annotations

import bisect
import datetime
import io
import json
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gan_core.core.checks import shown
from gan_core.evaluation.metrics import COPY_QUANTILE, nearest_distances, nearest_pictures
from gan_core.inversion.anomaly import article, dataset_nouns

PICTURES_FILE = "training_pictures.png"
RECORD_FILE = "training_pictures.json"
COLUMNS = 100  # tiles per row of the PNG
SHOWN = 3  # nearest training pictures shown beside a picture
MAX_FILE_BYTES = 10_000_000  # a Hugging Face Space refuses files of 10 MB and more (without LFS)
FORMAT = 1


def ship_command(folder: str | os.PathLike) -> str:
    return f"python -m gan_core.ship_training_pictures {folder} --data-dir DATA_DIR"


@dataclass(frozen=True)
class TrainingPictures:
    """A model's shipped training pictures and the yardstick their nearest distances are read against."""

    pictures: torch.Tensor  # uint8 (N, C, H, W)
    dataset: str
    total: int  # pictures in the training set the model learned from (N when all of them ship)
    yardstick: tuple[float, ...]  # ascending: each real test picture's distance to its nearest shipped training picture
    leave_one_out: bool = False  # True: the yardstick is each shipped picture's distance to its nearest *other* one (no test split)
    rows: tuple[int, ...] = ()  # which rows of the training split ship, when a subset does (() when all do)
    samples: dict = field(default_factory=dict)  # G's own samples measured the same way when shipped (median, near-copy share)
    command: str = ""
    date: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.pictures, torch.Tensor) or self.pictures.dtype != torch.uint8 or self.pictures.dim() != 4 or len(self.pictures) == 0:
            raise ValueError(f"training pictures must be a non-empty uint8 tensor (N, C, H, W), got {shown(self.pictures)}.")
        if not self.yardstick:
            raise ValueError("the yardstick needs at least one distance of a real picture to its nearest training picture.")
        object.__setattr__(self, "yardstick", tuple(sorted(float(d) for d in self.yardstick)))
        if self.total < len(self.pictures):
            raise ValueError(f"total ({self.total}) must count at least the {len(self.pictures)} pictures that ship.")

    def __len__(self) -> int:
        return len(self.pictures)

    @property
    def nouns(self) -> tuple[str, str]:
        return dataset_nouns(self.dataset)

    @property
    def searched(self) -> str:
        """Which training pictures are searched: 'all 8,000 training digits', '20,000 of the 60,000 training pictures of clothing'."""
        many = self.nouns[1]
        if len(self) == self.total:
            return f"all {self.total:,} training {many}"
        return f"{len(self):,} of the {self.total:,} training {many} (a random subset, shipped with the model)"

    @property
    def compared_with(self) -> str:
        """What the yardstick measured: '1,000 real test digits', or the training pictures themselves."""
        if self.leave_one_out:
            return f"the {len(self.yardstick):,} training {self.nouns[1]}, each to its nearest other one"
        return f"{len(self.yardstick):,} real test {self.nouns[1]}"

    @property
    def typical(self) -> float:
        """The yardstick's median: how far a typical real test picture is from its nearest training picture."""
        return self.yardstick[len(self.yardstick) // 2]

    def nearest(self, picture_uint8: torch.Tensor, k: int = SHOWN) -> tuple[list[float], list[int]]:
        """The ``k`` nearest training pictures to one uint8 picture (C, H, W) or (1, C, H, W): (distances, rows), nearest first."""
        query = picture_uint8 if picture_uint8.dim() == 4 else picture_uint8[None]
        if tuple(query.shape[1:]) != tuple(self.pictures.shape[1:]):
            raise ValueError(f"the picture is {tuple(query.shape[1:])}, the training pictures {tuple(self.pictures.shape[1:])}.")
        distances, rows = nearest_pictures(query[:1], self.pictures, k)
        return distances[0].tolist(), rows[0].tolist()

    def percentile(self, distance: float) -> float:
        """The share (0..100) of the yardstick's pictures nearer to a training picture than ``distance``."""
        return 100.0 * bisect.bisect_left(self.yardstick, distance) / len(self.yardstick)

    def reading(self, distance: float) -> str:
        """The nearest distance in plain words, against the yardstick: 'possibly a copy', 'as close as a typical real
        test digit is to its nearest training digit', 'farther than ...'."""
        one, many = self.nouns
        count = len(self.yardstick)
        closer = bisect.bisect_left(self.yardstick, distance)  # yardstick pictures nearer to a training picture than this one
        if self.leave_one_out:
            real, theirs, typical = f"the {count:,} training {many}", "their nearest other one", f"a typical training {one} is to its nearest other one"
        else:
            real, theirs, typical = f"the {count:,} real test {many}", "theirs", f"a typical real test {one} is to its nearest"
        if distance < 1e-6:
            return f"This is a training {one} itself (distance 0): G drew a copy of it."
        if closer == 0:
            return f"Much closer to a training {one} than any of {real} is to {theirs}: possibly a copy."
        if closer < COPY_QUANTILE * count:
            return f"Closer to a training {one} than {count - closer:,} of {real} are to {theirs}: possibly a copy."
        if closer < 0.1 * count:
            return f"Closer to a training {one} than most of {real} are to {theirs}, but not as close as a copy."
        if closer <= 0.9 * count:
            return f"About as close to a training {one} as {typical}: {article(one)} G made up, not a copy."
        if closer < count:
            return f"Farther from every training {one} than most of {real} are from {theirs}: unlike any one {one} G saw."
        return f"Farther from every training {one} than any of {real} is from {theirs}: unlike any one {one} G saw."

    # -- kept beside the model -------------------------------------------------

    def save(self, folder: str | os.PathLike, max_bytes: int = MAX_FILE_BYTES) -> tuple[Path, Path]:
        """Write training_pictures.png and .json into ``folder``; ValueError (nothing written) when the PNG would be
        ``max_bytes`` or more."""
        folder = Path(folder)
        png = _encode_sheet(self.pictures)
        if len(png) >= max_bytes:
            fits = int(len(self) * max_bytes * 0.95 / len(png)) // 1000 * 1000
            raise ValueError(
                f"{PICTURES_FILE} would be {len(png) / 1e6:.1f} MB; a Hugging Face Space takes files under {max_bytes / 1e6:.0f} MB. "
                f"Ship a random subset: --max-pictures {max(fits, 1000)}."
            )
        record = {
            "format": FORMAT,
            "dataset": self.dataset,
            "count": len(self),
            "total": self.total,
            "shape": list(self.pictures.shape[1:]),
            "columns": COLUMNS,
            "rows": list(self.rows),
            "yardstick": {
                "kind": "leave-one-out" if self.leave_one_out else "test",
                "count": len(self.yardstick),
                "median": round(self.typical, 4),
                "distances": [round(d, 4) for d in self.yardstick],
            },
            "samples": self.samples,
            "distance": "L2 in pixels on the 0..1 scale (gan_core.evaluation.metrics.nearest_pictures)",
            "command": self.command,
            "date": self.date,
        }
        (folder / PICTURES_FILE).write_bytes(png)
        text = re.sub(r"\[\s+([-\d.,\s]+?)\s+\]", lambda lists: "[" + " ".join(lists.group(1).split()) + "]", json.dumps(record, indent=1))  # lists of numbers on one line
        (folder / RECORD_FILE).write_text(text + "\n")
        return folder / PICTURES_FILE, folder / RECORD_FILE

    @classmethod
    def load(cls, folder: str | os.PathLike) -> TrainingPictures | None:
        """The training pictures kept in ``folder``; None when it has none; ValueError naming the file when they are damaged."""
        folder = Path(folder)
        png, record = folder / PICTURES_FILE, folder / RECORD_FILE
        if not png.is_file() or not record.is_file():
            return None
        try:
            values = json.loads(record.read_text())
            if not isinstance(values, dict) or values.get("format") != FORMAT:
                raise ValueError(f"it is not format {FORMAT}")  # noqa: TRY004 - a damaged file, reported as such
            channels, height, width = (int(v) for v in values["shape"])
            pictures = _decode_sheet(png, int(values["count"]), channels, height, width, int(values["columns"]))
            yardstick = values["yardstick"]
            return cls(
                pictures=pictures,
                dataset=str(values["dataset"]),
                total=int(values["total"]),
                yardstick=tuple(yardstick["distances"]),
                leave_one_out=yardstick["kind"] == "leave-one-out",
                rows=tuple(values.get("rows", ())),
                samples=dict(values.get("samples") or {}),
                command=str(values.get("command", "")),
                date=str(values.get("date", "")),
            )
        except (OSError, KeyError, TypeError, ValueError, UnicodeDecodeError, Image.DecompressionBombError) as err:
            raise ValueError(f"{folder}'s training pictures ({PICTURES_FILE}, {RECORD_FILE}) are damaged ({str(err)[:120]}).") from None


def build(train_uint8: torch.Tensor, test_uint8: torch.Tensor | None, dataset: str, *, total: int | None = None, rows=(), samples_uint8: torch.Tensor | None = None, command: str = "") -> TrainingPictures:
    """The shipped pictures ``train_uint8`` (N, C, H, W) and their yardstick: each of ``test_uint8``'s distance to its
    nearest training picture, or, with no test pictures (a folder of pictures), each training picture's distance to its
    nearest other one. ``samples_uint8``: G's samples, measured the same way for the record (median, near-copy share)."""
    if test_uint8 is not None and len(test_uint8):
        yardstick, leave_one_out = nearest_distances(test_uint8, train_uint8), False
    else:
        yardstick, leave_one_out = nearest_distances(train_uint8, train_uint8, exclude=torch.arange(len(train_uint8))), True
    samples = {}
    if samples_uint8 is not None and len(samples_uint8):
        near = nearest_distances(samples_uint8, train_uint8)
        threshold = torch.quantile(yardstick.double(), COPY_QUANTILE).item()
        samples = {
            "count": len(samples_uint8),
            "median": round(near.median().item(), 4),
            "ratio_to_yardstick": round(near.median().item() / max(yardstick.median().item(), 1e-12), 4),
            "near_copies": round((near.double() < threshold).double().mean().item(), 4),
            "near_copy_means": f"closer to a training picture than {100 * (1 - COPY_QUANTILE):.0f}% of the yardstick's pictures are",
        }
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return TrainingPictures(train_uint8, dataset, total or len(train_uint8), tuple(yardstick.tolist()), leave_one_out, tuple(int(r) for r in rows), samples, command, date)


@lru_cache(maxsize=8)
def _kept(folder: str, stamp: float) -> TrainingPictures | None:
    return TrainingPictures.load(folder)


def for_folder(folder: str | os.PathLike | None) -> TrainingPictures | None:
    """The training pictures a model folder ships, loaded once (again when the file changes); None for none."""
    if folder is None:
        return None
    png = Path(folder) / PICTURES_FILE
    try:
        stamp = png.stat().st_mtime
    except OSError:
        return None
    return _kept(str(folder), stamp)


def _encode_sheet(pictures: torch.Tensor) -> bytes:
    """uint8 (N, C, H, W) -> a lossless PNG of the tiles, COLUMNS to a row (the last row padded with black)."""
    count, channels, height, width = pictures.shape
    rows = -(-count // COLUMNS)
    tiles = np.zeros((rows * COLUMNS, height, width, channels), dtype=np.uint8)
    tiles[:count] = pictures.permute(0, 2, 3, 1).numpy()
    sheet = tiles.reshape(rows, COLUMNS, height, width, channels).transpose(0, 2, 1, 3, 4).reshape(rows * height, COLUMNS * width, channels)
    image = Image.fromarray(sheet[:, :, 0] if channels == 1 else sheet, mode="L" if channels == 1 else "RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _decode_sheet(path: Path, count: int, channels: int, height: int, width: int, columns: int) -> torch.Tensor:
    """The inverse of :func:`_encode_sheet`: uint8 (count, channels, height, width)."""
    rows = -(-count // columns)
    with Image.open(path) as image:
        if image.size != (columns * width, rows * height) or image.mode != ("L" if channels == 1 else "RGB"):
            raise ValueError(f"{path.name} is {image.mode} {image.size[0]}x{image.size[1]}, not the {'L' if channels == 1 else 'RGB'} {columns * width}x{rows * height} its record describes")
        sheet = np.asarray(image).reshape(rows * height, columns * width, channels)
    tiles = sheet.reshape(rows, height, columns, width, channels).transpose(0, 2, 1, 3, 4).reshape(rows * columns, height, width, channels)
    return torch.from_numpy(np.ascontiguousarray(tiles[:count])).permute(0, 3, 1, 2).contiguous()
