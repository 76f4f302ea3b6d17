"""Cash payouts: batches built and committed before any provider call, submitted,
reconciled until every item is final, every cent explained by the ledger.

1. ``create_batches`` gathers donors whose available cash reaches the minimum (not on
   hold, with a destination older than the cooling-off period, not yet paid for this
   earning period), moves each amount from available to in flight, and commits the
   batches and items with ids derived from ours (PayPal ``sender_batch_id`` and
   ``sender_item_id``, Stripe idempotency keys).
2. ``submit_pending`` sends batches that were never sent, or whose outcome is unknown
   (a timeout, a 5xx, a crash), with the same ids: the provider recognises a repeat.
3. ``reconcile`` polls submitted batches; webhooks report the same outcomes sooner.
   Each outcome moves the item's money once: in flight to paid, or back to available.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import socket
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.orm import Session

from rewards_engine.db import Database, allocate_ids, insert, one_of
from rewards_engine.domain import payouts as rules
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.errors import Conflict, InvalidInput, NotFound, Unavailable
from rewards_engine.domain.ledger import AccountKind, AccountRef, Leg, TransferKind
from rewards_engine.domain.payouts import DestinationKind, ItemStatus
from rewards_engine.models import (
    Donor,
    LedgerAccount,
    LedgerEntry,
    LedgerTransfer,
    PayoutBatch,
    PayoutItem,
    WebhookEvent,
)
from rewards_engine.pagination import Page, fetch_page
from rewards_engine.providers.manual import ManualProvider
from rewards_engine.providers.payouts import (
    BatchMismatch,
    DuplicateBatch,
    ItemOutcome,
    OutgoingBatch,
    OutgoingItem,
    PayoutProvider,
    ProviderRejected,
    ProviderUnavailable,
    ProviderUnclear,
    Submitted,
)
from rewards_engine.runtime import Runtime
from rewards_engine.services import audit, ledger
from rewards_engine.services.donors import PayoutDestination

log = logging.getLogger(__name__)
SYSTEM = Actor.system("payouts")


def providers(runtime: Runtime) -> dict[str, PayoutProvider]:
    """The rails configured: PayPal and Stripe with credentials; otherwise manual."""

    def build() -> dict[str, PayoutProvider]:
        from rewards_engine.providers.paypal import PayPalProvider
        from rewards_engine.providers.stripe_payouts import StripeProvider

        settings = runtime.settings
        built: dict[str, PayoutProvider] = {"manual": ManualProvider()}
        if settings.paypal.configured:
            built["paypal"] = PayPalProvider(settings.paypal)
        if settings.stripe.configured:
            built["stripe"] = StripeProvider(settings.stripe)
        return built

    return runtime.extension("payout_providers", build)


def provider_name(runtime: Runtime, kind: DestinationKind) -> str:
    return kind.provider if kind.provider in providers(runtime) else "manual"


# --- destinations ------------------------------------------------------------------


def prepare_destination(runtime: Runtime, raw: dict[str, str] | None) -> PayoutDestination | None:
    """Validate, normalise, mask and encrypt a destination, before anything is written."""
    if raw is None:
        return None
    kind, value = rules.parse_destination(raw.get("kind", ""), raw.get("value", ""))
    box = runtime.vault
    return PayoutDestination(
        kind.value, box.encrypt(value), rules.mask(kind, value), box.fingerprint(value)
    )


# --- building batches ------------------------------------------------------------------


@dataclass
class BatchReport:
    batches: list[int] = field(default_factory=list)
    items: int = 0
    total_cents: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"batches": len(self.batches), "items": self.items, "total_cents": self.total_cents}


def create_batches(runtime: Runtime, actor: Actor = SYSTEM) -> BatchReport:
    """Commit this period's batches (before any provider call); see the module doc."""
    settings = runtime.settings
    now = runtime.clock.now()
    period = rules.period_of(now)
    cooled = now - timedelta(hours=settings.payout_cooling_off_hours)
    report = BatchReport()
    with runtime.db.transaction() as uow:
        session = uow.session
        paid_this_period = exists().where(
            PayoutItem.donor_id == LedgerAccount.donor_id,
            PayoutItem.currency == LedgerAccount.currency,
            PayoutItem.period == period,
        )
        rows = session.execute(
            select(
                Donor.id,
                Donor.payout_kind,
                Donor.payout_destination,
                Donor.payout_masked,
                LedgerAccount.currency,
                LedgerAccount.balance,
            )
            .join(LedgerAccount, LedgerAccount.donor_id == Donor.id)
            .where(
                LedgerAccount.kind == AccountKind.CASH_AVAILABLE.value,
                LedgerAccount.balance >= settings.payout_minimum_cents,
                Donor.status == "active",
                Donor.on_hold.is_(False),
                Donor.payout_kind.is_not(None),
                Donor.payout_changed_at.is_(None) | (Donor.payout_changed_at <= cooled),
                ~paid_this_period,
            )
            .order_by(Donor.id, LedgerAccount.currency)
            # Locked as every writer locks (the donor, then its accounts), in id order:
            # a reversal or an adjustment that lands meanwhile waits, so the amount
            # reserved is the balance as it is, not as it was read.
            .with_for_update(of=[Donor.__table__, LedgerAccount.__table__])
        ).all()
        groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
        for row in rows:
            kind = DestinationKind(row.payout_kind)
            groups[(provider_name(runtime, kind), row.currency)].append(row)
        rails = providers(runtime)
        for (provider, currency), members in sorted(groups.items()):
            size = rails[provider].max_items
            for start in range(0, len(members), size):
                chunk = members[start : start + size]
                report.batches.append(
                    _commit_batch(
                        session,
                        now,
                        actor,
                        settings.payout_id_prefix,
                        provider,
                        currency,
                        period,
                        chunk,
                    )
                )
                report.items += len(chunk)
                report.total_cents += sum(row.balance for row in chunk)
        if report.batches and actor is not SYSTEM:
            audit.record(
                session,
                runtime.clock,
                actor,
                action="payout.batches_created",
                target_type="payout_period",
                target_id=period,
                after=report.as_dict(),
            )
    log.info("payout batches created", extra={"fields": {"period": period, **report.as_dict()}})
    return report


