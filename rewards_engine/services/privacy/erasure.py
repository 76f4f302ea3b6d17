"""Erasure on request: one transaction per donor, all or nothing. What the law
requires (the ledger and payout records) stays under the donor's numeric id, which
then links to no one; clips keep what they counted and earned, not what identifies
them.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, delete, null, or_, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.db import (
    Database,
    UnitOfWork,
    changed_rows,
    insert,
    one_of,
    row_view,
    table_of,
)
from rewards_engine.domain import privacy as rules
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.errors import NotFound
from rewards_engine.domain.events import DonorChanged
from rewards_engine.domain.uploads import (
    LATE_PUT_GRACE,
    ClaimStatus,
    Rejection,
    final_sweep_at,
    sealed_key,
)
from rewards_engine.models import (
    AuditRecord,
    BoardFollow,
    Clip,
    ClipClaim,
    DataRequest,
    Donor,
    ErasedSubject,
    FraudEvidence,
    FraudFlag,
    IdempotencyKey,
    MedalAward,
    MedalNotification,
    Notification,
    PayoutItem,
    Redemption,
    RedemptionEvent,
    WallSnapshotEntry,
)
from rewards_engine.runtime import Runtime
from rewards_engine.services import audit, cameras, push, video_keys, wall
from rewards_engine.services.installation import erasure_salt

log = logging.getLogger(__package__)  # one logger for the package, as before the split
ERASED = "erased"
# Claims whose objects no sweep is due to delete again: waiting, or being checked.
IN_FLIGHT = ("awaiting_upload", "uploaded", "verifying")


def subject_hash(session: Session, account_id: str) -> str:
    return rules.salted(erasure_salt(session), f"subject:{account_id}")


@dataclass(frozen=True)
class DataRequestView:
    """A data request as its donor follows it."""

    id: str
    kind: str
    status: str
    received_at: datetime
    completed_at: datetime | None
    outcome: dict[str, Any] | None  # JSON: what was erased, as counts


def request_erasure(runtime: Runtime, donor_id: int, actor: Actor) -> DataRequestView:
    """Ask for erasure; the ``erase-donors`` job carries it out at its next run. Asking
    again returns the request already waiting."""
    now = runtime.clock.now()
    with runtime.db.transaction() as uow:
        session = uow.session
        session.get(Donor, donor_id, with_for_update=True)
        waiting = session.scalars(
            select(DataRequest).where(
                col(DataRequest.donor_id) == donor_id,
                col(DataRequest.kind) == "erasure",
                col(DataRequest.status) == "received",
            )
        ).first()
        if waiting is not None:
            return row_view(DataRequestView, waiting)
        request = DataRequest(
            id=str(uuid.uuid4()), donor_id=donor_id, kind="erasure", received_at=now
        )
        session.add(request)
        audit.record(
            session,
            runtime.clock,
            actor,
            action="donor.erasure_requested",
            target_type="data_request",
            target_id=request.id,
        )
        return row_view(DataRequestView, request)


def get_request(db: Database, request_id: str, donor_id: int | None) -> DataRequestView:
    """A data request: the donor's own, or, without a donor (the account is gone after
    an erasure), an erasure request by its random id alone."""
    with db.read() as session:
        request = session.get(DataRequest, request_id)
        if request is None or (donor_id is not None and request.donor_id != donor_id):
            raise NotFound("no such data request", code="data_request_not_found")
        if donor_id is None and request.kind != "erasure":
            raise NotFound("no such data request", code="data_request_not_found")
        return row_view(DataRequestView, request)


def run_erasures(runtime: Runtime) -> dict[str, int]:
    with runtime.db.read() as session:
        waiting = list(
            session.scalars(
                select(col(DataRequest.id))
                .where(col(DataRequest.kind) == "erasure", col(DataRequest.status) == "received")
                .order_by(col(DataRequest.received_at))
            )
        )
    totals: Counter[str] = Counter()
    for request_id in waiting:
        totals.update(erase(runtime, request_id))
        totals["donors"] += 1
    log.info("erasures carried out", extra={"fields": dict(totals)})
    return dict(totals)


def erase(runtime: Runtime, request_id: str) -> dict[str, int]:
    """Carry out one erasure, in one transaction (all or nothing)."""
    now = runtime.clock.now()
    keep_hashes = runtime.settings.erasure_keeps_hashes
    with runtime.db.transaction() as uow:
        session = uow.session
        request = session.get(DataRequest, request_id, with_for_update=True)
        if request is None or request.status == "completed":
            return {}
        donor = session.get(Donor, request.donor_id, with_for_update=True)
        assert donor is not None
        counts: dict[str, int] = {}
        videos = stored_videos(session, [col(Clip.donor_id) == donor.id])
        uploads = [
            (claim.storage_key, claim.upload_id)
            for claim in session.execute(
                select(col(ClipClaim.storage_key), col(ClipClaim.upload_id)).where(
                    col(ClipClaim.donor_id) == donor.id
                )
            )
        ]
        videos += [sealed_key(key) for key, _upload_id in uploads]
        counts["clips"] = scrub_clips(
            session, now, [col(Clip.donor_id) == donor.id], keep_hashes=keep_hashes
        )
        counts["claims"] = erase_claims(session, now, donor.id)
        counts["video_key_destroyed"] = int(video_keys.destroy_key(session, donor.id))
        counts.update(_erase_related(uow, now, donor))
        if donor.account_id is not None:
            session.execute(
                insert(session, table_of(ErasedSubject))
                .values(subject_hash=subject_hash(session, donor.account_id), erased_at=now)
                .on_conflict_do_nothing()
            )
        for name in ("account_id", "display_name", "alias", "timezone", "consent_version"):
            setattr(donor, name, None)
        for name in ("payout_kind", "payout_destination", "payout_masked", "payout_fingerprint"):
            setattr(donor, name, None)
        donor.status, donor.visibility, donor.on_hold = ERASED, "hidden", False
        donor.erased_at = donor.updated_at = now
        request.status, request.completed_at, request.outcome = "completed", now, counts
        uow.publish(DonorChanged(donor.id))
        session.flush()
        wall.record_donor_changed(uow, now, donor.id)
    # After the commit: the key is gone already, so a sealed video a failed delete
    # leaves behind cannot be read; deleting twice is harmless. A plain upload (or an
    # unfinished multipart one) that fails to go, or that an app still sends, is left
    # to the expiry sweep, which deletes a claim's objects once its URLs are dead.
    failed = 0
    for key, upload_id in uploads:
        failed += not _removed(runtime.video_store.abort_upload, key, upload_id)
    for key in videos:
        failed += not _removed(runtime.video_store.delete, key)
    counts["videos_deleted"] = len(videos) + len(uploads) - failed
    if failed:
        counts["deletions_failed"] = failed
    log.info("donor erased", extra={"fields": {"request_id": request_id, **counts}})
    return counts


def _removed(remove: Callable[..., None], *args: object) -> bool:
    try:
        remove(*args)
    except Exception:
        log.warning("a video of an erased donor could not be deleted yet")
        return False
    return True


def erase_claims(session: Session, now: datetime, donor_id: int) -> int:
    """Delete the donor's claims. A claim whose upload URLs still work (they cannot be
    taken back) stays until they are dead, with nothing that identifies the clip, so
    that the expiry sweep deletes whatever an app still sends (``uploads.sweep``
    deletes such a claim once it has swept it)."""
    erased = changed_rows(
        session,
        delete(ClipClaim).where(
            col(ClipClaim.donor_id) == donor_id,
            col(ClipClaim.expires_at) <= now - LATE_PUT_GRACE,
            or_(
                col(ClipClaim.lease_until).is_(None),
                col(ClipClaim.status).in_(IN_FLIGHT),
            ),
        ),
    )
    pending = session.execute(
        select(col(ClipClaim.id), col(ClipClaim.expires_at)).where(
            col(ClipClaim.donor_id) == donor_id
        )
    ).all()
    for claim_id, claim_expires_at in pending:
        session.execute(
            update(ClipClaim)
            .where(col(ClipClaim.id) == claim_id)
            .values(
                status=ClaimStatus.EXPIRED.value,
                reason=Rejection.DONOR_ERASED.value,
                video_sha256="",
                claimed_perceptual_hash=None,
                event_id="",
                camera_id="",
                clip_id=None,
                decided_at=now,
                lease_until=final_sweep_at(claim_expires_at, now),
            )
        )
    return erased + len(pending)


def _erase_related(uow: UnitOfWork, now: datetime, donor: Donor) -> dict[str, int]:
    session, donor_id = uow.session, donor.id
    counts: dict[str, int] = {}
    counts["redemptions"] = changed_rows(
        session,
        update(Redemption)
        .where(col(Redemption.donor_id) == donor_id)
        .values(shipping_address=None, tracking_number=None, note=None),
    )
    session.execute(
        update(RedemptionEvent)
        .where(
            col(RedemptionEvent.redemption_id).in_(
                select(col(Redemption.id)).where(col(Redemption.donor_id) == donor_id)
            )
        )
        .values(note=None)
    )
    counts["payout_items"] = changed_rows(
        session,
        update(PayoutItem)
        .where(col(PayoutItem.donor_id) == donor_id)
        .values(destination="", destination_masked=ERASED),
    )
    counts["medals"] = changed_rows(
        session, delete(MedalAward).where(col(MedalAward.donor_id) == donor_id)
    )
    session.execute(delete(MedalNotification).where(col(MedalNotification.donor_id) == donor_id))
    counts["notifications"] = changed_rows(
        session, delete(Notification).where(col(Notification.donor_id) == donor_id)
    )
    session.execute(delete(BoardFollow).where(col(BoardFollow.donor_id) == donor_id))
    counts.update(push.erase_donor_push(session, donor_id))  # devices (tokens), deliveries
    counts["archived_wall_entries"] = changed_rows(
        session, delete(WallSnapshotEntry).where(col(WallSnapshotEntry.donor_id) == donor_id)
    )
    session.execute(delete(IdempotencyKey).where(col(IdempotencyKey.scope) == f"donor:{donor_id}"))
    session.execute(delete(FraudEvidence).where(col(FraudEvidence.donor_id) == donor_id))
    session.execute(
        update(FraudFlag).where(col(FraudFlag.donor_id) == donor_id).values(summary=ERASED)
    )
    held = cameras.serials_held(session, donor_id)
    counts["cameras"] = cameras.erase_donor_cameras(session, now, donor_id)
    # The audit log keeps that something was done, not to whom: values and free text
    # go from the records about the donor, their cameras, clips, redemptions and payouts.
    # Each value goes with its nonce: the chain keeps the value's digest and still
    # verifies, and without the nonce no guess can be checked against that digest (the
    # triggers of migration 0021 allow an UPDATE of the audit log that does this only).
    counts["audit_records"] = 0
    owned: dict[str, Sequence[int | str]] = {
        "donor": [donor_id],
        "camera": held,
        "clip": session.scalars(select(col(Clip.id)).where(col(Clip.donor_id) == donor_id)).all(),
        "redemption": session.scalars(
            select(col(Redemption.id)).where(col(Redemption.donor_id) == donor_id)
        ).all(),
        "payout_item": session.scalars(
            select(col(PayoutItem.id)).where(col(PayoutItem.donor_id) == donor_id)
        ).all(),
    }
    for target_type, ids in owned.items():
        keys = [str(i) for i in ids]
        for start in range(0, len(keys), 5_000):
            counts["audit_records"] += changed_rows(
                session,
                update(AuditRecord)
                .where(
                    col(AuditRecord.target_type) == target_type,
                    one_of(session, col(AuditRecord.target_id), keys[start : start + 5_000]),
                )
                .values(_ERASE_VALUES),
            )
    session.execute(
        update(AuditRecord)
        .where(col(AuditRecord.actor_id) == f"donor:{donor_id}")
        .values({key: _ERASE_VALUES[key] for key in _ERASE_BEFORE_AFTER})
    )
    return counts


_ERASE_VALUES: dict[str, Any] = {
    name + suffix: null() for name in ("before", "after", "reason") for suffix in ("", "_nonce")
}
_ERASE_BEFORE_AFTER = ("before", "before_nonce", "after", "after_nonce")


def stored_videos(session: Session, where: list[ColumnElement[bool]]) -> list[str]:
    """The engine's stored videos of the clips ``where`` selects (a trusted clip's video
    lives in the maker's cloud, an imported one never arrived: neither is ours to delete)."""
    return list(
        session.scalars(
            select(col(Clip.storage_key)).where(
                *where,
                col(Clip.intake) == "verified",
                col(Clip.storage_key).is_not(None),
                col(Clip.video_deleted_at).is_(None),
            )
        )
    )


