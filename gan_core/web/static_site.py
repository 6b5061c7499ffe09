"""A free static version of the explorer: one folder that runs G and D in the visitor's browser.

``build_site(source, out_dir)`` writes everything a static host needs and nothing that needs a
server: the page (index.html, site.js, site.css from ``gan_core/web/site/``), the same browser
module the Gradio page uses (``gan_web.js``, copied as is), onnxruntime-web's three files (the gzip -9 copies
kept in git, checked against their recorded sha256 and decompressed in the page), the two exported
networks, the seeds' noise and the model's SeFa directions::

    index.html site.js site.css gan_web.js        the page: Explore and Interpolate
    vendor/onnxruntime-web/                       ort.wasm.min.mjs.gz, ort-wasm-simd-threaded.{mjs,wasm}.gz, LICENSE, VERSION
    generator.onnx [discriminator.onnx]           z (B, latent_dim) -> images; images -> logits
    model.json                                    sizes, noise, directions, strengths, ranges
    seeds.bin                                     float32 LE (num_seeds, latent_dim): z of seeds 0..N-1
    README.md [timeline.png]                      Hugging Face static-Space card; last training frame

``seeds.bin`` holds exactly the z the server draws for those seeds (``GanPipeline.seed_noise``), so
a picture in the static page is the server's picture for the same (seed, psi, amounts), to within
one grey level. Every file is under a Space's 10 MB per-file limit (the runtime's .wasm is 3.7 MB
compressed). Deploy the folder as a Hugging Face Space with ``sdk: static`` or on any static host.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

import gan_core
from gan_core.core.checks import check_count, shown
from gan_core.core.models import REPO_URL
from gan_core.core.onnx_export import ONNX_NAME, choose_fp16_weights, export_onnx
from gan_core.explorer.explorer import MAX_KEYFRAMES, verdict_note
from gan_core.explorer.state import DIRECTION_LIMIT, NUM_DIRECTIONS, PSI_RANGE
from gan_core.pipeline import GanPipeline
from gan_core.web import runtime as web_runtime

logger = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent
PACKAGE_DIR = WEB_DIR.parent
DEFAULT_RUNTIME = web_runtime.RUNTIME_DIR  # the copy in git
UI_DIR = WEB_DIR / "site"
UI_FILES = ("index.html", "site.js", "site.css")
MODULE_FILE = "gan_web.js"
# What the site copies from the runtime folder: the three compressed files the page loads, the licence and the record.
RUNTIME_FILES = (*map(web_runtime.stored_name, web_runtime.FILES), web_runtime.LICENSE_NAME, web_runtime.RECORD_NAME)
VENDOR_DIR = "vendor/onnxruntime-web"
MODEL_JSON = "model.json"
SEEDS_FILE = "seeds.bin"
TIMELINE_FILE = "timeline.png"
PART_FILES = {"generator": "generator.onnx", "discriminator": "discriminator.onnx"}
SITE_MARKER = "gan_core_site"  # the key in model.json that says a folder is a site this module built
SITE_FORMAT = 1
SEEDS_RANGE = (1, 100_000)
MAX_NAME_CHARS = 100
RUNTIME_HINT = (
    "run `python scripts/get_web_runtime.py` to recreate it (the copy in git, assets/onnxruntime-web/) or pass a folder that holds it"
)


def build_site(
    source: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    runtime_dir: str | os.PathLike = DEFAULT_RUNTIME,
    num_seeds: int = 1000,
    name: str | None = None,
) -> Path:
    """Build the static site for the model ``source`` (a folder or Hub repo id) in ``out_dir``.

    ``num_seeds`` (1..100000) seeds ship: the page offers seeds 0..num_seeds-1. ``name`` is the title
    (default: the model's name). Exported ONNX files beside the weights are copied; when a part has
    none it is exported into the site, never into ``source``. The site is written to a temporary
    folder beside ``out_dir`` and renamed into place, so a failed build leaves nothing; a previous
    site in ``out_dir`` is replaced, anything else there is refused. Returns ``out_dir``.

    Raises ValueError (bad arguments, a foreign ``out_dir``, weights that do not load, a runtime file that
    does not match its recorded sha256), FileNotFoundError (no model at ``source``, no runtime in
    ``runtime_dir``) and ImportError (a part to export without the onnx extra installed), each one sentence.
    """
    num_seeds = check_count(num_seeds, "The number of seeds", *SEEDS_RANGE)
    if name is not None and (not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_CHARS):
        raise ValueError(f"The site's name must be text of 1 to {MAX_NAME_CHARS} characters, got {shown(name)}.")
    runtime = _check_runtime(Path(runtime_dir))
    out_dir = Path(out_dir).expanduser().absolute()
    _check_out_dir(out_dir)
    pipeline = GanPipeline.from_pretrained(source, name=name.strip() if name else None)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}-build-"))
    try:
        staging.chmod(0o755)  # mkdtemp makes it private; a web server must be able to read it
        for file in UI_FILES:
            shutil.copyfile(UI_DIR / file, staging / file)
        shutil.copyfile(WEB_DIR / MODULE_FILE, staging / MODULE_FILE)
        vendor = staging / VENDOR_DIR
        vendor.mkdir(parents=True)
        for file in RUNTIME_FILES:
            shutil.copyfile(runtime.folder / file, vendor / file)
        _write_networks(pipeline, staging)
        seeds = pipeline.seed_noise(range(num_seeds)).numpy()  # (num_seeds, latent_dim) float32
        (staging / SEEDS_FILE).write_bytes(np.ascontiguousarray(seeds, dtype="<f4").tobytes())
        if pipeline.timeline:
            (staging / TIMELINE_FILE).write_bytes(pipeline.timeline[-1].png)
        commit = _gan_core_commit()
        (staging / MODEL_JSON).write_text(json.dumps(site_config(pipeline, num_seeds, commit, runtime)) + "\n")
        (staging / "README.md").write_text(space_card(pipeline, num_seeds, commit))
        _replace(out_dir, staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("built the static site for %s in %s (%d seeds)", pipeline.name, out_dir, num_seeds)
    return out_dir


def site_config(pipeline: GanPipeline, num_seeds: int, commit: str | None = None, runtime: web_runtime.WebRuntime | None = None) -> dict:
    """model.json: what the page needs beside the networks. Directions are (K, latent_dim) nested lists; ``runtime``
    (the checked runtime folder) gives the page each runtime file's URL and Subresource Integrity."""
    count = min(NUM_DIRECTIONS, pipeline.latent_dim)
    directions, strengths = pipeline.sefa  # (D, D) rows strongest first, (D,)
    timeline = pipeline.timeline[-1].epoch if pipeline.timeline else None
    return {
        SITE_MARKER: SITE_FORMAT,
        "name": pipeline.name,
        "dataset": pipeline.dataset,
        "latentDim": pipeline.latent_dim,
        "channels": pipeline.channels,
        "imageSize": pipeline.image_size,
        "noise": pipeline.noise,
        "numSeeds": num_seeds,
        "seeds": SEEDS_FILE,
        "generator": PART_FILES["generator"],
        "discriminator": PART_FILES["discriminator"] if pipeline.discriminator is not None else None,
        "verdictNote": verdict_note(pipeline) if pipeline.discriminator is not None else None,  # how to read D's verdict
        # float32 values as exact decimals: Float32Array.from() in the page gives back the same bits.
        "directions": directions[:count].tolist(),
        "strengths": strengths[:count].tolist(),
        "numDirections": NUM_DIRECTIONS,  # sliders on the page; those past len(directions) stay hidden
        "psiRange": list(PSI_RANGE),
        "directionLimit": DIRECTION_LIMIT,
        "maxKeyframes": MAX_KEYFRAMES,
        # The page fetches each file checked against the sha256 of its .gz (Subresource Integrity) and decompresses it.
        "runtime": None if runtime is None else {
            "version": runtime.record.version,
            "files": {
                name: {"url": f"{VENDOR_DIR}/{web_runtime.stored_name(name)}", "integrity": file.gzip_integrity, "gzip": True}
                for name, file in runtime.files.items()
            },
        },
        "timeline": {"file": TIMELINE_FILE, "epoch": timeline} if timeline is not None else None,
        "ganCore": {"version": gan_core.__version__, "commit": commit},
    }


def space_card(pipeline: GanPipeline, num_seeds: int, commit: str | None = None) -> str:
    """README.md of the site: Hugging Face static-Space front matter and a few lines on what it is."""
    dataset = pipeline.dataset or "an unknown dataset"
    title = f"{pipeline.name} DCGAN explorer"
    # JSON strings are valid YAML double-quoted scalars: safe for any model name.
    front = {
        "title": json.dumps(title),
        "emoji": "🎛️",
        "colorFrom": "indigo",
        "colorTo": "green",
        "sdk": "static",
        "app_file": "index.html",
        "license": "mit",
        "short_description": json.dumps(f"A DCGAN ({dataset}) drawn in your browser"[:60]),  # the Hub allows 60
    }
    shape = f"{pipeline.channels}x{pipeline.image_size}x{pipeline.image_size}"
    judged = " and its discriminator's verdict" if pipeline.discriminator is not None else ""
    # A local path says nothing to a visitor (and names the builder's folders); a Hub repo id does.
    hub = "" if os.path.exists(os.path.expanduser(pipeline.source)) else f" (https://huggingface.co/{pipeline.source})"
    trained = f", trained for {pipeline.manifest.epochs:g} epochs ({pipeline.manifest.steps:,} steps)" if pipeline.manifest else ""
    made_by = f"gan_core {gan_core.__version__}" + (f", commit {commit}" if commit else "")
    lines = ["---", *(f"{key}: {value}" for key, value in front.items()), "---", "", f"# {title}", ""]
    lines += [
        (
            f"A DCGAN generator trained on {dataset} ({shape} pictures from {pipeline.latent_dim}-dimensional {pipeline.noise} noise), "
            f"run in the visitor's browser with onnxruntime-web: every picture{judged} is computed in the page, with no server."
        ),
        "",
        (
            f"- **Explore**: seeds 0 to {num_seeds - 1}, truncation psi and the {min(NUM_DIRECTIONS, pipeline.latent_dim)} "
            "strongest SeFa directions; the address bar holds a link to the picture (`?seed=..&psi=..&amounts=..`)."
        ),
        "- **Interpolate**: slerp or lerp along a path through keyframe seeds.",
        "",
        f"Model: {pipeline.name}{hub}{trained}. Built with `python -m gan_core.build_site` from {made_by} ({REPO_URL}).",
        "The seeds' noise is the z the Gradio explorer draws for the same seeds, so both show the same pictures.",
        "",
        "Try it locally with `python -m http.server -d .` and open http://127.0.0.1:8000/.",
        "onnxruntime-web (vendor/onnxruntime-web/, gzip-compressed) is MIT-licensed, (c) Microsoft Corporation: see vendor/onnxruntime-web/LICENSE.",
        "",
    ]
    return "\n".join(lines)


def is_site(folder: Path) -> bool:
    """True when ``folder`` holds a model.json written by :func:`build_site`."""
    try:
        return SITE_MARKER in json.loads((folder / MODEL_JSON).read_text())
    except (OSError, ValueError, TypeError):
        return False


def _check_runtime(runtime_dir: Path) -> web_runtime.WebRuntime:
    """The runtime folder, every file checked against its record (FileNotFoundError / ValueError with one sentence)."""
    missing = web_runtime.missing(runtime_dir)
    if missing:
        what = "does not exist" if not runtime_dir.is_dir() else f"lacks {', '.join(missing)}"
        raise FileNotFoundError(f"The onnxruntime-web folder {runtime_dir} {what}; {RUNTIME_HINT}.")
    return web_runtime.load_runtime(runtime_dir)


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"The output {out_dir} is a file; give a folder for the site (new, empty, or a site built before).")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not is_site(out_dir):
        raise ValueError(
            f"The output folder {out_dir} is not empty and holds no site built by gan_core (no {MODEL_JSON} with "
            f"{SITE_MARKER!r}); refusing to overwrite it. Give a new or empty folder, or a site built before."
        )