def _commit_batch(
    session: Session,
    now: datetime,
    actor: Actor,
    prefix: str,
    provider: str,
    currency: str,
    period: str,
    rows: Sequence[Any],
) -> int:
    [batch_id] = allocate_ids(session, PayoutBatch.__table__, 1)
    item_ids = allocate_ids(session, PayoutItem.__table__, len(rows))
    session.execute(
        PayoutBatch.__table__.insert().values(
            id=batch_id,
            provider=provider,
            currency=currency,
            period=period,
            status="created",
            sender_batch_id=f"{prefix}-b{batch_id}",
            item_count=len(rows),
            total_cents=sum(row.balance for row in rows),
            created_by=actor.id,
            created_at=now,
        )
    )
    session.execute(
        PayoutItem.__table__.insert(),
        [
            {
                "id": item_id,
                "batch_id": batch_id,
                "donor_id": row.id,
                "currency": currency,
                "period": period,
                "amount_cents": row.balance,
                "destination_kind": row.payout_kind,
                "destination": row.payout_destination,
                "destination_masked": row.payout_masked,
                "sender_item_id": f"{prefix}-i{item_id}",
                "status": ItemStatus.QUEUED.value,
                "created_at": now,
                "updated_at": now,
            }
            for item_id, row in zip(item_ids, rows, strict=True)
        ],
    )
    ledger.post_many(
        session,
        now=now,
        actor=actor,
        transfers=[
            ledger.TransferSpec(
                TransferKind.PAYOUT,
                ("payout_item", item_id),
                f"payout:{item_id}:reserve",
                [
                    Leg(
                        AccountRef.donor(row.id, AccountKind.CASH_AVAILABLE, currency),
                        -row.balance,
                        keep_non_negative=True,
                    ),
                    Leg(
                        AccountRef.donor(row.id, AccountKind.CASH_IN_FLIGHT, currency), row.balance
                    ),
                ],
                f"payout batch {batch_id}",
            )
            for item_id, row in zip(item_ids, rows, strict=True)
        ],
    )
    return batch_id


# --- submitting and reconciling ---------------------------------------------------------


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


def _outgoing(
    runtime: Runtime, session: Session, batch: PayoutBatch, only_open: bool = True
) -> OutgoingBatch:
    query = select(PayoutItem).where(PayoutItem.batch_id == batch.id).order_by(PayoutItem.id)
    if only_open:  # no outcome yet: a resend carries the same items as the first send
        query = query.where(
            PayoutItem.status.in_([ItemStatus.QUEUED.value, ItemStatus.SUBMITTED.value])
        )
    box = runtime.vault
    items = [
        OutgoingItem(
            item.id,
            item.sender_item_id,
            item.amount_cents,
            item.currency,
            DestinationKind(item.destination_kind),
            box.decrypt(item.destination),
        )
        for item in session.scalars(query)
    ]
    sent_ago = None if batch.submitted_at is None else runtime.clock.now() - batch.submitted_at
    return OutgoingBatch(
        batch.id, batch.sender_batch_id, batch.currency, items, batch.provider_batch_id, sent_ago
    )


