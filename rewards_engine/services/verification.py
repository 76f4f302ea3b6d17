"""Verifying uploaded videos, then deciding their clips: the engine pays only for a
video it received and checked.

A run takes a few uploaded claims under a lease (a killed run frees them when its lease
ends; a claim that kills every attempt is rejected as ``unverifiable``), reads each
video from the store, measures it (SHA-256 of the bytes, PyAV's probe, the engine's own
perceptual hash) and, per submission batch, decides the clips exactly as a submission
does (``deciding``), with the donor locked. Only a claim still held by this run's
attempt is decided, so two runs never decide one claim twice. A video that is refused,
or whose clip earns nothing (a duplicate, a cap), is deleted once the decision commits;
a kept one is stored sealed with its donor's data key (rewards_engine/video_crypto.py)
and its plain upload deleted.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.db import changed_rows, retry_on_contention
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.submissions import PAID_STATUSES, ClipInput
from rewards_engine.domain.uploads import (
    MAX_VERIFY_ATTEMPTS,
    ClaimStatus,
    Measured,
    Rejection,
    check_video,
    sealed_key,
)
from rewards_engine.media import MediaRejected, VideoFacts, analyse
from rewards_engine.models import Campaign, Clip, ClipClaim, Donor, SubmissionBatch
from rewards_engine.runtime import Runtime
from rewards_engine.services import deciding, video_keys
from rewards_engine.video_crypto import encrypt_stream

log = logging.getLogger(__name__)
SYSTEM = Actor.system("verification")
SEALED_TYPE = "application/octet-stream"
HASH_RACE_RETRIES = 3
_KEPT = {status.value for status in PAID_STATUSES}


@dataclass(frozen=True)
class _Taken:
    """A claim this run holds: its row as taken, and the attempt that marks it ours."""

    claim: ClipClaim
    attempt: int


@dataclass
class VerificationReport:
    taken: int = 0
    decided: Counter[str] = field(default_factory=Counter)  # the clips' statuses
    rejected: Counter[str] = field(default_factory=Counter)  # claims refused, by reason
    lost: int = 0  # another run took the claim over (this one outlived its lease)
    objects_deleted: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "taken": self.taken,
            **{f"clips_{status}": n for status, n in sorted(self.decided.items())},
            **{f"rejected_{reason}": n for reason, n in sorted(self.rejected.items())},
            "lost": self.lost,
            "objects_deleted": self.objects_deleted,
        }


def verify_uploads(
    runtime: Runtime,
    *,
    limit: int | None = None,
    on_progress: Callable[[str, int, int | None], None] | None = None,
) -> VerificationReport:
    """Verify up to ``limit`` uploaded claims (default: the configured batch)."""
    settings = runtime.settings.uploads
    report = VerificationReport()
    taken = _take(runtime, limit or settings.verify_batch, settings.verify_lease_s)
    report.taken = len(taken)
    measured: dict[int, _Measured] = {}
    for done, item in enumerate(taken, start=1):
        claim = item.claim
        if item.attempt > MAX_VERIFY_ATTEMPTS:
            measured[claim.id] = _Measured(Rejection.UNVERIFIABLE.value)
        else:
            measured[claim.id] = _measure_and_seal(runtime, claim)
        if on_progress:
            on_progress("videos measured", done, len(taken))
    by_batch: dict[int, list[_Taken]] = defaultdict(list)
    for item in taken:
        by_batch[item.claim.batch_id].append(item)
    for items in by_batch.values():
        deletions = _decide_batch(runtime, items, measured, report)
        for key in deletions:
            runtime.video_store.delete(key)
            report.objects_deleted += 1
    log.info("uploads verified", extra={"fields": report.as_dict()})
    return report


def _take(runtime: Runtime, limit: int, lease_s: int) -> list[_Taken]:
    """Claim up to ``limit`` uploaded claims (or ones whose verifier's lease ran out),
    each by a conditional UPDATE that only one run can win."""
    now = runtime.clock.now()
    waiting = or_(
        col(ClipClaim.status) == ClaimStatus.UPLOADED.value,
        (col(ClipClaim.status) == ClaimStatus.VERIFYING.value) & (col(ClipClaim.lease_until) < now),
    )
    with runtime.db.read() as session:
        candidates = list(
            session.scalars(
                select(ClipClaim).where(waiting).order_by(col(ClipClaim.id)).limit(limit)
            )
        )
    taken = []
    for claim in candidates:
        attempt = claim.attempts + 1
        with runtime.db.transaction() as uow:
            won = changed_rows(
                uow.session,
                update(ClipClaim)
                .where(
                    col(ClipClaim.id) == claim.id,
                    col(ClipClaim.attempts) == claim.attempts,
                    waiting,
                )
                .values(
                    status=ClaimStatus.VERIFYING.value,
                    attempts=attempt,
                    lease_until=now + timedelta(seconds=lease_s),
                ),
            )
        if won:
            taken.append(_Taken(claim, attempt))
    return taken


@dataclass(frozen=True)
class _Measured:
    """What a run found on one claim's video: its facts, or why it cannot be used; and
    whether the run stored a sealed copy of it (which it must delete unless its claim's
    clip keeps it)."""

    facts: VideoFacts | str
    sealed: bool = False


def _measure_and_seal(runtime: Runtime, claim: ClipClaim) -> _Measured:
    """The uploaded video's facts, or why it cannot be used. A video that is the one
    claimed is also stored sealed with its donor's data key (before its clip is
    decided, so a decided clip's video is always there); the upload is deleted once
    the decision commits. A donor erased meanwhile has no key, and none is made again."""
    store = runtime.video_store
    if store.stat(claim.storage_key) is None:
        return _Measured(Rejection.VIDEO_MISSING.value)
    with tempfile.NamedTemporaryFile(prefix="verify-", suffix=".video") as copy:
        with store.open(claim.storage_key) as source:
            shutil.copyfileobj(source, copy, 1024 * 1024)
        copy.flush()
        try:
            facts = analyse(copy.name)
        except MediaRejected as rejected:
            return _Measured(rejected.reason)
        if facts.sha256 != claim.video_sha256:
            return _Measured(facts)
        key = video_keys.donor_key(runtime.db, runtime.vault, claim.donor_id, runtime.clock.now())
        if key is None:
            return _Measured(Rejection.DONOR_NOT_ACTIVE.value)
        target = sealed_key(claim.storage_key)
        copy.seek(0)
        with tempfile.TemporaryFile(prefix="sealed-") as sealed:
            encrypt_stream(key, copy, sealed, context=target.encode())
            sealed.seek(0)
            store.put(target, sealed, content_type=SEALED_TYPE)
    return _Measured(facts, sealed=True)


@retry_on_contention
def _decide_batch(
    runtime: Runtime,
    items: list[_Taken],
    measured: dict[int, _Measured],
    report: VerificationReport,
) -> list[str]:
    """Decide one submission batch's verified claims; the keys of videos to delete."""
    for attempt in range(1, HASH_RACE_RETRIES + 1):
        try:
            return _decide_batch_once(runtime, items, measured, report)
        except IntegrityError as exc:  # another donor's same new video won the hash
            if "uq_clips_campaign_hash_owner" not in str(exc.orig) and "video_sha256" not in str(
                exc.orig
            ):
                raise
            if attempt == HASH_RACE_RETRIES:
                raise
    raise AssertionError("unreachable")


def _decide_batch_once(
    runtime: Runtime,
    items: list[_Taken],
    measured: dict[int, _Measured],
    report: VerificationReport,
) -> list[str]:
    now = runtime.clock.now()
    first = items[0].claim
    attempts = {item.claim.id: item.attempt for item in items}
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
                .where(col(ClipClaim.id).in_(list(attempts)))
                .order_by(col(ClipClaim.id))
                .with_for_update()
            )
        )
        ours = [
            c for c in claims if c.status == ClaimStatus.VERIFYING and c.attempts == attempts[c.id]
        ]
        lost = len(items) - len(ours)
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
            claim.lease_until = None
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
            for (claim, _), result in zip(good, stored.outcomes, strict=True):
                claim.status, claim.clip_id, claim.decided_at = (
                    ClaimStatus.VERIFIED.value,
                    result.clip_id,
                    now,
                )
                claim.lease_until = None
                outcome[result.status] += 1
                deletions.append(claim.storage_key)  # the sealed copy is what is kept
                if result.status not in _KEPT:
                    deletions.append(sealed_key(claim.storage_key))
            batch = session.get(SubmissionBatch, first.batch_id, with_for_update=True)
            assert batch is not None
            batch.accepted += stored.accepted
            batch.points += stored.points
            batch.cash_cents += stored.cash_cents
    report.decided.update(outcome)
    report.rejected.update(refused)
    report.lost += lost
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
