"""Claims and their uploads, as the app follows them: where to upload each video, the
app saying an upload is finished, what became of a claim, and the sweep that expires
claims whose video never came.

The store (``runtime.video_store``: a folder of the instance, or S3) receives the bytes;
the engine never streams a video through its API workers except on the embedded store.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import NoReturn

from sqlalchemy import delete, select, update
from sqlmodel import col

from rewards_engine.db import Database, changed_rows, row_view
from rewards_engine.domain.errors import Conflict, NotFound
from rewards_engine.domain.notifications import Kind
from rewards_engine.domain.uploads import ClaimStatus, Rejection, final_sweep_at, sealed_key
from rewards_engine.models import Clip, ClipClaim
from rewards_engine.pagination import Page, fetch_page
from rewards_engine.providers.storage import UploadRefused, UploadTarget, VideoStore
from rewards_engine.runtime import Runtime
from rewards_engine.services import notifications
from rewards_engine.services.clips import ClipRecord, get_donor_clip
from rewards_engine.services.submissions import SubmissionResult

log = logging.getLogger(__name__)
MIN_URL_LIFETIME = timedelta(seconds=2)  # less is no time to send a video


@dataclass(frozen=True)
class ClaimRecord:
    """A claim as its donor follows it."""

    id: int
    batch_id: int
    position: int
    campaign_id: str
    video_sha256: str
    incident_type: str
    camera_id: str
    event_id: str
    size_bytes: int
    content_type: str
    status: str
    reason: str | None
    clip_id: int | None
    expires_at: datetime
    created_at: datetime
    uploaded_at: datetime | None
    decided_at: datetime | None


@dataclass(frozen=True)
class ClaimView:
    """A claim, where to upload its video while it waits, and its clip once decided."""

    claim: ClaimRecord
    upload: UploadTarget | None
    parts_received: list[int] | None  # multipart: the parts the store holds already
    clip: ClipRecord | None


def upload_target(runtime: Runtime, claim: ClipClaim) -> UploadTarget:
    """Fresh URLs for a waiting claim's video (a retry, or a resume, asks again).

    A large video is a multipart upload, created the first time its target is asked
    for; two requests racing to create it keep the first one recorded.
    """
    store = runtime.video_store
    target = store.upload_target(
        claim.storage_key,
        size_bytes=claim.size_bytes,
        content_type=claim.content_type,
        expires_at=claim.expires_at,
        upload_id=claim.upload_id,
    )
    if target.upload_id is None or target.upload_id == claim.upload_id:
        return target
    with runtime.db.transaction() as uow:
        recorded = changed_rows(
            uow.session,
            update(ClipClaim)
            .where(col(ClipClaim.id) == claim.id, col(ClipClaim.upload_id).is_(None))
            .values(upload_id=target.upload_id),
        )
        winner = uow.session.scalar(
            select(col(ClipClaim.upload_id)).where(col(ClipClaim.id) == claim.id)
        )
    if recorded:
        return target
    store.abort_upload(claim.storage_key, target.upload_id)
    return store.upload_target(
        claim.storage_key,
        size_bytes=claim.size_bytes,
        content_type=claim.content_type,
        expires_at=claim.expires_at,
        upload_id=winner,
    )


def _open(claim: ClipClaim, now: datetime) -> bool:
    """Whether a claim still takes its video through fresh URLs: it waits, and has
    time left for a URL to be signed (a store refuses one that would be dead on
    arrival, as a claim past its time, not yet swept, would give)."""
    return (
        claim.status == ClaimStatus.AWAITING_UPLOAD and claim.expires_at - now >= MIN_URL_LIFETIME
    )


def targets_for(runtime: Runtime, donor_id: int, claim_ids: list[int]) -> dict[int, UploadTarget]:
    """Upload targets for the donor's claims that still wait for their video (a call
    replayed after its claims' time ran out gets none)."""
    if not claim_ids:
        return {}
    with runtime.db.read() as session:
        claims = list(
            session.scalars(
                select(ClipClaim).where(
                    col(ClipClaim.id).in_(claim_ids),
                    col(ClipClaim.donor_id) == donor_id,
                    col(ClipClaim.status) == ClaimStatus.AWAITING_UPLOAD.value,
                )
            )
        )
    now = runtime.clock.now()
    return {claim.id: upload_target(runtime, claim) for claim in claims if _open(claim, now)}


def attach_targets(runtime: Runtime, donor_id: int, result: SubmissionResult) -> SubmissionResult:
    """The submission's answer with where to upload each waiting claim's video (a
    replayed answer gets fresh URLs)."""
    claim_ids = [o.claim_id for o in result.outcomes if o.claim_id is not None]
    if not claim_ids:
        return result
    return replace(result, uploads=targets_for(runtime, donor_id, claim_ids))


def _donor_claim(db: Database, donor_id: int, claim_id: int) -> ClipClaim:
    with db.read() as session:
        claim = session.get(ClipClaim, claim_id)
    if claim is None or claim.donor_id != donor_id:
        raise NotFound(f"no upload {claim_id}", code="upload_not_found")
    return claim


