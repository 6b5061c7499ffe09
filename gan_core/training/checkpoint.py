"""What a run keeps on disk: the rules of its folder, its checkpoint file, its log, and writes that fail cleanly.

A run never destroys another: a new run refuses an ``out_dir`` that holds one unless told to start
over (``overwrite=True``, ``--overwrite``; :func:`check_run_folder`). Checkpoints carry the SHA-256 of
their payload, so a damaged file is refused instead of resumed (:func:`load_checkpoint`); a write that
fails (a full disk) removes its temporary file, keeps the previous checkpoint and says what happened
(:class:`OutputWriteError`).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import logging
import numbers
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from types import SimpleNamespace

import torch

from gan_core.core import hub
from gan_core.core.checks import shown
from gan_core.core.models import Discriminator, Generator
from gan_core.training.config import TrainConfig
from gan_core.training.distributed import Distributed, SharedError

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"
# 1: flat config; 2: the config in sections (model, optim, data, run); 3: the torch.save payload is
# framed by CHECKPOINT_MAGIC and its SHA-256, so a damaged file is found before it is resumed.
CHECKPOINT_FORMAT = 3
CHECKPOINT_MAGIC = b"GANCORE-CKPT-v3\n"  # 16 bytes, then the 32-byte SHA-256 of the payload, then the payload
LOSS_PLOT_NAME = "loss.png"
SAMPLES_NAME = "samples.png"
# Everything a run writes in its out_dir (and nothing else): what --overwrite removes.
RUN_OUTPUTS = (
    CHECKPOINT_NAME, CHECKPOINT_NAME + ".tmp", hub.LOG_NAME, hub.LOG_NAME + ".tmp", hub.TIMELINE_DIR, hub.SNAPSHOT_DIR,
    "generator", "discriminator", LOSS_PLOT_NAME, SAMPLES_NAME,
)  # fmt: skip


# ----------------------------------------------------------------------------- the run's folder


def check_out_dir(out_dir: str | os.PathLike) -> None:
    """Raise ValueError unless ``out_dir`` is a folder this process may write in, or can create.

    Called before any data is loaded, so a read-only or impossible --out-dir costs nothing.
    """
    path = Path(out_dir).absolute()
    existing = path
    while not existing.exists() and existing.parent != existing:
        if os.path.lexists(existing):
            raise ValueError(f"--out-dir {out_dir} cannot be created: {existing} is a broken link; remove it or choose another --out-dir.")
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"--out-dir {out_dir} cannot be created: {existing} is a file, not a folder; choose another --out-dir.")
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "is read-only" if existing == path else f"cannot be created: {existing} is read-only"
        raise ValueError(f"--out-dir {out_dir} {where}; choose a folder you can write to.")
    # Permissions do not tell everything (a read-only mount, /proc, a network share): try, and leave nothing behind.
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".gan_core-write-check-", dir=existing))
    except OSError as err:
        where = "cannot be written" if existing == path else f"cannot be created in {existing}"
        raise ValueError(f"--out-dir {out_dir} {where} ({err.strerror or err}); choose a folder you can write to.") from err


def run_outputs(out_dir: str | os.PathLike) -> list[Path]:
    """The files and folders a run wrote in ``out_dir`` (checkpoint, log, timeline, exports, ...), those present."""
    return [Path(out_dir) / name for name in RUN_OUTPUTS if os.path.lexists(Path(out_dir) / name)]


def remove_run_outputs(out_dir: str | os.PathLike) -> list[Path]:
    """Delete what a run wrote in ``out_dir`` (only :data:`RUN_OUTPUTS`; other files stay). Returns what was removed."""
    removed = run_outputs(out_dir)
    for path in removed:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    return removed


def check_run_folder(out_dir: str | os.PathLike, fresh: bool, overwrite: bool, world: Distributed | None = None) -> list[Path]:
    """Check ``out_dir`` before a run: writable, and for a new run (``fresh``) holding no run unless ``overwrite``.

    Returns the old run's files (what ``overwrite`` removes once the new run is set up). With several
    processes process 0 alone looks, and the others wait for its verdict: the same ValueError on every
    process, or the go-ahead.
    """
    out_dir = Path(out_dir)
    old_run, problem = [], None
    if world is None or world.is_main:
        try:
            check_out_dir(out_dir)
            old_run = run_outputs(out_dir) if fresh else []
            if old_run and not overwrite:
                names = ", ".join(p.name for p in old_run[:4]) + (", ..." if len(old_run) > 4 else "")
                raise ValueError(
                    f"{out_dir} already holds a run ({names}): continue it with --resume, start it over with "
                    "--overwrite (deletes those files), or choose another --out-dir."
                )
        except ValueError as err:
            if world is None:
                raise
            problem = err
    if world is not None:
        message = world.share(None if problem is None else str(problem))
        if problem is not None:
            raise problem
        if message is not None:
            raise SharedError(message)
    return old_run


# ----------------------------------------------------------------------------- writes that fail cleanly


class OutputWriteError(OSError):
    """Writing one of the run's files failed (a full disk, a read-only folder).

    The message is one sentence: which file, why (with the space it needed when known), what is
    kept, and how to go on. The temporary file of the failed write is removed.
    """


def _size(num_bytes: int) -> str:
    return f"{num_bytes / 1e6:.1f} MB" if num_bytes >= 100_000 else f"{max(num_bytes, 0) / 1e3:.0f} kB"


def _free_bytes(path: Path) -> int | None:
    for folder in (path.parent, *path.parent.parents):
        if folder.is_dir():
            with contextlib.suppress(OSError):
                return shutil.disk_usage(folder).free
            return None
    return None


def first_line(err: BaseException, limit: int = 160) -> str:
    """The first line of an error's message, cut to ``limit`` characters: for one-sentence messages."""
    text = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_torch_write_failure(err: RuntimeError) -> bool:
    """torch.save's writer reports a failed write (e.g. a full disk) as RuntimeError('[enforce fail at inline_container.cc...')."""
    message = str(err)
    return any(mark in message for mark in ("PytorchStreamWriter", "inline_container", "file write failed"))


