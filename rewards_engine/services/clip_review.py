"""Support staff's decisions on clips: reviewing a clip that waits for review (accept:
it earns now; reject) and reversing a clip with all it earned, each audited.

``decide_locked`` is shared with the bulk review (services/bulk_review.py) and
``reverse_locked`` with a confirmed fraud flag (services/fraud/resolution.py): both run
in the caller's transaction on clips already locked, with their donor, by
``locked_clip``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.clock import Clock
from rewards_engine.db import Database, UnitOfWork, retry_on_contention
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.errors import Conflict, NotFound
from rewards_engine.domain.ledger import TransferKind, earnings
from rewards_engine.domain.staff_policy import CLIP_REVERSE, CLIPS_REVIEW
from rewards_engine.domain.submissions import ClipStatus, Reason, Rules, vests_at
from rewards_engine.models import Campaign, CampaignCounter, Clip
from rewards_engine.services import audit, ledger, medals, staff_policy, support, wall
from rewards_engine.services.clips import ClipRecord, clip_record
from rewards_engine.services.deciding import add_to_counters, rules_of


def locked_clip(session: Session, clip_id: int) -> Clip:
    """Lock the clip's donor, then the clip: the order every writer locks them in."""
    donor_id = session.scalar(select(col(Clip.donor_id)).where(col(Clip.id) == clip_id))
    if donor_id is None:
        raise NotFound(f"no clip {clip_id}", code="clip_not_found")
    support.locked_donor(session, donor_id)
    clip = session.get(Clip, clip_id, with_for_update=True)
    assert clip is not None
    return clip


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
    reason = support.require_reason(reason)
    now = clock.now()
    with db.transaction() as uow:
        session = uow.session
        staff_policy.authorize(session, actor, CLIP_REVERSE)
        clip = locked_clip(session, clip_id)
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


@retry_on_contention
def review_clip(
    db: Database, clock: Clock, actor: Actor, clip_id: int, *, accept: bool, reason: str
) -> ClipRecord:
    """Decide a clip that waits for review: accept it (it earns now) or reject it."""
    reason = support.require_reason(reason)
    now = clock.now()
    with db.transaction() as uow:
        staff_policy.authorize(uow.session, actor, CLIPS_REVIEW, 1)
        clip = locked_clip(uow.session, clip_id)
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
