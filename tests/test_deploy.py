"""Starting outside development: the documented production environment and SECRET_KEY.

Each test runs ``manage.py`` in a fresh process, as an operator would, with only the
environment it states (none of this session's settings leak in).
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "running-on-several-machines.md"
ASSIGNMENT = re.compile(r"^([A-Z_]+)=(\S*)")


def documented_environment() -> dict[str, str]:
    """Return the variables of the guide's first ``sh`` block, with a real secret key."""
    block = GUIDE.read_text().split("```sh\n", 1)[1].split("```", 1)[0]
    variables = dict(ASSIGNMENT.match(line).groups() for line in block.splitlines())  # type: ignore[union-attr]
    assert variables["SECRET_KEY"].startswith("<")
    variables["SECRET_KEY"] = secrets.token_urlsafe(50)
    return variables


def manage(tmp_path: Path, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "CROWDVOTE_DATA_DIR": str(tmp_path / "var"),
        "CROWDVOTE_LOG_DIR": str(tmp_path / "logs"),
        **variables,
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_documented_production_environment_passes_check_deploy(tmp_path):
    done = manage(
        tmp_path, "check", "--deploy", "--fail-level", "WARNING", **documented_environment()
    )
    assert done.returncode == 0, done.stderr
    assert "System check identified no issues (0 silenced)." in done.stdout


def test_without_debug_a_missing_secret_key_refuses_to_start(tmp_path):
    done = manage(tmp_path, "check")
    assert done.returncode == 1
    assert "Refusing to start: SECRET_KEY is not set." in done.stderr
    assert "the same on every machine" in done.stderr
    assert not (tmp_path / "var" / "secret_key").exists()


def test_without_debug_the_asgi_application_refuses_to_start(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", "import crowdvote.asgi"],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), "CROWDVOTE_DATA_DIR": str(tmp_path / "var")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "ImproperlyConfigured: SECRET_KEY is not set." in done.stderr


def test_the_asgi_application_freezes_what_startup_built(tmp_path):
    # What every server and worker imports: the objects it built at startup (Django, the
    # schema) are kept out of the collector's full passes, which walked them all each time.
    done = subprocess.run(
        [sys.executable, "-c", "import gc, crowdvote.asgi; print(gc.get_freeze_count())"],
        cwd=ROOT,
        env={
            "PATH": os.environ.get("PATH", ""),
            "CROWDVOTE_DATA_DIR": str(tmp_path / "var"),
            "CROWDVOTE_LOG_DIR": str(tmp_path / "logs"),
            "DEBUG": "1",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 50_000


def test_debug_generates_a_development_key_once(tmp_path):
    assert manage(tmp_path, "check", DEBUG="1").returncode == 0
    key = (tmp_path / "var" / "secret_key").read_text()
    assert manage(tmp_path, "check", DEBUG="1").returncode == 0
    assert (tmp_path / "var" / "secret_key").read_text() == key


def test_an_invalid_trusted_proxy_refuses_to_start(tmp_path):
    done = manage(tmp_path, "check", DEBUG="1", TRUSTED_PROXIES="10.0.0.0/8,balancer")
    assert done.returncode == 1
    assert "TRUSTED_PROXIES: 'balancer' is not an IP address or network" in done.stderr


def test_a_storm_share_outside_zero_to_one_refuses_to_start(tmp_path):
    for share in ("0", "1.5"):
        done = manage(tmp_path, "check", DEBUG="1", CALC_STORM_SHARE=share)
        assert done.returncode == 1
        assert "CALC_STORM_SHARE must be above 0 and at most 1" in done.stderr
    assert manage(tmp_path, "check", DEBUG="1", CALC_STORM_SHARE="1").returncode == 0


def test_a_negative_storm_interval_refuses_to_start(tmp_path):
    done = manage(tmp_path, "check", DEBUG="1", CALC_STORM_INTERVAL_MS="-1")
    assert done.returncode == 1
    assert "CALC_STORM_INTERVAL_MS must be 0 or more (milliseconds), not -1" in done.stderr