def write_note(saved_step: int | None) -> str:
    """How a failed write leaves a run whose checkpoint on disk is of ``saved_step`` (None: none yet), for
    :class:`OutputWriteError`'s sentence."""
    if saved_step is None:
        return "no checkpoint was written yet: free some space (or fix the folder), then start again with --overwrite"
    return f"the checkpoint of step {saved_step} is intact: free some space (or fix the folder), then continue with --resume"


@contextlib.contextmanager
def writing(path: Path, note: str, cleanup: Path | None = None):
    """Turn a failed write of ``path`` into :class:`OutputWriteError`; remove ``cleanup`` (a temporary file).

    Yields a namespace whose ``needed`` (bytes) the caller may set once it knows the size it writes.
    ``note`` completes the sentence: what is kept and how to go on.
    """
    attempt = SimpleNamespace(needed=None)
    try:
        yield attempt
    except OutputWriteError:
        raise
    except (OSError, RuntimeError) as err:
        if isinstance(err, RuntimeError) and not _is_torch_write_failure(err):
            raise
        if cleanup is not None:
            with contextlib.suppress(OSError):
                cleanup.unlink(missing_ok=True)
        free = _free_bytes(path)
        full = getattr(err, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or (
            isinstance(err, RuntimeError) and free is not None and free < (attempt.needed or 1_000_000)
        )
        if full:
            needed = f"needed {_size(attempt.needed)} and " if attempt.needed else ""
            shown_free = f"{_size(free)} are free" if free is not None else "no space is left"
            problem = f"The disk is full: writing {path} {needed}{shown_free}"
        else:
            reason = err.strerror if isinstance(err, OSError) and err.strerror else first_line(err)
            problem = f"Could not write {path} ({reason})"
        raise OutputWriteError(f"{problem}; {note}.") from err


def atomic_write(path: Path, parts) -> None:
    """Write ``parts`` (bytes-like) to path.tmp, fsync, then rename over ``path``: never half a file at ``path``."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.writelines(parts)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise


def encode_checkpoint(state: dict) -> list:
    """A checkpoint file's bytes as parts: CHECKPOINT_MAGIC, SHA-256 of the payload, the torch.save payload."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getbuffer()
    return [CHECKPOINT_MAGIC, hashlib.sha256(payload).digest(), payload]


def write_checkpoint(path: Path, state: dict, note: str) -> None:
    """Write ``state`` to ``path`` atomically (format 3: magic, SHA-256, payload). A failed write keeps the
    previous file and raises :class:`OutputWriteError` ending in ``note`` (:func:`write_note`)."""
    with writing(path, note, cleanup=path.with_name(path.name + ".tmp")) as attempt:
        path.parent.mkdir(parents=True, exist_ok=True)
        parts = encode_checkpoint(state)
        attempt.needed = sum(len(part) for part in parts)
        atomic_write(path, parts)


# ----------------------------------------------------------------------------- the log


def append_log(path: Path, record: dict, note: str) -> None:
    """Append one JSON line to the run's log; a failed append is cut back off, so the log never keeps half a record."""
    line = json.dumps(record) + "\n"
    with writing(path, note):
        path.parent.mkdir(parents=True, exist_ok=True)
        size = path.stat().st_size if path.exists() else 0
        try:
            with open(path, "a") as handle:
                handle.write(line)
        except OSError:
            with contextlib.suppress(OSError):
                os.truncate(path, size)
            raise


def trim_log(path: Path, step: int, note: str) -> None:
    """Drop the log records after ``step``: a run killed after its last checkpoint logged steps that the
    resumed run will replay. A line that is not a log record (torn by a kill or a full disk mid-write) is
    dropped too, with a warning.
    """
    if not path.exists():
        return
    kept, torn = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        recorded_step = record.get("step") if isinstance(record, dict) else None
        if not isinstance(recorded_step, int) or isinstance(recorded_step, bool):
            torn.append(number)
        elif recorded_step <= step:
            kept.append(line)
    if torn:
        lines = ", ".join(map(str, torn[:5])) + (", ..." if len(torn) > 5 else "")
        logger.warning("%s: dropped %d unreadable line(s) (line %s), most likely torn by an interrupted write", path, len(torn), lines)
    with writing(path, note):
        atomic_write(path, ["".join(line + "\n" for line in kept).encode()])


# ----------------------------------------------------------------------------- reading a checkpoint


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read and check a checkpoint safely (weights_only=True). Raises FileNotFoundError/ValueError naming the path.

    Format 3 files are refused when their payload does not match the SHA-256 stored with it; the
    unframed files of formats 1 and 2 are checked against their zip CRCs. Every key, type and
    tensor shape is checked against the checkpoint's own config (:func:`check_checkpoint`).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint at {path}; a run writes {CHECKPOINT_NAME} in its --out-dir.")
    header_size = len(CHECKPOINT_MAGIC) + hashlib.sha256().digest_size
    try:
        with open(path, "rb") as handle:  # payload as one bytes object: BytesIO shares it, no second copy
            header = handle.read(header_size)
            framed = header.startswith(CHECKPOINT_MAGIC)
            payload = handle.read() if framed else header + handle.read()
    except OSError as err:
        raise ValueError(f"Cannot read the checkpoint {path} ({err.strerror or err}).") from err
    damaged = f"{path} is damaged: {{}}; resume from another copy of it, or start the run over with --overwrite."
    if framed:
        if len(header) < header_size or hashlib.sha256(payload).digest() != header[len(CHECKPOINT_MAGIC) :]:
            raise ValueError(damaged.format("its contents do not match the SHA-256 stored with them (a disk error, an incomplete copy or an edit)"))
        formats = (CHECKPOINT_FORMAT,)
    elif payload.startswith(b"PK\x03\x04"):  # formats 1 and 2: a bare torch.save zip; its CRCs are the only check
        try:
            bad_member = zipfile.ZipFile(io.BytesIO(payload)).testzip()
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
            raise ValueError(damaged.format(f"its zip structure is broken ({first_line(err)})")) from err
        if bad_member is not None:
            raise ValueError(damaged.format(f"{bad_member} fails its CRC check"))
        formats = (1, 2)
    else:
        raise ValueError(f"{path} is not a gan_core checkpoint (it starts with {shown(payload[:16])}); give the {CHECKPOINT_NAME} a run wrote.")
    try:
        state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except Exception as err:  # any unpickling failure means the file is not ours
        raise ValueError(f"{path} is not a readable gan_core checkpoint ({first_line(err)}).") from err
    if not isinstance(state, dict) or state.get("format") not in formats:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"{path} is not a gan_core checkpoint (format {shown(found)}; expected {' or '.join(map(str, formats))}).")
    check_checkpoint(state, str(path))
    return state


