"""The command line as an operator meets it: each command needs only the settings it
uses, and every failure is one line and a non-zero exit, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rewards_engine.redis_server import EmbeddedRedis

ROOT = Path(__file__).resolve().parents[2]


def engine(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "LOG_LEVEL": "WARNING", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def production(tmp_path: Path, settings) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """A production environment with no secrets at all: no JWT key, no encryption key."""
    return {
        "APP_ENV": "production",
        "INSTANCE_DIR": str(tmp_path / "instance"),
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "REDIS_NAMESPACE": settings.redis_namespace,
    }


def test_maintenance_commands_run_without_the_api_secrets(production) -> None:  # type: ignore[no-untyped-def]
    verify = engine("ledger", "verify", env=production)
    assert verify.returncode == 0, verify.stderr
    assert "all consistent" in verify.stdout
    report = engine("payouts", "report", env=production)
    assert report.returncode == 0, report.stderr
    token = engine("issue-token", "--sub", "ada", "--role", "donor", env=production)
    assert token.returncode == 1 and "JWT_SECRET" in token.stderr  # this one needs it
    assert "Traceback" not in token.stderr


@pytest.mark.parametrize(
    ("database_url", "said"),
    [
        ("postgresql://nobody@127.0.0.1:1/none", "the database cannot be reached"),
        ("nonsense://x", "DATABASE_URL is not a database URL"),
    ],
)
def test_a_bad_database_is_one_clear_line(production, database_url: str, said: str) -> None:  # type: ignore[no-untyped-def]
    answer = engine("ledger", "verify", env={**production, "DATABASE_URL": database_url})
    assert answer.returncode == 1
    assert said in answer.stderr and "Traceback" not in answer.stderr
    debug = engine("--debug", "ledger", "verify", env={**production, "DATABASE_URL": database_url})
    assert debug.returncode == 1 and "Traceback" in debug.stderr  # --debug shows it


def test_an_unmigrated_database_says_to_migrate_and_leaves_no_redis_running(
    tmp_path: Path,
) -> None:
    instance = tmp_path / "fresh"
    env = {"APP_ENV": "production", "INSTANCE_DIR": str(instance)}  # embedded defaults
    answer = engine("jobs", "run", "wall-drain", env=env)
    assert answer.returncode == 1
    assert "no schema yet: run `rewards-engine migrate`" in answer.stderr
    assert "Traceback" not in answer.stderr
    assert not EmbeddedRedis(instance).is_running()  # the one-off command stopped it


def test_version_and_a_bad_argument(production) -> None:  # type: ignore[no-untyped-def]
    version = engine("--version", env=production)
    assert version.returncode == 0 and version.stdout.startswith("rewards-engine, version ")
    bad = engine("jobs", "run", "no-such-job", env=production)
    assert bad.returncode == 1 and "no job 'no-such-job'" in bad.stderr


def test_serve_says_at_once_when_its_port_is_taken(cli_env) -> None:  # type: ignore[no-untyped-def]
    import os
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = {**os.environ, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        answer = engine("serve", "--port", str(port), env=env)
    assert answer.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in answer.stderr
    assert "serving on" not in answer.stderr
