"""A person's decision on a fraud flag: confirm (the clips its evidence names are
reversed with what they earned; the hold stays; optionally a ban) or dismiss (the
evidence never flags again; the hold is released unless another high flag keeps it).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.db import one_of, retry_on_contention, row_view
from rewards_engine.domain import staff_policy as policy
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.errors import Conflict, NotFound
from rewards_engine.domain.events import DonorChanged
from rewards_engine.domain.fraud import FlagStatus, Severity
from rewards_engine.domain.profiles import DonorStatus
from rewards_engine.models import Clip, Donor, FraudEvidence, FraudFlag
from rewards_engine.runtime import Runtime
from rewards_engine.services import (
    approvals,
    audit,
    clip_review,
    redemptions,
    staff_policy,
    support,
    wall,
)
from rewards_engine.services.approvals import ApprovalView
from rewards_engine.services.fraud.review import FlagView


@dataclass(frozen=True)
class Resolution:
    flag: FlagView
    clips_reversed: int
    on_hold: bool
    banned: bool


@retry_on_contention
def resolve(
    runtime: Runtime,
    actor: Actor,
    flag_id: int,
    *,
    confirm: bool,
    reason: str,
    ban: bool = False,
    keep_hold: bool = True,
    idempotency_key: str | None = None,
    approval: int | None = None,
) -> Resolution | ApprovalView:
    """A person's decision on an open flag, audited with its reason.

    Confirm: the clips its evidence names are reversed with what they earned (and the
    medals that depended on them), the donor stays on hold (``keep_hold``, even if the
    flag did not hold them) and may be banned. Dismiss: the evidence never flags again;
    the hold is released unless another open high-severity flag keeps it.

    Dismissing a high-severity flag, and a ban, need a second person
    (``fraud.dismiss_high``, ``donor.ban`` in fixtures/approvals.toml): the pending
    request is returned instead; ``approval`` applies an approved one.
    """
    reason = support.require_reason(reason)
    clock = runtime.clock
    now = clock.now()
    with runtime.db.transaction() as uow:
        session = uow.session
        staff_policy.authorize(session, actor, policy.FRAUD_RESOLVE)
        # The donor first, then the flag: the order of every writer (the scan locks its
        # donors before it updates their flags), so a review and a scan never deadlock,
        # and the decision covers whatever evidence the scan added before it.
        donor_id = session.scalar(
            select(col(FraudFlag.donor_id)).where(col(FraudFlag.id) == flag_id)
        )
        if donor_id is None:
            raise NotFound(f"no fraud flag {flag_id}", code="flag_not_found")
        donor = session.get(Donor, donor_id, with_for_update=True)
        flag = session.get(FraudFlag, flag_id, with_for_update=True, populate_existing=True)
        assert donor is not None and flag is not None
        if flag.status != FlagStatus.OPEN:
            raise Conflict(
                f"the flag is already {flag.status}",
                code="flag_already_resolved",
                details={"status": flag.status},
            )
        if not confirm and flag.severity == Severity.HIGH:
            staff_policy.authorize(session, actor, policy.FRAUD_DISMISS_HIGH)
        if ban:
            staff_policy.authorize(session, actor, policy.DONOR_BAN)
        gated = "donor.ban" if ban else None
        if not confirm and flag.severity == Severity.HIGH:
            gated = "fraud.dismiss_high"
        if gated is not None:
            pending = approvals.gate(
                session,
                clock,
                actor,
                gated,
                1,
                {"flag_id": flag_id, "confirm": confirm, "ban": ban, "keep_hold": keep_hold},
                None if approval else idempotency_key,
                target=("fraud_flag", flag_id),
                reason=reason,
                evidence={
                    "donor_id": donor.id,
                    "rule": flag.rule,
                    "severity": flag.severity,
                    "score": flag.score,
                    "summary": flag.summary,
                    "on_hold": donor.on_hold,
                },
                approval=approval,
            )
            if pending is not None:
                return pending
        before = {"on_hold": donor.on_hold, "status": donor.status}
        reversed_count = 0
        if confirm:
            clip_ids = sorted(
                {
                    clip_id
                    for ids in session.scalars(
                        select(col(FraudEvidence.clip_ids)).where(
                            col(FraudEvidence.flag_id) == flag.id
                        )
                    )
                    for clip_id in ids or []
                }
            )
            clips = _reversible(session, donor.id, clip_ids)
            clip_review.reverse_locked(
                uow, now, actor, clips, f"fraud confirmed: {reason}", "fraud"
            )
            reversed_count = len(clips)
            flag.status = FlagStatus.CONFIRMED.value
            hold = keep_hold or ban or _other_high_flags(session, flag)
        else:
            flag.status = FlagStatus.DISMISSED.value
            hold = _other_high_flags(session, flag)
        flag.resolved_at, flag.resolved_by, flag.resolution = now, actor.id, reason
        flag.updated_at = now
        if ban:
            donor.status = DonorStatus.BANNED.value
        changed = donor.on_hold != hold or ban
        released = donor.on_hold and not hold
        donor.on_hold = hold
        fulfilled: list[int] = []
        if released and not confirm and runtime.settings.gift_cards_auto_fulfil:
            # Gift cards redeemed while held wait for this decision: a dismissal hands
            # them over now; after a confirmation they stay for support to decide.
            session.flush()
            fulfilled = redemptions.fulfil_after_release(session, now, [donor.id])
        if changed:
            donor.updated_at = now
            uow.publish(DonorChanged(donor.id))
            session.flush()
            wall.record_donor_changed(uow, now, donor.id)
        audit.record(
            session,
            clock,
            actor,
            action="fraud.confirm" if confirm else "fraud.dismiss",
            target_type="fraud_flag",
            target_id=flag.id,
            before=before,
            after={
                "on_hold": donor.on_hold,
                "status": donor.status,
                "clips_reversed": reversed_count,
                "donor_id": donor.id,
                "redemptions_fulfilled": fulfilled,
            },
            reason=reason,
        )
        session.flush()
        session.refresh(flag)
        return Resolution(
            row_view(FlagView, flag), reversed_count, donor.on_hold, donor.status == "banned"
        )


def _reversible(session: Session, donor_id: int, clip_ids: list[int]) -> list[Clip]:
    clips: list[Clip] = []
    for start in range(0, len(clip_ids), 5_000):
        clips += session.scalars(
            select(Clip)
            .where(
                one_of(session, col(Clip.id), clip_ids[start : start + 5_000]),
                col(Clip.donor_id) == donor_id,
                col(Clip.status).in_(("accepted", "pending_review")),
            )
            .order_by(col(Clip.id))
            .with_for_update()
        )
    return clips


def _other_high_flags(session: Session, flag: FraudFlag) -> bool:
    return bool(
        session.scalar(
            select(func.count())
            .select_from(FraudFlag)
            .where(
                col(FraudFlag.donor_id) == flag.donor_id,
                col(FraudFlag.id) != flag.id,
                col(FraudFlag.status) == FlagStatus.OPEN.value,
                col(FraudFlag.severity) == Severity.HIGH.value,
            )
        )
    )