def submit_pending(runtime: Runtime) -> RunReport:
    """Send every batch not sent yet, or sent without a clear answer (same ids again).

    Single-flight: each batch is claimed in its row first (``_claim``), so the
    ``payout-batch`` and ``payout-reconcile`` jobs, or two schedulers, never send the
    same batch at once."""
    report = RunReport()
    with runtime.db.read() as session:
        pending = list(
            session.scalars(
                select(PayoutBatch.id)
                .where(PayoutBatch.status.in_([s.value for s in rules.SENDABLE]))
                .order_by(PayoutBatch.id)
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
        taken = session.execute(
            update(PayoutBatch)
            .where(
                PayoutBatch.id == batch_id,
                PayoutBatch.status.in_([s.value for s in rules.SENDABLE]),
                or_(
                    PayoutBatch.sender_lease_until.is_(None),
                    PayoutBatch.sender_lease_until < now,
                ),
            )
            .values(sender=me, sender_lease_until=now + _lease(runtime))
            .execution_options(synchronize_session=False)
        ).rowcount
        if taken != 1:
            report.busy += 1
            return None
        batch = session.get(PayoutBatch, batch_id, populate_existing=True)
        assert batch is not None
        provider = _batch_provider(runtime, batch)
        first_send = batch.attempts == 0 and batch.submitted_at is None
        window = getattr(providers(runtime)[provider], "resend_window", None)
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
                        .where(PayoutBatch.id == batch_id, PayoutBatch.sender == sender)
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
    provider = providers(runtime)[claim.provider]
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
    if decision.return_money:
        outcomes = [
            ItemOutcome(i.sender_item_id, ItemStatus.FAILED, error=rules.REFUSED_ITEM_ERROR)
            for i in claim.outgoing.items
        ]
        answer = Submitted(None, outcomes, complete=True)
    elif kind is rules.SendAnswer.ACCEPTED:
        if answer.unsent:
            status, error = rules.BatchStatus.UNKNOWN, f"{answer.unsent} items without an answer"
        elif answer.complete:
            status = rules.BatchStatus.COMPLETED
    settled, final = _record(runtime, batch_id, answer, status.value, error, sender=claim.sender)
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


def _batch_provider(runtime: Runtime, batch: PayoutBatch) -> str:
    return batch.provider if batch.provider in providers(runtime) else "manual"


def _note(runtime: Runtime, batch_id: int, error: str) -> None:
    with runtime.db.transaction() as uow:
        uow.session.execute(
            update(PayoutBatch).where(PayoutBatch.id == batch_id).values(last_error=error[:2000])
        )


def _record(
    runtime: Runtime,
    batch_id: int,
    answer: Submitted,
    status: str,
    error: str | None = None,
    *,
    sender: str | None = None,
) -> tuple[int, str]:
    """Store what the provider said about a batch and move the money of each item.
    Returns the items settled and the batch's status now.

    A sender records only while it holds its claim (it releases it here); the item
    outcomes, which are the provider's own, are applied whoever asked. A batch whose
    provider id is known is ``submitted`` (it exists: polling settles it), whatever
    unclear answer a later call got."""
    now = runtime.clock.now()
    with runtime.db.transaction() as uow:
        session = uow.session
        batch = session.get(PayoutBatch, batch_id, with_for_update=True, populate_existing=True)
        assert batch is not None
        if answer.provider_batch_id and not batch.provider_batch_id:
            batch.provider_batch_id = answer.provider_batch_id
        problems: list[str] = []
        settled = apply_outcomes(
            session, now, SYSTEM, answer.outcomes, batch_id=batch_id, problems=problems
        )
        if sender is None or batch.sender == sender:
            if (
                batch.provider_batch_id
                and not answer.unsent
                and status
                in (
                    rules.BatchStatus.UNKNOWN,
                    rules.BatchStatus.NEEDS_ATTENTION,
                    rules.BatchStatus.SUBMITTING,
                )
            ):
                status = rules.BatchStatus.SUBMITTED.value
            if status in ("submitted", "completed") and batch.provider_batch_id:
                _accepted(session, now, batch_id)
            if problems:
                status, error = rules.BatchStatus.NEEDS_ATTENTION.value, "; ".join(problems)
            batch.status = status
            batch.last_error = error[:2000] if error else None
            if status in ("completed", "rejected"):
                batch.completed_at = now
            if sender is not None:
                batch.sender = batch.sender_lease_until = None
        session.flush()
        _complete_if_final(session, now, [batch_id])
        session.refresh(batch)
        return settled, batch.status


def _accepted(session: Session, now: datetime, batch_id: int) -> None:
    """The provider took the batch: its items without an answer yet are submitted."""
    session.execute(
        update(PayoutItem)
        .where(PayoutItem.batch_id == batch_id, PayoutItem.status == ItemStatus.QUEUED.value)
        .values(status=ItemStatus.SUBMITTED.value, updated_at=now)
    )


def _complete_if_final(session: Session, now: datetime, batch_ids: Iterable[int]) -> None:
    """A submitted batch whose items all have a final outcome is completed."""
    for batch_id in batch_ids:
        if _all_final(session, batch_id):
            session.execute(
                update(PayoutBatch)
                .where(PayoutBatch.id == batch_id, PayoutBatch.status == "submitted")
                .values(status="completed", completed_at=now)
            )


def _all_final(session: Session, batch_id: int) -> bool:
    open_items = session.scalar(
        select(func.count())
        .select_from(PayoutItem)
        .where(
            PayoutItem.batch_id == batch_id,
            PayoutItem.status.in_([s.value for s in rules.IN_FLIGHT]),
        )
    )
    return open_items == 0


def reconcile(runtime: Runtime) -> RunReport:
    """Poll every submitted batch until its items are final; retry unsent ones first."""
    report = submit_pending(runtime)
    with runtime.db.read() as session:
        batches = list(
            session.scalars(
                select(PayoutBatch)
                .where(PayoutBatch.status == "submitted")
                .order_by(PayoutBatch.id)
            )
        )
    for batch in batches:
        provider = providers(runtime)[_batch_provider(runtime, batch)]
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
            .where(PayoutBatch.id == batch_id, PayoutBatch.status == "submitted")
            .values(
                status=rules.BatchStatus.NEEDS_ATTENTION.value,
                provider_batch_id=None,
                last_error=error[:2000],
            )
        )


def apply_outcomes(
    session: Session,
    now: datetime,
    actor: Actor,
    outcomes: Sequence[ItemOutcome],
    *,
    batch_id: int | None = None,
    problems: list[str] | None = None,
) -> int:
    """Move each item forward to what the provider reported, and its money with it.

    Statuses only move forward (a stale report never undoes a final one) and each
    ledger move has its own key, so the same outcome reported by a poll, a webhook
    and a replayed webhook moves the money once. Returns the items settled.

    One exception: an item the old engine failed as "batch refused" (its money went
    back) that the provider reports paid is paid late, from the donor's available cash,
    if that still covers it; if not, it stays failed and ``problems`` says so (the
    report shows the difference until someone recovers it).
    """
    by_id = {o.sender_item_id: o for o in outcomes if o.sender_item_id}
    if not by_id:
        return 0
    query = select(PayoutItem).where(one_of(session, PayoutItem.sender_item_id, by_id))
    if batch_id is not None:
        query = query.where(PayoutItem.batch_id == batch_id)
    transfers = []
    settled = 0
    for item in session.scalars(query.with_for_update()):
        outcome = by_id[item.sender_item_id]
        before = ItemStatus(item.status)
        if outcome.provider_item_id:
            item.provider_item_id = outcome.provider_item_id
        if rules.late_move(before, item.error, outcome.status):
            if _available(session, item) >= item.amount_cents:
                item.status, item.error = outcome.status.value, None
                item.provider_status, item.updated_at, item.settled_at = (
                    outcome.provider_status, now, now,
                )  # fmt: skip
                settled += 1
                transfers.append(_money(item, "late_pay", outcome))
            else:
                item.error = "paid by the provider after it was taken for refused: recover by hand"
                item.updated_at = now
                if problems is not None:
                    problems.append(f"item {item.id} paid twice: its money was paid again")
            continue
        if not rules.accepts(before, outcome.status):
            continue
        move = rules.ledger_move(before, outcome.status)
        item.status = outcome.status.value
        item.provider_status = outcome.provider_status
        item.error = outcome.error
        item.updated_at = now
        if move is not None:
            item.settled_at = now
            settled += 1
            transfers.append(_money(item, move, outcome))
    ledger.post_many(session, now=now, actor=actor, transfers=transfers)
    return settled


def _available(session: Session, item: PayoutItem) -> int:
    cash = ledger.balances(session, item.donor_id).cash
    return next((c.available_cents for c in cash if c.currency == item.currency), 0)


def _money(item: PayoutItem, move: str, outcome: ItemOutcome) -> ledger.TransferSpec:
    donor, currency, amount = item.donor_id, item.currency, item.amount_cents
    in_flight = AccountRef.donor(donor, AccountKind.CASH_IN_FLIGHT, currency)
    available = AccountRef.donor(donor, AccountKind.CASH_AVAILABLE, currency)
    paid = AccountRef.program(AccountKind.PAYOUTS, currency)
    why = outcome.error or outcome.provider_status or outcome.status.value
    legs, reason = {
        "pay": ([Leg(in_flight, -amount), Leg(paid, amount)], "paid out"),
        "return": (
            [Leg(in_flight, -amount), Leg(available, amount)],
            f"payout not made ({why}): available again",
        ),
        "claw_back": (
            [Leg(paid, -amount), Leg(available, amount)],
            f"payout came back ({why}): available again",
        ),
        "late_pay": (
            [Leg(available, -amount, keep_non_negative=True), Leg(paid, amount)],
            "paid out (the provider paid it after the batch was taken for refused)",
        ),
    }[move]
    return ledger.TransferSpec(
        TransferKind.PAYOUT, ("payout_item", item.id), f"payout:{item.id}:{move}", legs, reason
    )


# --- webhooks ------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookResult:
    event_id: str
    duplicate: bool
    items_settled: int


def _first_time(
    session: Session, now: datetime, provider: str, event_id: str, event_type: str
) -> bool:
    table = WebhookEvent.__table__
    inserted = session.execute(
        insert(session, table)
        .values(provider=provider, event_id=event_id, event_type=event_type, received_at=now)
        .on_conflict_do_nothing(index_elements=["provider", "event_id"])
        .returning(table.c.id)
    ).scalar()
    return inserted is not None


def paypal_webhook(runtime: Runtime, headers: dict[str, str], body: bytes) -> WebhookResult:
    """A PayPal event, applied once, after PayPal confirmed its signature."""
    provider = providers(runtime).get("paypal")
    try:
        event = json.loads(body)
    except ValueError:
        raise InvalidInput("the body is not JSON", code="invalid_webhook") from None
    try:
        genuine = provider is not None and provider.verify_webhook(headers, event)  # type: ignore[attr-defined]
    except ProviderUnavailable as exc:
        raise Unavailable(str(exc), code="provider_unavailable") from exc  # PayPal sends again
    if not genuine:
        raise InvalidInput(
            "the webhook signature does not verify",
            code="invalid_signature",
            field="Paypal-Transmission-Sig",
            location="headers",
        )
    event_id, event_type = str(event.get("id", "")), str(event.get("event_type", ""))
    resource = event.get("resource") or {}
    if event_type.startswith("PAYMENT.PAYOUTSBATCH."):
        # No item in it (developer.paypal.com/docs/payouts/standard/reference/webhooks):
        # it names the batch, which finds one PayPal told us exists without its id.
        header = resource.get("batch_header") or {}
        found = _Found(
            str(header.get("payout_batch_id") or ""),
            sender_batch_id=(header.get("sender_batch_header") or {}).get("sender_batch_id"),
        )
        return _apply_event(runtime, "paypal", event_id, event_type, [], found)
    status = event_type.rsplit(".", 1)[-1].upper()
    outcome = ItemOutcome(
        sender_item_id=(resource.get("payout_item") or {}).get("sender_item_id", ""),
        status=rules.PAYPAL_STATUS.get(
            str(resource.get("transaction_status", status)).upper(),
            rules.PAYPAL_STATUS.get(status, ItemStatus.PENDING),
        ),
        provider_item_id=resource.get("payout_item_id"),
        provider_status=str(resource.get("transaction_status", status)),
    )
    found = _Found(
        str(resource.get("payout_batch_id") or ""), sender_item_id=outcome.sender_item_id
    )
    return _apply_event(runtime, "paypal", event_id, event_type, [outcome], found)


def stripe_webhook(runtime: Runtime, body: bytes, signature: str | None) -> WebhookResult:
    """A Stripe event, applied once, after its signature verified with our secret."""
    import stripe

    from rewards_engine.providers.stripe_payouts import sender_item_id_of, transfer_outcome

    provider = providers(runtime).get("stripe")
    if provider is None:
        raise InvalidInput(
            "Stripe is not configured",
            code="invalid_signature",
            field="Stripe-Signature",
            location="headers",
        )
    try:
        event = provider.parse_webhook(body, signature)  # type: ignore[attr-defined]
    except (stripe.SignatureVerificationError, ValueError):
        raise InvalidInput(
            "the webhook signature does not verify",
            code="invalid_signature",
            field="Stripe-Signature",
            location="headers",
        ) from None
    outcomes = []
    if event.type.startswith("transfer."):
        transfer = event.data.object
        outcomes.append(transfer_outcome(transfer, sender_item_id_of(transfer) or ""))
    return _apply_event(runtime, "stripe", event.id, event.type, outcomes)


@dataclass(frozen=True)
class _Found:
    """A verified event names the provider's batch of one of ours."""

    provider_batch_id: str
    sender_batch_id: str | None = None
    sender_item_id: str | None = None


def _apply_event(
    runtime: Runtime,
    provider: str,
    event_id: str,
    event_type: str,
    outcomes: list[ItemOutcome],
    found: _Found | None = None,
) -> WebhookResult:
    now = runtime.clock.now()
    with runtime.db.transaction() as uow:
        if not _first_time(uow.session, now, provider, event_id, event_type):
            return WebhookResult(event_id, True, 0)
        if found is not None and found.provider_batch_id:
            _attach_found(uow.session, now, found)
        settled = apply_outcomes(uow.session, now, Actor.system(f"webhook:{provider}"), outcomes)
        batches = uow.session.scalars(
            select(PayoutItem.batch_id).where(
                one_of(uow.session, PayoutItem.sender_item_id, [o.sender_item_id for o in outcomes])
            )
        ).all()
        _complete_if_final(uow.session, now, set(batches))
    log.info(
        "payout webhook applied",
        extra={"fields": {"provider": provider, "type": event_type, "settled": settled}},
    )
    return WebhookResult(event_id, False, settled)


def _attach_found(session: Session, now: datetime, found: _Found) -> None:
    """Give a batch waiting for its provider id the one a verified event names."""
    query = select(PayoutBatch)
    if found.sender_batch_id:
        query = query.where(PayoutBatch.sender_batch_id == found.sender_batch_id)
    elif found.sender_item_id:
        query = query.join(PayoutItem, PayoutItem.batch_id == PayoutBatch.id).where(
            PayoutItem.sender_item_id == found.sender_item_id
        )
    else:
        return
    batch = session.scalars(query.with_for_update()).first()
    if batch is None or batch.provider_batch_id:
        return
    status = rules.BatchStatus(batch.status)
    if status is rules.BatchStatus.SUBMITTING:
        batch.provider_batch_id = found.provider_batch_id  # its sender records the rest
    elif status in rules.ATTACHABLE or rules.refused_as_duplicate(status, batch.last_error):
        batch.provider_batch_id = found.provider_batch_id
        batch.status, batch.completed_at = rules.BatchStatus.SUBMITTED.value, None
        log.info("payout batch found by a webhook", extra={"fields": {"batch_id": batch.id}})


# --- manual payouts, staff tools ----------------------------------------------------------


def export_csv(runtime: Runtime, actor: Actor, batch_id: int) -> str:
    """A manual batch as CSV for the person who pays it (audited: it holds destinations)."""
    with runtime.db.transaction() as uow:
        batch = _existing_batch(uow.session, batch_id)
        if batch.provider != "manual":
            raise Conflict("only manual batches are exported", code="not_manual")
        items = list(
            uow.session.scalars(
                select(PayoutItem).where(PayoutItem.batch_id == batch_id).order_by(PayoutItem.id)
            )
        )
        audit.record(
            uow.session,
            runtime.clock,
            actor,
            action="payout.exported",
            target_type="payout_batch",
            target_id=batch_id,
            after={"items": len(items)},
        )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "item_id",
            "sender_item_id",
            "donor_id",
            "amount",
            "currency",
            "destination_kind",
            "destination",
            "status",
        ]
    )
    box = runtime.vault
    for item in items:
        writer.writerow(
            [
                item.id,
                item.sender_item_id,
                item.donor_id,
                f"{item.amount_cents / 100:.2f}",
                item.currency,
                item.destination_kind,
                box.decrypt(item.destination),
                item.status,
            ]
        )
    return out.getvalue()


