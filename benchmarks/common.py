"""What the benchmarks share: fresh databases, a served API, machine facts, reports."""

from __future__ import annotations

import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from rewards_engine import schema
from rewards_engine.config import Settings, normalise_database_url
from rewards_engine.db import Database

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": datetime.now(UTC).date().isoformat(),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "system": platform.platform(terse=True),
    }


@contextmanager
def fresh_database(kind: str) -> Iterator[str]:
    """A new, migrated database: ``postgres`` (a database of its own) or ``sqlite``."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            url = f"sqlite:///{directory}/bench.db"
            _migrate(url)
            yield url
        return
    base = normalise_database_url(os.environ.get("BENCH_DATABASE_URL", POSTGRES))
    name = f"rewards_bench_{secrets.token_hex(4)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        _migrate(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _migrate(url: str) -> None:
    database = Database(url)
    schema.upgrade_to_head(database.engine)
    database.dispose()


def settings_for(database_url: str, redis_url: str, instance: Path) -> Settings:
    return Settings(
        environment="development",
        instance_dir=instance,
        database_url=database_url,
        redis_url=redis_url,
        redis_namespace=f"bench{secrets.token_hex(3)}",
        jwt_secret="bench-secret-" + "b" * 40,
    )


def server_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        APP_ENV="development",
        DATABASE_URL=settings.database_url,
        REDIS_URL=settings.redis_url,
        REDIS_NAMESPACE=settings.redis_namespace,
        JWT_SECRET=settings.jwt_secret or "",
        INSTANCE_DIR=str(settings.instance_dir),
        LOG_LEVEL="WARNING",
    )
    return env


@contextmanager
def served(settings: Settings, port: int, workers: int) -> Iterator[str]:
    """``rewards-engine serve`` (gunicorn) on a port, until the block ends."""
    command = [
        sys.executable,
        "-m",
        "api.cli",
        "serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    process = subprocess.Popen(
        command,
        env=server_env(settings),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/readyz", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def report(name: str, payload: dict[str, object]) -> None:
    """Print the figures and keep them as JSON under benchmarks/results/."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "machine": machine(), **payload}
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    print(json.dumps(payload, indent=2))
