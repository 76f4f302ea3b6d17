"""Notifications for every donor (a new campaign, a new consent text): recorded once
with the event, then fanned out by the ``notifications`` job a chunk of donors at a
time, each chunk in one transaction with the broadcast's progress, so a killed run
resumes where it stopped and nobody is notified twice (the key ``broadcast:{id}``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.clock import Clock
from rewards_engine.db import Database
from rewards_engine.domain.notifications import Kind
from rewards_engine.models import Donor, NotificationBroadcast
from rewards_engine.services.notifications.inbox import notify_many

CHUNK = 2_000


def broadcast(session: Session, now: datetime, kind: Kind, data: Mapping[str, Any]) -> None:
    """Record a notification for every active donor, in the caller's transaction."""
    session.add(NotificationBroadcast(kind=kind.value, data=dict(data), created_at=now))


def fan_out(db: Database, clock: Clock, chunk: int = CHUNK) -> dict[str, int]:
    """Notify the next donors of every broadcast not done; returns the counts."""
    notified = broadcasts = 0
    with db.read() as session:
        pending = list(
            session.scalars(
                select(col(NotificationBroadcast.id))
                .where(col(NotificationBroadcast.done_at).is_(None))
                .order_by(col(NotificationBroadcast.id))
            )
        )
    for broadcast_id in pending:
        broadcasts += 1
        while True:
            with db.transaction() as uow:
                session = uow.session
                item = session.get(NotificationBroadcast, broadcast_id, with_for_update=True)
                if item is None or item.done_at is not None:
                    break
                donors = list(
                    session.scalars(
                        select(col(Donor.id))
                        .where(col(Donor.id) >= item.next_donor_id, col(Donor.status) == "active")
                        .order_by(col(Donor.id))
                        .limit(chunk)
                    )
                )
                now = clock.now()
                kind, key = Kind(item.kind), f"broadcast:{item.id}"
                notified += notify_many(session, now, [(d, kind, key, item.data) for d in donors])
                if len(donors) < chunk:
                    item.done_at = now
                else:
                    item.next_donor_id = donors[-1] + 1
            if len(donors) < chunk:
                break
    return {"broadcasts": broadcasts, "notified": notified}
