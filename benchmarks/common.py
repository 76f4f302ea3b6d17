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
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from rewards_engine import schema
from rewards_engine.config import Settings, normalise_database_url
from rewards_engine.db import Database
from rewards_engine.runtime import Runtime

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


def commit() -> str:
    """The commit of the code measured (this checkout's HEAD), "-dirty" when a tracked
    file other than a result differs from it (a run writes its results first)."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout

    changed = git("status", "--porcelain", "--untracked-files=no", "--", ".",
                  ":(exclude)benchmarks/results")  # fmt: skip
    return git("rev-parse", "--short", "HEAD").strip() + ("-dirty" if changed.strip() else "")


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
    ).with_encryption_key()  # the one a served process makes from the same instance


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
        RATE_LIMITS="off",  # the benchmarks measure the engine, not the limiter
    )
    return env


@contextmanager
def served(
    settings: Settings,
    port: int,
    workers: int,
    app: str | None = None,
    *,
    scheduler: bool = False,
) -> Iterator[str]:
    """``rewards-engine serve`` (gunicorn) on a port, until the block ends; ``app``
    serves another WSGI target (``module:variable``) with the same gunicorn settings;
    ``scheduler`` runs the scheduler beside it, as ``serve --scheduler`` does."""
    env = server_env(settings)
    if app is None:
        command = [sys.executable, "-m", "api.cli", "serve", "--port", str(port),
                   "--workers", str(workers), *(["--scheduler"] if scheduler else [])]  # fmt: skip
    else:
        metrics = Path(tempfile.mkdtemp(prefix="bench-metrics-"))
        env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics)
        command = [sys.executable, "-m", "gunicorn", "--config", "python:api.gunicorn_conf",
                   "--bind", f"127.0.0.1:{port}", "--workers", str(workers), app]  # fmt: skip
    process = subprocess.Popen(
        command,
        env=env,
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


def wrk(
    url: str,
    *,
    seconds: int = 10,
    connections: int = 16,
    threads: int = 2,
    headers: dict[str, str] | None = None,
    lua: str = "",
    timeout_s: int | None = None,
) -> dict[str, float]:
    """Requests per second and latency percentiles from ``wrk`` (Debian package ``wrk``);
    ``lua`` adds wrk hooks (``request``, ``setup``...) to the reporting script."""
    script = Path(tempfile.mkdtemp()) / "report.lua"
    script.write_text(
        lua + "\n"
        "done = function(summary, latency, requests)\n"
        "  io.write(string.format('RESULT %d %d %d %d %d\\n', summary.requests,"
        " summary.duration, latency:percentile(50), latency:percentile(99),"
        " summary.errors.status + summary.errors.connect + summary.errors.read"
        " + summary.errors.write + summary.errors.timeout))\n"
        "end\n"
    )
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
               "-s", str(script)]  # fmt: skip
    if timeout_s is not None:  # wrk counts answers slower than this (default 2 s) as errors
        command.append(f"--timeout={timeout_s}s")
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("RESULT"))
    requests, duration_us, p50, p99, errors = map(int, line.split()[1:])
    return {
        "requests_per_s": round(requests / (duration_us / 1e6), 1),
        "p50_ms": round(p50 / 1000, 2),
        "p99_ms": round(p99 / 1000, 2),
        "errors": errors,
    }


def report(name: str, payload: dict[str, object], *, save: bool = True) -> None:
    """Print the figures; keep them as JSON under benchmarks/results/ when ``save``
    (runs at the sizes the issues name; a smaller trial run only prints)."""
    payload = {"benchmark": name, "machine": machine(), **payload}
    payload.setdefault("commit", commit())
    if save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    print(json.dumps(payload, indent=2))


def open_campaign(
    runtime: Runtime, campaign_id: str, name: str, kinds: list[str], days: int
) -> None:
    """Load the fixtures and add an uncapped campaign that opened ``days`` ago and pays
    10 points and 5 cents a clip: what the benchmarks donate to. It decides clips on
    their metadata (``requires_upload`` false, as imported clips are): these benchmarks
    measure the decision path, not the uploads and their verification (that is
    ``benchmarks.verification``)."""
    from rewards_engine.models import Campaign
    from rewards_engine.services.fixtures import load_fixtures

    load_fixtures(runtime.db, runtime.clock, runtime.settings.fixtures_dir)
    with runtime.db.transaction() as uow:
        uow.session.add(
            Campaign(
                id=campaign_id,
                name=name,
                starts_at=runtime.clock.now() - timedelta(days=days),
                incident_types=kinds,
                points_per_clip=10,
                bounty_cents=5,
                min_duration_s=2,
                max_duration_s=600,
                requires_upload=False,
            )
        )
