"""The camera registry: a camera is registered to a donor by an attestation of the
maker's device cloud (rewards_engine/attestations.py), posted by the app or pushed by
the device cloud itself; a newer attestation for another account moves it.

What the registry guarantees (docs/cameras.md):
- a camera belongs to at most one donor at a time (the serial is unique; registrations
  of one serial run one at a time, under a lock on the serial);
- an attestation is used once: the same one again is answered as it was (a retry of
  the app), or refused once the camera has moved on (a replay);
- an attestation older than the one in force cannot take the camera back;
- every registration is kept (who, when, which attestation, moved from whom), and a
  move is audited.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.attestations import Attestation, AttestationRefused, AttestationVerifier
from rewards_engine.clock import Clock
from rewards_engine.db import Database, lock_keys, one_of, retry_on_contention
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.errors import Conflict, InvalidInput, NotFound, Unavailable
from rewards_engine.domain.privacy import camera_ids
from rewards_engine.domain.submissions import PAID_STATUSES
from rewards_engine.models import Camera, CameraRegistration, Campaign, Clip, Donor
from rewards_engine.pagination import Page, fetch_page
from rewards_engine.services import audit, donors
from rewards_engine.services.installation import erasure_salts

_PAID = [status.value for status in PAID_STATUSES]


@dataclass(frozen=True)
class CapUse:
    """A camera's cap in one campaign and incident type: clips it filmed that count
    (accepted or pending review), under every account it was registered to."""

    campaign_id: str
    incident_type: str
    used: int
    cap: int


@dataclass(frozen=True)
class CameraView:
    serial: str
    model: str
    registered_at: datetime
    clips: int  # the donor's own clips from it that count, in every campaign
    caps: list[CapUse]


@dataclass(frozen=True)
class Registered:
    camera: CameraView
    outcome: str  # registered, moved, renewed, or unchanged (the same attestation again)


def register(
    db: Database,
    clock: Clock,
    verifier: AttestationVerifier | None,
    actor: Actor,
    token: str,
    *,
    via: str,
    account_id: str | None = None,
) -> Registered:
    """Register the attested camera to the attested account. The app posts for its own
    donor (``account_id``: the attestation must name that account); the device cloud
    (``via`` ``device_cloud``) for whichever account it names, who must be a donor."""
    if verifier is None:
        raise Unavailable(
            "camera registration is not configured here (DEVICE_ATTESTATION_KEYS)",
            code="attestations_not_configured",
            retry_after=3600,
        )
    now = clock.now()
    try:
        attestation = verifier.verify(token, now)
    except AttestationRefused as exc:
        raise InvalidInput(str(exc), code=exc.code, field="attestation") from None
    if account_id is not None and attestation.account_id != account_id:
        raise InvalidInput(
            "the attestation registers the camera to another account",
            code="attestation_for_another_account",
            field="attestation",
        )
    donor = donors.find_by_account(db, attestation.account_id)
    if donor is None or donor.status == "erased":
        raise NotFound(f"no donor with account {attestation.account_id!r}", code="donor_not_found")
    outcome = _record(db, clock, actor, donor.id, attestation, via)
    with db.read() as session:
        camera = session.scalars(
            select(Camera).where(col(Camera.serial) == attestation.serial)
        ).one()
        return Registered(_views(session, now, donor.id, [camera])[0], outcome)


@retry_on_contention
def _record(
    db: Database, clock: Clock, actor: Actor, donor_id: int, attestation: Attestation, via: str
) -> str:
    now = clock.now()
    with db.transaction() as uow:
        session = uow.session
        # The serial's lock makes registrations of one camera take turns; the jti's makes
        # two cameras attested under one jti take turns (its unique index would otherwise
        # fail one of them). One call, so every registration takes them in one order; a
        # serial has no NUL, so the jti's key is no serial's.
        lock_keys(session, "camera", {attestation.serial, f"\0jti\0{attestation.token_id}"})
        camera = session.scalars(
            select(Camera).where(col(Camera.serial) == attestation.serial)
        ).first()
        # The donors' rows, the new holder's and the one it moves from, so that neither
        # is erased under the registration (an erasure locks its donor's row first):
        # an erased holder is no donor (404), an erased previous one is no one's.
        holders = {donor_id} | ({camera.donor_id} - {None} if camera is not None else set())
        locked = {
            donor.id: donor
            for donor in session.scalars(
                select(Donor)
                .where(col(Donor.id).in_(holders))
                .order_by(col(Donor.id))
                .with_for_update(read=True)
            )
        }
        if camera is not None:
            session.refresh(camera)  # an erasure that committed meanwhile let it go
        holder = locked.get(donor_id)
        if holder is None or holder.status == "erased":
            raise NotFound(
                f"no donor with account {attestation.account_id!r}", code="donor_not_found"
            )
        used = session.scalars(
            select(CameraRegistration).where(
                col(CameraRegistration.token_id) == attestation.token_id
            )
        ).first()
        if used is not None:
            if _answered_by(used, camera, donor_id, attestation):
                return "unchanged"  # the app's retry: answered as the first time
            raise Conflict(
                "this attestation was already used; ask the device cloud for a new one",
                code="attestation_replayed",
            )
        if camera is not None and attestation.issued_at <= camera.attested_at:
            raise Conflict("a newer attestation registers this camera", code="attestation_stale")
        previous = None if camera is None else camera.donor_id
        if camera is None:
            camera = Camera(serial=attestation.serial, model=attestation.model, moves=0,
                            attested_at=attestation.issued_at, created_at=now)  # fmt: skip
            session.add(camera)
            session.flush()
        else:
            _end_current(session, camera.id, now, "renewed" if previous == donor_id else "moved")
        outcome = "renewed" if previous == donor_id else "moved" if previous else "registered"
        if previous != donor_id:
            camera.registered_at = now
            camera.moves += int(previous is not None)
        camera.donor_id = donor_id
        camera.model = attestation.model
        camera.attested_at = attestation.issued_at
        camera.updated_at = now
        session.add(
            CameraRegistration(
                camera_id=camera.id,
                donor_id=donor_id,
                token_id=attestation.token_id,
                key_id=attestation.key_id,
                model=attestation.model,
                issued_at=attestation.issued_at,
                via=via,
                previous_donor_id=previous if previous != donor_id else None,
                registered_at=now,
            )
        )
        audit.record(
            session,
            clock,
            actor,
            action=f"camera.{outcome}",
            target_type="camera",
            target_id=attestation.serial,
            before={"donor_id": previous},
            after={"donor_id": donor_id, "model": attestation.model, "via": via},
            reason=f"attestation {attestation.token_id} (key {attestation.key_id})",
        )
    return outcome


def _answered_by(
    used: CameraRegistration, camera: Camera | None, donor_id: int, attestation: Attestation
) -> bool:
    """Whether the registration made with this jti, still in force, is this very
    attestation's (a retry): the same jti for another camera, account, model, key or
    issue time is another attestation reusing it, a replay."""
    return (
        used.ended_at is None
        and camera is not None
        and used.camera_id == camera.id
        and used.donor_id == donor_id
        and used.model == attestation.model
        and used.key_id == attestation.key_id
        and used.issued_at == attestation.issued_at
    )


def _end_current(session: Session, camera_id: int, now: datetime, how: str) -> None:
    for registration in session.scalars(
        select(CameraRegistration).where(
            col(CameraRegistration.camera_id) == camera_id,
            col(CameraRegistration.ended_at).is_(None),
        )
    ):
        registration.ended_at = now
        registration.ended_by = how


def donor_cameras(
    db: Database, now: datetime, donor_id: int, *, limit: int, cursor: str | None
) -> Page[CameraView]:
    """The cameras registered to the donor now, in the order they were first
    registered, each with the donor's clips from it and its caps used in every open
    campaign that caps cameras."""
    with db.read() as session:
        page = fetch_page(
            session,
            select(Camera).where(col(Camera.donor_id) == donor_id),
            kind="cameras",
            columns=[col(Camera.id)],
            types=[int],
            limit=limit,
            cursor=cursor,
            descending=False,
        )
        views = _views(session, now, donor_id, list(page.items))
    return Page(views, page.next_cursor)


def _views(
    session: Session, now: datetime, donor_id: int, cameras: list[Camera]
) -> list[CameraView]:
    serials = [camera.serial for camera in cameras]
    if not serials:
        return []
    own = dict(
        session.execute(
            select(col(Clip.camera_id), func.count())
            .where(
                col(Clip.donor_id) == donor_id,
                one_of(session, col(Clip.camera_id), serials),
                col(Clip.status).in_(_PAID),
            )
            .group_by(col(Clip.camera_id))
        ).all()
    )
    caps = camera_caps(session, now, serials)
    return [
        CameraView(
            serial=camera.serial,
            model=camera.model,
            registered_at=camera.registered_at or camera.created_at,
            clips=own.get(camera.serial, 0),
            caps=caps.get(camera.serial, []),
        )
        for camera in cameras
    ]


def camera_caps(session: Session, now: datetime, serials: list[str]) -> dict[str, list[CapUse]]:
    """Each camera's caps: in every open campaign with a cap per camera, each incident type's
    counted clips, whoever donated them (a clip whose metadata was deleted is counted
    under its salted serial, as the decision counts it)."""
    cap = col(Campaign.cap_per_camera_per_incident_type)
    campaigns = session.execute(
        select(col(Campaign.id), col(Campaign.incident_types), cap).where(
            cap.is_not(None),
            col(Campaign.starts_at) <= now,
            or_(col(Campaign.ends_at).is_(None), col(Campaign.ends_at) > now),
        )
    ).all()
    if not campaigns or not serials:
        return {}
    names = camera_ids(erasure_salts(session), serials)
    used: dict[tuple[str, str, str], int] = defaultdict(int)
    for camera, campaign_id, kind, n in session.execute(
        select(col(Clip.camera_id), col(Clip.campaign_id), col(Clip.incident_type), func.count())
        .where(one_of(session, col(Clip.camera_id), list(names)), col(Clip.status).in_(_PAID))
        .group_by(col(Clip.camera_id), col(Clip.campaign_id), col(Clip.incident_type))
    ):
        used[(names[camera], campaign_id, kind)] += n
    return {
        serial: [
            CapUse(campaign_id, kind, used[(serial, campaign_id, kind)], cap)
            for campaign_id, kinds, cap in campaigns
            if cap is not None
            for kind in kinds
        ]
        for serial in serials
    }


@dataclass(frozen=True)
class RegistrationView:
    donor_id: int | None  # None: an erased donor
    model: str
    via: str
    registered_at: datetime
    ended_at: datetime | None
    ended_by: str | None
    previous_donor_id: int | None
    token_id: str


@dataclass(frozen=True)
class CameraHistory:
    """What support sees of a camera: where it is now and every registration."""

    serial: str
    model: str
    donor_id: int | None
    moves: int
    registrations: list[RegistrationView]


def cameras_of_donor_for_support(
    db: Database, donor_id: int, *, limit: int, cursor: str | None
) -> Page[CameraHistory]:
    """Every camera the donor holds or held, with its whole history (other owners
    included: a camera passed around is what support needs to see)."""
    with db.read() as session:
        if session.get(Donor, donor_id) is None:
            raise NotFound(f"no donor {donor_id}", code="donor_not_found")
        page = fetch_page(
            session,
            select(Camera).where(_holds_or_held(donor_id)),
            kind="camera-history",
            columns=[col(Camera.id)],
            types=[int],
            limit=limit,
            cursor=cursor,
            descending=False,
        )
        history: dict[int, list[RegistrationView]] = defaultdict(list)
        if page.items:
            for row in session.scalars(
                select(CameraRegistration)
                .where(
                    one_of(session, col(CameraRegistration.camera_id), [c.id for c in page.items])
                )
                .order_by(col(CameraRegistration.id))
            ):
                history[row.camera_id].append(_registration_view(row))
        return page.map(
            lambda c: CameraHistory(c.serial, c.model, c.donor_id, c.moves, history[c.id])
        )


def _registration_view(row: CameraRegistration) -> RegistrationView:
    return RegistrationView(
        donor_id=row.donor_id,
        model=row.model,
        via=row.via,
        registered_at=row.registered_at,
        ended_at=row.ended_at,
        ended_by=row.ended_by,
        previous_donor_id=row.previous_donor_id,
        token_id=row.token_id,
    )


def export_cameras(session: Session, donor_id: int) -> list[dict[str, Any]]:
    """The donor's registrations, for their data export: each camera they held, when
    and how (the other owners of a camera are not theirs to see)."""
    rows = session.execute(
        select(CameraRegistration, col(Camera.serial))
        .join(Camera, col(Camera.id) == col(CameraRegistration.camera_id))
        .where(col(CameraRegistration.donor_id) == donor_id)
        .order_by(col(CameraRegistration.id))
    ).all()
    return [
        {
            "serial": serial,
            "model": row.model,
            "registered_at": row.registered_at.isoformat(),
            "via": row.via,
            "ended_at": row.ended_at.isoformat() if row.ended_at else None,
            "ended_by": row.ended_by,
        }
        for row, serial in rows
    ]


def _holds_or_held(donor_id: int) -> ColumnElement[bool]:
    held = select(col(CameraRegistration.camera_id)).where(
        col(CameraRegistration.donor_id) == donor_id
    )
    return or_(col(Camera.donor_id) == donor_id, col(Camera.id).in_(held))


def serials_held(session: Session, donor_id: int) -> list[str]:
    """The serials of every camera the donor holds or held."""
    return list(session.scalars(select(col(Camera.serial)).where(_holds_or_held(donor_id))))


def erase_donor_cameras(session: Session, now: datetime, donor_id: int) -> int:
    """Erasure: the donor's cameras are registered to no one, and no registration names
    the donor. The cameras stay, with their serials: their caps still count what they
    filmed (the clips keep a salted serial), and a new owner can register them."""
    cameras = list(session.scalars(select(Camera).where(col(Camera.donor_id) == donor_id)))
    for camera in cameras:
        _end_current(session, camera.id, now, "erased")
        camera.donor_id = None
        camera.registered_at = None
        camera.updated_at = now
    for registration in session.scalars(
        select(CameraRegistration).where(
            or_(
                col(CameraRegistration.donor_id) == donor_id,
                col(CameraRegistration.previous_donor_id) == donor_id,
            )
        )
    ):
        if registration.donor_id == donor_id:
            registration.donor_id = None
        if registration.previous_donor_id == donor_id:
            registration.previous_donor_id = None
    return len(cameras)
