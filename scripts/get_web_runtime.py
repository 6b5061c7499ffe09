#!/usr/bin/env python
"""(Re)create the repository's copy of the browser runtime (onnxruntime-web, single-threaded wasm), for a version bump.

    python scripts/get_web_runtime.py [--registry URL] [--dest FOLDER]

Nobody needs to run this to use the app or build a static site: the runtime ships in git, in
assets/onnxruntime-web/ (see gan_core/web/runtime.py). Run it after changing VERSION below. It downloads
the pinned npm package (one 33 MB tarball) from the npm registry (``--registry`` or ``$NPM_REGISTRY``,
default https://registry.npmjs.org), checks it against the sha512 ``dist.integrity`` the registry
published for it, and keeps only the three files the page needs to run ONNX models on the CPU with
one thread and no CDN, each compressed with gzip -9:

- ``ort.wasm.min.mjs.gz``: the ES module the page imports (the wasm-only build of the JS API);
- ``ort-wasm-simd-threaded.mjs.gz``: the Emscripten glue it imports;
- ``ort-wasm-simd-threaded.wasm.gz``: the runtime itself (14.2 MB, 3.66 MB compressed).

(The "threaded" build runs single-threaded with numThreads = 1, which needs no cross-origin
isolation; it is the only wasm build the package ships.) Beside them, ``LICENSE`` (onnxruntime is
MIT-licensed, Microsoft Corporation; the npm package carries no licence file, so the repository's is
written) and ``VERSION``: the package, version, integrity and the sha256 of every file, decompressed
and compressed, which the app and the site builder check before serving or copying a byte. A later
run that finds the folder complete and matching does nothing. Files are written to a temporary folder
and renamed into place, so a failed run leaves the previous copy as it was.
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
if str(ROOT) not in sys.path:  # run as a script from a checkout: gan_core is beside scripts/
    sys.path.insert(0, str(ROOT))

from gan_core.web import runtime as stored  # noqa: E402 - after the path above

PACKAGE = stored.PACKAGE
VERSION = "1.30.0"
# dist.integrity of onnxruntime-web@1.30.0 as published by https://registry.npmjs.org/onnxruntime-web/1.30.0
INTEGRITY = "sha512-q0y+JrrtukXSzsBWEMccVfqX25LRmosXHF+CaRJmg8pZClzcV7svNc4rKY3jL02Vb7QmRMDs1SigqR4CXAfKYQ=="
DEFAULT_REGISTRY = "https://registry.npmjs.org"
DEFAULT_DEST = stored.RUNTIME_DIR
FILES = stored.FILES
TARBALL_DIR = "package/dist"
VERSION_FILE = stored.RECORD_NAME
TIMEOUT_S = 60
# The MIT licence of https://github.com/microsoft/onnxruntime (LICENSE), which onnxruntime-web is published under.
LICENSE = """MIT License

Copyright (c) 2018 - present Microsoft Corporation

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


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


def is_installed(dest: Path, integrity: str | None = None) -> bool:
    """True when ``dest`` holds the pinned version, complete, every file matching the sha256 its VERSION records."""
    integrity = INTEGRITY if integrity is None else integrity
    try:
        folder = stored.load_runtime(dest)
    except (OSError, ValueError):
        return False
    return folder.record.package == f"{PACKAGE}@{VERSION}" and folder.record.integrity == integrity


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


def _extract(data: bytes, folder: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Write FILES from the tarball ``data`` into ``folder`` as gzip -9 copies; returns their sha256 by name
    (decompressed, compressed)."""
    hashes, gzip_hashes = {}, {}
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
                with source:
                    content = source.read()
                compressed = stored.compress(content)
                (folder / stored.stored_name(name)).write_bytes(compressed)
                hashes[name], gzip_hashes[name] = stored.sha256(content), stored.sha256(compressed)
    except (tarfile.TarError, OSError, EOFError) as err:
        raise WebRuntimeError(f"could not read the {PACKAGE}-{VERSION} tarball ({err}).") from err
    return hashes, gzip_hashes


def fetch(registry: str | None = None, dest: str | os.PathLike = DEFAULT_DEST, integrity: str | None = None) -> tuple[Path, bool]:
    """Put the verified, compressed runtime files in ``dest``. Returns (dest, downloaded: False when already in place).

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
        hashes, gzip_hashes = _extract(data, staging)
        (staging / stored.LICENSE_NAME).write_text(LICENSE)
        (staging / VERSION_FILE).write_text(stored.record_text(f"{PACKAGE}@{VERSION}", integrity, hashes, gzip_hashes))
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
    parser.add_argument("--dest", default=str(DEFAULT_DEST), help="folder to fill (default: assets/onnxruntime-web, the copy in git)")
    args = parser.parse_args(argv)
    try:
        dest, downloaded = fetch(args.registry, args.dest)
    except WebRuntimeError as err:
        print(f"get_web_runtime: {err}", file=sys.stderr)
        return 2
    files = stored.load_runtime(dest).files
    state = "downloaded and verified" if downloaded else "already present and verified"
    print(f"{PACKAGE}@{VERSION} {state} in {dest} (gzip -9):")
    for name, file in files.items():
        print(f"  {name:32s} {file.size:>12,d} bytes, {len(file.compressed):>12,d} compressed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
