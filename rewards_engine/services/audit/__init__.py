"""The audit log: every support and admin action, with who, what, before, after, why.

Records are hash-chained (``rewards_engine.domain.audit_chain``) and insert-only
(migration 0021's triggers). ``record`` keeps a record with its session and chains it
when the session commits: the chain's lock (``lock_keys``, an advisory lock on
PostgreSQL; SQLite's writers run one at a time anyway) is then held for the commit only,
and is the last lock the transaction takes, so it never waits in a cycle with the rows
the use case locked. ``chain`` verifies and exports the log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.clock import Clock
from rewards_engine.db import Database, lock_keys, row_view
from rewards_engine.domain import audit_chain as rules
from rewards_engine.domain.actors import Actor
from rewards_engine.models import AuditRecord
from rewards_engine.pagination import Page, fetch_page

PENDING = "audit_pending"  # session.info key: the records to chain at commit
ERASED = "erased"  # what readers see of an erased reason


def record(
    session: Session,
    clock: Clock,
    actor: Actor,
    *,
    action: str,
    target_type: str,
    target_id: str | int,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
) -> AuditRecord:
    """Add an audit record to the caller's transaction (it commits or rolls back with it).

    The record is written, chained, when the session commits (``_chain_pending``).
    """
    entry = AuditRecord(
        created_at=clock.now(),
        actor_id=actor.id,
        actor_role=actor.role,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        # As the JSON column will give them back (tuples as lists ...): what is digested.
        before=_as_stored(before),
        after=_as_stored(after),
        reason=reason,
        request_id=actor.request_id,
    )
    pending = session.info.get(PENDING)
    if pending is None:
        pending = session.info[PENDING] = []
        event.listen(session, "before_commit", _chain_pending)
        event.listen(session, "after_rollback", _forget_pending)
    pending.append(entry)
    return entry


def _as_stored(value: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if value is None else json.loads(json.dumps(value))


def _forget_pending(session: Session) -> None:
    session.info.pop(PENDING, None)


def _chain_pending(session: Session) -> None:
    """Number, link and hash the session's new records, under the chain's lock."""
    entries: list[AuditRecord] = session.info.pop(PENDING, None) or []
    if not entries:
        return
    # The use case's own writes first: once the chain's lock is held, the transaction
    # only inserts audit rows, so it never waits for a row lock while others queue on it.
    pass  # session.flush()
    lock_keys(session, "audit", ["chain"])
    last = session.execute(
        select(col(AuditRecord.seq), col(AuditRecord.record_hash))
        .order_by(col(AuditRecord.seq).desc())
        .limit(1)
    ).first()
    seq, prev = (last[0], last[1]) if last is not None else (0, rules.GENESIS)
    for entry in entries:
        digests: dict[str, str | None] = {}
        for name in rules.VALUE_FIELDS:
            value = getattr(entry, name)
            nonce = None if value is None else rules.new_nonce()
            digests[name] = None if nonce is None else rules.value_digest(nonce, value)
            setattr(entry, f"{name}_nonce", nonce)
            setattr(entry, f"{name}_digest", digests[name])
        seq += 1
        entry.seq, entry.prev_hash = seq, prev
        prev = entry.record_hash = rules.record_hash(
            seq=seq,
            prev_hash=prev,
            created_at=entry.created_at,
            facts={name: getattr(entry, name) for name in rules.FACT_FIELDS},
            digests=digests,
        )
        session.add(entry)


@dataclass(frozen=True)
class AuditEntry:
    """One audit record as support reads it."""

    id: int
    created_at: datetime
    actor_id: str
    actor_role: str
    action: str
    target_type: str
    target_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None
    request_id: str | None


@dataclass(frozen=True)
class AuditFilter:
    actor_id: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def list_records(
    db: Database, filters: AuditFilter, *, limit: int, cursor: str | None
) -> Page[AuditEntry]:
    """Newest first, filtered by actor, target, action and time."""
    query = select(AuditRecord)
    for column, value in (
        (col(AuditRecord.actor_id), filters.actor_id),
        (col(AuditRecord.target_type), filters.target_type),
        (col(AuditRecord.target_id), filters.target_id),
        (col(AuditRecord.action), filters.action),
    ):
        if value is not None:
            query = query.where(column == value)
    if filters.since is not None:
        query = query.where(col(AuditRecord.created_at) >= filters.since)
    if filters.until is not None:
        query = query.where(col(AuditRecord.created_at) < filters.until)
    with db.read() as session:
        return fetch_page(
            session,
            query,
            kind="audit",
            columns=(col(AuditRecord.created_at), col(AuditRecord.id)),
            types=(datetime, int),
            limit=limit,
            cursor=cursor,
        ).map(_entry)


def _entry(row: AuditRecord) -> AuditEntry:
    entry = row_view(AuditEntry, row)
    if row.reason is None and row.reason_digest is not None:  # erased: say so
        return replace(entry, reason=ERASED)
    return entry
