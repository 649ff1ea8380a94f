"""The runtime works without devtools, which only a checkout has."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# As the installed package sees it: `devtools` cannot be imported.
WITHOUT_DEVTOOLS = """
import sys
sys.modules["devtools"] = None
import django
django.setup()
from django.apps import apps
from django.core.management import get_commands
import crowdvote.asgi
commands = get_commands()
assert not apps.is_installed("devtools")
assert {"serve", "seed_demo", "runworker", "export_schema"} <= set(commands), commands
assert not {"bench_calc", "bench_latency", "bench_ballots", "simulate", "seed_synthetic"} & set(
    commands
), commands
"""


def test_without_devtools_the_project_starts_without_the_dev_commands() -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "crowdvote.settings",
        "SECRET_KEY": "tests-only-secret-key-not-for-production",
    }
    subprocess.run([sys.executable, "-c", WITHOUT_DEVTOOLS], cwd=ROOT, check=True, env=env)


def test_a_checkout_has_the_dev_commands() -> None:
    from django.apps import apps
    from django.core.management import get_commands

    assert apps.is_installed("devtools")
    assert get_commands()["bench_calc"] == "devtools"
