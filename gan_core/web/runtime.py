"""The browser runtime as the repository keeps it: onnxruntime-web's three files, gzip -9 compressed, checked.

``assets/onnxruntime-web/`` (tracked in git, so a clone, a Space and a static site have it with no extra step)::

    ort.wasm.min.mjs.gz               the ES module the page imports (the wasm-only build of the JS API)
    ort-wasm-simd-threaded.mjs.gz     the Emscripten glue it imports
    ort-wasm-simd-threaded.wasm.gz    the runtime itself (14.2 MB, 3.66 MB compressed: under a Space's 10 MB per file)
    LICENSE                           onnxruntime's MIT licence
    VERSION                           the package, its npm integrity, and the sha256 of every file

``scripts/get_web_runtime.py`` (re)creates the folder from the npm registry, for a version bump. :func:`load_runtime`
reads it and checks every file against its recorded sha256 (the decompressed bytes, and the compressed ones the page
checks with Subresource Integrity), so what is served or built is exactly what was recorded.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "onnxruntime-web"
RUNTIME_DIR = Path(__file__).resolve().parents[2] / "assets" / PACKAGE
# What the single-threaded wasm backend loads: the ESM API, the Emscripten glue, the wasm binary.
FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
GZIP_SUFFIX = ".gz"
RECORD_NAME = "VERSION"
LICENSE_NAME = "LICENSE"
LICENSE_NOTE = "license MIT (Microsoft Corporation)"


def stored_name(name: str) -> str:
    """The name a runtime file is kept under: its gzip -9 copy."""
    return name + GZIP_SUFFIX


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def compress(data: bytes) -> bytes:
    """gzip -9, with no file name and time stamp in the header: the same bytes give the same file."""
    return gzip.compress(data, compresslevel=9, mtime=0)


def record_text(package: str, integrity: str, hashes: dict[str, str], gzip_hashes: dict[str, str]) -> str:
    """VERSION: ``package@version``, the npm integrity, the licence, then the sha256 of every file (decompressed) and
    of every stored .gz file (what a page checks with Subresource Integrity)."""
    lines = [package, f"integrity {integrity}", LICENSE_NOTE]
    lines += [f"sha256 {hashes[name]} {name}" for name in FILES]
    lines += [f"gzip-sha256 {gzip_hashes[name]} {stored_name(name)}" for name in FILES]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Record:
    """What VERSION says: the package (``onnxruntime-web@1.30.0``), its npm integrity, and each file's two sha256."""

    package: str
    integrity: str
    hashes: dict[str, str]  # file name -> sha256 of the decompressed file
    gzip_hashes: dict[str, str]  # file name -> sha256 of its stored .gz

    @classmethod
    def parse(cls, text: str) -> Record | None:
        """The record in ``text``; None when it is not one :func:`record_text` wrote (a damaged or foreign file)."""
        lines = text.splitlines()
        if len(lines) < 3 or not lines[1].startswith("integrity "):
            return None
        hashes, gzip_hashes = {}, {}
        for line in lines[3:]:
            parts = line.split(" ")
            if len(parts) == 3 and parts[0] == "sha256":
                hashes[parts[2]] = parts[1]
            elif len(parts) == 3 and parts[0] == "gzip-sha256" and parts[2].endswith(GZIP_SUFFIX):
                gzip_hashes[parts[2][: -len(GZIP_SUFFIX)]] = parts[1]
        record = cls(lines[0], lines[1].removeprefix("integrity "), hashes, gzip_hashes)
        if set(hashes) != set(FILES) or set(gzip_hashes) != set(FILES) or record_text(record.package, record.integrity, hashes, gzip_hashes) != text:
            return None
        return record

    @property
    def version(self) -> str:
        return self.package.rpartition("@")[2]


@dataclass(frozen=True)
class RuntimeFile:
    """One runtime file: its stored gzip bytes and the sha256 of those and of the decompressed file."""

    name: str  # e.g. 'ort-wasm-simd-threaded.wasm'
    compressed: bytes  # the .gz file's bytes
    sha256: str  # of the decompressed file
    gzip_sha256: str  # of ``compressed``
    size: int  # bytes, decompressed

    @property
    def integrity(self) -> str:
        """The Subresource Integrity string of the decompressed file (``sha256-<base64>``)."""
        return "sha256-" + base64.b64encode(bytes.fromhex(self.sha256)).decode()

    @property
    def gzip_integrity(self) -> str:
        """The Subresource Integrity string of the .gz file, for a page that fetches it as it is."""
        return "sha256-" + base64.b64encode(bytes.fromhex(self.gzip_sha256)).decode()

    def decompressed(self) -> bytes:
        return gzip.decompress(self.compressed)


@dataclass(frozen=True)
class WebRuntime:
    """The checked runtime: ``files`` by name (FILES), the record, and the folder it was read from."""

    folder: Path
    record: Record
    files: dict[str, RuntimeFile]


def read_record(folder: Path) -> Record | None:
    """The folder's VERSION record, None when missing or damaged."""
    try:
        return Record.parse((folder / RECORD_NAME).read_text())
    except (OSError, UnicodeDecodeError):
        return None


def missing(folder: Path) -> list[str]:
    """The names ``folder`` lacks of what a runtime folder holds (the three .gz files, VERSION, LICENSE)."""
    return [name for name in (*map(stored_name, FILES), RECORD_NAME, LICENSE_NAME) if not (folder / name).is_file()]


def load_runtime(folder: str | Path = RUNTIME_DIR) -> WebRuntime:
    """Read the runtime folder and check every file against VERSION.

    FileNotFoundError when a file is missing, ValueError when VERSION is damaged or a file does not match it (the
    sentence names the file and says how to recreate the folder).
    """
    folder = Path(folder)
    fix = "recreate it with python scripts/get_web_runtime.py (or git checkout the folder)"
    absent = missing(folder)
    if absent:
        what = "does not exist" if not folder.is_dir() else f"lacks {', '.join(absent)}"
        raise FileNotFoundError(f"The onnxruntime-web folder {folder} {what}; {fix}.")
    record = read_record(folder)
    if record is None:
        raise ValueError(f"{folder / RECORD_NAME} is not a runtime record written by scripts/get_web_runtime.py; {fix}.")
    files = {}
    for name in FILES:
        compressed = (folder / stored_name(name)).read_bytes()
        try:
            data = gzip.decompress(compressed)
        except (OSError, EOFError, zlib.error) as err:
            raise ValueError(f"{folder / stored_name(name)} is not a gzip file ({err}); {fix}.") from None
        if sha256(data) != record.hashes[name] or sha256(compressed) != record.gzip_hashes[name]:
            raise ValueError(f"{folder / stored_name(name)} does not match the sha256 recorded in {RECORD_NAME}; {fix}.")
        files[name] = RuntimeFile(name, compressed, record.hashes[name], record.gzip_hashes[name], len(data))
    return WebRuntime(folder, record, files)
