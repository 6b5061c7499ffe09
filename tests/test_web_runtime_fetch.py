"""scripts/get_web_runtime.py against a fake npm registry: a real http.server on 127.0.0.1 serving a small tarball.

The script keeps each runtime file as a gzip -9 copy (``<name>.gz``) beside LICENSE and VERSION, as in assets/onnxruntime-web/."""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import http.server
import importlib.util
import io
import socket
import tarfile
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NEEDED = {
    "ort.wasm.min.mjs": b"export const ort = 'api';\n",
    "ort-wasm-simd-threaded.mjs": b"export default 'glue';\n",
    "ort-wasm-simd-threaded.wasm": b"\x00asm\x01\x00\x00\x00fake",
}
NOT_NEEDED = {"package/package.json": b"{}", "package/dist/ort.all.min.mjs": b"big", "package/dist/ort-wasm-simd-threaded.jsep.wasm": b"gpu"}


@pytest.fixture(scope="module")
def runtime():
    spec = importlib.util.spec_from_file_location("get_web_runtime", ROOT / "scripts" / "get_web_runtime.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


GOOD = tarball({**{f"package/dist/{name}": data for name, data in NEEDED.items()}, **NOT_NEEDED})


class Registry:
    """A fake npm registry: serves ``root`` over a real HTTP server on 127.0.0.1 and counts requests."""

    def __init__(self, root: Path):
        self.requests = 0
        registry = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):
                registry.requests += 1
                super().do_GET()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.root = root
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def publish(self, runtime, data: bytes) -> None:
        path = self.root / runtime.PACKAGE / "-" / f"{runtime.PACKAGE}-{runtime.VERSION}.tgz"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


@pytest.fixture
def registry(tmp_path, runtime, monkeypatch):
    """A registry serving the good fake tarball, whose integrity the script now pins."""
    monkeypatch.setattr(runtime, "INTEGRITY", integrity(GOOD))
    monkeypatch.delenv("NPM_REGISTRY", raising=False)
    served = Registry(tmp_path / "registry")
    served.publish(runtime, GOOD)
    yield served
    served.server.shutdown()
    served.server.server_close()


def run(runtime, argv, capsys):
    code = runtime.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_good_fetch_extracts_only_the_needed_files(runtime, registry, tmp_path, capsys):
    dest = tmp_path / "vendor" / "onnxruntime-web"
    code, out, err = run(runtime, ["--registry", registry.url, "--dest", str(dest)], capsys)
    assert code == 0, err
    assert sorted(p.name for p in dest.iterdir()) == sorted([*(f"{name}.gz" for name in NEEDED), "LICENSE", "VERSION"])
    assert all(gzip.decompress((dest / f"{name}.gz").read_bytes()) == data for name, data in NEEDED.items())
    version = (dest / "VERSION").read_text()
    assert version.startswith("onnxruntime-web@1.30.0\n") and integrity(GOOD) in version
    assert "downloaded and verified" in out and "ort-wasm-simd-threaded.wasm" in out
    assert sorted(p.name for p in dest.parent.iterdir()) == ["onnxruntime-web"], "no temporary folders left"


def test_second_run_skips_the_download(runtime, registry, tmp_path, capsys):
    dest = tmp_path / "dest"
    assert run(runtime, ["--registry", registry.url, "--dest", str(dest)], capsys)[0] == 0
    code, out, _ = run(runtime, ["--registry", registry.url, "--dest", str(dest)], capsys)
    assert code == 0 and "already present and verified" in out
    assert registry.requests == 1


def test_damaged_copy_is_replaced(runtime, registry, tmp_path, capsys):
    dest = tmp_path / "dest"
    assert run(runtime, ["--registry", registry.url, "--dest", str(dest)], capsys)[0] == 0
    (dest / "ort.wasm.min.mjs.gz").write_bytes(gzip.compress(b"edited"))
    code, out, _ = run(runtime, ["--registry", registry.url, "--dest", str(dest)], capsys)
    assert code == 0 and "downloaded and verified" in out
    assert gzip.decompress((dest / "ort.wasm.min.mjs.gz").read_bytes()) == NEEDED["ort.wasm.min.mjs"]