def settle_manual(
    runtime: Runtime, actor: Actor, item_id: int, paid: bool, reason: str
) -> PayoutItem:
    """Staff record the outcome of a payout they made by hand."""
    now = runtime.clock.now()
    with runtime.db.transaction() as uow:
        session = uow.session
        item = session.get(PayoutItem, item_id)
        if item is None:
            raise NotFound(f"no payout item {item_id}", code="payout_item_not_found")
        batch = session.get(PayoutBatch, item.batch_id)
        if batch is None or batch.provider != "manual":
            raise Conflict("only items of manual batches are settled by hand", code="not_manual")
        if ItemStatus(item.status) not in rules.IN_FLIGHT:
            raise Conflict(
                f"the item is already {item.status}",
                code="already_settled",
                details={"status": item.status},
            )
        outcome = ItemOutcome(
            item.sender_item_id,
            ItemStatus.SUCCEEDED if paid else ItemStatus.FAILED,
            provider_status="manual",
            error=None if paid else reason,
        )
        apply_outcomes(session, now, actor, [outcome])
        audit.record(
            session,
            runtime.clock,
            actor,
            action="payout.settled",
            target_type="payout_item",
            target_id=item_id,
            before={"status": "submitted"},
            after={"status": outcome.status.value},
            reason=reason,
        )
        _complete_if_final(session, now, [batch.id])
        session.flush()
        session.refresh(item)
    return item


