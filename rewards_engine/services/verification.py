"""Verifying uploaded videos, then deciding their clips: the engine pays only for a
video it received and checked.

A run takes a few uploaded claims under a lease, renewed as it goes from one video to
the next (a killed run frees them when its lease ends), reads each video from the
store, measures it (SHA-256 of the bytes, PyAV's probe, the engine's own perceptual
hash) and, per submission batch, decides the clips exactly as a submission does
(``deciding``), with the donor locked. Only a claim this run still holds (its lease) is
decided, so two runs never decide one claim twice; a run that lost a claim deletes the
sealed copy it stored unless the claim's clip keeps it. A claim whose check began and
never finished three times (a video that kills the verifier) is rejected as
``unverifiable``; a claim merely taken by a run that died, or whose check failed
because the store did, loses nothing. A video that is refused, or whose clip earns
nothing (a duplicate, a cap), is deleted once the decision commits; a kept one is
stored sealed with its donor's data key (rewards_engine/video_crypto.py) and its plain
upload deleted.
"""

from __future__ import annotations

import logging
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import IO, Any

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.db import changed_rows, retry_on_contention
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.notifications import Kind
from rewards_engine.domain.submissions import PAID_STATUSES, ClipInput
from rewards_engine.domain.uploads import (
    MAX_VERIFY_ATTEMPTS,
    ClaimStatus,
    Measured,
    Rejection,
    check_video,
    final_sweep_at,
    sealed_key,
)
from rewards_engine.media import MediaRejected, VideoFacts, analyse
from rewards_engine.models import Campaign, Clip, ClipClaim, Donor, SubmissionBatch
from rewards_engine.runtime import Runtime
from rewards_engine.services import deciding, notifications, video_keys
from rewards_engine.video_crypto import encrypt_stream

log = logging.getLogger(__name__)
SYSTEM = Actor.system("verification")
SEALED_TYPE = "application/octet-stream"
_CHUNK = 1024 * 1024
_KEPT = {status.value for status in PAID_STATUSES}


@dataclass
class _Taken:
    """A claim this run holds: its row as taken, and the lease that marks it ours (a
    claim taken over gets a later lease, so an earlier holder's no longer matches)."""

    claim: ClipClaim
    lease: datetime


class _StoreTrouble(Exception):
    """Reading the upload or storing its sealed copy failed: the store (or the disk, or
    the database that holds the data key) is in trouble, which says nothing of the
    video."""


@dataclass
class VerificationReport:
    taken: int = 0
    decided: Counter[str] = field(default_factory=Counter)  # the clips' statuses
    rejected: Counter[str] = field(default_factory=Counter)  # claims refused, by reason
    lost: int = 0  # another run took the claim over (this one outlived its lease)
    released: int = 0  # given up, attempt refunded: the store failed reading or sealing
    failed: int = 0  # the check itself failed; the claim is taken again after its lease
    objects_deleted: int = 0
    deletions_failed: int = 0  # done again once the claim's URLs are dead

    def as_dict(self) -> dict[str, object]:
        return {
            "taken": self.taken,
            **{f"clips_{status}": n for status, n in sorted(self.decided.items())},
            **{f"rejected_{reason}": n for reason, n in sorted(self.rejected.items())},
            "lost": self.lost,
            "released": self.released,
            "failed": self.failed,
            "objects_deleted": self.objects_deleted,
            "deletions_failed": self.deletions_failed,
        }


