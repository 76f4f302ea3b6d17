"""Idempotency keys for writes a client may retry.

The key row is inserted in the same transaction as the write it guards. A second
request with the same key therefore waits on the first (PostgreSQL blocks the
conflicting insert until the first transaction ends; SQLite runs one writer at a
time) and then finds the stored result, which it replays. A key reused for another
request is refused. If the first request fails, its key row rolls back with it and
the key is free for a retry.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.db import Database, changed_rows, insert, table_of
from rewards_engine.domain.errors import InvalidInput
from rewards_engine.models import IdempotencyKey

MAX_KEY_LENGTH = 255
RETENTION = timedelta(days=7)  # at least the 24 hours promised to clients


@dataclass(frozen=True)
class Idempotency:
    """A client's key for one operation and the request it came with."""

    scope: str  # whose key space: "donor:<id>", "support:<sub>", ...
    key: str
    operation: str
    fingerprint: str

    @classmethod
    def for_request(
        cls, scope: str, key: str | None, operation: str, request: Any
    ) -> Idempotency | None:
        """``request`` is the request as data, or a function that returns it (called
        only when there is a key to fingerprint)."""
        if key is None:
            return None
        if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable() or not key.isascii():
            raise InvalidInput(
                f"an Idempotency-Key has 1 to {MAX_KEY_LENGTH} printable ASCII characters",
                code="invalid_idempotency_key",
                field="Idempotency-Key",
                location="headers",
            )
        data = request() if callable(request) else request
        canonical = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
        fingerprint = hashlib.sha256(f"{operation}\n{canonical}".encode()).hexdigest()
        return cls(scope, key, operation, fingerprint)


def claim(session: Session, idempotency: Idempotency | None, now: datetime) -> Any | None:
    """Take the key for this request; return the stored result if it was used before."""
    if idempotency is None:
        return None
    keys = table_of(IdempotencyKey)
    inserted = session.execute(
        insert(session, keys)
        .values(
            scope=idempotency.scope,
            key=idempotency.key,
            operation=idempotency.operation,
            fingerprint=idempotency.fingerprint,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["scope", "key"])
        .returning(keys.c.id)
    ).scalar()
    if inserted is not None:
        return None
    row = session.scalars(
        select(IdempotencyKey).where(
            col(IdempotencyKey.scope) == idempotency.scope,
            col(IdempotencyKey.key) == idempotency.key,
        )
    ).one()
    if row.fingerprint != idempotency.fingerprint or row.operation != idempotency.operation:
        raise InvalidInput(
            "this Idempotency-Key was used for a different request; use a new key",
            code="idempotency_key_reused",
            field="Idempotency-Key",
            location="headers",
        )
    return row.result


def store(session: Session, idempotency: Idempotency | None, result: Any) -> None:
    if idempotency is None:
        return
    session.execute(
        update(IdempotencyKey)
        .where(
            col(IdempotencyKey.scope) == idempotency.scope,
            col(IdempotencyKey.key) == idempotency.key,
        )
        .values(result=result)
    )


def purge_expired(db: Database, now: datetime, retention: timedelta = RETENTION) -> int:
    """Forget keys older than the retention period; returns how many."""
    with db.transaction() as uow:
        purged = changed_rows(
            uow.session,
            delete(IdempotencyKey).where(col(IdempotencyKey.created_at) < now - retention),
        )
    return purged
