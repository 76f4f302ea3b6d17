"""Support staff's corrections: adjustments, clip reversals and reviews, all audited."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.clock import Clock
from rewards_engine.db import Database, UnitOfWork, retry_on_contention, row_view
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.currencies import validate_currency
from rewards_engine.domain.errors import Conflict, InvalidInput, NotFound
from rewards_engine.domain.ledger import (
    POINTS,
    AccountKind,
    AccountRef,
    Leg,
    TransferKind,
    earnings,
    issue,
)
from rewards_engine.domain.staff_policy import CLIP_REVERSE, CLIPS_REVIEW
from rewards_engine.domain.submissions import ClipStatus, Reason, Rules, vests_at
from rewards_engine.models import Campaign, CampaignCounter, Clip, Donor, FraudFlag
from rewards_engine.services import (
    approvals,
    audit,
    idempotency,
    ledger,
    medals,
    staff_policy,
    wall,
)
from rewards_engine.services.approvals import ApprovalView
from rewards_engine.services.clips import ClipRecord, clip_record
from rewards_engine.services.deciding import add_to_counters, rules_of
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


def _locked_donor(session: Session, donor_id: int) -> Donor:
    donor = session.get(Donor, donor_id, with_for_update=True)
    if donor is None:
        raise NotFound(f"no donor {donor_id}", code="donor_not_found")
    if donor.status == "erased":  # nothing brings an erased donor back
        raise Conflict("the donor's data was erased", code="donor_erased")
    return donor


def _locked_clip(session: Session, clip_id: int) -> Clip:
    """Lock the clip's donor, then the clip: the order every writer locks them in."""
    donor_id = session.scalar(select(col(Clip.donor_id)).where(col(Clip.id) == clip_id))
    if donor_id is None:
        raise NotFound(f"no clip {clip_id}", code="clip_not_found")
    _locked_donor(session, donor_id)
    clip = session.get(Clip, clip_id, with_for_update=True)
    assert clip is not None
    return clip


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
        _locked_donor(session, donor_id)
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


@dataclass(frozen=True)
class ReversalResult:
    clip: ClipRecord
    already_reversed: bool
    transfer_id: int | None


@retry_on_contention
def reverse_clip(
    db: Database,
    clock: Clock,
    actor: Actor,
    clip_id: int,
    reason: str,
    *,
    donor_id: int | None = None,
) -> ReversalResult:
    """Reverse a clip and all it earned. Reversing a reversed clip changes nothing;
    ``donor_id``, when given, must own the clip (a form on one donor's page cannot
    reverse another donor's clip).

    What it earned is taken back from where it is now: still pending if the review
    window is open, else available. An available balance may go below zero here
    (the points were spent, or the cash paid): that debt is shown and later earnings
    repay it.
    """
    reason = require_reason(reason)
    now = clock.now()
    with db.transaction() as uow:
        session = uow.session
        staff_policy.authorize(session, actor, CLIP_REVERSE)
        clip = _locked_clip(session, clip_id)
        if donor_id is not None and clip.donor_id != donor_id:
            raise NotFound(f"donor {donor_id} has no clip {clip_id}", code="clip_not_found")
        if clip.status == ClipStatus.REVERSED:
            return ReversalResult(clip_record(clip), True, None)
        if clip.status not in (ClipStatus.ACCEPTED, ClipStatus.PENDING_REVIEW):
            raise Conflict(
                f"a {clip.status} clip earned nothing and cannot be reversed",
                code="clip_not_reversible",
                details={"status": clip.status},
            )
        before = {"status": clip.status, "points": clip.points, "cash_cents": clip.cash_cents}
        transfers = reverse_locked(uow, now, actor, [clip], reason, "reversed_by_support")
        transfer_id = transfers.get(f"reverse:clip:{clip.id}")
        audit.record(
            session,
            clock,
            actor,
            action="clip.reverse",
            target_type="clip",
            target_id=clip_id,
            before=before,
            after={"status": clip.status},
            reason=reason,
        )
        return ReversalResult(clip_record(clip), False, transfer_id)


