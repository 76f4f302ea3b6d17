"""Sending the deliveries a run takes: each is first judged (gone, stale, muted, in
quiet hours, out of attempts), several of a kind for one phone collapse into the newest,
the donor's daily cap is kept, and the rest are sent one by one, the lease renewed
before each so that a slow provider does not let another run take them over.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlmodel import col

from rewards_engine.domain.push import Status, day_start, quiet_until
from rewards_engine.models import Donor, PushDelivery
from rewards_engine.providers.push import PushSender
from rewards_engine.runtime import Runtime
from rewards_engine.services.push.leases import _finish, _Item, _load, _take, _update
from rewards_engine.services.push.outcomes import _message, _record, _send
from rewards_engine.services.push.preferences import effective
from rewards_engine.services.push.report import PushReport


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
