"""A donor's phones: registered (again) by the app, listed, removed. The token is never
logged nor shown back."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.clock import Clock
from rewards_engine.db import Database, changed_rows, insert, row_view, table_of
from rewards_engine.domain.errors import InvalidInput, NotFound
from rewards_engine.domain.push import PLATFORMS, Status, token_hash, token_problem
from rewards_engine.models import PushDelivery, PushDevice
from rewards_engine.pagination import Page, fetch_page

log = logging.getLogger(__name__)
OPEN = (Status.PENDING.value, Status.SENDING.value)


@dataclass(frozen=True)
class DeviceView:
    id: int
    platform: str
    app_version: str | None
    locale: str | None
    created_at: datetime
    registered_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Registered:
    device: DeviceView
    created: bool


def register_device(
    db: Database,
    clock: Clock,
    donor_id: int,
    *,
    platform: str,
    token: str,
    app_version: str | None = None,
    locale: str | None = None,
) -> Registered:
    """Register the app's token for the donor. The same token again updates its row
    (idempotent); a token another donor registered moves to this one (the phone
    changed hands or accounts), and what was queued for the other donor is not sent."""
    if platform not in PLATFORMS:
        raise InvalidInput(f"platform must be one of {', '.join(PLATFORMS)}", field="platform")
    problem = token_problem(platform, token)
    if problem:
        raise InvalidInput(f"token: {problem}", code="invalid_token", field="token")
    now, hashed = clock.now(), token_hash(token)
    with db.transaction() as uow:
        session = uow.session
        values = {
            "donor_id": donor_id, "platform": platform, "token": token, "token_hash": hashed,
            "app_version": app_version, "locale": locale, "created_at": now,
            "registered_at": now, "updated_at": now,
        }  # fmt: skip
        created = session.execute(
            insert(session, table_of(PushDevice))
            .values(values)
            .on_conflict_do_nothing(index_elements=["platform", "token_hash"])
            .returning(table_of(PushDevice).c.id)
        ).scalar()
        row = session.scalars(
            select(PushDevice)
            .where(col(PushDevice.platform) == platform, col(PushDevice.token_hash) == hashed)
            .with_for_update()
        ).one()
        if created is None:
            if row.donor_id != donor_id:
                _cancel_open(session, now, row.id, "device_moved")
                log.info("a device moved to another donor", extra={"fields": {"device": row.id}})
                row.donor_id, row.registered_at = donor_id, now
            row.token, row.app_version, row.locale, row.updated_at = token, app_version, locale, now
            session.flush()
        return Registered(row_view(DeviceView, row), created is not None)


def _cancel_open(session: Session, now: datetime, device_id: int, why: str) -> None:
    session.execute(
        update(PushDelivery)
        .where(col(PushDelivery.device_id) == device_id, col(PushDelivery.status).in_(OPEN))
        .values(status=Status.CANCELLED.value, error=why, lease_until=None, updated_at=now)
    )


def forget_device(session: Session, now: datetime, device_id: int, why: str) -> int:
    """Remove a device (the donor's call, or its provider said the token is dead): what
    was queued for it is cancelled, and its deliveries keep their outcome without it."""
    _cancel_open(session, now, device_id, why)
    session.execute(
        update(PushDelivery).where(col(PushDelivery.device_id) == device_id).values(device_id=None)
    )
    return changed_rows(session, delete(PushDevice).where(col(PushDevice.id) == device_id))


def list_devices(
    db: Database, donor_id: int, *, limit: int, cursor: str | None
) -> Page[DeviceView]:
    """The donor's devices, newest first."""
    query = select(PushDevice).where(col(PushDevice.donor_id) == donor_id)
    with db.read() as session:
        page = fetch_page(
            session,
            query,
            kind="devices",
            columns=[col(PushDevice.id)],
            types=[int],
            limit=limit,
            cursor=cursor,
        )
        return page.map(lambda row: row_view(DeviceView, row))


def delete_device(db: Database, clock: Clock, donor_id: int, device_id: int) -> None:
    """Remove one of the donor's devices; another donor's, or one gone, is 404."""
    with db.transaction() as uow:
        row = uow.session.get(PushDevice, device_id, with_for_update=True)
        if row is None or row.donor_id != donor_id:
            raise NotFound(f"no device {device_id}", code="device_not_found")
        forget_device(uow.session, clock.now(), device_id, "device_removed")


def erase_donor_push(session: Session, donor_id: int) -> dict[str, int]:
    """Erasure: the donor's deliveries, devices (tokens) and preferences go."""
    from rewards_engine.models import PushPreferences

    deliveries = changed_rows(
        session, delete(PushDelivery).where(col(PushDelivery.donor_id) == donor_id)
    )
    devices = changed_rows(session, delete(PushDevice).where(col(PushDevice.donor_id) == donor_id))
    session.execute(delete(PushPreferences).where(col(PushPreferences.donor_id) == donor_id))
    return {"push_devices": devices, "push_deliveries": deliveries}


def export_devices(session: Session, donor_id: int) -> list[dict[str, object]]:
    """The export's list of the donor's phones: never their tokens."""
    rows = session.scalars(
        select(PushDevice).where(col(PushDevice.donor_id) == donor_id).order_by(col(PushDevice.id))
    )
    return [
        {"platform": d.platform, "app_version": d.app_version, "locale": d.locale,
         "created_at": d.created_at, "registered_at": d.registered_at}
        for d in rows
    ]  # fmt: skip