def reverse_locked(
    uow: UnitOfWork, now: datetime, actor: Actor, clips: Sequence[Clip], reason: str, code: str
) -> dict[str, int]:
    """Reverse clips of one donor, already locked and reversible, in the caller's
    transaction: each clip's earnings taken back (one ledger transfer per clip, keyed by
    it, so nothing is taken twice), campaign counters, Honor Wall boards and medals
    recounted once for all. Returns the transfer ids by key."""
    session = uow.session
    counted = [c for c in clips if c.status == ClipStatus.ACCEPTED]
    transfers = [
        ledger.TransferSpec(
            TransferKind.REVERSAL,
            ("clip", clip.id),
            f"reverse:clip:{clip.id}",
            legs,
            reason,
        )
        for clip in counted
        if (
            legs := earnings(
                clip.donor_id,
                -clip.points,
                -clip.cash_cents,
                clip.currency,
                vested=clip.vested_at is not None,
            )
        )
    ]
    recorded = ledger.post_many(session, now=now, actor=actor, transfers=transfers)
    by_campaign: dict[str, Counter[str]] = {}
    for clip in counted:
        by_campaign.setdefault(clip.campaign_id, Counter())[clip.incident_type] -= 1
    for campaign_id, changes in sorted(by_campaign.items()):
        add_to_counters(session, campaign_id, changes)
    for clip in clips:
        clip.status = ClipStatus.REVERSED.value
        clip.reason = code
        clip.reversed_at = now
    if counted:
        session.flush()
        wall.record_reversed(uow, now, counted)
        medals.evaluate_donor(
            uow,
            now,
            counted[0].donor_id,
            touched=[c.accepted_at for c in counted],  # type: ignore[misc]  # counted clips were accepted: the query says so
            reason=f"{len(counted)} clip(s) reversed"
            if len(counted) > 1
            else f"clip {counted[0].id} reversed",
            reference={"reversed_clip_ids": [c.id for c in counted][:100]},
        )
    return recorded


@retry_on_contention
def _target_full(session: Session, rules: Rules, incident_type: str) -> bool:
    """Whether a campaign that stops at its target has reached it for this type, read
    under the counter's lock (as submissions do), so that accepting old footage in
    review never pushes a stopping campaign past its target."""
    target = rules.targets.get(incident_type)
    if not rules.stop_at_target or target is None:
        return False
    add_to_counters(session, rules.campaign_id, Counter({incident_type: 0}), lock=True)
    accepted = session.scalar(
        select(col(CampaignCounter.accepted)).where(
            col(CampaignCounter.campaign_id) == rules.campaign_id,
            col(CampaignCounter.incident_type) == incident_type,
        )
    )
    return (accepted or 0) >= target


def review_clip(
    db: Database, clock: Clock, actor: Actor, clip_id: int, *, accept: bool, reason: str
) -> ClipRecord:
    """Decide a clip that waits for review: accept it (it earns now) or reject it."""
    reason = require_reason(reason)
    now = clock.now()
    with db.transaction() as uow:
        staff_policy.authorize(uow.session, actor, CLIPS_REVIEW, 1)
        clip = _locked_clip(uow.session, clip_id)
        decided = decide_locked(uow, clock, now, actor, clip, accept=accept, reason=reason)
        staff_policy.charge_daily(uow.session, clock, actor, CLIPS_REVIEW, 1)
        return decided


def decide_locked(
    uow: UnitOfWork,
    clock: Clock,
    now: datetime,
    actor: Actor,
    clip: Clip,
    *,
    accept: bool,
    reason: str,
) -> ClipRecord:
    """Decide one clip, locked with its donor, in the caller's transaction (one clip's
    review, or each clip of a bulk review: services/bulk_review.py)."""
    session = uow.session
    clip_id = clip.id
    donor_id = clip.donor_id
    if clip.status != ClipStatus.PENDING_REVIEW:
        raise Conflict(
            f"the clip is {clip.status}, not waiting for review",
            code="clip_not_pending_review",
            details={"status": clip.status},
        )
    campaign = session.get(Campaign, clip.campaign_id)
    assert campaign is not None
    rules = rules_of(campaign)
    before = {"status": clip.status}
    clip.reviewed_at = now
    if accept and _target_full(session, rules, clip.incident_type):
        clip.status = ClipStatus.REJECTED.value
        clip.reason = Reason.TARGET_REACHED.value
    elif accept:
        clip.status = ClipStatus.ACCEPTED.value
        clip.reason = None
        clip.accepted_at = now
        clip.points, clip.cash_cents = rules.points_per_clip, rules.bounty_cents
        clip.vests_at = vests_at(rules, now)
        legs = earnings(donor_id, clip.points, clip.cash_cents, clip.currency)
        if legs:
            ledger.post(
                session,
                now=now,
                kind=TransferKind.EARNING,
                reference=("clip", clip.id),
                actor=actor,
                idempotency_key=f"earn:clip:{clip.id}",
                legs=legs,
                reason="accepted after review",
            )
        add_to_counters(session, clip.campaign_id, Counter({clip.incident_type: 1}))
        wall.record_accepted(
            uow, now, donor_id, Counter({(clip.campaign_id, clip.incident_type): 1})
        )
        medals.evaluate_donor(uow, now, donor_id, reference={"clip_id": clip.id})
    else:
        clip.status = ClipStatus.REJECTED.value
        clip.reason = "rejected_in_review"
    audit.record(
        session,
        clock,
        actor,
        action="clip.review",
        target_type="clip",
        target_id=clip_id,
        before=before,
        after={"status": clip.status},
        reason=reason,
    )
    return clip_record(clip)
