"""Reading and reports: batches, their items and a donor's payouts, page by page; the
reconciliation report (provider, ledger and items compared per batch); the tax report.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.db import Database, one_of, row_view
from rewards_engine.domain import payouts as rules
from rewards_engine.domain.errors import NotFound
from rewards_engine.domain.ledger import AccountKind
from rewards_engine.domain.payouts import ItemStatus
from rewards_engine.models import (
    Donor,
    LedgerAccount,
    LedgerEntry,
    LedgerTransfer,
    PayoutBatch,
    PayoutItem,
)
from rewards_engine.pagination import Page, fetch_page
from rewards_engine.providers.payouts import ProviderUnavailable
from rewards_engine.runtime import Runtime
from rewards_engine.services.payouts.destinations import _outgoing


@dataclass(frozen=True)
class BatchView:
    """A payout batch as staff see it (read inside its transaction)."""

    id: int
    provider: str
    currency: str
    period: str
    status: str
    sender_batch_id: str
    provider_batch_id: str | None
    item_count: int
    total_cents: int
    attempts: int
    last_error: str | None
    created_by: str
    created_at: datetime
    submitted_at: datetime | None
    completed_at: datetime | None
    sender: str | None
    sender_lease_until: datetime | None


@dataclass(frozen=True)
class ItemView:
    """A payout item as its donor and staff see it: the destination only masked."""

    id: int
    batch_id: int
    donor_id: int
    amount_cents: int
    currency: str
    period: str
    destination_kind: str
    destination_masked: str
    sender_item_id: str
    provider_item_id: str | None
    status: str
    provider_status: str | None
    error: str | None
    created_at: datetime
    settled_at: datetime | None


def list_batches(db: Database, *, limit: int, cursor: str | None) -> Page[BatchView]:
    with db.read() as session:
        page = fetch_page(
            session,
            select(PayoutBatch),
            kind="payout-batches",
            columns=(col(PayoutBatch.id),),
            types=(int,),
            limit=limit,
            cursor=cursor,
        )
        return Page([row_view(BatchView, row) for row in page.items], page.next_cursor)


def get_batch(db: Database, batch_id: int) -> BatchView:
    with db.read() as session:
        return row_view(BatchView, _existing_batch(session, batch_id))


def _existing_batch(session: Session, batch_id: int, *, lock: bool = False) -> PayoutBatch:
    batch = session.get(PayoutBatch, batch_id, with_for_update=lock)
    if batch is None:
        raise NotFound(f"no payout batch {batch_id}", code="batch_not_found")
    return batch


def batch_items(db: Database, batch_id: int, *, limit: int, cursor: str | None) -> Page[ItemView]:
    with db.read() as session:
        _existing_batch(session, batch_id)
        page = fetch_page(
            session,
            select(PayoutItem).where(col(PayoutItem.batch_id) == batch_id),
            kind=f"payout-items:{batch_id}",
            columns=(col(PayoutItem.id),),
            types=(int,),
            limit=limit,
            cursor=cursor,
            descending=False,
        )
        return Page([row_view(ItemView, row) for row in page.items], page.next_cursor)


def donor_payouts(db: Database, donor_id: int, *, limit: int, cursor: str | None) -> Page[ItemView]:
    with db.read() as session:
        page = fetch_page(
            session,
            select(PayoutItem).where(col(PayoutItem.donor_id) == donor_id),
            kind="my-payouts",
            columns=(col(PayoutItem.id),),
            types=(int,),
            limit=limit,
            cursor=cursor,
        )
        return Page([row_view(ItemView, row) for row in page.items], page.next_cursor)


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
        query = select(PayoutBatch).order_by(col(PayoutBatch.id))
        if batch_id is not None:
            query = query.where(col(PayoutBatch.id) == batch_id)
        for batch in session.scalars(query):
            items_paid = session.execute(
                select(func.coalesce(func.sum(col(PayoutItem.amount_cents)), 0)).where(
                    col(PayoutItem.batch_id) == batch.id,
                    col(PayoutItem.status) == ItemStatus.SUCCEEDED.value,
                )
            ).scalar_one()
            outgoing, amounts = None, {}
            if batch.provider != "manual" and batch.provider_batch_id:
                outgoing = _outgoing(runtime, session, batch, only_open=False)
                amounts = dict(
                    session.execute(
                        select(col(PayoutItem.sender_item_id), col(PayoutItem.amount_cents)).where(
                            col(PayoutItem.batch_id) == batch.id
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
        rail = runtime.payout_providers.get(provider)
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
    item_ids = session.scalars(
        select(col(PayoutItem.id)).where(col(PayoutItem.batch_id) == batch.id)
    ).all()
    moves = ("pay", "claw_back", "late_pay")
    keys = [f"payout:{i}:{move}" for i in item_ids for move in moves]
    if not keys:
        return 0
    total = session.scalar(
        select(func.coalesce(func.sum(col(LedgerEntry.amount)), 0))
        .join(LedgerTransfer, col(LedgerTransfer.id) == col(LedgerEntry.transfer_id))
        .join(LedgerAccount, col(LedgerAccount.id) == col(LedgerEntry.account_id))
        .where(
            one_of(session, LedgerTransfer.idempotency_key, keys),
            col(LedgerAccount.owner) == "program",
            col(LedgerAccount.kind) == AccountKind.PAYOUTS.value,
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
                col(PayoutItem.donor_id),
                col(Donor.account_id),
                col(PayoutItem.currency),
                func.sum(col(PayoutItem.amount_cents)),
            )
            .join(Donor, col(Donor.id) == col(PayoutItem.donor_id))
            .where(
                col(PayoutItem.status) == ItemStatus.SUCCEEDED.value,
                col(PayoutItem.settled_at) >= start,
                col(PayoutItem.settled_at) < end,
            )
            .group_by(col(PayoutItem.donor_id), col(Donor.account_id), col(PayoutItem.currency))
            .having(func.sum(PayoutItem.amount_cents) >= threshold)
            .order_by(col(PayoutItem.donor_id))
        ).all()
    return [
        TaxLine(donor, account, currency, int(total)) for donor, account, currency, total in rows
    ]
