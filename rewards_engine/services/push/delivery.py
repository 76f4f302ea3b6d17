"""Sending the inbox to phones: the ``push`` job (docs/push.md).

Each run first queues one delivery per new notification and device of its donor (the
inbox is the outbox: the notification was written with its event, the delivery row is
made from it here, at most once per pair by a unique key), then takes due deliveries
under a lease (a conditional UPDATE only one run wins; a killed run's deliveries are
taken again when its lease ends) and sends each through its provider, recording the
answer only while it still holds the lease.

A push is sent once. If the run dies between the provider's answer and recording it,
the next run sends it again, with the same collapse id: the phone replaces the first
with the second rather than showing both.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, or_, select, update
from sqlmodel import col

from rewards_engine.db import changed_rows, insert, table_of
from rewards_engine.domain.notifications import render
from rewards_engine.domain.push import (
    Answer,
    Outcome,
    Status,
    backoff,
    collapse_key,
    day_start,
    payload_data,
    push_language,
    quiet_until,
)
from rewards_engine.models import Donor, Notification, PushDelivery, PushDevice, PushPreferences
from rewards_engine.providers.push import PushMessage, PushSender
from rewards_engine.runtime import Runtime
from rewards_engine.services.notifications.inbox import texts
from rewards_engine.services.push.devices import forget_device
from rewards_engine.services.push.preferences import effective

log = logging.getLogger(__name__)
QUEUE_CHUNK = 2_000
PURGE_CHUNK = 5_000
_rng = random.SystemRandom()


@dataclass
class PushReport:
    off: bool = False
    queued: int = 0
    taken: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)  # sent, retry, gone, failed...
    deferred: int = 0  # in quiet hours: sent when they end
    lost: int = 0  # another run took it over (this one outlived its lease)
    purged: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "off": int(self.off),
            "queued": self.queued,
            "taken": self.taken,
            **dict(sorted(self.outcomes.items())),
            "deferred": self.deferred,
            "lost": self.lost,
            "purged": self.purged,
        }


def run(
    runtime: Runtime, *, on_progress: Callable[[str, int, int | None], None] | None = None
) -> PushReport:
    """One run of the ``push`` job. With no provider configured push is off: nothing is
    queued nor sent (the inbox works as ever)."""
    report = PushReport()
    if not runtime.settings.push.configured:
        report.off = True
        return report
    senders = runtime.push_senders  # built by the bootstrap, once per process
    report.queued = queue(runtime, senders.keys())
    send_due(runtime, senders, report, on_progress=on_progress)
    report.purged = purge(runtime)
    log.info("push run", extra={"fields": report.as_dict()})
    return report


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


def _sent_today(runtime: Runtime, donor: Donor, now: datetime) -> set[int]:
    """The notifications pushed to the donor since their local midnight."""
    with runtime.db.read() as session:
        return set(
            session.scalars(
                select(col(PushDelivery.notification_id))
                .where(
                    col(PushDelivery.donor_id) == donor.id,
                    col(PushDelivery.status) == Status.SENT.value,
                    col(PushDelivery.sent_at) >= day_start(now, donor.timezone),
                )
                .distinct()
            )
        )


def send_due(
    runtime: Runtime,
    senders: Mapping[str, PushSender],
    report: PushReport,
    *,
    on_progress: Callable[[str, int, int | None], None] | None = None,
) -> None:
    settings = runtime.settings.push
    now = runtime.clock.now()
    ids = _take(runtime, settings.batch, now + timedelta(seconds=settings.lease_s))
    report.taken = len(ids)
    if not ids:
        return
    ready: list[_Item] = []
    for item in _load(runtime, ids):
        verdict = _verdict(runtime, item, now)
        if verdict is None:
            ready.append(item)
        elif verdict == "deferred":
            report.deferred += 1
        else:
            report.outcomes[verdict] += 1
    # Several of a kind queued for one phone make one push, the newest: the others
    # collapse (ten medals, one sound).
    newest: dict[tuple[int, str], int] = {}
    for item in ready:
        group = (item.delivery.device_id or 0, item.delivery.collapse_key)
        newest[group] = max(newest.get(group, 0), item.delivery.notification_id)
    pushed: dict[int, set[int]] = {}  # per donor, the notifications pushed today
    for done, item in enumerate(sorted(ready, key=lambda i: i.delivery.id), start=1):
        delivery, donor, device = item.delivery, item.donor, item.device
        assert donor is not None and device is not None
        if on_progress:
            on_progress("pushes", done, len(ready))
        if newest[(device.id, delivery.collapse_key)] != delivery.notification_id:
            _finish(runtime, item, Status.COLLAPSED, error="a newer one went")
            report.outcomes["collapsed"] += 1
            continue
        if settings.daily_cap:
            if donor.id not in pushed:
                pushed[donor.id] = _sent_today(runtime, donor, now)
            today = pushed[donor.id]
            if delivery.notification_id not in today and len(today) >= settings.daily_cap:
                _finish(runtime, item, Status.SKIPPED, error="daily_cap")
                report.outcomes["skipped_daily_cap"] += 1
                continue
        renewed = runtime.clock.now() + timedelta(seconds=settings.lease_s)
        if not _update(runtime, delivery.id, item.lease, lease_until=renewed):
            report.lost += 1
            continue
        item.lease = renewed
        answer = _send(senders[device.platform], _message(runtime, item))
        outcome = _record(runtime, item, answer)
        if outcome == "sent" and donor.id in pushed:
            pushed[donor.id].add(delivery.notification_id)
        report.outcomes[outcome] += 1


def _verdict(runtime: Runtime, item: _Item, now: datetime) -> str | None:
    """Why this delivery is not sent now (its outcome, or ``deferred``), or None."""
    settings, delivery = runtime.settings.push, item.delivery
    if item.notification is None:
        _finish(runtime, item, Status.CANCELLED, error="notification_gone")
        return "cancelled"
    if item.device is None or item.device.donor_id != delivery.donor_id or item.donor is None:
        _finish(runtime, item, Status.CANCELLED, error="device_gone")
        return "cancelled"
    if item.donor.status != "active":
        _finish(runtime, item, Status.CANCELLED, error="donor_inactive")
        return "cancelled"
    if now - item.notification.created_at > timedelta(hours=settings.stale_hours):
        _finish(runtime, item, Status.SKIPPED, error="stale")
        return "skipped_stale"
    preferences = effective(item.preferences, settings)
    if delivery.kind in preferences.muted:
        _finish(runtime, item, Status.SKIPPED, error="muted")
        return "skipped_muted"
    if delivery.attempts > settings.max_attempts:
        _finish(runtime, item, Status.FAILED, error=delivery.error or "attempts")
        return "failed"
    until = quiet_until(now, item.donor.timezone, preferences.quiet)
    if until is not None:
        _update(
            runtime, delivery.id, item.lease,
            status=Status.PENDING.value, next_attempt_at=until, lease_until=None,
            attempts=delivery.attempts - 1,  # waiting is no attempt
        )  # fmt: skip
        return "deferred"
    return None


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


def _message(runtime: Runtime, item: _Item) -> PushMessage:
    assert item.notification is not None and item.device is not None and item.donor is not None
    note = item.notification
    written = texts(runtime.settings.fixtures_dir)
    language = push_language(item.donor.locale, item.device.locale, written)
    title, body = render(written, language, note.kind, note.data)
    return PushMessage(
        token=item.device.token,
        title=title,
        body=body,
        data=payload_data(note.id, note.kind, note.data),
        collapse_key=item.delivery.collapse_key,
        expires_at=note.created_at + timedelta(hours=runtime.settings.push.stale_hours),
    )


def _send(sender: PushSender, message: PushMessage) -> Answer:
    try:
        return sender.send(message)
    except Exception as exc:  # no answer (timeout, connection refused): as a 5xx
        return Answer(Outcome.RETRY, error=f"no answer: {type(exc).__name__}")


def _record(runtime: Runtime, item: _Item, answer: Answer) -> str:
    """Record the provider's answer, if this run still holds the delivery."""
    assert item.device is not None
    delivery, lease, now = item.delivery, item.lease, runtime.clock.now()
    settings = runtime.settings.push
    fields = {"device": item.device.id, "delivery": delivery.id, "error": answer.error}
    if answer.outcome is Outcome.SENT:
        _update(
            runtime, delivery.id, lease, status=Status.SENT.value, message_id=answer.message_id,
            sent_at=now, lease_until=None, error=None,
        )  # fmt: skip
        return "sent"
    if answer.outcome is Outcome.GONE:
        with runtime.db.transaction() as uow:
            held = changed_rows(
                uow.session,
                update(PushDelivery)
                .where(_held(delivery.id, lease))
                .values(status=Status.FAILED.value, error=answer.error, lease_until=None,
                        updated_at=now),
            )  # fmt: skip
            if held:
                forget_device(uow.session, now, item.device.id, "token_gone")
        log.info("a device's token is gone: removed", extra={"fields": fields})
        return "gone"
    if answer.outcome is Outcome.RETRY and delivery.attempts < settings.max_attempts:
        wait = backoff(delivery.attempts, answer.retry_after_s, _rng)
        _update(
            runtime, delivery.id, lease, status=Status.PENDING.value, error=answer.error,
            next_attempt_at=now + wait, lease_until=None,
        )  # fmt: skip
        log.info(
            "a push will be retried",
            extra={"fields": {**fields, "in_s": int(wait.total_seconds())}},
        )
        return "retry"
    _update(
        runtime, delivery.id, lease, status=Status.FAILED.value, error=answer.error,
        lease_until=None,
    )  # fmt: skip
    log.warning("a push failed", extra={"fields": fields})
    return "failed"


def purge(runtime: Runtime) -> int:
    """Delete deliveries as old as the notifications the inbox forgets."""
    before = runtime.clock.now() - timedelta(days=runtime.settings.notification_retention_days)
    purged = 0
    while True:
        with runtime.db.transaction() as uow:
            ids = list(
                uow.session.scalars(
                    select(col(PushDelivery.id))
                    .where(col(PushDelivery.created_at) < before)
                    .limit(PURGE_CHUNK)
                )
            )
            if ids:
                uow.session.execute(delete(PushDelivery).where(col(PushDelivery.id).in_(ids)))
        purged += len(ids)
        if len(ids) < PURGE_CHUNK:
            return purged