def _write_networks(pipeline: GanPipeline, site: Path) -> None:
    """Copy each part's model.onnx into the site, or export it there when the source has none."""
    parts = {"generator": (pipeline.generator, pipeline.files.generator)}
    if pipeline.discriminator is not None:
        parts["discriminator"] = (pipeline.discriminator, pipeline.files.discriminator)
    for part, (network, folder) in parts.items():
        exported = folder / ONNX_NAME
        if exported.is_file():
            shutil.copyfile(exported, site / PART_FILES[part])
        else:
            logger.info("%s has no %s; exporting the %s into the site", folder, ONNX_NAME, part)
            try:
                fp16_weights = part == "generator" and choose_fp16_weights(network, pipeline.discriminator)
                export_onnx(network, site / PART_FILES[part], fp16_weights=fp16_weights)
            except ImportError as err:  # torch.onnx.export needs onnx and onnxscript, which only the onnx extra installs
                raise ImportError(
                    f"{folder} has no {ONNX_NAME}, and exporting one needs the onnx extra ({err}): "
                    "pip install 'dcgan-latent-explorer[onnx]', or build from a model folder that ships its ONNX files."
                ) from err


def _replace(out_dir: Path, staging: Path) -> None:
    """Put ``staging`` at ``out_dir``; a previous site (or empty folder) there is moved aside first, then deleted."""
    if not out_dir.exists():
        os.replace(staging, out_dir)
        return
    old = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}-old-"))
    os.replace(out_dir, old / out_dir.name)
    try:
        os.replace(staging, out_dir)
    except OSError:
        os.replace(old / out_dir.name, out_dir)
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def _gan_core_commit() -> str | None:
    """The git commit of this gan_core checkout ("+ local changes" when gan_core/ differs), None outside one."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(PACKAGE_DIR), *args], capture_output=True, text=True, timeout=10, check=True)
        return done.stdout.strip()

    try:
        if Path(git("rev-parse", "--show-toplevel")).resolve() != PACKAGE_DIR.parent:
            return None  # an installed gan_core inside some other repository
        commit = git("rev-parse", "--short=12", "HEAD")
        changed = git("status", "--porcelain", "--untracked-files=no", "--", ".")
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + (" + local changes" if changed else "") if commit else None
