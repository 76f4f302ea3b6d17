"""The real database and Redis a test run uses, created for the run and removed after.

``TEST_DATABASE_URL`` (PostgreSQL) and ``TEST_REDIS_URL`` select servers; without
them the run uses a SQLite file and an embedded Redis server of its own, as the
engine does by default. Each run gets its own PostgreSQL database and its own Redis
key namespace, so two runs in a row, or side by side, never see each other's data.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from rewards_engine.config import normalise_database_url
from rewards_engine.redis_client import connect_redis
from rewards_engine.redis_server import EmbeddedRedis


@contextmanager
def database_for_run(tmp_dir: Path, tag: str) -> Iterator[str]:
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_dir / f'test-{tag}.db'}"
        return
    base = normalise_database_url(base)
    name = f"rewards_test_{tag}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def redis_for_run(tmp_dir: Path) -> Iterator[str]:
    """TEST_REDIS_URL's server; with TEST_REDIS_CLUSTER=1 a local Redis Cluster of three
    masters and three replicas started for the run; else an embedded server."""
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        yield url
        return
    if os.environ.get("TEST_REDIS_CLUSTER") == "1":
        from tests.support.cluster import LocalCluster

        cluster = LocalCluster(tmp_dir / "cluster").start()
        try:
            yield cluster.url
        finally:
            cluster.stop()
        return
    server = EmbeddedRedis(tmp_dir / "redis")
    server.ensure_running()
    try:
        yield server.url
    finally:
        server.stop()


def delete_namespace(url: str, namespace: str) -> None:
    client = connect_redis(url)
    try:
        keys = list(client.scan_iter(match=f"{{{namespace}:*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
    finally:
        client.close()
