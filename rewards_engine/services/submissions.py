"""Donating clips: one call, one transaction, every clip decided and paid through the ledger."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from secrets import token_hex
from typing import Any

from sqlalchemy import bindparam, select
from sqlmodel import col

from rewards_engine.clock import Clock
from rewards_engine.config import UploadSettings
from rewards_engine.db import (
    Database,
    UnitOfWork,
    allocate_ids,
    retry_on_contention,
    table_of,
)
from rewards_engine.domain import submissions as rules_of_clips
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.errors import Forbidden, InvalidInput, NotFound
from rewards_engine.domain.submissions import ClipInput, ClipStatus, Rules
from rewards_engine.domain.uploads import ClaimStatus, expires_at, validate_claims
from rewards_engine.models import Campaign, ClipClaim, Donor, SubmissionBatch
from rewards_engine.providers.storage import UploadTarget
from rewards_engine.services import consents, idempotency
from rewards_engine.services.deciding import (
    ClipOutcome,
    decide,
    earned,
    retrying_hash_races,
    rules_of,
    store,
)

log = logging.getLogger(__name__)
_CLIP_FIELDS = [f.name for f in fields(ClipInput)]


@dataclass(frozen=True)
class SubmissionRequest:
    campaign_id: str
    consent_version: str
    clips: Sequence[ClipInput]

    def canonical(self) -> dict[str, Any]:
        """The request as data, for the idempotency fingerprint."""
        return {
            "campaign_id": self.campaign_id,
            "consent_version": self.consent_version,
            # Flat fields as they are: ``astuple`` deep-copies each value, a visible cost
            # at 500 clips.
            "clips": [[getattr(clip, name) for name in _CLIP_FIELDS] for clip in self.clips],
        }


@dataclass(frozen=True)
class SubmissionResult:
    batch_id: int
    campaign_id: str
    currency: str
    outcomes: list[ClipOutcome]
    replayed: bool = False
    uploads: Mapping[int, UploadTarget] = field(default_factory=dict)  # by claim id

    @property
    def counts(self) -> dict[str, int]:
        counted = Counter(outcome.status for outcome in self.outcomes)
        statuses = [*ClipStatus, ClaimStatus.AWAITING_UPLOAD]
        return {status.value: counted.get(status.value, 0) for status in statuses}

    @property
    def points(self) -> int:
        return sum(outcome.points for outcome in self.outcomes)

    @property
    def cash_cents(self) -> int:
        return sum(outcome.cash_cents for outcome in self.outcomes)

    def to_json(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "campaign_id": self.campaign_id,
            "currency": self.currency,
            "outcomes": [outcome.__dict__ for outcome in self.outcomes],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], *, replayed: bool) -> SubmissionResult:
        outcomes = [ClipOutcome(**outcome) for outcome in data["outcomes"]]
        return cls(data["batch_id"], data["campaign_id"], data["currency"], outcomes, replayed)


@retry_on_contention
def submit(
    db: Database,
    clock: Clock,
    actor: Actor,
    donor_id: int,
    request: SubmissionRequest,
    idempotency_key: str | None = None,
    uploads: UploadSettings | None = None,
    trusted: Sequence[Mapping[str, Any]] | None = None,
) -> SubmissionResult:
    """Decide, store and pay one call's clips, all or nothing; in a campaign that takes
    uploads, record them as claims waiting for their videos instead (``uploads`` says
    how large a video may be and how long a claim waits). ``trusted``: the maker's video
    pipeline reports clips it received (services/intake.py), decided now, with these
    columns for each clip.

    Two donors sending the same new hash at the same moment collide on the unique
    index; the loser's transaction is retried and then sees the winner's clip. A
    transaction that loses to another (a deadlock) is run again whole; the idempotency
    key makes that safe.
    """
    operation = "submit_clips" if trusted is None else "report_clips"
    key = idempotency.Idempotency.for_request(
        f"donor:{donor_id}", idempotency_key, operation, request.canonical
    )
    limits = uploads or UploadSettings()
    return retrying_hash_races(
        lambda: _submit_once(db, clock, actor, donor_id, request, key, limits, trusted)
    )


# What every call checks first, in one round trip: the donor, locked (one donor's calls
# run one at a time, so their caps are counted exactly), the campaign, and the current
# consent version. Built once: bound at each call.
_DONOR_CAMPAIGN_CONSENT = (
    select(Donor, Campaign, consents.current_version_name(bindparam("now")))
    .outerjoin(Campaign, col(Campaign.id) == bindparam("campaign"))
    .where(col(Donor.id) == bindparam("donor"))
    .with_for_update(of=Donor)
)


def _submit_once(
    db: Database,
    clock: Clock,
    actor: Actor,
    donor_id: int,
    request: SubmissionRequest,
    key: idempotency.Idempotency | None,
    uploads: UploadSettings,
    trusted: Sequence[Mapping[str, Any]] | None = None,
) -> SubmissionResult:
    now = clock.now()
    with db.transaction() as uow:
        session = uow.session
        replay = idempotency.claim(session, key, now)
        if replay is not None:
            return SubmissionResult.from_json(replay, replayed=True)
        found = session.execute(
            _DONOR_CAMPAIGN_CONSENT,
            {"donor": donor_id, "campaign": request.campaign_id, "now": now},
        ).first()
        if found is None:
            raise NotFound(f"no donor {donor_id}", code="donor_not_found")
        donor, campaign, current_consent = found
        if donor.status != "active":
            raise Forbidden("this account cannot donate", code=f"donor_{donor.status}")
        if campaign is None:
            raise InvalidInput(
                f"no campaign {request.campaign_id!r}",
                code="unknown_campaign",
                field="campaign_id",
            )
        rules = rules_of(campaign)
        rules.check_open(now)
        consents.require_current(donor, request.consent_version, current_consent)
        rules_of_clips.validate(rules, request.clips, now)
        if trusted is not None:
            result = _decide_now(uow, now, actor, donor_id, rules, request, trusted)
        elif campaign.requires_upload:
            validate_claims(request.clips, uploads.max_bytes)
            result = _record_claims(uow, now, donor_id, rules, request, uploads)
        else:
            result = _decide_now(uow, now, actor, donor_id, rules, request)
        idempotency.store(session, key, result.to_json())
    log.info(
        "clips submitted",
        extra={"fields": {"donor_id": donor_id, "batch_id": result.batch_id, **result.counts}},
    )
    return result


def _new_batch(
    uow: UnitOfWork,
    now: datetime,
    donor_id: int,
    rules: Rules,
    request: SubmissionRequest,
    totals: tuple[int, int, int] = (0, 0, 0),
) -> int:
    accepted, points, cash = totals
    return int(
        uow.session.execute(
            _BATCH_INSERT,
            {
                "donor_id": donor_id,
                "campaign_id": rules.campaign_id,
                "consent_version": request.consent_version,
                "clip_count": len(request.clips),
                "accepted": accepted,
                "points": points,
                "cash_cents": cash,
                "currency": rules.currency,
                "created_at": now,
            },
        ).scalar_one()
    )


_BATCH_INSERT = table_of(SubmissionBatch).insert().returning(table_of(SubmissionBatch).c.id)


def _decide_now(
    uow: UnitOfWork,
    now: datetime,
    actor: Actor,
    donor_id: int,
    rules: Rules,
    request: SubmissionRequest,
    extras: Sequence[Mapping[str, Any]] | None = None,
) -> SubmissionResult:
    """Clips decided and paid on what was sent: a campaign without uploads (imported),
    or clips the maker's video pipeline reports (``extras`` say so, and where the video
    is)."""
    decisions = decide(uow.session, now, donor_id, rules, request.clips)
    batch_id = _new_batch(uow, now, donor_id, rules, request, earned(decisions))
    stored = store(
        uow,
        now,
        actor,
        donor_id,
        rules,
        batch_id,
        request.clips,
        decisions,
        earning=("batch", batch_id),
        extras=extras,
    )
    return SubmissionResult(batch_id, rules.campaign_id, rules.currency, stored.outcomes)


def _record_claims(
    uow: UnitOfWork,
    now: datetime,
    donor_id: int,
    rules: Rules,
    request: SubmissionRequest,
    uploads: UploadSettings,
) -> SubmissionResult:
    """A campaign that takes uploads: each clip waits for its video, earning nothing
    until the engine has received and verified it (services/verification/)."""
    session = uow.session
    batch_id = _new_batch(uow, now, donor_id, rules, request)
    claims = table_of(ClipClaim)
    ids = allocate_ids(session, claims, len(request.clips))
    until = expires_at(now, uploads.claim_expiry_hours)
    rows = [
        {
            "id": claim_id,
            "batch_id": batch_id,
            "position": index,
            "donor_id": donor_id,
            "campaign_id": rules.campaign_id,
            "video_sha256": clip.video_sha256,
            "claimed_perceptual_hash": clip.perceptual_hash,
            "event_id": clip.event_id,
            "incident_type": clip.incident_type,
            "camera_id": clip.camera_id,
            "recorded_at": clip.recorded_at,
            "duration_s": clip.duration_s,
            "staged": clip.staged,
            "size_bytes": clip.size_bytes,
            "content_type": clip.content_type or "video/mp4",
            "storage_key": upload_key(rules.campaign_id, donor_id, claim_id, token_hex(8)),
            "status": ClaimStatus.AWAITING_UPLOAD.value,
            "attempts": 0,
            "expires_at": until,
            "created_at": now,
        }
        for index, (claim_id, clip) in enumerate(zip(ids, request.clips, strict=True))
    ]
    session.execute(claims.insert(), rows)
    outcomes = [
        ClipOutcome(
            index=index,
            clip_id=None,
            status=ClaimStatus.AWAITING_UPLOAD.value,
            reason=None,
            points=0,
            cash_cents=0,
            claim_id=claim_id,
        )
        for index, claim_id in enumerate(ids)
    ]
    return SubmissionResult(batch_id, rules.campaign_id, rules.currency, outcomes)


def upload_key(campaign_id: str, donor_id: int, claim_id: int, nonce: str) -> str:
    """Where a claim's video is uploaded: one key per claim, so a resent upload
    replaces its own object and never another's (the nonce: not even after a database
    is restored from a backup and hands the same ids out again)."""
    return f"uploads/{campaign_id}/{donor_id}/{claim_id}-{nonce}"