def verify_uploads(
    runtime: Runtime,
    *,
    limit: int | None = None,
    on_progress: Callable[[str, int, int | None], None] | None = None,
) -> VerificationReport:
    """Verify up to ``limit`` uploaded claims (default: the configured batch).

    ``attempts`` counts the checks of a claim's video that began and never finished (the
    process died on it, or the check raised): only those count towards ``unverifiable``.
    A claim taken but not reached when its run died, or whose check finished, costs
    nothing; nor does a store that fails (the claim is given up, its attempt refunded,
    and taken again after a lease's pause). So a video that kills the verifier costs no
    other claim its chances. A failure on one claim does not stop the others; the run
    raises the first one once it has decided what it could.
    """
    settings = runtime.settings.uploads
    report = VerificationReport()
    taken = _take(runtime, limit or settings.verify_batch, settings.verify_lease_s)
    report.taken = len(taken)
    held = {item.claim.id: item for item in taken}
    measured: dict[int, _Measured] = {}
    errors: list[BaseException] = []
    for done, item in enumerate(taken, start=1):
        claim = item.claim
        _renew(runtime, held, settings.verify_lease_s)
        if claim.id in held and not _mark_attempt(runtime, item, claim.attempts + 1):
            del held[claim.id]  # taken over meanwhile
        if claim.id not in held:
            pass
        elif claim.attempts + 1 > MAX_VERIFY_ATTEMPTS:
            measured[claim.id] = _Measured(Rejection.UNVERIFIABLE.value)
        else:
            try:
                measured[claim.id] = _measure_and_seal(runtime, claim)
            except _StoreTrouble as trouble:
                _release(runtime, item, claim.attempts, settings.verify_lease_s)
                del held[claim.id]
                report.released += 1
                errors.append(trouble.__cause__ or trouble)
            except Exception as exc:  # the check broke on this video: the attempt counts
                del held[claim.id]
                report.failed += 1
                errors.append(exc)
            else:
                _mark_attempt(runtime, item, claim.attempts)  # it finished: refunded
        if on_progress:
            on_progress("videos measured", done, len(taken))
    by_batch: dict[int, list[_Taken]] = defaultdict(list)
    for item in taken:
        if item.claim.id in measured:
            by_batch[item.claim.batch_id].append(item)
    for items in by_batch.values():
        for key in _decide_batch(runtime, items, measured, report):
            try:
                runtime.video_store.delete(key)
            except Exception:  # the expiry sweep deletes it again (uploads.sweep)
                report.deletions_failed += 1
            else:
                report.objects_deleted += 1
    report.lost = report.taken - report.released - report.failed
    report.lost -= sum(report.decided.values()) + sum(report.rejected.values())
    log.info("uploads verified", extra={"fields": report.as_dict()})
    if errors:
        for error in errors:
            log.warning(
                "a video could not be checked",
                extra={"fields": {"error": type(error).__name__}},
            )
        raise errors[0]
    return report


def _waiting(now: datetime) -> ColumnElement[bool]:
    return or_(
        col(ClipClaim.status) == ClaimStatus.UPLOADED.value,
        (col(ClipClaim.status) == ClaimStatus.VERIFYING.value) & (col(ClipClaim.lease_until) < now),
    )


def _held(item: _Taken) -> ColumnElement[bool]:
    return and_(
        col(ClipClaim.id) == item.claim.id,
        col(ClipClaim.status) == ClaimStatus.VERIFYING.value,
        col(ClipClaim.lease_until) == item.lease,
    )


def _take(runtime: Runtime, limit: int, lease_s: int) -> list[_Taken]:
    """Claim up to ``limit`` uploaded claims (or ones whose verifier's lease ran out),
    each by a conditional UPDATE that only one run can win."""
    now = runtime.clock.now()
    lease = now + timedelta(seconds=lease_s)
    with runtime.db.read() as session:
        candidates = list(
            session.scalars(
                select(ClipClaim).where(_waiting(now)).order_by(col(ClipClaim.id)).limit(limit)
            )
        )
    taken = []
    for claim in candidates:
        before = (
            col(ClipClaim.lease_until).is_(None)
            if claim.lease_until is None
            else col(ClipClaim.lease_until) == claim.lease_until
        )
        with runtime.db.transaction() as uow:
            won = changed_rows(
                uow.session,
                update(ClipClaim)
                .where(col(ClipClaim.id) == claim.id, before, _waiting(now))
                .values(status=ClaimStatus.VERIFYING.value, lease_until=lease),
            )
        if won:
            taken.append(_Taken(claim, lease))
    return taken


