"""Building batches (step 1 of the package doc): the donors due a payout gathered, each
amount moved from available to in flight, batches and items committed with ids derived
from ours, all before any provider call, so that every later send repeats the same ids.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.db import allocate_ids, table_of
from rewards_engine.domain import payouts as rules
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.ledger import AccountKind, AccountRef, Leg, TransferKind
from rewards_engine.domain.payouts import DestinationKind, ItemStatus
from rewards_engine.domain.staff_policy import PAYOUTS_BATCH
from rewards_engine.models import Donor, LedgerAccount, PayoutBatch, PayoutItem
from rewards_engine.runtime import Runtime
from rewards_engine.services import approvals, audit, ledger, staff_policy
from rewards_engine.services.approvals import ApprovalView
from rewards_engine.services.payouts.destinations import SYSTEM, provider_name

log = logging.getLogger(__package__)  # one logger for the package, as before the split


@dataclass
class BatchReport:
    batches: list[int] = field(default_factory=list)
    items: int = 0
    total_cents: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"batches": len(self.batches), "items": self.items, "total_cents": self.total_cents}


def create_batches(runtime: Runtime, actor: Actor = SYSTEM) -> BatchReport:
    """Commit this period's batches (before any provider call); see the module doc.
    The scheduled job's run: not gated (staff start theirs with :func:`staff_batches`)."""
    report = _build(runtime, actor, gated=False, idempotency_key=None, approval=None)
    assert isinstance(report, BatchReport)
    return report


def staff_batches(
    runtime: Runtime,
    actor: Actor,
    *,
    idempotency_key: str | None = None,
    approval: int | None = None,
) -> BatchReport | ApprovalView:
    """A run started by staff: when its total passes the ``payouts.batch`` threshold
    (fixtures/approvals.toml) it needs a second person, and the pending request is
    returned with nothing reserved; ``approval`` applies an approved one (refused if
    the total grew past what was approved)."""
    return _build(runtime, actor, gated=True, idempotency_key=idempotency_key, approval=approval)


def _build(
    runtime: Runtime,
    actor: Actor,
    *,
    gated: bool,
    idempotency_key: str | None,
    approval: int | None,
) -> BatchReport | ApprovalView:
    settings = runtime.settings
    now = runtime.clock.now()
    period = rules.period_of(now)
    cooled = now - timedelta(hours=settings.payout_cooling_off_hours)
    report = BatchReport()
    with runtime.db.transaction() as uow:
        session = uow.session
        paid_this_period = exists().where(
            col(PayoutItem.donor_id) == col(LedgerAccount.donor_id),
            col(PayoutItem.currency) == col(LedgerAccount.currency),
            col(PayoutItem.period) == period,
        )
        rows = session.execute(
            select(
                col(Donor.id),
                col(Donor.payout_kind),
                col(Donor.payout_destination),
                col(Donor.payout_masked),
                col(LedgerAccount.currency),
                col(LedgerAccount.balance),
            )
            .join(LedgerAccount, col(LedgerAccount.donor_id) == col(Donor.id))
            .where(
                col(LedgerAccount.kind) == AccountKind.CASH_AVAILABLE.value,
                col(LedgerAccount.balance) >= settings.payout_minimum_cents,
                col(Donor.status) == "active",
                col(Donor.on_hold).is_(False),
                col(Donor.payout_kind).is_not(None),
                col(Donor.payout_changed_at).is_(None) | (col(Donor.payout_changed_at) <= cooled),
                ~paid_this_period,
            )
            .order_by(col(Donor.id), col(LedgerAccount.currency))
            # Locked as every writer locks (the donor, then its accounts), in id order:
            # a reversal or an adjustment that lands meanwhile waits, so the amount
            # reserved is the balance as it is, not as it was read.
            .with_for_update(of=[table_of(Donor), table_of(LedgerAccount)])
        ).all()
        if gated:
            total = sum(row.balance for row in rows)
            staff_policy.authorize(session, actor, PAYOUTS_BATCH, total)
            pending = approvals.gate(
                session,
                runtime.clock,
                actor,
                "payouts.batch",
                total,
                {"period": period},
                None if approval else idempotency_key,
                target=("payout_period", period),
                reason=f"payout batches for {period}",
                evidence={"donors": len({row.id for row in rows}), "total_cents": total},
                approval=approval,
            )
            if pending is not None:
                return pending
        groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
        for row in rows:
            kind = DestinationKind(row.payout_kind)
            groups[(provider_name(runtime, kind), row.currency)].append(row)
        rails = runtime.payout_providers
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
        if gated:
            staff_policy.charge_daily(
                session, runtime.clock, actor, PAYOUTS_BATCH, report.total_cents
            )
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
    [batch_id] = allocate_ids(session, table_of(PayoutBatch), 1)
    item_ids = allocate_ids(session, table_of(PayoutItem), len(rows))
    session.execute(
        table_of(PayoutBatch)
        .insert()
        .values(
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
        table_of(PayoutItem).insert(),
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