_CHECKPOINT_KEYS = ("config", "generator", "discriminator", "ema", "opt_g", "opt_d", "step", "fixed_noise", "rng")
_ADAM_GROUP_KEYS = ("lr", "betas", "eps", "weight_decay")


def check_checkpoint(state, name: str = "the checkpoint") -> None:
    """Raise ValueError (one sentence naming ``name``) unless ``state`` is a whole gan_core checkpoint.

    Checks every key and type, and every tensor's shape against the networks its own config builds
    (built on the meta device: no memory, no data), so a tampered or truncated state is refused
    before anything is loaded instead of failing with a KeyError or a shape error mid-restore.
    """

    def refuse(problem: str):
        raise ValueError(f"{name} is not a usable gan_core checkpoint: {problem}; resume from another copy, or start the run over with --overwrite.")

    if not isinstance(state, dict):
        refuse(f"it holds {type(state).__name__}, not a dict")
    missing = [key for key in _CHECKPOINT_KEYS if key not in state]
    if missing:
        refuse(f"it lacks {', '.join(missing)}")
    try:
        config = TrainConfig.from_dict(state["config"])
    except (ValueError, TypeError, AttributeError) as err:
        refuse(f"its training config is invalid ({first_line(err)})")
    if not config.model.resolved:
        refuse("its config does not give the image size and channels")
    step = state["step"]
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        refuse(f"its step is {shown(step)}, not a whole number of at least 0")
    if "elapsed" in state and (isinstance(state["elapsed"], bool) or not isinstance(state["elapsed"], numbers.Real)):
        refuse(f"its elapsed time is {shown(state['elapsed'])}, not a number")
    if "world_size" in state and (isinstance(state["world_size"], bool) or not isinstance(state["world_size"], int) or state["world_size"] < 1):
        refuse(f"its number of processes is {shown(state['world_size'])}, not a whole number of at least 1")
    if "commands" in state and not (isinstance(state["commands"], list) and all(isinstance(c, str) for c in state["commands"])):
        refuse("its commands are not a list of strings")
    rng = state["rng"]
    cpu_state_size = torch.get_rng_state().numel()
    if not (isinstance(rng, dict) and _is_byte_tensor(rng.get("torch"), cpu_state_size) and isinstance(rng.get("cuda"), list)
            and all(_is_byte_tensor(s) for s in rng["cuda"])):  # fmt: skip
        refuse("its random number generator state is malformed")
    latent_dim = config.model.latent_dim
    noise = state["fixed_noise"]
    if not (isinstance(noise, torch.Tensor) and noise.is_floating_point() and noise.dim() == 2 and noise.shape[0] >= 1 and noise.shape[1] == latent_dim):
        found = tuple(noise.shape) if isinstance(noise, torch.Tensor) else type(noise).__name__
        refuse(f"its fixed noise is {found}, not (N, {latent_dim}) floats")
    with torch.device("meta"):  # shapes only
        generator = Generator(**config.model.generator_kwargs())
        discriminator = Discriminator(**config.model.discriminator_kwargs())
    for key, model in (("generator", generator), ("discriminator", discriminator), ("ema", generator)):
        problem = _tensor_mismatch(state[key], model.state_dict())
        if problem:
            refuse(f"its {key} weights do not match its config ({problem})")
    for key, model in (("opt_g", generator), ("opt_d", discriminator)):
        problem = _adam_mismatch(state[key], [p.shape for p in model.parameters()])
        if problem:
            refuse(f"its optimizer state {key} does not match its config ({problem})")