def view_claim(runtime: Runtime, donor_id: int, claim_id: int) -> ClaimView:
    """One of the donor's claims (another donor's: not found)."""
    return _view(runtime, _donor_claim(runtime.db, donor_id, claim_id))


def _view(runtime: Runtime, claim: ClipClaim) -> ClaimView:
    upload: UploadTarget | None = None
    parts = None
    if _open(claim, runtime.clock.now()):
        upload = upload_target(runtime, claim)
        if upload.upload_id is not None:
            try:
                received = runtime.video_store.uploaded_parts(claim.storage_key, upload.upload_id)
            except UploadRefused:
                # Assembled (a completion is under way) or aborted: no part to send;
                # completing says which.
                upload = None
            else:
                parts = sorted(number for number, _etag, _size in received)
    clip = None
    if claim.clip_id is not None:
        clip = get_donor_clip(runtime.db, claim.donor_id, claim.clip_id)
    return ClaimView(row_view(ClaimRecord, claim), upload, parts, clip)


def list_claims(
    runtime: Runtime, donor_id: int, *, status: str | None, limit: int, cursor: str | None
) -> Page[ClaimRecord]:
    """The donor's claims, newest first."""
    query = select(ClipClaim).where(col(ClipClaim.donor_id) == donor_id)
    if status is not None:
        query = query.where(col(ClipClaim.status) == status)
    with runtime.db.read() as session:
        return fetch_page(
            session,
            query,
            kind="uploads",
            columns=(col(ClipClaim.id),),
            types=(int,),
            limit=limit,
            cursor=cursor,
        ).map(lambda row: row_view(ClaimRecord, row))


def complete(runtime: Runtime, donor_id: int, claim_id: int) -> ClaimView:
    """The app says the video is uploaded: the store confirms it (assembling a
    multipart upload) and the claim waits for verification. Saying it again changes
    nothing; an upload that is not all there is refused and the claim keeps waiting.

    Said after the claim's time ran out, it is still taken if the video is all there
    (its URLs expired with the claim, so it arrived in time), as the expiry sweep takes
    a whole video the app never completed; otherwise the claim expires."""
    claim = _donor_claim(runtime.db, donor_id, claim_id)
    if claim.status != ClaimStatus.AWAITING_UPLOAD:
        return _view(runtime, claim)
    late = claim.expires_at <= runtime.clock.now()
    try:
        stored = runtime.video_store.complete_upload(
            claim.storage_key, claim.upload_id, size_bytes=claim.size_bytes
        )
    except UploadRefused as refused:
        _refuse(runtime, claim, late, f"the upload is not complete: {refused}", refused.reason)
    if stored.size != claim.size_bytes:
        _refuse(
            runtime,
            claim,
            late,
            f"the stored video has {stored.size} bytes; the claim said {claim.size_bytes}",
            Rejection.SIZE_MISMATCH.value,
        )
    if stored.content_type not in (None, claim.content_type):
        _refuse(
            runtime,
            claim,
            late,
            f"the stored video is {stored.content_type}; the claim said {claim.content_type}",
            "wrong_content_type",
        )
    _mark_uploaded(runtime, claim.id)
    return view_claim(runtime, donor_id, claim_id)


def _refuse(runtime: Runtime, claim: ClipClaim, late: bool, message: str, code: str) -> NoReturn:
    """Refuse a completion: the claim keeps waiting, or, its time run out, expires."""
    if late:
        _expire(runtime, claim)
        raise Conflict(
            "this upload's time ran out: claim the clip again",
            code="upload_expired",
            details={"expired_at": claim.expires_at.isoformat()},
        )
    raise Conflict(message, code=code)


def _mark_uploaded(runtime: Runtime, claim_id: int) -> bool:
    with runtime.db.transaction() as uow:
        return bool(
            changed_rows(
                uow.session,
                update(ClipClaim)
                .where(
                    col(ClipClaim.id) == claim_id,
                    col(ClipClaim.status) == ClaimStatus.AWAITING_UPLOAD.value,
                )
                .values(status=ClaimStatus.UPLOADED.value, uploaded_at=runtime.clock.now()),
            )
        )


@dataclass
class ExpiryReport:
    expired: int = 0
    completed: int = 0  # the video was all there; only the app's "finished" was missing
    swept: int = 0  # decided or expired claims whose URLs died: their objects deleted again
    sweep_failed: int = 0  # the store failed: tried again at the next sweep