def test_registry_from_environment(runtime, registry, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NPM_REGISTRY", registry.url)
    assert run(runtime, ["--dest", str(tmp_path / "dest")], capsys)[0] == 0
    assert registry.requests == 1


def test_tampered_tarball_is_refused_and_leaves_nothing(runtime, registry, tmp_path, capsys):
    tampered = tarball({**{f"package/dist/{name}": data for name, data in NEEDED.items()}, "package/dist/ort.wasm.min.mjs": b"evil()"})
    registry.publish(runtime, tampered)
    dest = tmp_path / "vendor" / "onnxruntime-web"
    code, out, err = run(runtime, ["--registry", registry.url, "--dest", str(dest)], capsys)
    assert code == 2 and out == ""
    assert "does not match its pinned sha512" in err and err.count("\n") == 1 and "Traceback" not in err
    assert not dest.parent.exists() or list(dest.parent.iterdir()) == []


def test_tampered_tarball_keeps_a_previous_copy(runtime, registry, tmp_path, capsys):
    dest = tmp_path / "dest"
    assert run(runtime, ["--registry", registry.url, "--dest", str(dest)], capsys)[0] == 0
    (dest / "ort.wasm.min.mjs.gz").write_bytes(gzip.compress(b"edited"))  # forces a new download
    registry.publish(runtime, GOOD + b"tail")
    assert run(runtime, ["--registry", registry.url, "--dest", str(dest)], capsys)[0] == 2
    assert gzip.decompress((dest / "ort.wasm.min.mjs.gz").read_bytes()) == b"edited", "the old folder is left as it was"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dest", "registry"]


def test_tarball_without_a_needed_file_is_refused(runtime, registry, tmp_path, monkeypatch, capsys):
    partial = tarball({"package/dist/ort.wasm.min.mjs": b"x"})
    monkeypatch.setattr(runtime, "INTEGRITY", integrity(partial))
    registry.publish(runtime, partial)
    code, _, err = run(runtime, ["--registry", registry.url, "--dest", str(tmp_path / "vendor" / "dest")], capsys)
    assert code == 2 and "has no package/dist/ort-wasm-simd-threaded.mjs" in err
    assert list((tmp_path / "vendor").iterdir()) == []


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens once the socket is closed


def test_unreachable_registry_gives_a_clear_error(runtime, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("NPM_REGISTRY", raising=False)
    url = f"http://127.0.0.1:{closed_port()}"
    code, out, err = run(runtime, ["--registry", url, "--dest", str(tmp_path / "vendor" / "dest")], capsys)
    assert code == 2 and out == ""
    assert f"could not download {url}/onnxruntime-web/-/onnxruntime-web-1.30.0.tgz" in err and "offline?" in err
    assert err.count("\n") == 1
    assert not (tmp_path / "vendor").exists()


def test_missing_package_gives_http_status(runtime, registry, tmp_path, capsys):
    code, _, err = run(runtime, ["--registry", registry.url + "/elsewhere", "--dest", str(tmp_path / "dest")], capsys)
    assert code == 2 and "HTTP 404" in err


def test_pinned_integrity_is_the_published_one(runtime):
    assert runtime.INTEGRITY.startswith("sha512-") and len(base64.b64decode(runtime.INTEGRITY[7:])) == 64


def test_the_copy_in_git_is_the_pinned_version_and_checks_out(runtime):
    assert runtime.DEFAULT_DEST == ROOT / "assets" / "onnxruntime-web"
    assert runtime.is_installed(runtime.DEFAULT_DEST), "assets/onnxruntime-web is the pinned version, every file matching VERSION"
    wasm = runtime.DEFAULT_DEST / "ort-wasm-simd-threaded.wasm.gz"
    assert wasm.stat().st_size < 10 * 1000 * 1000, "under a Hugging Face Space's 10 MB per-file limit"
    assert "MIT License" in (runtime.DEFAULT_DEST / "LICENSE").read_text()
