"""Deliveries taken under a lease, and changed only while the lease is held.

A run takes due deliveries by one conditional UPDATE that only one run wins, marking
them with its lease; a run killed mid-way loses nothing, as its deliveries are due again
once the lease ends. Every later change names the lease, so a run that outlived it (and
whose deliveries another run took over) changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlmodel import col

from rewards_engine.db import changed_rows
from rewards_engine.domain.push import Status
from rewards_engine.models import Donor, Notification, PushDelivery, PushDevice, PushPreferences
from rewards_engine.runtime import Runtime


def _due(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(
            col(PushDelivery.status) == Status.PENDING.value,
            col(PushDelivery.next_attempt_at) <= now,
        ),
        and_(col(PushDelivery.status) == Status.SENDING.value, col(PushDelivery.lease_until) < now),
    )


def _take(runtime: Runtime, limit: int, lease: datetime) -> list[int]:
    """Take up to ``limit`` due deliveries (or ones whose run's lease ran out) under
    ``lease``, by one conditional UPDATE: two runs never take the same one."""
    now = runtime.clock.now()
    with runtime.db.transaction() as uow:
        ids = list(
            uow.session.scalars(
                select(col(PushDelivery.id))
                .where(_due(now))
                .order_by(col(PushDelivery.next_attempt_at), col(PushDelivery.id))
                .limit(limit)
            )
        )
        if not ids:
            return []
        taken = uow.session.execute(
            update(PushDelivery)
            .where(col(PushDelivery.id).in_(ids), _due(now))
            .values(
                status=Status.SENDING.value,
                lease_until=lease,
                attempts=col(PushDelivery.attempts) + 1,
                updated_at=now,
            )
            .returning(col(PushDelivery.id))
        )
        return sorted(taken.scalars())


@dataclass
class _Item:
    delivery: PushDelivery
    notification: Notification | None
    device: PushDevice | None
    donor: Donor | None
    preferences: PushPreferences | None
    lease: datetime  # this run's, while it holds the delivery


def _load(runtime: Runtime, ids: list[int]) -> list[_Item]:
    with runtime.db.read() as session:
        deliveries = list(
            session.scalars(select(PushDelivery).where(col(PushDelivery.id).in_(ids)))
        )
        notes = {
            n.id: n
            for n in session.scalars(
                select(Notification).where(
                    col(Notification.id).in_({d.notification_id for d in deliveries})
                )
            )
        }
        device_ids = {d.device_id for d in deliveries if d.device_id is not None}
        devices = {
            d.id: d
            for d in session.scalars(select(PushDevice).where(col(PushDevice.id).in_(device_ids)))
        }
        donor_ids = {d.donor_id for d in deliveries}
        donors = {
            d.id: d for d in session.scalars(select(Donor).where(col(Donor.id).in_(donor_ids)))
        }
        prefs = {
            p.donor_id: p
            for p in session.scalars(
                select(PushPreferences).where(col(PushPreferences.donor_id).in_(donor_ids))
            )
        }
        session.expunge_all()
    return [
        _Item(
            d,
            notes.get(d.notification_id),
            devices.get(d.device_id) if d.device_id is not None else None,
            donors.get(d.donor_id),
            prefs.get(d.donor_id),
            d.lease_until or datetime.max,  # set by the take
        )
        for d in deliveries
    ]


def _held(delivery_id: int, lease: datetime) -> ColumnElement[bool]:
    return and_(
        col(PushDelivery.id) == delivery_id,
        col(PushDelivery.status) == Status.SENDING.value,
        col(PushDelivery.lease_until) == lease,
    )


def _update(runtime: Runtime, delivery_id: int, lease: datetime, **values: object) -> bool:
    """Change a delivery this run still holds; False if another run took it over."""
    with runtime.db.transaction() as uow:
        values["updated_at"] = runtime.clock.now()
        return bool(
            changed_rows(
                uow.session, update(PushDelivery).where(_held(delivery_id, lease)).values(values)
            )
        )


def _finish(runtime: Runtime, item: _Item, status: Status, *, error: str) -> None:
    _update(
        runtime, item.delivery.id, item.lease, status=status.value, error=error, lease_until=None
    )
