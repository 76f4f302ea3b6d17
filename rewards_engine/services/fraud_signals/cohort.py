"""Cohort outliers: a donor's accepted clips in a day, against every donor of the
campaign that day (a modified z-score)."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.db import one_of, utc_bucket
from rewards_engine.domain.fraud import Finding, RuleConfig, modified_z_scores, tier
from rewards_engine.models import Clip
from rewards_engine.services.fraud_signals.base import (
    HashIndex,
    Scope,
    _bucket_start,
    _clip_ids,
    _earliest_new,
    _new_values,
    _utc,
)


def cohort_outlier(session: Session, rule: RuleConfig, scope: Scope, _: HashIndex) -> list[Finding]:
    """A donor's accepted clips in a day, against every donor of the campaign that day."""
    max_z, minimum = rule.param("max_z"), rule.param("min_daily_clips")
    day = utc_bucket(session, col(Clip.accepted_at), "day").label("day")
    where: list[Any] = [col(Clip.status) == "accepted", col(Clip.accepted_at).is_not(None)]
    if not scope.full:
        earliest = _earliest_new(session, scope, col(Clip.accepted_at))
        campaigns = _new_values(session, scope, col(Clip.campaign_id))
        if earliest is None:
            return []
        start = earliest.replace(hour=0, minute=0, second=0, microsecond=0)
        where += [col(Clip.accepted_at) >= start, one_of(session, col(Clip.campaign_id), campaigns)]
    rows = session.execute(
        select(col(Clip.campaign_id), day, col(Clip.donor_id), func.count())
        .where(*where)
        .group_by(col(Clip.campaign_id), day, col(Clip.donor_id))
    ).all()
    cohorts: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for campaign, moment, donor_id, clips in rows:
        cohorts[(campaign, moment)].append((donor_id, clips))
    flagged = []
    for (campaign, moment), members in cohorts.items():
        if max(clips for _, clips in members) < minimum:
            continue
        counts = [clips for _, clips in members]
        median = float(np.median(counts))
        for (donor_id, clips), z in zip(members, modified_z_scores(counts), strict=True):
            if clips >= minimum and z > max_z:
                flagged.append((campaign, moment, donor_id, clips, z, median, len(members)))
    if not flagged:
        return []
    days = [_bucket_start(moment, "day") for _, moment, *_ in flagged]
    ids = _clip_ids(
        session,
        ((campaign, moment, donor) for campaign, moment, donor, *_ in flagged),
        [
            col(Clip.status) == "accepted",
            one_of(session, col(Clip.donor_id), sorted({f[2] for f in flagged})),
            col(Clip.accepted_at) >= min(days),
            col(Clip.accepted_at) < max(days) + timedelta(days=1),
        ],
        [col(Clip.campaign_id), col(Clip.donor_id), col(Clip.accepted_at)],
        lambda r: [(r.campaign_id, _utc(r.accepted_at).strftime("%Y-%m-%d"), r.donor_id)],
    )
    return [
        Finding(
            rule.code,
            donor_id,
            f"{campaign}:{moment}:t{tier(clips)}",
            round(z, 2),
            float(clips),
            f"{clips} clips accepted on {moment} in {campaign}; the cohort's median "
            f"is {median:g} ({size} donors), modified z {z:.1f}",
            {
                "campaign_id": campaign,
                "day": moment,
                "clips": clips,
                "cohort_median": median,
                "cohort_size": size,
                "z": round(z, 2),
            },
            ids[(campaign, moment, donor_id)],
        )
        for campaign, moment, donor_id, clips, z, median, size in flagged
    ]
