"""The package's layers (docs/design.md §1), read from the import statements of every module: no back-edges."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "nasplatform"

#: Each layer may import its own modules and those of lower layers only; one rank may hold two packages that
#: do not import each other, except where SIDEWAYS allows it. atomic.py and the package __init__ are the bottom,
#: `python -m nasplatform` (__main__.py) the top.
RANKS = {
    "atomic": -1,
    "interrupt": -1,
    "space": 0,
    "ops": 1,
    "nets": 2,
    "data": 3,
    "evaluation": 3,
    "engine": 4,
    "tune": 5,
    "cli": 6,
    "__init__": -1,
    "__main__": 7,
}
#: evaluation reads images the way data does (data.images); data never scores anything.
SIDEWAYS = {("evaluation", "data")}
#: Ray is the orchestration layer's business alone.
RAY_LAYERS = {"tune"}


def _type_checking_only(node: ast.AST, parents: dict) -> bool:
    """Imports under `if TYPE_CHECKING:` feed annotations only and never run."""
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING":
            return True
    return False


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported module) of every import that runs, at module level or inside functions."""
    tree = ast.parse(path.read_text(), filename=str(path))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for node in ast.walk(tree):
        if _type_checking_only(node, parents):
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: relative import; the layer test reads absolute ones"
            if node.module == "nasplatform":  # `from nasplatform import engine` imports the subpackage
                found += [(node.lineno, f"nasplatform.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module or ""))
    return found


def layer_of(path: Path, package: Path = PACKAGE) -> str:
    return path.relative_to(package).parts[0].removesuffix(".py")


def violations(package: Path = PACKAGE) -> list[str]:
    """Every import that goes up a layer, sideways between packages of one rank, or to Ray outside tune/."""
    found = []
    for path in sorted(package.rglob("*.py")):
        layer = layer_of(path, package)
        assert layer in RANKS, f"{path}: a package RANKS does not place; add it there and to docs/design.md §1"
        for line, module in imports(path):
            where = f"{path.relative_to(package.parent)}:{line} imports {module}"
            parts = module.split(".")
            if parts[0] == "ray" and layer not in RAY_LAYERS:
                found.append(f"{where}: only {sorted(RAY_LAYERS)} may import Ray")
            if parts[0] != "nasplatform" or len(parts) < 2 or parts[1] == layer:
                continue
            target = parts[1]
            if target not in RANKS:
                found.append(f"{where}: a package RANKS does not place")
            elif RANKS[target] > RANKS[layer]:
                found.append(
                    f"{where}: {layer} (layer {RANKS[layer]}) must not import {target} (layer {RANKS[target]})"
                )
            elif RANKS[target] == RANKS[layer] and (layer, target) not in SIDEWAYS:
                found.append(f"{where}: {layer} and {target} are one layer and must not import each other")
    return found


def test_no_module_imports_a_higher_layer_or_ray_outside_tune():
    assert violations() == []


def test_data_and_evaluation_import_no_engine_tune_or_cli():
    # stated on its own: what the move of data/ and evaluation/ out of engine/ is for
    for layer in ("data", "evaluation"):
        for path in sorted((PACKAGE / layer).rglob("*.py")):
            bad = [
                (line, m)
                for line, m in imports(path)
                if m.split(".")[:2] in (["nasplatform", "engine"], ["nasplatform", "tune"], ["nasplatform", "cli"])
            ]
            assert bad == [], f"{path}: {bad}"


@pytest.mark.parametrize(
    "layer, source, expected",
    [
        ("data", "from nasplatform.engine.config import DataConfig\n", "data (layer 3) must not import engine"),
        (
            "evaluation",
            "def f():\n    from nasplatform.tune import collect\n",
            "evaluation (layer 3) must not import tune",
        ),
        ("data", "import nasplatform.evaluation.scores\n", "data and evaluation are one layer"),
        ("nets", "from nasplatform import engine\n", "nets (layer 2) must not import engine"),
        ("engine", "import ray\n", "may import Ray"),
        ("nets", "from ray import tune\n", "may import Ray"),
    ],
)
def test_a_back_edge_is_caught_and_named(tmp_path, layer, source, expected):
    (tmp_path / layer).mkdir()
    (tmp_path / layer / "bad.py").write_text(source)
    (tmp_path / "tune").mkdir()
    (tmp_path / "tune" / "fine.py").write_text("import ray\nfrom nasplatform.engine import loop\n")
    found = violations(tmp_path)
    assert len(found) == 1 and expected in found[0] and f"{layer}/bad.py" in found[0], found


def test_type_checking_imports_are_not_edges(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "typed.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from nasplatform.engine.config import DataConfig\n"
    )
    assert violations(tmp_path) == []
