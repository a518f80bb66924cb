"""Layering: no import circle (type-hint imports counted), no upward import, and what answers a request never
loads what makes a model.

The shared checker (../shared/tools/import_graph.py) strips `TYPE_CHECKING` blocks, so this test reads the import
graph itself with the same layer order. Training (how a model is made) and evaluation (how a saved one reads) sit side
by side on what both need (`labelled/`: datasets, labels, splits, metrics, calibration) and never import each other;
predict, service and CLI serving never import training.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "postergenre"
RANK = {
    "catalog": 1,
    "campaigns": 2,
    "posters": 2,
    "features": 3,
    "model": 4,
    "labelled": 4.5,
    "training": 5,
    "evaluation": 5,
    "predict": 5,
    "render": 6,
    "service": 6,
    "cli": 7,
    "models": 0,
}
ANSWERING = ("postergenre.predict", "postergenre.service")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module → the package modules it imports anywhere in its source (function bodies and TYPE_CHECKING too)."""
    paths = {_module_name(p): p for p in SRC.rglob("*.py")}
    edges: dict[str, set[str]] = {}
    for name, path in paths.items():
        is_package = path.name == "__init__.py"
        out: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                candidates = [target] + [f"{target}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                candidates = [a.name for a in node.names]
            else:
                continue
            for imported in candidates:
                candidate = imported
                while candidate and candidate not in paths:
                    candidate = candidate.rpartition(".")[0]
                if candidate and candidate != name and candidate.startswith("postergenre"):
                    out.add(candidate)
        edges[name] = out
    return edges


def _layer(module: str) -> float:
    parts = module.split(".")
    return RANK.get(parts[1], 0) if len(parts) > 1 else 0


def _circles(edges: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in edges:
        if v not in index:
            visit(v)
    return found


def test_no_import_circle_with_type_hints_counted() -> None:
    assert _circles(import_graph()) == []


def test_no_upward_import_and_nothing_imports_the_package_root() -> None:
    edges = import_graph()
    upward = sorted(
        (a, b)
        for a, bs in edges.items()
        for b in bs
        if a != "postergenre" and (b == "postergenre" or _layer(b) > _layer(a))
    )
    assert upward == []


def test_predict_and_service_never_import_training() -> None:
    edges = import_graph()
    reached: set[str] = set()
    todo = [m for m in edges if m.startswith(ANSWERING)]
    while todo:
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            todo.extend(edges[module])
    assert sorted(m for m in reached if m.startswith("postergenre.training")) == []


def test_training_and_evaluation_never_import_each_other() -> None:
    edges = import_graph()
    crossing = sorted(
        (a, b)
        for a, bs in edges.items()
        for b in bs
        if {a.split(".")[1:2][0] if "." in a else "", b.split(".")[1:2][0] if "." in b else ""}
        == {"training", "evaluation"}
    )
    assert crossing == []


def test_serving_process_loads_neither_training_nor_torch() -> None:
    code = (
        "import sys, postergenre.service.app, postergenre.predict.predictor;"
        "print(sorted(m for m in sys.modules if m.startswith('postergenre.training') or m == 'torch'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