def cancel_unclaimed(runtime: Runtime, actor: Actor, item_id: int, reason: str) -> PayoutItem:
    """Take back a PayPal payment nobody claimed (a mistyped e-mail, say) so that the
    donor can fix the destination now instead of waiting 30 days for PayPal to return it."""
    with runtime.db.read() as session:
        item = session.get(PayoutItem, item_id)
        if item is None:
            raise NotFound(f"no payout item {item_id}", code="payout_item_not_found")
        provider = providers(runtime).get("paypal")
        if item.status != ItemStatus.UNCLAIMED.value or provider is None:
            raise Conflict(
                "only unclaimed PayPal payments can be cancelled",
                code="not_unclaimed",
                details={"status": item.status},
            )
    try:
        outcome = provider.cancel_unclaimed(item.provider_item_id)  # type: ignore[attr-defined]
    except ProviderUnavailable as exc:
        raise Unavailable(str(exc), code="provider_unavailable") from exc
    except ProviderRejected as exc:
        raise Conflict(str(exc), code="provider_refused") from exc
    now = runtime.clock.now()
    with runtime.db.transaction() as uow:
        apply_outcomes(uow.session, now, actor, [outcome], batch_id=item.batch_id)
        _complete_if_final(uow.session, now, [item.batch_id])
        audit.record(
            uow.session,
            runtime.clock,
            actor,
            action="payout.cancelled",
            target_type="payout_item",
            target_id=item_id,
            before={"status": "unclaimed"},
            after={"status": outcome.status.value},
            reason=reason,
        )
        updated = uow.session.get(PayoutItem, item_id, populate_existing=True)
    return updated  # type: ignore[return-value]


