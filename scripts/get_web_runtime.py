#!/usr/bin/env python
"""Put the browser runtime for G and D (onnxruntime-web, single-threaded wasm) in assets/vendor/.

    python scripts/get_web_runtime.py [--registry URL] [--dest FOLDER]

Downloads the pinned npm package onnxruntime-web@1.30.0 (one 33 MB tarball) from the npm registry
(``--registry`` or ``$NPM_REGISTRY``, default https://registry.npmjs.org), checks it against the
sha512 ``dist.integrity`` the registry published for it, and extracts only the three files the
page needs to run ONNX models on the CPU with one thread and no CDN:

- ``ort.wasm.min.mjs``: the ES module the page imports (the wasm-only build of the JS API);
- ``ort-wasm-simd-threaded.mjs``: the Emscripten glue it imports from ``env.wasm.wasmPaths``;
- ``ort-wasm-simd-threaded.wasm``: the runtime itself (14 MB, about 3.7 MB gzipped).

(The "threaded" build runs single-threaded with numThreads = 1, which needs no cross-origin
isolation; it is the only wasm build the package ships.) A ``VERSION`` file records the package,
version, integrity and each file's sha256; a later run that finds the files present and matching
does nothing. Files are written to a temporary folder and renamed into place, so a failed run
leaves nothing half-written. onnxruntime-web is MIT-licensed (Microsoft Corporation).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import io
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "onnxruntime-web"
VERSION = "1.30.0"
# dist.integrity of onnxruntime-web@1.30.0 as published by https://registry.npmjs.org/onnxruntime-web/1.30.0
INTEGRITY = "sha512-q0y+JrrtukXSzsBWEMccVfqX25LRmosXHF+CaRJmg8pZClzcV7svNc4rKY3jL02Vb7QmRMDs1SigqR4CXAfKYQ=="
DEFAULT_REGISTRY = "https://registry.npmjs.org"
DEFAULT_DEST = ROOT / "assets" / "vendor" / PACKAGE
# What the single-threaded wasm backend loads: the ESM API, the Emscripten glue, the wasm binary.
FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
TARBALL_DIR = "package/dist"
VERSION_FILE = "VERSION"
TIMEOUT_S = 60


class WebRuntimeError(Exception):
    """The runtime could not be put in place; the message is one sentence for the user."""


def tarball_url(registry: str) -> str:
    """The URL of the pinned tarball on ``registry`` (npm's layout: NAME/-/NAME-VERSION.tgz)."""
    return f"{registry.rstrip('/')}/{PACKAGE}/-/{PACKAGE}-{VERSION}.tgz"


def check_integrity(data: bytes, integrity: str) -> None:
    """Raise WebRuntimeError unless ``data`` matches the npm ``integrity`` string ("sha512-<base64>")."""
    algorithm, _, expected = integrity.partition("-")
    if algorithm != "sha512" or not expected:
        raise WebRuntimeError(f"the pinned integrity {integrity[:20]!r}... is not an npm sha512 integrity string.")
    actual = base64.b64encode(hashlib.sha512(data).digest()).decode()
    if actual != expected:
        raise WebRuntimeError(
            f"the downloaded {PACKAGE}-{VERSION}.tgz does not match its pinned sha512 (got sha512-{actual[:16]}..., "
            f"expected {integrity[:23]}...); refusing to use it. Check --registry / NPM_REGISTRY points at a trustworthy npm registry."
        )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def version_text(integrity: str, hashes: dict[str, str]) -> str:
    lines = [f"{PACKAGE}@{VERSION}", f"integrity {integrity}", "license MIT (Microsoft Corporation)"]
    lines += [f"sha256 {hashes[name]} {name}" for name in FILES]
    return "\n".join(lines) + "\n"


def is_installed(dest: Path, integrity: str | None = None) -> bool:
    """True when ``dest`` holds every file of the pinned version with the sha256 its VERSION file records."""
    integrity = INTEGRITY if integrity is None else integrity
    try:
        recorded = (dest / VERSION_FILE).read_text()
    except OSError:
        return False
    hashes = {}
    for line in recorded.splitlines()[3:]:
        parts = line.split(" ")
        if len(parts) == 3 and parts[0] == "sha256":
            hashes[parts[2]] = parts[1]
    if set(hashes) != set(FILES) or recorded != version_text(integrity, hashes):
        return False
    return all((dest / name).is_file() and _sha256(dest / name) == hashes[name] for name in FILES)


def download(url: str, timeout: float = TIMEOUT_S) -> bytes:
    """The bytes at ``url``; WebRuntimeError with one sentence when it cannot be reached."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read()
    except urllib.error.HTTPError as err:
        raise WebRuntimeError(f"the registry answered HTTP {err.code} for {url}; check --registry / NPM_REGISTRY.") from err
    except (TimeoutError, urllib.error.URLError, ConnectionError, http.client.HTTPException) as err:
        reason = getattr(err, "reason", err)
        raise WebRuntimeError(
            f"could not download {url} ({reason}); offline? Connect to the internet or pass --registry URL "
            "(or set NPM_REGISTRY) to a reachable npm registry mirror."
        ) from err


def _extract(data: bytes, folder: Path) -> dict[str, str]:
    """Write FILES from the tarball ``data`` into ``folder``; returns their sha256 by name."""
    hashes = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            for name in FILES:
                # Read members by exact name and write them ourselves: no path from the archive is trusted.
                try:
                    member = archive.getmember(f"{TARBALL_DIR}/{name}")
                except KeyError:
                    raise WebRuntimeError(f"the {PACKAGE}-{VERSION} tarball has no {TARBALL_DIR}/{name}.") from None
                source = archive.extractfile(member) if member.isfile() else None
                if source is None:
                    raise WebRuntimeError(f"{TARBALL_DIR}/{name} in the {PACKAGE}-{VERSION} tarball is not a regular file.")
                with source, open(folder / name, "wb") as target:
                    shutil.copyfileobj(source, target)
                hashes[name] = _sha256(folder / name)
    except (tarfile.TarError, OSError, EOFError) as err:
        raise WebRuntimeError(f"could not read the {PACKAGE}-{VERSION} tarball ({err}).") from err
    return hashes


def fetch(registry: str | None = None, dest: str | os.PathLike = DEFAULT_DEST, integrity: str | None = None) -> tuple[Path, bool]:
    """Put the verified runtime files in ``dest``. Returns (dest, downloaded: False when already in place).

    ``registry`` defaults to $NPM_REGISTRY, then the npm registry. ``integrity`` defaults to the
    pinned INTEGRITY (tests pass their own for a fake tarball). Raises WebRuntimeError with one
    sentence; ``dest`` is then left as it was.
    """
    registry = registry or os.environ.get("NPM_REGISTRY") or DEFAULT_REGISTRY
    integrity = INTEGRITY if integrity is None else integrity
    dest = Path(dest)
    if is_installed(dest, integrity):
        return dest, False
    data = download(tarball_url(registry))
    check_integrity(data, integrity)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}-"))
    try:
        staging.chmod(0o755)  # mkdtemp makes it private; a web server must be able to read it
        hashes = _extract(data, staging)
        (staging / VERSION_FILE).write_text(version_text(integrity, hashes))
        if dest.exists():
            # A stale or damaged copy: move it aside, put the new one in place, then delete the old.
            old = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}-old-"))
            os.replace(dest, old / dest.name)
            try:
                os.replace(staging, dest)
            except OSError:
                os.replace(old / dest.name, dest)
                raise
            finally:
                shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest, True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python scripts/get_web_runtime.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--registry", default=None, help=f"npm registry URL (default: $NPM_REGISTRY or {DEFAULT_REGISTRY})")
    parser.add_argument("--dest", default=str(DEFAULT_DEST), help="folder to fill (default: assets/vendor/onnxruntime-web)")
    args = parser.parse_args(argv)
    try:
        dest, downloaded = fetch(args.registry, args.dest)
    except WebRuntimeError as err:
        print(f"get_web_runtime: {err}", file=sys.stderr)
        return 2
    sizes = {name: (dest / name).stat().st_size for name in FILES}
    state = "downloaded and verified" if downloaded else "already present and verified"
    print(f"{PACKAGE}@{VERSION} {state} in {dest}:")
    for name, size in sizes.items():
        print(f"  {name:32s} {size:>12,d} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
