"""Deciding one submission batch's measured claims, as a submission decides its clips.

In one transaction, the donor locked first (as every writer of their clips and
balances does): only the claims this run still holds are decided; a refused one is
rejected with its reason, the others become clips through ``deciding`` with the
engine's own measurements, never the app's. The result is the keys of the videos to
delete once it commits: every plain upload, the sealed copy of a clip that earns
nothing, and sealed copies this run stored for claims it lost that nothing keeps.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.db import retry_on_contention
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.notifications import Kind
from rewards_engine.domain.submissions import PAID_STATUSES, ClipInput
from rewards_engine.domain.uploads import (
    ClaimStatus,
    Measured,
    Rejection,
    check_video,
    final_sweep_at,
    sealed_key,
)
from rewards_engine.media import VideoFacts
from rewards_engine.models import Campaign, Clip, ClipClaim, Donor, SubmissionBatch
from rewards_engine.runtime import Runtime
from rewards_engine.services import deciding, notifications
from rewards_engine.services.verification.leases import _Taken
from rewards_engine.services.verification.measuring import _Measured
from rewards_engine.services.verification.report import VerificationReport

SYSTEM = Actor.system("verification")
_KEPT = {status.value for status in PAID_STATUSES}


@retry_on_contention
def _decide_batch(
    runtime: Runtime,
    items: list[_Taken],
    measured: dict[int, _Measured],
    report: VerificationReport,
) -> list[str]:
    """Decide one submission batch's verified claims; the keys of videos to delete."""
    return deciding.retrying_hash_races(
        lambda: _decide_batch_once(runtime, items, measured, report)
    )


def _decide_batch_once(
    runtime: Runtime,
    items: list[_Taken],
    measured: dict[int, _Measured],
    report: VerificationReport,
) -> list[str]:
    now = runtime.clock.now()
    first = items[0].claim
    leases = {item.claim.id: item.lease for item in items}
    outcome: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    deletions: list[str] = []
    with runtime.db.transaction() as uow:
        session = uow.session
        # The donor first, as every writer of the donor's clips and balances locks it.
        donor = session.get(Donor, first.donor_id, with_for_update=True)
        claims = list(
            session.scalars(
                select(ClipClaim)
                .where(col(ClipClaim.id).in_(list(leases)))
                .order_by(col(ClipClaim.id))
                .with_for_update()
            )
        )
        ours = [
            c for c in claims if c.status == ClaimStatus.VERIFYING and c.lease_until == leases[c.id]
        ]
        campaign = session.get(Campaign, first.campaign_id)
        assert donor is not None and campaign is not None
        rules = deciding.rules_of(campaign)
        good: list[tuple[ClipClaim, VideoFacts]] = []
        deletions += _sealed_by_a_loser(session, items, claims, ours, measured)
        for claim in ours:
            facts = measured[claim.id].facts
            reason: str | None
            if isinstance(facts, str):
                reason = facts
            elif donor.status != "active":
                reason = Rejection.DONOR_NOT_ACTIVE.value
            elif donor.consent_version is None:
                reason = Rejection.CONSENT_WITHDRAWN.value
            else:
                measurement = Measured(facts.sha256, facts.duration_s)
                rejection = check_video(claim.video_sha256, claim.duration_s, measurement, rules)
                reason = rejection.value if rejection else None
            if reason is None:
                assert not isinstance(facts, str)
                good.append((claim, facts))
                continue
            claim.status, claim.reason, claim.decided_at = ClaimStatus.REJECTED.value, reason, now
            claim.lease_until = final_sweep_at(claim.expires_at, now)  # uploads.sweep
            notifications.tell_claim(session, now, claim, Kind.CLIP_REJECTED, {"reason": reason})
            refused[reason] += 1
            deletions += [claim.storage_key, sealed_key(claim.storage_key)]
        if good:
            clips = [_clip_input(claim, facts) for claim, facts in good]
            decisions = deciding.decide(session, now, donor.id, rules, clips)
            stored = deciding.store(
                uow,
                now,
                SYSTEM,
                donor.id,
                rules,
                first.batch_id,
                clips,
                decisions,
                earning=("claims", good[0][0].id),
                positions=[claim.position for claim, _ in good],
                extras=[_verified_columns(claim, facts) for claim, facts in good],
            )
            unkept: list[int | None] = []
            for (claim, _), result in zip(good, stored.outcomes, strict=True):
                claim.status, claim.clip_id, claim.decided_at = (
                    ClaimStatus.VERIFIED.value,
                    result.clip_id,
                    now,
                )
                claim.lease_until = final_sweep_at(claim.expires_at, now)
                notifications.tell_claim(session, now, claim, Kind.CLIP_VERIFIED,
                      {"clip_id": result.clip_id, "status": result.status,
                       "reason": result.reason})  # fmt: skip
                outcome[result.status] += 1
                deletions.append(claim.storage_key)  # the sealed copy is what is kept
                if result.status not in _KEPT:
                    deletions.append(sealed_key(claim.storage_key))
                    unkept.append(result.clip_id)
            if unkept:  # their videos go now: their clips point at nothing
                session.execute(
                    update(Clip)
                    .where(col(Clip.id).in_(unkept))
                    .values(storage_key=None, video_deleted_at=now)
                )
            batch = session.get(SubmissionBatch, first.batch_id, with_for_update=True)
            assert batch is not None
            batch.accepted += stored.accepted
            batch.points += stored.points
            batch.cash_cents += stored.cash_cents
    report.decided.update(outcome)
    report.rejected.update(refused)
    return deletions


def _sealed_by_a_loser(
    session: Session,
    items: list[_Taken],
    claims: list[ClipClaim],
    ours: list[ClipClaim],
    measured: dict[int, _Measured],
) -> list[str]:
    """Sealed copies this run stored for claims it no longer holds (it outlived its
    lease, or the donor was erased meanwhile) that nothing will keep: the claim is gone,
    refused, expired, or decided by another run into a clip that does not keep its
    video. A claim still held by another run is left to it (that run seals the same
    video at the same key and decides after this run's copy was stored)."""
    held = {claim.id for claim in ours}
    rows = {claim.id: claim for claim in claims}
    doomed = []
    for item in items:
        claim_id = item.claim.id
        if claim_id in held or not measured[claim_id].sealed:
            continue
        target = sealed_key(item.claim.storage_key)
        row = rows.get(claim_id)
        if row is None or row.status in (ClaimStatus.REJECTED, ClaimStatus.EXPIRED):
            doomed.append(target)
        elif row.status == ClaimStatus.VERIFIED:
            clip = session.get(Clip, row.clip_id) if row.clip_id is not None else None
            if clip is None or clip.status not in _KEPT or clip.storage_key != target:
                doomed.append(target)
    return doomed


def _clip_input(claim: ClipClaim, facts: VideoFacts) -> ClipInput:
    """The clip as the engine measured it: its hash, duration and perceptual hash are
    the video's, never the app's."""
    return ClipInput(
        video_sha256=facts.sha256,
        event_id=claim.event_id,
        incident_type=claim.incident_type,
        camera_id=claim.camera_id,
        recorded_at=claim.recorded_at,
        duration_s=facts.duration_s,
        staged=claim.staged,
        perceptual_hash=facts.perceptual_hash,
    )


def _verified_columns(claim: ClipClaim, facts: VideoFacts) -> dict[str, object]:
    return {
        "intake": "verified",
        "storage_key": sealed_key(claim.storage_key),
        "size_bytes": facts.size_bytes,
        "pdq": facts.pdq,
        "pdq_quality": facts.pdq_quality,
    }
