"""Retention: clip metadata kept no longer than its campaign says, scrubbed as an
erasure scrubs it, a campaign and a chunk at a time.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlmodel import col

from rewards_engine.db import changed_rows, one_of
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.uploads import ClaimStatus
from rewards_engine.models import Campaign, Clip, ClipClaim
from rewards_engine.runtime import Runtime
from rewards_engine.services import audit
from rewards_engine.services.privacy.erasure import scrub_clips, stored_videos

log = logging.getLogger(__package__)  # one logger for the package, as before the split
DECIDED = (ClaimStatus.VERIFIED.value, ClaimStatus.REJECTED.value, ClaimStatus.EXPIRED.value)


def apply_retention(runtime: Runtime) -> dict[str, int]:
    """Delete the metadata and the videos of clips past their campaign's retention
    period, a campaign and a chunk at a time, and the claims made as long ago; record
    the counts (never the content)."""
    now = runtime.clock.now()
    deleted: dict[str, int] = defaultdict(int)
    videos_deleted = claims_deleted = 0
    with runtime.db.read() as session:
        campaigns = session.execute(
            select(col(Campaign.id), col(Campaign.retention_days)).where(
                col(Campaign.retention_days).is_not(None)
            )
        ).all()
    for campaign_id, days in campaigns:
        cutoff = now - timedelta(days=days)
        while True:
            with runtime.db.transaction() as uow:
                ids = list(
                    uow.session.scalars(
                        select(col(Clip.id))
                        .where(
                            col(Clip.campaign_id) == campaign_id,
                            col(Clip.created_at) < cutoff,
                            col(Clip.metadata_deleted_at).is_(None),
                        )
                        .limit(5_000)
                    )
                )
                if not ids:
                    break
                chosen = [one_of(uow.session, Clip.id, ids)]
                videos = stored_videos(uow.session, chosen)
                count = scrub_clips(uow.session, now, chosen)
                deleted[campaign_id] += count
            for key in videos:  # after the commit: the clips no longer point at them
                runtime.video_store.delete(key)
            videos_deleted += len(videos)
        claims_deleted += _delete_claims(runtime, campaign_id, cutoff)
        if deleted[campaign_id]:
            with runtime.db.transaction() as uow:
                audit.record(
                    uow.session,
                    runtime.clock,
                    Actor.system("retention"),
                    action="retention.deleted",
                    target_type="campaign",
                    target_id=campaign_id,
                    after={"clips": deleted[campaign_id], "retention_days": days},
                )
    total = sum(deleted.values())
    campaigns_done = sum(1 for n in deleted.values() if n)
    result = {
        "clips": total,
        "campaigns": campaigns_done,
        "videos_deleted": videos_deleted,
        "claims": claims_deleted,
    }
    log.info("retention applied", extra={"fields": result})
    return result


def _delete_claims(runtime: Runtime, campaign_id: str, cutoff: datetime) -> int:
    """Delete the campaign's claims made before ``cutoff``: a claim holds what its clip
    holds (the content hash, camera, event), so it goes with the clip's metadata, and a
    claim refused or expired goes as well. A claim still in flight, or whose objects the
    expiry sweep has yet to delete once more (``lease_until``), waits for it."""
    with runtime.db.transaction() as uow:
        return changed_rows(
            uow.session,
            delete(ClipClaim).where(
                col(ClipClaim.campaign_id) == campaign_id,
                col(ClipClaim.created_at) < cutoff,
                col(ClipClaim.status).in_(DECIDED),
                col(ClipClaim.lease_until).is_(None),
            ),
        )
