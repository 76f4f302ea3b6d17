"""Queueing deliveries from the inbox, and forgetting old ones.

The inbox is the outbox: a notification is written with its event, and its delivery
rows are made from it here, at most once per notification and device (a unique key),
so a run that dies half-way queues nothing twice. Deliveries are purged as the inbox
forgets their notifications.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import select
from sqlmodel import col

from rewards_engine.db import changed_rows, delete_older, insert, table_of
from rewards_engine.domain.push import Status, collapse_key
from rewards_engine.models import Notification, PushDelivery, PushDevice
from rewards_engine.runtime import Runtime

QUEUE_CHUNK = 2_000


def queue(runtime: Runtime, platforms: Iterable[str]) -> int:
    """A delivery for each notification of the last PUSH_STALE_HOURS and each device of
    its donor registered before it (on a configured platform) that has none yet."""
    settings, now = runtime.settings.push, runtime.clock.now()
    since = now - timedelta(hours=settings.stale_hours)
    platforms = list(platforms)
    queued = 0
    while True:
        with runtime.db.transaction() as uow:
            session = uow.session
            pairs = session.execute(
                select(
                    col(Notification.id), col(Notification.donor_id), col(Notification.kind),
                    col(PushDevice.id),
                )
                .join(PushDevice, col(PushDevice.donor_id) == col(Notification.donor_id))
                .where(
                    col(Notification.created_at) >= since,
                    col(PushDevice.registered_at) <= col(Notification.created_at),
                    col(PushDevice.platform).in_(platforms),
                    ~select(col(PushDelivery.id))
                    .where(
                        col(PushDelivery.notification_id) == col(Notification.id),
                        col(PushDelivery.device_id) == col(PushDevice.id),
                    )
                    .exists(),
                )
                .limit(QUEUE_CHUNK)
            ).all()  # fmt: skip
            if pairs:
                values = [
                    {"notification_id": n, "donor_id": donor, "device_id": device, "kind": kind,
                     "collapse_key": collapse_key(kind), "status": Status.PENDING.value,
                     "attempts": 0, "next_attempt_at": now, "created_at": now, "updated_at": now}
                    for n, donor, kind, device in pairs
                ]  # fmt: skip
                statement = insert(session, table_of(PushDelivery)).values(values)
                queued += changed_rows(
                    session,
                    statement.on_conflict_do_nothing(
                        index_elements=["notification_id", "device_id"]
                    ),
                )
        if len(pairs) < QUEUE_CHUNK:
            return queued


def purge(runtime: Runtime) -> int:
    """Delete deliveries as old as the notifications the inbox forgets."""
    before = runtime.clock.now() - timedelta(days=runtime.settings.notification_retention_days)
    return delete_older(runtime.db, PushDelivery, col(PushDelivery.created_at), before)
