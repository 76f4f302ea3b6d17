"""Accepting or rejecting many clips that wait for review in one action (issue 24: a
bulk decision above its threshold needs a second person, services/approvals.py).

All the clips are decided in one transaction or none: one clip that is no longer
waiting for review refuses the whole call (409 naming it), so an approved request never
applies half of what was approved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import col

from rewards_engine.clock import Clock
from rewards_engine.db import Database, retry_on_contention
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.errors import Conflict, InvalidInput, NotFound
from rewards_engine.domain.staff_policy import CLIPS_REVIEW
from rewards_engine.domain.submissions import ClipStatus
from rewards_engine.models import Clip
from rewards_engine.services import approvals, staff_policy
from rewards_engine.services.approvals import ApprovalView
from rewards_engine.services.clip_review import decide_locked, locked_clip
from rewards_engine.services.clips import ClipRecord
from rewards_engine.services.support import require_reason

MAX_CLIPS = 500  # one call; more is several calls (each its own request if gated)


@dataclass(frozen=True)
class BulkReview:
    decision: str
    clips: list[ClipRecord]


def _checked_ids(clip_ids: Sequence[int]) -> list[int]:
    ids = sorted(set(clip_ids))
    if not 1 <= len(ids) <= MAX_CLIPS:
        raise InvalidInput(f"clip_ids lists 1 to {MAX_CLIPS} clips", field="clip_ids")
    return ids


@retry_on_contention
def review_clips(
    db: Database,
    clock: Clock,
    actor: Actor,
    clip_ids: Sequence[int],
    *,
    accept: bool,
    reason: str,
    idempotency_key: str | None = None,
    approval: int | None = None,
) -> BulkReview | ApprovalView:
    """Decide every listed clip the same way, in one transaction (audited per clip).
    Above the ``clips.review`` threshold: the pending request instead."""
    reason = require_reason(reason)
    ids = _checked_ids(clip_ids)
    decision = "accept" if accept else "reject"
    now = clock.now()
    with db.transaction() as uow:
        session = uow.session
        staff_policy.authorize(session, actor, CLIPS_REVIEW, len(ids))
        # Each clip is locked with its donor, donors in id order (the order every writer
        # takes them in), so two bulk reviews sharing donors wait instead of deadlocking.
        rows = session.execute(
            select(col(Clip.id), col(Clip.donor_id), col(Clip.status)).where(col(Clip.id).in_(ids))
        ).all()
        owners = {row.id: row.donor_id for row in rows}
        missing = [clip_id for clip_id in ids if clip_id not in owners]
        if missing:
            raise NotFound(f"no clip {missing[0]}", code="clip_not_found", field="clip_ids")
        # Refused now rather than after a second person approved (each is checked again
        # under its lock when decided).
        decided = sorted(row.id for row in rows if row.status != ClipStatus.PENDING_REVIEW)
        if decided:
            raise Conflict(
                f"clip {decided[0]} is not waiting for review: none was decided",
                code="clip_not_pending_review",
                field="clip_ids",
                details={"clip_ids": decided[:100]},
            )
        pending = approvals.gate(
            session,
            clock,
            actor,
            "clips.review",
            len(ids),
            {"clip_ids": ids, "decision": decision, "reason": reason},
            None if approval else idempotency_key,
            target=("clips", f"{len(ids)} clips"),
            reason=reason,
            evidence={"donors": sorted(set(owners.values()))[:100], "clips": len(ids)},
            approval=approval,
        )
        if pending is not None:
            return pending
        results = [
            decide_locked(
                uow,
                clock,
                now,
                actor,
                locked_clip(session, clip_id),
                accept=accept,
                reason=reason,
            )
            for clip_id in sorted(ids, key=lambda clip_id: (owners[clip_id], clip_id))
        ]
        staff_policy.charge_daily(session, clock, actor, CLIPS_REVIEW, len(ids))
        return BulkReview(decision, results)