def attach_provider_batch(
    runtime: Runtime, actor: Actor, batch_id: int, provider_batch_id: str, reason: str
) -> PayoutBatch:
    """Give the provider's id of a batch it said exists (or that the old engine took
    for refused on that answer): reconciliation takes over, and its first poll checks
    that the provider's batch carries our ``sender_batch_id`` before it applies anything."""
    with runtime.db.transaction() as uow:
        batch = _existing_batch(uow.session, batch_id, lock=True)
        status = rules.BatchStatus(batch.status)
        if batch.provider_batch_id or not (
            status in rules.ATTACHABLE or rules.refused_as_duplicate(status, batch.last_error)
        ):
            raise Conflict(
                f"the batch is {batch.status}",
                code="batch_not_waiting",
                details={"status": batch.status},
            )
        before = {"status": batch.status, "last_error": batch.last_error}
        batch.provider_batch_id, batch.status = provider_batch_id, "submitted"
        batch.completed_at = None
        audit.record(
            uow.session,
            runtime.clock,
            actor,
            action="payout.batch_attached",
            target_type="payout_batch",
            target_id=batch_id,
            before=before,
            after={"provider_batch_id": provider_batch_id},
            reason=reason,
        )
    return batch


def resend_batch(runtime: Runtime, actor: Actor, batch_id: int, reason: str) -> PayoutBatch:
    """Send a batch that waits for a person again, with the same ids (after fixing what
    the provider objected to). Safe within the provider's duplicate window: a batch it
    made already is answered as a duplicate, never made twice."""
    now = runtime.clock.now()
    with runtime.db.transaction() as uow:
        batch = _existing_batch(uow.session, batch_id, lock=True)
        window = getattr(providers(runtime).get(batch.provider), "resend_window", None)
        too_old = (
            window is not None
            and batch.submitted_at is not None
            and now - batch.submitted_at > window
        )
        if batch.status != rules.BatchStatus.NEEDS_ATTENTION or batch.provider_batch_id or too_old:
            raise Conflict(
                "only a batch waiting for a person, without a provider id, within the"
                " provider's duplicate window is sent again",
                code="batch_not_resendable",
                details={"status": batch.status},
            )
        batch.status = rules.BatchStatus.UNKNOWN.value
        audit.record(
            uow.session,
            runtime.clock,
            actor,
            action="payout.batch_resend",
            target_type="payout_batch",
            target_id=batch_id,
            before={"status": "needs_attention", "last_error": batch.last_error},
            after={"status": "unknown"},
            reason=reason,
        )
    return batch