def scrub_clips(
    session: Session, now: datetime, where: list[ColumnElement[bool]], *, keep_hashes: bool = True
) -> int:
    """Delete what identifies clips (content hashes, camera, event, where their video is
    kept), keeping what they counted and earned. With ``keep_hashes`` the content hash
    and the camera's serial are replaced by salted hashes of them, which the duplicate
    check and the camera's caps still recognise: the same video donated again is not
    paid twice, and a camera's cap is not renewed by its owner's erasure. The caller
    deletes the videos themselves (``stored_videos``) once its transaction commits."""
    rows = session.execute(
        select(col(Clip.id), col(Clip.video_sha256), col(Clip.camera_id)).where(
            *where, col(Clip.metadata_deleted_at).is_(None)
        )
    ).all()
    if not rows:
        return 0
    pepper = erasure_salt(session)
    values = [
        {
            "clip": clip_id,
            "digest": rules.salted(pepper, sha) if keep_hashes else secrets.token_hex(32),
            # the camera's caps keep counting the clip; nothing names the camera
            "camera": rules.salted_camera(pepper, camera) if keep_hashes and camera else "",
        }
        for clip_id, sha, camera in rows
    ]
    table = table_of(Clip)
    session.execute(
        table.update()
        .where(table.c.id == bindparam("clip"))
        .values(
            video_sha256=bindparam("digest"),
            perceptual_hash=None,
            pdq=None,
            camera_id=bindparam("camera"),
            event_id="",
            metadata_deleted_at=now,
        ),
        values,
    )
    session.execute(
        table.update()
        .where(table.c.id.in_([r["clip"] for r in values]), table.c.storage_key.is_not(None))
        .values(storage_key=None, video_deleted_at=now)
    )
    return len(rows)
