"""Alembic environment: runs revisions against the engine's database.

``rewards-engine migrate`` passes a connection in ``config.attributes``; plain
``alembic -c migrations/alembic.ini upgrade head`` uses ``DATABASE_URL``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

import rewards_engine.models  # noqa: F401  (registers every table)
from rewards_engine.config import Settings, normalise_database_url
from rewards_engine.models import metadata

config = context.config


def _configure(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER much
        compare_type=True,
    )


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url") or Settings.from_env(needs=()).database_url
    engine = create_engine(normalise_database_url(url), poolclass=pool.NullPool)
    with engine.connect() as connection:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