# --- reading and reports --------------------------------------------------------------------


def list_batches(db: Database, *, limit: int, cursor: str | None) -> Page[PayoutBatch]:
    with db.read() as session:
        return fetch_page(
            session,
            select(PayoutBatch),
            kind="payout-batches",
            columns=(PayoutBatch.id,),
            types=(int,),
            limit=limit,
            cursor=cursor,
        )


def get_batch(db: Database, batch_id: int) -> PayoutBatch:
    with db.read() as session:
        return _existing_batch(session, batch_id)


def _existing_batch(session: Session, batch_id: int, *, lock: bool = False) -> PayoutBatch:
    batch = session.get(PayoutBatch, batch_id, with_for_update=lock)
    if batch is None:
        raise NotFound(f"no payout batch {batch_id}", code="batch_not_found")
    return batch


def batch_items(db: Database, batch_id: int, *, limit: int, cursor: str | None) -> Page[PayoutItem]:
    with db.read() as session:
        _existing_batch(session, batch_id)
        return fetch_page(
            session,
            select(PayoutItem).where(PayoutItem.batch_id == batch_id),
            kind=f"payout-items:{batch_id}",
            columns=(PayoutItem.id,),
            types=(int,),
            limit=limit,
            cursor=cursor,
            descending=False,
        )


def donor_payouts(
    db: Database, donor_id: int, *, limit: int, cursor: str | None
) -> Page[PayoutItem]:
    with db.read() as session:
        return fetch_page(
            session,
            select(PayoutItem).where(PayoutItem.donor_id == donor_id),
            kind="my-payouts",
            columns=(PayoutItem.id,),
            types=(int,),
            limit=limit,
            cursor=cursor,
        )