def _renew(runtime: Runtime, held: dict[int, _Taken], lease_s: int) -> None:
    """Extend the lease of every claim this run still holds as it goes on to the next
    video, so that a run making progress is not taken over; forget the ones it lost."""
    if not held:
        return
    lease = runtime.clock.now() + timedelta(seconds=lease_s)
    with runtime.db.transaction() as uow:
        renewed = {
            claim_id
            for claim_id, item in held.items()
            if changed_rows(
                uow.session, update(ClipClaim).where(_held(item)).values(lease_until=lease)
            )
        }
    for claim_id in list(held):
        if claim_id in renewed:
            held[claim_id].lease = lease
        else:
            del held[claim_id]


def _mark_attempt(runtime: Runtime, item: _Taken, attempts: int) -> bool:
    """Set the claim's count of unfinished checks, if this run still holds it."""
    with runtime.db.transaction() as uow:
        return bool(
            changed_rows(
                uow.session, update(ClipClaim).where(_held(item)).values(attempts=attempts)
            )
        )


def _release(runtime: Runtime, item: _Taken, attempts: int, lease_s: int) -> None:
    """Give a claim up, its attempt refunded, to be taken again once a fresh lease has
    run out: a store in trouble gets a pause, and an object the store keeps failing on
    takes no run's place meanwhile."""
    pause = runtime.clock.now() + timedelta(seconds=lease_s)
    with runtime.db.transaction() as uow:
        changed_rows(
            uow.session,
            update(ClipClaim).where(_held(item)).values(lease_until=pause, attempts=attempts),
        )


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
    the decision commits. A donor erased meanwhile has no key, and none is made again.
    Only ``analyse`` judges the video: any other failure is ``_StoreTrouble``."""
    store = runtime.video_store
    with tempfile.NamedTemporaryFile(prefix="verify-", suffix=".video") as copy:
        try:
            stored = store.stat(claim.storage_key)
            if stored is None:
                return _Measured(Rejection.VIDEO_MISSING.value)
            # The size again (a store may not hold the signed length to its word, or the
            # object may have been replaced since): never read more than was claimed.
            if stored.size != claim.size_bytes:
                return _Measured(Rejection.SIZE_MISMATCH.value)
            with store.open(claim.storage_key) as source:
                copied = _copy_at_most(source, copy, claim.size_bytes + 1)
            copy.flush()
            if copied != claim.size_bytes:
                return _Measured(Rejection.SIZE_MISMATCH.value)
        except FileNotFoundError:  # deleted between the two calls
            return _Measured(Rejection.VIDEO_MISSING.value)
        except Exception as exc:
            raise _StoreTrouble(f"reading {claim.storage_key}") from exc
        try:
            facts = analyse(copy.name)
        except MediaRejected as rejected:
            return _Measured(rejected.reason)
        if facts.sha256 != claim.video_sha256:
            return _Measured(facts)
        target = sealed_key(claim.storage_key)
        try:
            now = runtime.clock.now()
            key = video_keys.donor_key(runtime.db, runtime.vault, claim.donor_id, now)
            if key is None:
                return _Measured(Rejection.DONOR_NOT_ACTIVE.value)
            copy.seek(0)
            with tempfile.TemporaryFile(prefix="sealed-") as sealed:
                encrypt_stream(key, copy, sealed, context=target.encode())
                sealed.seek(0)
                store.put(target, sealed, content_type=SEALED_TYPE)
        except Exception as exc:
            raise _StoreTrouble(f"sealing {target}") from exc
    return _Measured(facts, sealed=True)


def _copy_at_most(source: IO[bytes], target: IO[bytes], limit: int) -> int:
    """Copy up to ``limit`` bytes; how many were copied."""
    copied = 0
    while copied < limit:
        chunk = source.read(min(_CHUNK, limit - copied))
        if not chunk:
            break
        target.write(chunk)
        copied += len(chunk)
    return copied


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


def _tell(
    session: Session, now: datetime, claim: ClipClaim, kind: Kind, data: dict[str, Any]
) -> None:
    """The donor learns what became of the video they uploaded."""
    about = {"claim_id": claim.id, "camera": claim.camera_id, "campaign_id": claim.campaign_id}
    notifications.notify(session, now, claim.donor_id, kind, f"claim:{claim.id}", about | data)


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
            _tell(session, now, claim, Kind.CLIP_REJECTED, {"reason": reason})
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
                _tell(session, now, claim, Kind.CLIP_VERIFIED,
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
