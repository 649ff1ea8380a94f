"""The project's packages depend on each other one way, and no module imports itself back.

Every module is parsed, not imported: imports at module level and inside functions count
alike (a deferred import is a dependency all the same); only ``if TYPE_CHECKING:`` blocks are
skipped, since they never run. The layers are drawn in ``docs/architecture.md``.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Each layer and the layers it may import besides itself (see docs/architecture.md).
BELOW_SCHEMA = {"calc", "calc.engine", "democracy", "accounts", "core"}
MAY_IMPORT: dict[str, set[str]] = {
    "calc.engine": set(),
    "core": set(),
    "accounts": {"core"},
    "democracy": {"accounts", "core"},
    "calc": {"calc.engine", "democracy", "accounts", "core"},
    "schema": BELOW_SCHEMA,
    "widget": {"schema", *BELOW_SCHEMA},
    "crowdvote": {"widget", "schema", *BELOW_SCHEMA},
    # Dev-only: may use everything; only the tests may use it.
    "devtools": {"crowdvote", "widget", "schema", "crowdvote_verify", *BELOW_SCHEMA},
    # The standalone verifier: the standard library only, installed apart.
    "crowdvote_verify": set(),
}


def layer_of(module: str) -> str:
    """Return the layer a module belongs to: its top-level package, or the engine."""
    if module == "calc.engine" or module.startswith("calc.engine."):
        return "calc.engine"
    return module.split(".")[0]


@cache
def modules() -> dict[str, Path]:
    """Return every module of the project (tests aside) by dotted name."""
    found: dict[str, Path] = {}
    for package in MAY_IMPORT:
        if "." in package:
            continue
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Yield every import under ``node`` that can run: anything but ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child):
            for other in child.orelse:
                yield from _import_nodes(ast.Module(body=[other], type_ignores=[]))
            continue
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        yield from _import_nodes(child)


def _known(name: str) -> str | None:
    """Return the project module ``name`` is, or is inside of (a name imported from it)."""
    project = modules()
    while name and name not in project:
        name = name.rpartition(".")[0]
    return name or None


@cache
def imported_names(module: str) -> frozenset[str]:
    """Return every dotted name ``module`` imports (``from a import b`` gives ``a.b``)."""
    path = modules()[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in _import_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            parts = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join([*parts, *([node.module] if node.module else [])])
        names.update(f"{base}.{alias.name}" for alias in node.names)
    return frozenset(names)


def imports_of(module: str) -> frozenset[str]:
    """Return the project modules ``module`` imports, deferred imports included.

    ``from calc import triggers`` imports the module calc.triggers, not just calc.
    """
    known = {_known(name) for name in imported_names(module)}
    return frozenset(name for name in known if name and name != module)


def graph() -> dict[str, frozenset[str]]:
    return {module: imports_of(module) for module in modules()}


def find_cycles(edges: dict[str, frozenset[str]]) -> list[list[str]]:
    """Return the cycles a depth-first search meets, each in import order, first module last too."""
    cycles = []
    on_path, finished = set[str](), set[str]()
    for start in sorted(edges):
        if start in finished:
            continue
        path, pending = [start], [iter(sorted(edges[start]))]
        on_path.add(start)
        while pending:
            following = next(pending[-1], None)
            if following is None:
                finished.add(path[-1])
                on_path.discard(path.pop())
                pending.pop()
            elif following in on_path:
                cycles.append([*path[path.index(following) :], following])
            elif following not in finished:
                path.append(following)
                on_path.add(following)
                pending.append(iter(sorted(edges[following])))
    return cycles


def test_every_package_has_a_layer() -> None:
    packages = {
        path.parent.name
        for path in ROOT.glob("*/__init__.py")
        if path.parent.name not in {"tests", ".venv"}
    }
    assert packages <= set(MAY_IMPORT), f"give these packages a layer: {packages - set(MAY_IMPORT)}"


def test_layers_import_only_layers_below_them() -> None:
    wrong = [
        f"{module} imports {imported} ({layer_of(module)} may not import {layer_of(imported)})"
        for module, imported_modules in sorted(graph().items())
        for imported in sorted(imported_modules)
        if layer_of(imported) != layer_of(module)
        and layer_of(imported) not in MAY_IMPORT[layer_of(module)]
    ]
    assert not wrong, "\n".join(wrong)


def test_the_engine_imports_only_the_standard_library_numpy_and_scipy() -> None:
    allowed = {*sys.stdlib_module_names, "numpy", "scipy", "calc"}
    wrong = [
        f"{module} imports {name}"
        for module in sorted(modules())
        if layer_of(module) == "calc.engine"
        for name in sorted(imported_names(module))
        if name.split(".")[0] not in allowed
    ]
    assert not wrong, "\n".join(wrong)


def test_the_verifier_imports_only_the_standard_library() -> None:
    wrong = [
        f"{module} imports {name}"
        for module in sorted(modules())
        if layer_of(module) == "crowdvote_verify"
        for name in sorted(imported_names(module))
        if name.split(".")[0] not in {*sys.stdlib_module_names, "crowdvote_verify"}
    ]
    assert not wrong, "\n".join(wrong)


def test_no_module_imports_itself_back() -> None:
    cycles = find_cycles(graph())
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_the_cycle_finder_spells_out_a_cycle() -> None:
    edges = {
        "a": frozenset({"b"}),
        "b": frozenset({"c"}),
        "c": frozenset({"a"}),
        "d": frozenset({"a"}),
    }
    assert find_cycles(edges) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": frozenset({"b"}), "b": frozenset()}) == []


def test_deferred_imports_count_and_type_checking_imports_do_not() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from democracy.models import Decision\n"
        "def later():\n"
        "    from calc import triggers\n"
    )
    tree = ast.parse(source)
    imported = [
        node.module if isinstance(node, ast.ImportFrom) else None for node in _import_nodes(tree)
    ]
    assert imported == ["typing", "calc"]
