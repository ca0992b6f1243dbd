"""The layers of ``unet_core`` as docs/development.md draws them, read from the source with
``ast`` (every import, at module level or inside a function): ``base/`` and ``model/`` import
nothing above them, ``formats/`` only what a file holds, and no two parts of the package import
each other, directly or around a circle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "src" / "unet_core"
#: what each layer may import besides itself
ALLOWED = {
    "base": set(),
    "model": {"base"},
    "formats": {"model", "data", "tasks", "base", "overlay", "postprocess"},
}


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(path: Path) -> set[str]:
    """The ``unet_core`` modules ``path`` imports, relative imports resolved."""
    module = _module(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level:
            base = ".".join(package.split(".")[: package.count(".") + 2 - node.level])
            if node.module:
                found.add(f"{base}.{node.module}")
            else:  # from . import a, b: submodules, or names of the package itself
                found |= {f"{base}.{a.name}" for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            found.add(node.module or "")
    return {m for m in found if m == "unet_core" or m.startswith("unet_core.")}


def _part(module: str) -> str:
    """The part of the package a module belongs to: ``model``, ``formats``, ``metrics``...,
    or ``unet_core`` itself (its ``__init__``, or a name imported from it)."""
    parts = module.split(".")
    if len(parts) < 2:
        return "unet_core"
    name = parts[1]
    exists = (ROOT / name).is_dir() or (ROOT / f"{name}.py").is_file()
    return name if exists else "unet_core"


def _graph() -> dict[str, set[str]]:
    """Part -> the other parts it imports."""
    graph: dict[str, set[str]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        part = _part(_module(path))
        graph.setdefault(part, set()).update(_part(m) for m in _imported(path))
        graph[part].discard(part)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import circle of ``graph`` (its parts in order, the first repeated at the end), or
    [] if there is none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_the_reader_sees_imports_inside_functions():
    graph = _graph()
    # batch/run.py imports the model files only inside its methods
    assert "formats" in graph["batch"] and "model" in graph["formats"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_a_layer_imports_only_the_layers_below_it(layer):
    graph = _graph()
    assert graph[layer] <= ALLOWED[layer], (
        f"{layer}/ imports {sorted(graph[layer] - ALLOWED[layer])}, above it"
    )


def test_no_import_circle_between_the_parts_of_the_package():
    circle = _cycle(_graph())
    assert not circle, " -> ".join(circle)


def test_base_and_model_import_none_of_the_layers_above():
    above = {"formats", "tasks", "inference", "training", "batch", "loop", "data", "evaluate",
             "cli", "cli_train", "cli_export", "metrics", "postprocess"}  # fmt: skip
    graph = _graph()
    for layer in ("base", "model"):
        assert not graph[layer] & above, (layer, sorted(graph[layer] & above))


#: the house limits (docs/development.md): lines of a module, of a function
MODULE_LINES, FUNCTION_LINES = 300, 60
SOURCES = [*ROOT.rglob("*.py"), *(ROOT.parents[1] / "napari_unet").rglob("*.py")]


def _too_long(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    found = []
    if len(text.splitlines()) > MODULE_LINES:
        found.append(f"{path.name}: {len(text.splitlines())} lines")
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > FUNCTION_LINES:
                found.append(f"{path.name}:{node.lineno} {node.name}: {length} lines")
    return found


def test_the_size_check_sees_a_long_function(tmp_path):
    long = tmp_path / "long.py"
    long.write_text("def f():\n" + "    x = 1\n" * FUNCTION_LINES)
    assert _too_long(long) == ["long.py:1 f: 61 lines"]


def test_modules_and_functions_keep_the_house_limits():
    assert len(SOURCES) > 80  # the core and the plugin were found
    assert [line for path in SOURCES for line in _too_long(path)] == []
