"""The audit log: every support and admin action, with who, what, before, after, why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.clock import Clock
from rewards_engine.db import Database, row_view
from rewards_engine.domain.actors import Actor
from rewards_engine.models import AuditRecord
from rewards_engine.pagination import Page, fetch_page


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
    """Add an audit record to the caller's transaction (it commits or rolls back with it)."""
    entry = AuditRecord(
        created_at=clock.now(),
        actor_id=actor.id,
        actor_role=actor.role,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        before=before,
        after=after,
        reason=reason,
        request_id=actor.request_id,
    )
    session.add(entry)
    return entry


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
        ).map(lambda row: row_view(AuditEntry, row))
