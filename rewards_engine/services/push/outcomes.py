"""One push sent through its provider, and the provider's answer recorded.

The message is written in the reader's language, with the delivery's collapse id (a
resend after a crash replaces the first on the phone). An answer is recorded only while
the run still holds the delivery: a token the provider says is gone removes its device
in the same transaction, and a retry waits the provider's or our backoff.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta

from sqlalchemy import update

from rewards_engine.db import changed_rows
from rewards_engine.domain.notifications import render
from rewards_engine.domain.push import (
    Answer,
    Outcome,
    Status,
    backoff,
    payload_data,
    push_language,
)
from rewards_engine.models import PushDelivery
from rewards_engine.providers.push import PushMessage, PushSender
from rewards_engine.runtime import Runtime
from rewards_engine.services.notifications.inbox import texts
from rewards_engine.services.push.devices import forget_device
from rewards_engine.services.push.leases import _held, _Item, _update

log = logging.getLogger(__name__)
_rng = random.SystemRandom()


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