def _is_byte_tensor(value, numel: int | None = None) -> bool:
    return isinstance(value, torch.Tensor) and value.dtype == torch.uint8 and value.dim() == 1 and (numel is None or value.numel() == numel)


def _tensor_mismatch(saved, expected: dict) -> str | None:
    """What differs between a saved state dict and the expected one (names, types, shapes), or None."""
    if not isinstance(saved, dict):
        return f"{type(saved).__name__} instead of a dict of tensors"
    missing, unexpected = sorted(set(expected) - set(saved)), sorted(set(saved) - set(expected), key=str)
    if missing or unexpected:
        return f"missing {shown(missing)}, unexpected {shown(unexpected)}"
    for key, want in expected.items():
        got = saved[key]
        if not isinstance(got, torch.Tensor) or got.is_floating_point() != want.is_floating_point():
            return f"{key} is {shown(got) if not isinstance(got, torch.Tensor) else got.dtype}, expected a {want.dtype} tensor"
        if got.shape != want.shape:
            return f"{key} has shape {tuple(got.shape)}, the config builds {tuple(want.shape)}"
    return None


def _adam_mismatch(saved, shapes: list) -> str | None:
    """What is wrong with a saved Adam state dict for parameters of ``shapes`` (in order), or None."""
    if not isinstance(saved, dict) or not isinstance(saved.get("state"), dict) or not isinstance(saved.get("param_groups"), list):
        return "not a dict with state and param_groups"
    ids = []
    for group in saved["param_groups"]:
        if not isinstance(group, dict) or not isinstance(group.get("params"), list):
            return "a parameter group without its parameter list"
        bad = [k for k in _ADAM_GROUP_KEYS if k not in group]
        if bad:
            return f"a parameter group lacks {', '.join(bad)}"
        ids += group["params"]
    if len(ids) != len(shapes) or len(set(ids)) != len(ids) or not all(isinstance(i, int) for i in ids):
        return f"{len(ids)} parameter ids for {len(shapes)} parameters"
    position = {param_id: index for index, param_id in enumerate(ids)}
    for param_id, entry in saved["state"].items():
        if param_id not in position:
            return f"state for an unknown parameter {shown(param_id)}"
        shape = shapes[position[param_id]]
        if not isinstance(entry, dict) or "step" not in entry:
            return f"parameter {param_id} has no step count"
        for moment in ("exp_avg", "exp_avg_sq"):
            value = entry.get(moment)
            if not isinstance(value, torch.Tensor) or value.shape != shape:
                found = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                return f"{moment} of parameter {param_id} is {found}, the parameter is {tuple(shape)}"
    return None
