"""Support staff's corrections to a donor's account: the donor overview and adjustments of
available points or cash (four-eyes above a threshold, limited per role), all audited.

Decisions on clips (reviews and reversals) are in services/clip_review.py; the reason
rule and the donor lock, shared by every staff use case, stay here."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.clock import Clock
from rewards_engine.db import Database, retry_on_contention, row_view
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.currencies import validate_currency
from rewards_engine.domain.errors import Conflict, InvalidInput, NotFound
from rewards_engine.domain.ledger import (
    POINTS,
    AccountKind,
    AccountRef,
    Leg,
    TransferKind,
    issue,
)
from rewards_engine.models import Clip, Donor, FraudFlag
from rewards_engine.services import (
    approvals,
    audit,
    idempotency,
    ledger,
    staff_policy,
)
from rewards_engine.services.approvals import ApprovalView
from rewards_engine.services.clips import ClipRecord, clip_record
from rewards_engine.services.donors import DonorView, donor_view
from rewards_engine.services.fraud.review import FlagView
from rewards_engine.services.ledger import Balances

REASON_MIN, REASON_MAX = 3, 500
MAX_ADJUSTMENT = 100_000_000  # points or cents in one adjustment


def require_reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not REASON_MIN <= len(text) <= REASON_MAX:
        raise InvalidInput(
            f"a reason of {REASON_MIN} to {REASON_MAX} characters is required",
            code="reason_required",
            field="reason",
        )
    return text


def optional_reason(reason: str | None) -> str | None:
    """A reason that may be left out (an approval's), but not past ``REASON_MAX``: a
    console form is not bounded by the API's schema, and the column is."""
    text = (reason or "").strip()
    if len(text) > REASON_MAX:
        raise InvalidInput(
            f"a reason has at most {REASON_MAX} characters", code="reason_too_long", field="reason"
        )
    return text or None


def locked_donor(session: Session, donor_id: int) -> Donor:
    """The donor, locked for update (a staff write's first lock); never an erased one."""
    donor = session.get(Donor, donor_id, with_for_update=True)
    if donor is None:
        raise NotFound(f"no donor {donor_id}", code="donor_not_found")
    if donor.status == "erased":  # nothing brings an erased donor back
        raise Conflict("the donor's data was erased", code="donor_erased")
    return donor


@dataclass(frozen=True)
class DonorOverview:
    donor: DonorView
    balances: Balances
    recent_clips: list[ClipRecord]
    open_flags: list[FlagView]

    @property
    def on_hold(self) -> bool:
        return self.donor.on_hold


def donor_overview(db: Database, donor_id: int, recent: int = 20) -> DonorOverview:
    with db.read() as session:
        donor = session.get(Donor, donor_id)
        if donor is None:
            raise NotFound(f"no donor {donor_id}", code="donor_not_found")
        clips = session.scalars(
            select(Clip)
            .where(col(Clip.donor_id) == donor_id)
            .order_by(col(Clip.created_at).desc(), col(Clip.id).desc())
            .limit(recent)
        )
        flags = session.scalars(
            select(FraudFlag)
            .where(col(FraudFlag.donor_id) == donor_id, col(FraudFlag.status) == "open")
            .order_by(col(FraudFlag.score).desc())
        )
        return DonorOverview(
            donor_view(donor),
            ledger.balances(session, donor_id),
            [clip_record(clip) for clip in clips],
            [row_view(FlagView, flag) for flag in flags],
        )


@dataclass(frozen=True)
class AdjustmentResult:
    transfer_id: int
    donor_id: int
    asset: str
    currency: str
    amount: int
    reason: str
    balance_after: int
    replayed: bool = False


@retry_on_contention
def adjust(
    db: Database,
    clock: Clock,
    actor: Actor,
    donor_id: int,
    *,
    asset: str,
    amount: int,
    reason: str,
    currency: str | None = None,
    idempotency_key: str | None = None,
    approval: int | None = None,
) -> AdjustmentResult | ApprovalView:
    """Add or remove available points or cash; an available balance never goes below zero.

    Above its four-eyes threshold (fixtures/approvals.toml) the adjustment becomes a
    pending request, returned instead (services/approvals.py); ``approval`` applies an
    approved one."""
    reason = require_reason(reason)
    if asset not in ("points", "cash"):
        raise InvalidInput("asset is points or cash", field="asset")
    if amount == 0 or abs(amount) > MAX_ADJUSTMENT:
        raise InvalidInput(
            f"amount is a non-zero whole number of at most {MAX_ADJUSTMENT:,} in size",
            field="amount",
        )
    if asset == "points":
        if currency is not None:
            raise InvalidInput(
                "points have no currency: leave currency out for a points adjustment",
                code="currency_not_allowed",
                field="currency",
            )
        kind, currency = AccountKind.POINTS_AVAILABLE, POINTS
    else:
        if currency is None:
            raise InvalidInput("cash adjustments need a currency", field="currency")
        kind, currency = AccountKind.CASH_AVAILABLE, validate_currency(currency.upper())
    request = {
        "donor_id": donor_id,
        "asset": asset,
        "currency": currency,
        "amount": amount,
        "reason": reason,
    }
    key = idempotency.Idempotency.for_request(actor.id, idempotency_key, "adjust", request)
    now = clock.now()
    with db.transaction() as uow:
        session = uow.session
        staff_policy.authorize(session, actor, f"{asset}.adjust", amount)
        locked_donor(session, donor_id)
        before = ledger.balances(session, donor_id)
        available = _balance_of(before, AccountRef.donor(donor_id, kind, currency))

        def enough() -> None:  # a removal past the balance: refused now, not once approved
            if available + amount < 0:
                raise Conflict(
                    f"the {kind.value.replace('_', ' ')} balance is {available}; "
                    f"it cannot go below zero",
                    code="insufficient_balance",
                    details={"account": kind.value, "balance": available},
                )

        pending = approvals.gate(
            session,
            clock,
            actor,
            f"{asset}.adjust",
            amount,
            request,
            None if approval else idempotency_key,
            target=("donor", donor_id),
            reason=reason,
            evidence={"balances_before": _balances_json(before)},
            approval=approval,
            check=enough,
        )
        if pending is not None:
            return pending
        replay = idempotency.claim(session, key, now)
        if replay is not None:
            return AdjustmentResult(**replay, replayed=True)
        legs = issue(donor_id, kind, currency, amount)
        legs[0] = Leg(legs[0].account, amount, keep_non_negative=amount < 0)
        once = f"approval:{approval}" if approval else (key.key if key else uuid.uuid4().hex)
        transfer_id = ledger.post(
            session,
            now=now,
            kind=TransferKind.ADJUSTMENT,
            reference=("donor", donor_id),
            actor=actor,
            idempotency_key=f"adjust:{actor.id}:{once}",
            legs=legs,
            reason=reason,
        )
        if transfer_id is None:
            raise Conflict("this adjustment was already recorded", code="duplicate_adjustment")
        staff_policy.charge_daily(session, clock, actor, f"{asset}.adjust", amount)
        after = ledger.balances(session, donor_id)
        audit.record(
            session,
            clock,
            actor,
            action="ledger.adjust",
            target_type="donor",
            target_id=donor_id,
            before=_balances_json(before),
            after=_balances_json(after),
            reason=reason,
        )
        account = AccountRef.donor(donor_id, kind, currency)
        result = AdjustmentResult(
            transfer_id=transfer_id,
            donor_id=donor_id,
            asset=asset,
            currency=currency,
            amount=amount,
            reason=reason,
            balance_after=_balance_of(after, account),
        )
        payload = asdict(result)
        payload.pop("replayed")
        idempotency.store(session, key, payload)
    return result


def _balance_of(balances: Balances, account: AccountRef) -> int:
    if account.currency == POINTS:
        return balances.points_available
    for cash in balances.cash:
        if cash.currency == account.currency:
            return cash.available_cents
    return 0


def _balances_json(balances: Balances) -> dict[str, Any]:
    return asdict(balances)