@dataclass(frozen=True)
class BatchReconciliation:
    batch_id: int
    provider: str
    provider_paid_cents: int | None
    ledger_paid_cents: int
    items_paid_cents: int
    differences: list[str]


def reconciliation_report(
    runtime: Runtime, batch_id: int | None = None
) -> list[BatchReconciliation]:
    """Per batch: what the provider says was paid, what the ledger moved to paid, and
    what the items say; any difference is listed, and so is a batch that waits for a
    person (its money is in flight until then). The database is read first and the
    providers are asked after: no transaction stays open across a network call."""
    books = []
    with runtime.db.read() as session:
        query = select(PayoutBatch).order_by(PayoutBatch.id)
        if batch_id is not None:
            query = query.where(PayoutBatch.id == batch_id)
        for batch in session.scalars(query):
            items_paid = session.scalar(
                select(func.coalesce(func.sum(PayoutItem.amount_cents), 0)).where(
                    PayoutItem.batch_id == batch.id, PayoutItem.status == ItemStatus.SUCCEEDED.value
                )
            )
            outgoing, amounts = None, {}
            if batch.provider != "manual" and batch.provider_batch_id:
                outgoing = _outgoing(runtime, session, batch, only_open=False)
                amounts = dict(
                    session.execute(
                        select(PayoutItem.sender_item_id, PayoutItem.amount_cents).where(
                            PayoutItem.batch_id == batch.id
                        )
                    ).all()
                )
            waiting = None
            if batch.status == rules.BatchStatus.NEEDS_ATTENTION.value:
                waiting = f"needs attention ({batch.last_error or 'no answer recorded'})"
            books.append((batch.id, batch.provider, int(_ledger_paid(session, batch)),
                          int(items_paid), outgoing, amounts, waiting))  # fmt: skip
    results = []
    for found_id, provider, ledger_paid, items_paid, outgoing, amounts, waiting in books:
        provider_paid = None
        rail = providers(runtime).get(provider)
        if rail is not None and outgoing is not None:
            try:
                answer = rail.poll(outgoing)
            except ProviderUnavailable:
                answer = None
            if answer is not None:
                provider_paid = sum(
                    amounts.get(o.sender_item_id, 0)
                    for o in answer.outcomes
                    if o.status is ItemStatus.SUCCEEDED
                )
        differences = [waiting] if waiting else []  # money in flight until a person acts
        if ledger_paid != items_paid:
            differences.append(f"ledger paid {ledger_paid} != items paid {items_paid}")
        if provider_paid is not None and provider_paid != items_paid:
            differences.append(f"provider paid {provider_paid} != items paid {items_paid}")
        results.append(
            BatchReconciliation(
                found_id, provider, provider_paid, ledger_paid, items_paid, differences
            )
        )
    return results


def _ledger_paid(session: Session, batch: PayoutBatch) -> int:
    """What the ledger moved into the program's payouts account for this batch, net of
    what came back (its transfers are keyed by item: ``payout:<item>:pay``...)."""
    item_ids = session.scalars(select(PayoutItem.id).where(PayoutItem.batch_id == batch.id)).all()
    moves = ("pay", "claw_back", "late_pay")
    keys = [f"payout:{i}:{move}" for i in item_ids for move in moves]
    if not keys:
        return 0
    total = session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount), 0))
        .join(LedgerTransfer, LedgerTransfer.id == LedgerEntry.transfer_id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(
            one_of(session, LedgerTransfer.idempotency_key, keys),
            LedgerAccount.owner == "program",
            LedgerAccount.kind == AccountKind.PAYOUTS.value,
        )
    )
    return int(total or 0)


@dataclass(frozen=True)
class TaxLine:
    donor_id: int
    account_id: str | None
    currency: str
    paid_cents: int


def tax_report(db: Database, year: int, threshold_cents: int | None = None) -> list[TaxLine]:
    """Payees whose payments settled in ``year`` reach the reporting threshold."""
    threshold = rules.tax_threshold_cents(year) if threshold_cents is None else threshold_cents
    start, end = datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
    with db.read() as session:
        rows = session.execute(
            select(
                PayoutItem.donor_id,
                Donor.account_id,
                PayoutItem.currency,
                func.sum(PayoutItem.amount_cents),
            )
            .join(Donor, Donor.id == PayoutItem.donor_id)
            .where(
                PayoutItem.status == ItemStatus.SUCCEEDED.value,
                PayoutItem.settled_at >= start,
                PayoutItem.settled_at < end,
            )
            .group_by(PayoutItem.donor_id, Donor.account_id, PayoutItem.currency)
            .having(func.sum(PayoutItem.amount_cents) >= threshold)
            .order_by(PayoutItem.donor_id)
        ).all()
    return [
        TaxLine(donor, account, currency, int(total)) for donor, account, currency, total in rows
    ]
