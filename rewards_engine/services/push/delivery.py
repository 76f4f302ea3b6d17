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
from collections.abc import Callable

from rewards_engine.runtime import Runtime
from rewards_engine.services.push.queueing import purge, queue
from rewards_engine.services.push.report import PushReport
from rewards_engine.services.push.sending import send_due

log = logging.getLogger(__name__)


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
