"""Fixtures shared by every test: real database, real Redis, app, client and tokens."""

from __future__ import annotations

import fcntl
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from api import create_app
from rewards_engine import schema
from rewards_engine.bootstrap import build_runtime
from rewards_engine.clock import FixedClock
from rewards_engine.config import RateLimits, Settings
from rewards_engine.db import Database
from rewards_engine.domain.roles import Role
from rewards_engine.models import metadata
from rewards_engine.runtime import Runtime
from rewards_engine.tokens import issue_token
from tests.support.backends import database_for_run, delete_namespace, redis_for_run
from tests.support.result_types import rows_refused

TEST_JWT_SECRET = "test-secret-" + "x" * 40
TEST_ENCRYPTION_KEY = "kCv6VvK0ZbS0pZ0tq7w5pGmEo3Y2m8c5xq1sF4u9H2E="  # tests only
# Inside the first campaign's window, so that its rules apply by default.
DEFAULT_NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True, scope="session")
def _api_serialises_result_types() -> Iterator[None]:
    with rows_refused():
        yield


@pytest.fixture(autouse=True)
def _alone_when_exclusive(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """Under pytest-xdist, a test marked ``exclusive`` (it restarts a server the others
    share) runs while no other worker is in a test; the others wait at the gate."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        yield
        return
    shared = tmp_path_factory.getbasetemp().parent  # one directory for every worker
    with open(shared / "exclusive.gate", "a") as gate, open(shared / "exclusive.lock", "a") as lock:
        fcntl.flock(gate, fcntl.LOCK_EX)
        if request.node.get_closest_marker("exclusive"):
            fcntl.flock(lock, fcntl.LOCK_EX)  # holding the gate: no new test starts
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
                fcntl.flock(gate, fcntl.LOCK_UN)
            return
        fcntl.flock(lock, fcntl.LOCK_SH)
        fcntl.flock(gate, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("postgres_only") and not os.environ.get("TEST_DATABASE_URL"):
        pytest.skip("PostgreSQL only: run with TEST_DATABASE_URL")


def pytest_report_header() -> list[str]:
    database = "PostgreSQL" if os.environ.get("TEST_DATABASE_URL") else "SQLite"
    redis_kind = "server at TEST_REDIS_URL" if os.environ.get("TEST_REDIS_URL") else "embedded"
    if not os.environ.get("TEST_REDIS_URL") and os.environ.get("TEST_REDIS_CLUSTER") == "1":
        redis_kind = "a local cluster (3 masters, 3 replicas)"
    return [f"rewards-engine tests on {database}, Redis {redis_kind}"]


@pytest.fixture(scope="session")
def run_tag() -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"{worker}_{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="session")
def migrated_database_url(tmp_path_factory: pytest.TempPathFactory, run_tag: str) -> Iterator[str]:
    """The run's database, migrated once (for SQLite, a template copied for each test)."""
    with database_for_run(tmp_path_factory.mktemp("db"), run_tag) as url:
        database = Database(url)
        schema.upgrade_to_head(database.engine)
        database.dispose()
        yield url


@pytest.fixture
def database_url(migrated_database_url: str, tmp_path: Path) -> Iterator[str]:
    """A clean database for one test.

    SQLite: a fresh copy of the migrated template. PostgreSQL: the run's database,
    emptied after the test (TRUNCATE; the ledger's append-only triggers fire on row
    updates and deletes only).
    """
    if migrated_database_url.startswith("sqlite"):
        copy = tmp_path / "test.db"
        shutil.copyfile(migrated_database_url.removeprefix("sqlite:///"), copy)
        yield f"sqlite:///{copy}"
        return
    yield migrated_database_url
    truncate_all(migrated_database_url)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_for_run(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="session")
def base_settings(
    migrated_database_url: str,
    redis_url: str,
    run_tag: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Settings:
    return Settings(
        environment="test",
        instance_dir=tmp_path_factory.mktemp("instance"),
        database_url=migrated_database_url,
        redis_url=redis_url,
        redis_namespace=f"t{run_tag}",
        jwt_secret=TEST_JWT_SECRET,
        encryption_keys=(TEST_ENCRYPTION_KEY,),
        console_secret="test-console-" + "y" * 40,
        rate_limits=RateLimits(0, 0, 0, 0),  # on only where a test turns them on
    )


@pytest.fixture
def settings(base_settings: Settings, database_url: str) -> Iterator[Settings]:
    yield replace(base_settings, database_url=database_url)
    delete_namespace(base_settings.redis_url, base_settings.redis_namespace)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(DEFAULT_NOW)


@pytest.fixture
def runtime(settings: Settings, clock: FixedClock) -> Iterator[Runtime]:
    runtime = build_runtime(settings, clock=clock)
    yield runtime
    runtime.close()


def truncate_all(url: str) -> None:
    database = Database(url)
    tables = [table.name for table in metadata.sorted_tables]
    with database.engine.begin() as connection:
        if database.is_postgres:
            names = ", ".join(f'"{name}"' for name in tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for name in reversed(tables):
                connection.execute(text(f'DELETE FROM "{name}"'))
    database.dispose()


@pytest.fixture
def app(runtime: Runtime) -> Iterator[Flask]:
    yield app_for(runtime)


def app_for(runtime: Runtime, settings: Settings | None = None) -> Flask:
    """An app on ``runtime`` (so tests and the app share one clock and one pool), built
    with other settings where a test needs them."""
    from api.context import EXTENSION

    application = create_app(settings or runtime.settings, clock=runtime.clock)
    application.extensions[EXTENSION] = runtime
    return application


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def make_token(settings: Settings, subject: str, role: Role | str, ttl_s: int = 600) -> str:
    """A token valid now (PyJWT checks ``exp`` against the real clock)."""
    return issue_token(settings, subject, Role(role), timedelta(seconds=ttl_s), datetime.now(UTC))


@pytest.fixture
def auth(settings: Settings):  # type: ignore[no-untyped-def]
    """``auth("donor-1")`` or ``auth("agent", "support")``: an Authorization header."""

    def header(subject: str, role: Role | str = Role.DONOR) -> dict[str, str]:
        return {"Authorization": f"Bearer {make_token(settings, subject, role)}"}

    return header


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The environment a ``rewards-engine`` command run in-process reads: this test's."""
    environment = {
        "APP_ENV": "test",
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "REDIS_NAMESPACE": settings.redis_namespace,
        "JWT_SECRET": TEST_JWT_SECRET,
        "ENCRYPTION_KEYS": ",".join(settings.encryption_keys),
        "INSTANCE_DIR": str(settings.instance_dir),
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return settings


@pytest.fixture
def fixtures_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture
def live(cli_env: Settings) -> Iterator[Runtime]:
    """The test's own view of the database and Redis that the engine processes it starts
    use (``tests.support.processes.api_nodes``), on the real clock as they are, with the
    program's fixtures loaded."""
    from tests.support.factories import load_program

    runtime = build_runtime(cli_env)
    load_program(runtime)
    yield runtime
    runtime.close()
