"""A donor's clips as the donor and support read them: the record of one clip, and
the donor's own list, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlmodel import col

from rewards_engine.db import Database, row_view
from rewards_engine.domain.errors import NotFound
from rewards_engine.models import Clip
from rewards_engine.pagination import Page, fetch_page


@dataclass(frozen=True)
class ClipRecord:
    """A donated clip: what was claimed, how it was decided, what it earned."""

    id: int
    batch_id: int
    donor_id: int
    campaign_id: str
    video_sha256: str
    perceptual_hash: int | None
    event_id: str
    incident_type: str
    camera_id: str
    recorded_at: datetime
    duration_s: float
    staged: bool
    status: str
    reason: str | None
    points: int
    cash_cents: int
    currency: str
    created_at: datetime
    accepted_at: datetime | None
    vests_at: datetime | None
    vested_at: datetime | None
    reviewed_at: datetime | None
    reversed_at: datetime | None
    metadata_deleted_at: datetime | None
    intake: str
    camera_rule: str | None


def clip_record(row: Clip) -> ClipRecord:
    return row_view(ClipRecord, row)


@dataclass(frozen=True)
class ClipFilter:
    status: str | None = None
    campaign_id: str | None = None


def list_donor_clips(
    db: Database, donor_id: int, filters: ClipFilter, *, limit: int, cursor: str | None
) -> Page[ClipRecord]:
    """The donor's own clips, newest first."""
    query = select(Clip).where(col(Clip.donor_id) == donor_id)
    if filters.status is not None:
        query = query.where(col(Clip.status) == filters.status)
    if filters.campaign_id is not None:
        query = query.where(col(Clip.campaign_id) == filters.campaign_id)
    with db.read() as session:
        return fetch_page(
            session,
            query,
            kind="clips",
            columns=(col(Clip.created_at), col(Clip.id)),
            types=(datetime, int),
            limit=limit,
            cursor=cursor,
        ).map(clip_record)


def get_donor_clip(db: Database, donor_id: int, clip_id: int) -> ClipRecord:
    """One of the donor's clips; another donor's clip is 'not found', not 'forbidden'."""
    with db.read() as session:
        clip = session.get(Clip, clip_id)
        if clip is None or clip.donor_id != donor_id:
            raise NotFound(f"no clip {clip_id}", code="clip_not_found")
        return clip_record(clip)
