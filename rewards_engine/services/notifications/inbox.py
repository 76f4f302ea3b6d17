"""Writing notifications (inside the caller's transaction) and the donor's inbox."""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.clock import Clock
from rewards_engine.db import Database, changed_rows, delete_older, insert, table_of
from rewards_engine.domain.errors import NotFound
from rewards_engine.domain.languages import DEFAULT_LANGUAGE, localised
from rewards_engine.domain.notifications import Kind, render
from rewards_engine.models import MedalDefinition, Notification
from rewards_engine.pagination import Page, fetch_page
from rewards_engine.services.notifications import live


def notify(
    session: Session, now: datetime, donor_id: int, kind: Kind, key: str, data: Mapping[str, Any]
) -> None:
    """Notify the donor, in the caller's transaction: it commits with the event, or not
    at all. ``key`` names the event (``redemption:12:shipped``): the same key again for
    the same donor is ignored, so a retried event never notifies twice."""
    notify_many(session, now, [(donor_id, kind, key, data)])


def notify_many(
    session: Session,
    now: datetime,
    rows: Iterable[tuple[int, Kind, str, Mapping[str, Any]]],
) -> int:
    values = [
        {"donor_id": donor, "kind": kind.value, "key": key[:200], "data": dict(data),
         "created_at": now}
        for donor, kind, key, data in rows
    ]  # fmt: skip
    if not values:
        return 0
    statement = insert(session, table_of(Notification)).values(values)
    table = table_of(Notification)
    done = session.execute(
        statement.on_conflict_do_nothing(index_elements=["donor_id", "key"]).returning(
            table.c.id, table.c.donor_id
        )
    ).all()
    live.note_notified(session, {row.donor_id for row in done})  # signalled after the commit
    return len(done)


@dataclass(frozen=True)
class NotificationView:
    id: int
    kind: str
    title: str
    body: str
    data: dict[str, Any]
    created_at: datetime
    read_at: datetime | None


@functools.cache
def _texts(path: Path) -> dict[str, dict[str, Any]]:
    with path.open("rb") as file:
        return tomllib.load(file)


def texts(fixtures_dir: Path) -> dict[str, dict[str, Any]]:
    """The notification texts of fixtures/notifications.toml, read once per process."""
    return _texts(fixtures_dir / "notifications.toml")


def _view(
    row: Notification, language: str, fixtures_dir: Path, medal_names: Mapping[str, str]
) -> NotificationView:
    data = row.data
    if row.kind == Kind.MEDAL_AWARDED and medal_names:  # the medals' names in the language
        names = [medal_names.get(code, name) for code, name in zip(
            data.get("codes", []), data.get("medals", []), strict=False)]  # fmt: skip
        data = {**data, "medals": names}
    title, body = render(texts(fixtures_dir), language, row.kind, data)
    return NotificationView(row.id, row.kind, title, body, row.data, row.created_at, row.read_at)


def _medal_names(session: Session, language: str) -> dict[str, str]:
    rows = session.execute(
        select(
            col(MedalDefinition.code), col(MedalDefinition.name), col(MedalDefinition.translations)
        ).order_by(col(MedalDefinition.version))
    )
    return {
        code: localised({"name": name}, translations, language)["name"]
        for code, name, translations in rows  # the newest version last: it wins
    }


def list_notifications(
    db: Database,
    donor_id: int,
    language: str,
    fixtures_dir: Path,
    *,
    limit: int,
    cursor: str | None,
    unread: bool = False,
) -> Page[NotificationView]:
    """The donor's notifications, newest first, in ``language``."""
    query = select(Notification).where(col(Notification.donor_id) == donor_id)
    if unread:
        query = query.where(col(Notification.read_at).is_(None))
    with db.read() as session:
        page = fetch_page(
            session,
            query,
            kind="notifications",
            columns=[col(Notification.id)],
            types=[int],
            limit=limit,
            cursor=cursor,
        )
        names = _medal_names(session, language) if language != DEFAULT_LANGUAGE else {}
        return page.map(lambda row: _view(row, language, fixtures_dir, names))


def unread_count(db: Database, donor_id: int) -> int:
    with db.read() as session:
        return (
            session.scalar(
                select(func.count()).where(
                    col(Notification.donor_id) == donor_id, col(Notification.read_at).is_(None)
                )
            )
            or 0
        )


def mark_read(
    db: Database, clock: Clock, donor_id: int, notification_id: int, language: str,
    fixtures_dir: Path,
) -> NotificationView:  # fmt: skip
    """Mark one read (again: it keeps its first read time); another donor's is 404."""
    with db.transaction() as uow:
        row = uow.session.get(Notification, notification_id)
        if row is None or row.donor_id != donor_id:
            raise NotFound(f"no notification {notification_id}", code="notification_not_found")
        if row.read_at is None:
            row.read_at = clock.now()
        names = _medal_names(uow.session, language) if language != DEFAULT_LANGUAGE else {}
        return _view(row, language, fixtures_dir, names)


def mark_all_read(db: Database, clock: Clock, donor_id: int, up_to_id: int | None) -> int:
    """Mark every unread one read, or those up to ``up_to_id`` (the newest the app
    showed: one arriving meanwhile stays unread). Returns how many changed."""
    condition = [col(Notification.donor_id) == donor_id, col(Notification.read_at).is_(None)]
    if up_to_id is not None:
        condition.append(col(Notification.id) <= up_to_id)
    with db.transaction() as uow:
        return changed_rows(
            uow.session, update(Notification).where(*condition).values(read_at=clock.now())
        )


def delete_notification(db: Database, donor_id: int, notification_id: int) -> None:
    with db.transaction() as uow:
        gone = changed_rows(
            uow.session,
            delete(Notification).where(
                col(Notification.id) == notification_id, col(Notification.donor_id) == donor_id
            ),
        )
    if not gone:
        raise NotFound(f"no notification {notification_id}", code="notification_not_found")


def purge_old(db: Database, clock: Clock, keep_days: int) -> int:
    """Delete notifications older than ``keep_days``."""
    before = clock.now() - timedelta(days=keep_days)
    return delete_older(db, Notification, col(Notification.created_at), before)
