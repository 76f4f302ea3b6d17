"""Manual payouts and staff tools: a manual batch exported for the person who pays it
and its items settled by hand; an unclaimed PayPal payment cancelled; a batch that
waits for a person given its provider id or sent again. Each change is audited.
"""

from __future__ import annotations

import csv
import io
from typing import Protocol, runtime_checkable

from sqlalchemy import select
from sqlmodel import col

from rewards_engine.db import row_view
from rewards_engine.domain import payouts as rules
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.errors import Conflict, NotFound, Unavailable
from rewards_engine.domain.payouts import ItemStatus
from rewards_engine.models import PayoutBatch, PayoutItem
from rewards_engine.providers.payouts import ItemOutcome, ProviderRejected, ProviderUnavailable
from rewards_engine.runtime import Runtime
from rewards_engine.services import audit
from rewards_engine.services.payouts.outcomes import _complete_if_final, apply_outcomes
from rewards_engine.services.payouts.reports import BatchView, ItemView, _existing_batch


@runtime_checkable
class CancelsUnclaimed(Protocol):
    """A rail that can take back a payment nobody claimed (PayPal's)."""

    def cancel_unclaimed(self, provider_item_id: str) -> ItemOutcome: ...


def export_csv(runtime: Runtime, actor: Actor, batch_id: int) -> str:
    """A manual batch as CSV for the person who pays it (audited: it holds destinations)."""
    with runtime.db.transaction() as uow:
        batch = _existing_batch(uow.session, batch_id)
        if batch.provider != "manual":
            raise Conflict("only manual batches are exported", code="not_manual")
        items = list(
            uow.session.scalars(
                select(PayoutItem)
                .where(col(PayoutItem.batch_id) == batch_id)
                .order_by(col(PayoutItem.id))
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
) -> ItemView:
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
        return row_view(ItemView, item)


def cancel_unclaimed(runtime: Runtime, actor: Actor, item_id: int, reason: str) -> ItemView:
    """Take back a PayPal payment nobody claimed (a mistyped e-mail, say) so that the
    donor can fix the destination now instead of waiting 30 days for PayPal to return it."""
    with runtime.db.read() as session:
        item = session.get(PayoutItem, item_id)
        if item is None:
            raise NotFound(f"no payout item {item_id}", code="payout_item_not_found")
        provider = runtime.payout_providers.get("paypal")
        if item.status != ItemStatus.UNCLAIMED.value or not isinstance(provider, CancelsUnclaimed):
            raise Conflict(
                "only unclaimed PayPal payments can be cancelled",
                code="not_unclaimed",
                details={"status": item.status},
            )
    try:
        outcome = provider.cancel_unclaimed(item.provider_item_id)
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
        assert updated is not None  # read above; items are never deleted
        return row_view(ItemView, updated)


def attach_provider_batch(
    runtime: Runtime, actor: Actor, batch_id: int, provider_batch_id: str, reason: str
) -> BatchView:
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
        return row_view(BatchView, batch)


def resend_batch(runtime: Runtime, actor: Actor, batch_id: int, reason: str) -> BatchView:
    """Send a batch that waits for a person again, with the same ids (after fixing what
    the provider objected to). Safe within the provider's duplicate window: a batch it
    made already is answered as a duplicate, never made twice."""
    now = runtime.clock.now()
    with runtime.db.transaction() as uow:
        batch = _existing_batch(uow.session, batch_id, lock=True)
        window = getattr(runtime.payout_providers.get(batch.provider), "resend_window", None)
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
        return row_view(BatchView, batch)
