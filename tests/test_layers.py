"""The library's layers: no module imports one of a higher layer (README.md, "Project layout")."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Lowest first. A module may import its own layer and those below. Every top-level module that is not listed is a
# command (python -m gan_core.<verb>): the top layer, which nothing in the library imports.
LAYERS = [
    {"core"},  # networks, latent math, data, I/O: what everything builds on
    {"inversion"},  # pictures back to z, on core's networks
    {"pipeline", "gan_core"},  # GanPipeline, the waist everything uses (and the package's own __init__)
    {"training", "evaluation"},  # the adversarial loop; scoring a pipeline
    {"explorer"},  # what the app shows (names directions with evaluation's classifier)
    {"live", "web"},  # live training and the 2-D game; what runs in a browser
]
COMMANDS = len(LAYERS)


def unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def layer(name: str) -> int:
    return next((index for index, names in enumerate(LAYERS) if name in names), COMMANDS)


def test_no_module_imports_a_higher_layer():
    upward = []
    for path in sorted((ROOT / "gan_core").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        own = layer(unit(module))
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else [a.name for a in getattr(node, "names", [])] if isinstance(node, ast.Import) else []
            for name in names:
                if name.startswith("gan_core") and layer(unit(name)) > own and unit(name) != unit(module):
                    upward.append(f"{path.relative_to(ROOT)} imports {name}")
    assert upward == []
