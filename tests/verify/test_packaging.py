"""The verifier installs on its own, and the main package's install leaves it out."""

from __future__ import annotations

import tomllib
from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[2]


def test_the_main_package_installs_without_the_verifier() -> None:
    found = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    packages = set(find_packages(str(ROOT), **found["find"]))

    assert {"crowdvote", "calc", "calc.engine", "schema"} <= packages
    assert not {p for p in packages if p.startswith("crowdvote_verify")}


def test_the_verifier_is_a_project_of_its_own_needing_nothing_installed() -> None:
    own = tomllib.loads((ROOT / "crowdvote_verify" / "pyproject.toml").read_text())

    assert own["project"]["dependencies"] == []
    assert own["tool"]["setuptools"]["package-dir"] == {"crowdvote_verify": "."}
    assert own["project"]["scripts"] == {"crowdvote-verify": "crowdvote_verify.__main__:main"}
