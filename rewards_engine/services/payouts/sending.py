"""Sending batches and polling them (steps 2 and 3 of the package doc): a batch never
sent, or sent without a clear answer, is sent again with the same ids; a submitted one
is polled until its items are final.

Single-flight: a sender first claims the batch in its row (a lease, renewed while the
provider call runs), so two jobs or two schedulers never send the same batch at once.
What the provider answered is applied by ``outcomes``, the same way whoever asked.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlmodel import col

from rewards_engine.db import changed_rows
from rewards_engine.domain import payouts as rules
from rewards_engine.models import PayoutBatch
from rewards_engine.providers.payouts import (
    BatchMismatch,
    DuplicateBatch,
    OutgoingBatch,
    ProviderRejected,
    ProviderUnavailable,
    ProviderUnclear,
    Submitted,
)
from rewards_engine.runtime import Runtime
from rewards_engine.services.payouts.destinations import _batch_provider, _outgoing
from rewards_engine.services.payouts.outcomes import _record

log = logging.getLogger(__package__)  # one logger for the package, as before the split


@dataclass
class RunReport:
    submitted: int = 0
    unknown: int = 0
    rejected: int = 0
    needs_attention: int = 0
    polled: int = 0
    completed: int = 0
    items_settled: int = 0
    busy: int = 0  # batches another process was sending: left to it

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


def submit_pending(runtime: Runtime) -> RunReport:
    """Send every batch not sent yet, or sent without a clear answer (same ids again).

    Single-flight: each batch is claimed in its row first (``_claim``), so the
    ``payout-batch`` and ``payout-reconcile`` jobs, or two schedulers, never send the
    same batch at once."""
    report = RunReport()
    with runtime.db.read() as session:
        pending = list(
            session.scalars(
                select(col(PayoutBatch.id))
                .where(col(PayoutBatch.status).in_([s.value for s in rules.SENDABLE]))
                .order_by(col(PayoutBatch.id))
            )
        )
    for batch_id in pending:
        _submit(runtime, batch_id, report)
    log.info("payout batches submitted", extra={"fields": report.as_dict()})
    return report


@dataclass(frozen=True)
class _Claim:
    sender: str
    provider: str
    outgoing: OutgoingBatch
    first_send: bool


def _sender_name() -> str:
    return f"{socket.gethostname()[:24]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _lease(runtime: Runtime) -> timedelta:
    """How long a claim holds without renewal: the job lease (a killed sender blocks
    its batch that long at most)."""
    return timedelta(seconds=max(1.0, runtime.settings.job_lease_s))


def _claim(runtime: Runtime, batch_id: int, report: RunReport) -> _Claim | None:
    """Take the batch for sending with a conditional UPDATE: it must be sendable and its
    lease free (never taken, released, or run out because its holder died). Marked
    ``submitting`` and committed before any call: a crash leaves it to be sent again."""
    now = runtime.clock.now()
    me = _sender_name()
    with runtime.db.transaction() as uow:
        session = uow.session
        taken = changed_rows(
            session,
            update(PayoutBatch)
            .where(
                col(PayoutBatch.id) == batch_id,
                col(PayoutBatch.status).in_([s.value for s in rules.SENDABLE]),
                or_(
                    col(PayoutBatch.sender_lease_until).is_(None),
                    col(PayoutBatch.sender_lease_until) < now,
                ),
            )
            .values(sender=me, sender_lease_until=now + _lease(runtime))
            .execution_options(synchronize_session=False),
        )
        if taken != 1:
            report.busy += 1
            return None
        batch = session.get(PayoutBatch, batch_id, populate_existing=True)
        assert batch is not None
        provider = _batch_provider(runtime, batch)
        first_send = batch.attempts == 0 and batch.submitted_at is None
        window = getattr(runtime.payout_providers[provider], "resend_window", None)
        sent = batch.submitted_at
        if not first_send and window is not None and sent is not None and now - sent > window:
            batch.status = rules.BatchStatus.NEEDS_ATTENTION.value
            batch.last_error = (
                f"first sent {sent.isoformat()}: the provider forgets "
                "sender_batch_id after 30 days, so sending again could pay twice"
            )
            batch.sender = batch.sender_lease_until = None
            report.needs_attention += 1
            return None
        outgoing = _outgoing(runtime, session, batch)
        batch.status = rules.BatchStatus.SUBMITTING.value
        batch.attempts += 1
        batch.submitted_at = batch.submitted_at or now
    return _Claim(me, provider, outgoing, first_send)


@contextmanager
def _holding(runtime: Runtime, batch_id: int, sender: str) -> Iterator[None]:
    """Renew the claim's lease while the provider call runs (a thread, its own short
    transactions: no transaction stays open across the call)."""
    lease = _lease(runtime)
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(lease.total_seconds() / 3):
            try:
                with runtime.db.transaction() as uow:
                    uow.session.execute(
                        update(PayoutBatch)
                        .where(col(PayoutBatch.id) == batch_id, col(PayoutBatch.sender) == sender)
                        .values(sender_lease_until=runtime.clock.now() + lease)
                        .execution_options(synchronize_session=False)
                    )
            except Exception:  # the next renewal tries again; the lease may run out
                log.warning(
                    "payout sender lease not renewed", extra={"fields": {"batch_id": batch_id}}
                )

    thread = threading.Thread(target=renew, name=f"payout-lease-{batch_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _submit(runtime: Runtime, batch_id: int, report: RunReport) -> None:
    claim = _claim(runtime, batch_id, report)
    if claim is None:
        return
    provider = runtime.payout_providers[claim.provider]
    answer, error = Submitted(None), None
    with _holding(runtime, batch_id, claim.sender):
        try:
            answer = provider.submit(claim.outgoing)
            kind = rules.SendAnswer.ACCEPTED
        except DuplicateBatch as exc:
            found = exc.provider_batch_id
            kind = rules.SendAnswer.DUPLICATE_FOUND if found else rules.SendAnswer.DUPLICATE
            answer, error = Submitted(found), str(exc)
        except ProviderRejected as exc:
            kind, error = rules.SendAnswer.REFUSED, str(exc)
        except ProviderUnclear as exc:
            kind, error = rules.SendAnswer.UNCLEAR, str(exc)
        except ProviderUnavailable as exc:
            kind, error = rules.SendAnswer.NO_ANSWER, str(exc)
        except Exception as exc:  # a defect: as good as no answer; the batch is resent
            log.exception("payout submission failed", extra={"fields": {"batch_id": batch_id}})
            kind, error = rules.SendAnswer.NO_ANSWER, f"{type(exc).__name__} while sending"
    decision = rules.after_send(kind, first_send=claim.first_send)
    status = decision.status
    refused = None
    if decision.return_money:
        # Only a candidate: _record returns the money if, under the batch's lock, this
        # sender still holds it and no other send can have reached the provider.
        refused = [i.sender_item_id for i in claim.outgoing.items]
    elif kind is rules.SendAnswer.ACCEPTED:
        if answer.unsent:
            status, error = rules.BatchStatus.UNKNOWN, f"{answer.unsent} items without an answer"
        elif answer.complete:
            status = rules.BatchStatus.COMPLETED
    settled, final = _record(
        runtime, batch_id, answer, status.value, error, sender=claim.sender, refused=refused
    )
    report.items_settled += settled
    report.unknown += answer.unsent
    if final == rules.BatchStatus.REJECTED:
        report.rejected += 1
    elif final == rules.BatchStatus.UNKNOWN and not answer.unsent:
        report.unknown += 1
    elif final == rules.BatchStatus.NEEDS_ATTENTION:
        report.needs_attention += 1
    else:
        report.submitted += 1
    if kind is not rules.SendAnswer.ACCEPTED:
        log.warning(
            "payout batch answer",
            extra={"fields": {"batch_id": batch_id, "answer": kind.value, "status": final,
                              "first_send": claim.first_send, "items": len(claim.outgoing.items)}},
        )  # fmt: skip


def _note(runtime: Runtime, batch_id: int, error: str) -> None:
    with runtime.db.transaction() as uow:
        uow.session.execute(
            update(PayoutBatch)
            .where(col(PayoutBatch.id) == batch_id)
            .values(last_error=error[:2000])
        )


def reconcile(runtime: Runtime) -> RunReport:
    """Poll every submitted batch until its items are final; retry unsent ones first."""
    report = submit_pending(runtime)
    with runtime.db.read() as session:
        batches = list(
            session.scalars(
                select(PayoutBatch)
                .where(col(PayoutBatch.status) == "submitted")
                .order_by(col(PayoutBatch.id))
            )
        )
    for batch in batches:
        provider = runtime.payout_providers[_batch_provider(runtime, batch)]
        with runtime.db.read() as session:
            outgoing = _outgoing(runtime, session, batch, only_open=False)
        try:
            answer = provider.poll(outgoing)
        except ProviderUnavailable as exc:
            _note(runtime, batch.id, str(exc))
            continue
        except BatchMismatch as exc:
            report.needs_attention += 1
            _detach(runtime, batch.id, str(exc))
            continue
        except Exception as exc:  # one batch's defect never stops the others' reconciling
            log.exception("payout poll failed", extra={"fields": {"batch_id": batch.id}})
            _note(runtime, batch.id, f"{type(exc).__name__} while polling")
            continue
        report.polled += 1
        settled, status = _record(runtime, batch.id, answer, "submitted")
        report.items_settled += settled
        report.completed += status == "completed"
    log.info("payouts reconciled", extra={"fields": report.as_dict()})
    return report


def _detach(runtime: Runtime, batch_id: int, error: str) -> None:
    """The provider batch we were pointed at is not ours: forget its id, settle nothing,
    and wait for the right one (a webhook, or a person's ``attach``)."""
    log.error("payout batch is not ours", extra={"fields": {"batch_id": batch_id}})
    with runtime.db.transaction() as uow:
        uow.session.execute(
            update(PayoutBatch)
            .where(col(PayoutBatch.id) == batch_id, col(PayoutBatch.status) == "submitted")
            .values(
                status=rules.BatchStatus.NEEDS_ATTENTION.value,
                provider_batch_id=None,
                last_error=error[:2000],
            )
        )
