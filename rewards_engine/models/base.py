"""Shared column helpers and the metadata every table registers on."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Integer
from sqlmodel import Field, SQLModel

from rewards_engine.clock import utcnow
from rewards_engine.db import UTCDateTime

# Deterministic constraint names, so that Alembic can find and change them later.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = SQLModel.metadata

BIG_INT = BigInteger().with_variant(Integer(), "sqlite")


def timestamp(*, nullable: bool = False, index: bool = False, default: bool = True) -> Any:
    """A UTC timestamp column; ``default`` stamps the time of the insert."""
    kwargs: dict[str, Any] = {"sa_type": UTCDateTime(), "nullable": nullable, "index": index}
    if default:
        kwargs["default_factory"] = utcnow
    else:
        kwargs["default"] = None
    return Field(**kwargs)


def json_column(*, nullable: bool = False) -> Any:
    return Field(sa_column=Column(JSON, nullable=nullable))


def big_id() -> Any:
    """A 64-bit surrogate key (clips and ledger entries reach the billions).

    On SQLite only ``INTEGER PRIMARY KEY`` is the auto-incrementing rowid, which is
    64-bit there anyway.
    """
    return Field(default=None, sa_type=BIG_INT, primary_key=True)


__all__ = ["Field", "SQLModel", "datetime", "json_column", "metadata", "timestamp"]
