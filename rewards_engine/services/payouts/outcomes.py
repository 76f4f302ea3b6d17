"""Applying what a provider said: a batch's answer recorded (``_record``), each item's
outcome moving its money once (``apply_outcomes``), and a batch completed when all its
items are final.

Sending, polling, webhooks and staff all settle items; they share this module so that
money moves after a batch is committed in one place only, with one ledger key per move.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.db import one_of
from rewards_engine.domain import payouts as rules
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.ledger import AccountKind, AccountRef, Leg, TransferKind
from rewards_engine.domain.notifications import Kind
from rewards_engine.domain.payouts import ItemStatus
from rewards_engine.models import PayoutBatch, PayoutItem
from rewards_engine.providers.payouts import ItemOutcome, Submitted
from rewards_engine.runtime import Runtime
from rewards_engine.services import ledger, notifications
from rewards_engine.services.payouts.destinations import SYSTEM


def _record(
    runtime: Runtime,
    batch_id: int,
    answer: Submitted,
    status: str,
    error: str | None = None,
    *,
    sender: str | None = None,
    refused: list[str] | None = None,
) -> tuple[int, str]:
    """Store what the provider said about a batch and move the money of each item.
    Returns the items settled and the batch's status now.

    A sender records only while it holds its claim (it releases it here); the item
    outcomes, which are the provider's own, are applied whoever asked. A batch whose
    provider id is known is ``submitted`` (it exists: polling settles it), whatever
    unclear answer a later call got.

    ``refused`` (the items of a batch refused on its first send) returns their money
    only if, under this lock, the sender still holds the batch, it was sent once and no
    provider batch is known: a sender that lost its claim while another sent the batch
    again must not hand back money the provider may pay (issue 16)."""
    now = runtime.clock.now()
    with runtime.db.transaction() as uow:
        session = uow.session
        batch = session.get(PayoutBatch, batch_id, with_for_update=True, populate_existing=True)
        assert batch is not None
        if answer.provider_batch_id and not batch.provider_batch_id:
            batch.provider_batch_id = answer.provider_batch_id
        outcomes = answer.outcomes
        if refused is not None:
            alone = batch.sender == sender and batch.attempts == 1 and not batch.provider_batch_id
            if alone:
                outcomes = [
                    ItemOutcome(item, ItemStatus.FAILED, error=rules.REFUSED_ITEM_ERROR)
                    for item in refused
                ]
            else:
                status = rules.BatchStatus.NEEDS_ATTENTION.value
                error = f"refused, but another send may have reached the provider: {error}"
        problems: list[str] = []
        settled = apply_outcomes(
            session, now, SYSTEM, outcomes, batch_id=batch_id, problems=problems
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
        .where(
            col(PayoutItem.batch_id) == batch_id, col(PayoutItem.status) == ItemStatus.QUEUED.value
        )
        .values(status=ItemStatus.SUBMITTED.value, updated_at=now)
    )


def _complete_if_final(session: Session, now: datetime, batch_ids: Iterable[int]) -> None:
    """A submitted batch whose items all have a final outcome is completed."""
    for batch_id in batch_ids:
        if _all_final(session, batch_id):
            session.execute(
                update(PayoutBatch)
                .where(col(PayoutBatch.id) == batch_id, col(PayoutBatch.status) == "submitted")
                .values(status="completed", completed_at=now)
            )


def _all_final(session: Session, batch_id: int) -> bool:
    open_items = session.scalar(
        select(func.count())
        .select_from(PayoutItem)
        .where(
            col(PayoutItem.batch_id) == batch_id,
            col(PayoutItem.status).in_([s.value for s in rules.IN_FLIGHT]),
        )
    )
    return open_items == 0


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
        query = query.where(col(PayoutItem.batch_id) == batch_id)
    transfers = []
    settled = 0
    for item in session.scalars(query.order_by(col(PayoutItem.id)).with_for_update()):  # one order
        outcome = by_id[item.sender_item_id]
        before = ItemStatus(item.status)
        if outcome.provider_item_id:
            item.provider_item_id = outcome.provider_item_id
        if rules.late_move(before, item.error, outcome.status):
            if _available(session, item) >= item.amount_cents:
                _tell(session, now, item, outcome.status)
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
        _tell(session, now, item, outcome.status)
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


TOLD = {
    ItemStatus.SUCCEEDED: Kind.PAYOUT_SENT,
    ItemStatus.FAILED: Kind.PAYOUT_FAILED,
    ItemStatus.RETURNED: Kind.PAYOUT_RETURNED,
}


def _tell(session: Session, now: datetime, item: PayoutItem, status: ItemStatus) -> None:
    """The donor learns that a payment went out, failed or came back (once per item and
    outcome, however often the provider reports it)."""
    kind = TOLD.get(status)
    if kind is not None:
        data = {"payout_item_id": item.id, "amount_cents": item.amount_cents,
                "currency": item.currency}  # fmt: skip
        notifications.notify(session, now, item.donor_id, kind,
                             f"payout-item:{item.id}:{status.value}", data)  # fmt: skip


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