def expire_claims(runtime: Runtime, *, batch: int = 500) -> ExpiryReport:
    """Claims whose time ran out: a video that arrived whole is taken as uploaded (the
    app may have died before saying so); otherwise the claim expires and whatever part
    of the upload arrived is removed. Then the final sweep of claims decided or expired
    earlier whose URLs are now dead (``sweep``)."""
    report = ExpiryReport()
    now = runtime.clock.now()
    unanswered: set[int] = set()  # the store failed: tried again at the next sweep
    while True:
        with runtime.db.read() as session:
            due = list(
                session.scalars(
                    select(ClipClaim)
                    .where(
                        col(ClipClaim.status) == ClaimStatus.AWAITING_UPLOAD.value,
                        col(ClipClaim.expires_at) <= now,
                        col(ClipClaim.id).not_in(unanswered),
                    )
                    .order_by(col(ClipClaim.expires_at), col(ClipClaim.id))
                    .limit(batch)
                )
            )
        for claim in due:
            try:
                whole = _arrived_whole(runtime.video_store, claim)
            except Exception:  # a store that does not answer says nothing of the video
                log.warning("expiry: the store failed", extra={"fields": {"claim_id": claim.id}})
                unanswered.add(claim.id)
                report.sweep_failed += 1
                continue
            if whole and _mark_uploaded(runtime, claim.id):
                report.completed += 1
            elif _expire(runtime, claim):
                report.expired += 1
        if len(due) < batch:
            break
    sweep(runtime, report, batch=batch)
    log.info("claims expired", extra={"fields": vars(report)})
    if report.sweep_failed:  # tried again at the next run
        log.warning("the store failed the sweep", extra={"fields": {"claims": report.sweep_failed}})
    return report


def sweep(runtime: Runtime, report: ExpiryReport, *, batch: int = 500) -> None:
    """Delete, once more, the objects of claims decided or expired earlier whose upload
    URLs can no longer deliver anything (``final_sweep_at``, kept in ``lease_until``):
    the plain upload (an app may have sent it again after the decision, a PUT may have
    landed after the expiry, a deletion may have failed), an unfinished multipart
    upload, and the sealed copy unless the claim's clip keeps it."""
    now = runtime.clock.now()
    failed: set[int] = set()
    decided = [ClaimStatus.VERIFIED.value, ClaimStatus.REJECTED.value, ClaimStatus.EXPIRED.value]
    while True:
        with runtime.db.read() as session:
            due = session.execute(
                select(ClipClaim, col(Clip.storage_key))
                .outerjoin(Clip, col(Clip.id) == col(ClipClaim.clip_id))
                .where(
                    col(ClipClaim.status).in_(decided),
                    col(ClipClaim.lease_until) <= now,
                    col(ClipClaim.id).not_in(failed),
                )
                .order_by(col(ClipClaim.lease_until), col(ClipClaim.id))
                .limit(batch)
            ).all()
        for claim, kept in due:
            try:
                runtime.video_store.abort_upload(claim.storage_key, claim.upload_id)
                if kept != sealed_key(claim.storage_key):
                    runtime.video_store.delete(sealed_key(claim.storage_key))
            except Exception:
                log.warning("sweep failed", extra={"fields": {"claim_id": claim.id}})
                failed.add(claim.id)
                report.sweep_failed += 1
                continue
            swept = (
                col(ClipClaim.id) == claim.id,
                col(ClipClaim.lease_until) == claim.lease_until,
            )
            with runtime.db.transaction() as uow:
                if claim.reason == Rejection.DONOR_ERASED:  # all that was left of it
                    changed_rows(uow.session, delete(ClipClaim).where(*swept))
                else:
                    changed_rows(
                        uow.session, update(ClipClaim).where(*swept).values(lease_until=None)
                    )
            report.swept += 1
        if len(due) < batch:
            break


def _arrived_whole(store: VideoStore, claim: ClipClaim) -> bool:
    """Whether the claim's video is all in the store (its URLs expired with the claim,
    so all of it arrived in time): the object of a single PUT, or every part of a
    multipart upload, which is then assembled as the app's completion would (or was
    already, by a completion whose answer was lost)."""
    try:
        stored = store.complete_upload(
            claim.storage_key, claim.upload_id, size_bytes=claim.size_bytes
        )
    except UploadRefused:
        return False
    return stored.size == claim.size_bytes and stored.content_type in (None, claim.content_type)


def _expire(runtime: Runtime, claim: ClipClaim) -> bool:
    now = runtime.clock.now()
    with runtime.db.transaction() as uow:
        expired = changed_rows(
            uow.session,
            update(ClipClaim)
            .where(
                col(ClipClaim.id) == claim.id,
                col(ClipClaim.status) == ClaimStatus.AWAITING_UPLOAD.value,
            )
            .values(
                status=ClaimStatus.EXPIRED.value,
                reason=Rejection.UPLOAD_NOT_RECEIVED.value,
                decided_at=now,
                lease_until=final_sweep_at(claim.expires_at, now),  # see sweep
            ),
        )
        if expired:
            notifications.tell_claim(uow.session, now, claim, Kind.CLIP_REJECTED,
                                     {"reason": Rejection.UPLOAD_NOT_RECEIVED.value})  # fmt: skip
    if expired:  # after the commit: a failed commit leaves the upload to the next sweep
        try:
            runtime.video_store.abort_upload(claim.storage_key, claim.upload_id)
        except Exception:  # done again by the final sweep (``sweep``)
            log.warning(
                "expiry: the upload could not be removed yet",
                extra={"fields": {"claim_id": claim.id}},
            )
    return bool(expired)
