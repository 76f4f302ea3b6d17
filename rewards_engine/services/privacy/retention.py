"""Retention: clip metadata kept no longer than its campaign says, scrubbed as an
erasure scrubs it, a campaign and a chunk at a time.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import timedelta

from sqlalchemy import select
from sqlmodel import col

from rewards_engine.db import one_of
from rewards_engine.domain.actors import Actor
from rewards_engine.models import Campaign, Clip
from rewards_engine.runtime import Runtime
from rewards_engine.services import audit
from rewards_engine.services.privacy.erasure import scrub_clips

log = logging.getLogger(__package__)  # one logger for the package, as before the split


def apply_retention(runtime: Runtime) -> dict[str, int]:
    """Delete the metadata of clips past their campaign's retention period, a campaign
    and a chunk at a time; record the counts (never the content)."""
    now = runtime.clock.now()
    deleted: dict[str, int] = defaultdict(int)
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
                count = scrub_clips(uow.session, now, [one_of(uow.session, Clip.id, ids)])
                deleted[campaign_id] += count
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
    log.info("retention applied", extra={"fields": {"clips": total, "campaigns": len(deleted)}})
    return {"clips": total, "campaigns": sum(1 for n in deleted.values() if n)}
