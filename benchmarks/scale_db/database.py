"""The benchmark's own database, ``rewards_scale``: where it is, the comment that
marks it as filled at a given size, and creating it afresh, migrated."""

from __future__ import annotations

import os

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from benchmarks.common import POSTGRES, _migrate
from rewards_engine.config import normalise_database_url

DATABASE = "rewards_scale"


def base_url() -> str:
    return os.environ.get("BENCH_DATABASE_URL", POSTGRES)


def database_url() -> str:
    url = make_url(normalise_database_url(base_url())).set(database=DATABASE)
    return url.render_as_string(hide_password=False)


def libpq_url() -> str:
    return (
        make_url(base_url())
        .set(database=DATABASE, drivername="postgresql")
        .render_as_string(hide_password=False)
    )


def marker(donors: int, clips: int) -> str:
    return f"scale_db donors={donors} clips={clips}"


def existing_marker() -> str | None:
    admin = create_engine(normalise_database_url(base_url()), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            return connection.execute(
                text(
                    "SELECT coalesce(shobj_description(oid, 'pg_database'), '') "
                    "FROM pg_database WHERE datname = :name"
                ),
                {"name": DATABASE},
            ).scalar()
    finally:
        admin.dispose()


def recreate_database() -> None:
    admin = create_engine(normalise_database_url(base_url()), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{DATABASE}"'))
    finally:
        admin.dispose()
    _migrate(database_url())
