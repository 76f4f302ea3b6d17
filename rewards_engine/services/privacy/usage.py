"""What each clip is used for and why, as the donor sees it clip by clip, and the
clips the training export may hand out: accepted, metadata kept, of an active donor
holding the current consent.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.clock import Clock
from rewards_engine.db import Database
from rewards_engine.domain import privacy as rules
from rewards_engine.domain.privacy import Usage
from rewards_engine.models import Campaign, Clip, Donor
from rewards_engine.pagination import Page
from rewards_engine.services import consents
from rewards_engine.services.clips import ClipFilter, ClipRecord, get_donor_clip, list_donor_clips


@dataclass(frozen=True)
class ClipUsage:
    """What a clip is used for now, why not when it is not, and when its metadata goes."""

    usage: Usage
    usage_reason: str | None
    delete_after: datetime | None


@dataclass(frozen=True)
class ClipView:
    clip: ClipRecord
    usage: ClipUsage


def usages_of(
    session: Session, donor: Donor, clips: Sequence[Clip | ClipRecord], now: datetime
) -> list[ClipUsage]:
    current = consents.current_version(session, now)
    consent_current = current is not None and donor.consent_version == current.version
    retention = dict(session.execute(select(col(Campaign.id), col(Campaign.retention_days))).all())
    usages = []
    for clip in clips:
        usage, reason = rules.usage_of(
            status=clip.status,
            metadata_deleted=clip.metadata_deleted_at is not None,
            consent_withdrawn=donor.consent_withdrawn_at is not None,
            consent_current=consent_current,
        )
        after = rules.delete_after(clip.created_at, retention.get(clip.campaign_id))
        usages.append(ClipUsage(usage, reason, after))
    return usages


def list_clips(
    db: Database,
    clock: Clock,
    donor_id: int,
    filters: ClipFilter,
    *,
    limit: int,
    cursor: str | None,
) -> Page[ClipView]:
    """The donor's clips, newest first, each with what it is used for."""
    page = list_donor_clips(db, donor_id, filters, limit=limit, cursor=cursor)
    with db.read() as session:
        donor = session.get(Donor, donor_id)
        assert donor is not None
        usages = usages_of(session, donor, page.items, clock.now())
    return Page(
        [ClipView(*pair) for pair in zip(page.items, usages, strict=True)], page.next_cursor
    )


def clip_view(db: Database, clock: Clock, donor_id: int, clip_id: int) -> ClipView:
    """One of the donor's clips with what it is used for (another donor's: not found)."""
    clip = get_donor_clip(db, donor_id, clip_id)
    with db.read() as session:
        donor = session.get(Donor, donor_id)
        assert donor is not None
        return ClipView(clip, usages_of(session, donor, [clip], clock.now())[0])


def training_clips(
    db: Database, clock: Clock, campaign_id: str | None = None
) -> Iterator[dict[str, Any]]:
    """Clips usable for training: accepted, with a video someone checked (verified by
    the engine, or reported by the maker's pipeline), metadata kept, their donor active,
    not erased and holding the current consent. Donors are not named; each row says
    where its video is kept (sealed with the donor's key, for the engine's own store)."""
    now = clock.now()
    with db.read() as session:
        current = consents.current_version(session, now)
        if current is None:
            return
        query = (
            select(Clip)
            .join(Donor, col(Donor.id) == col(Clip.donor_id))
            .where(
                col(Clip.status) == "accepted",
                col(Clip.intake).in_(("verified", "trusted")),
                col(Clip.metadata_deleted_at).is_(None),
                col(Donor.status) == "active",
                col(Donor.consent_version) == current.version,
            )
            .order_by(col(Clip.id))
            .execution_options(yield_per=5_000)
        )
        if campaign_id is not None:
            query = query.where(col(Clip.campaign_id) == campaign_id)
        for clip in session.scalars(query):
            yield {
                "clip_id": clip.id,
                "campaign_id": clip.campaign_id,
                "video_sha256": clip.video_sha256,
                "incident_type": clip.incident_type,
                "staged": clip.staged,
                "recorded_at": clip.recorded_at.isoformat(),
                "duration_s": clip.duration_s,
                "intake": clip.intake,
                "storage_ref": clip.storage_key,
                "pdq": clip.pdq,
            }
