"""The engine, the reference and the benchmark import no Django; the engine has no cycle."""

from __future__ import annotations

import ast
import subprocess
import sys
from graphlib import TopologicalSorter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    "module",
    [
        "calc.engine",
        "crowdvote_verify",
        "crowdvote_verify.reference",
        "devtools.bench",
        "calc.result_json",
    ],
)
def test_importing_loads_no_django_module(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        "loaded = [m for m in sys.modules if m == 'django' or m.startswith('django.')]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, check=True, env={"PYTHONPATH": str(ROOT)}
    )


def _is_type_checking(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"


def _engine_imports() -> tuple[dict[str, set[str]], list[str]]:
    """Return the engine modules each engine module imports at load time, and any import
    made later (inside a function or class) as ``file:line``.

    Imports under a top-level ``if TYPE_CHECKING:`` serve annotations only and do not count.
    """
    graph: dict[str, set[str]] = {}
    deferred: list[str] = []
    for path in sorted((ROOT / "calc" / "engine").glob("*.py")):
        name = "calc.engine" if path.stem == "__init__" else f"calc.engine.{path.stem}"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        loaded = [node for node in tree.body if not _is_type_checking(node)]
        typing_only = [n for node in tree.body if _is_type_checking(node) for n in node.body]
        graph[name] = {
            node.module
            for node in loaded
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("calc.engine")
        }
        at_top = {id(node) for node in loaded + typing_only}
        deferred += [
            f"{path.name}:{node.lineno}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in at_top
        ]
    return graph, deferred


def test_engine_modules_import_each_other_one_way_and_up_front() -> None:
    graph, deferred = _engine_imports()
    assert not deferred, f"imports inside functions or classes: {deferred}"
    TopologicalSorter(graph).static_order()  # raises CycleError naming the cycle
    assert all("calc.engine" not in imported for imported in graph.values())
