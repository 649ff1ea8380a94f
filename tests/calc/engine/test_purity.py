"""The engine, the reference and the benchmark import no Django at all."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("module", ["calc.engine", "devtools.reference", "devtools.bench"])
def test_importing_loads_no_django_module(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        "loaded = [m for m in sys.modules if m == 'django' or m.startswith('django.')]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, check=True, env={"PYTHONPATH": str(ROOT)}
    )
