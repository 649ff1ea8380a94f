"""The schema package imports its own modules one way, at the top of each module.

A cycle hidden behind an import inside a function still makes two modules depend on each
other; ``TYPE_CHECKING`` imports are only for the type checker, so they are left out.
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "schema"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING")


def _imports(tree: ast.Module) -> tuple[list[ast.Import | ast.ImportFrom], list[str]]:
    """Return every import the module runs, and those of them deferred into a body."""
    found: list[ast.Import | ast.ImportFrom] = []
    deferred: list[str] = []

    def visit(node: ast.AST, deferring: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if _is_type_checking(child):
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                found.append(child)
                if deferring:
                    deferred.append(ast.unparse(child))
            body = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            visit(child, deferring or body)

    visit(tree, False)
    return found, deferred


def _scan() -> tuple[dict[str, set[str]], dict[str, list[str]]]:
    paths = {_module_name(p): p for p in (ROOT / PACKAGE).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    deferred: dict[str, list[str]] = {}
    for name, path in paths.items():
        found, late = _imports(ast.parse(path.read_text()))
        targets: set[str] = set()
        for node in found:
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif node.module:
                targets |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        graph[name] = targets & paths.keys() - {name}
        if late:
            deferred[name] = late
    return graph, deferred


def test_no_module_defers_an_import() -> None:
    assert _scan()[1] == {}


def test_the_modules_import_each_other_without_a_cycle() -> None:
    graph, _ = _scan()
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as error:
        raise AssertionError(f"import cycle: {' -> '.join(error.args[1])}") from None
