"""Backfill dumps and staged shares: many clips in one call recorded long before they
were donated, and donors whose share of staged clips or clips per camera per day is
far above their campaign's donors' (full scans only)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import case, distinct, func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.db import one_of, seconds_between
from rewards_engine.domain.fraud import Finding, RuleConfig, modified_z_scores
from rewards_engine.models import Campaign, Clip
from rewards_engine.services.fraud_signals.base import HashIndex, Scope, _clip_ids, _counted, _utc


def backfill_dump(session: Session, rule: RuleConfig, scope: Scope, _: HashIndex) -> list[Finding]:
    """Many clips in one call recorded long before they were donated."""
    age = rule.param("min_age_days") * 86_400
    minimum = int(rule.param("min_clips"))
    old = seconds_between(session, col(Clip.created_at), col(Clip.recorded_at)) > age
    where: list[Any] = [col(Clip.status) != "duplicate", old]
    if not scope.full:
        where.append(scope.new())
    rows = session.execute(
        select(
            col(Clip.batch_id),
            col(Clip.donor_id),
            func.count(),
            func.min(col(Clip.recorded_at)),
            func.max(col(Clip.created_at)),
        )
        .where(*where)
        .group_by(col(Clip.batch_id), col(Clip.donor_id))
        .having(func.count() >= minimum)
    ).all()
    ids = _clip_ids(
        session,
        (batch_id for batch_id, *_ in rows),
        [
            one_of(session, col(Clip.donor_id), sorted({r[1] for r in rows})),
            one_of(session, col(Clip.batch_id), sorted({r[0] for r in rows})),
            old,
        ],
        [col(Clip.batch_id)],
        lambda r: [r.batch_id],
    )
    return [
        Finding(
            rule.code,
            donor_id,
            f"batch:{batch_id}",
            round(clips / minimum, 2),
            float(clips),
            f"{clips} clips in one call recorded more than {age / 86_400:g} days before; the "
            f"oldest on {_utc(oldest).date()}",
            {
                "batch_id": batch_id,
                "clips": clips,
                "oldest_recorded_at": _utc(oldest).isoformat(),
                "donated_at": _utc(donated).isoformat(),
            },
            ids[batch_id],
        )
        for batch_id, donor_id, clips, oldest, donated in rows
    ]


def staged_share(session: Session, rule: RuleConfig, scope: Scope, _: HashIndex) -> list[Finding]:
    """A donor's share of staged clips (over the campaign), or clips per camera per day
    (over the rule's window), far above the campaign's donors'. It compares whole
    campaigns, so it runs in full scans only.

    The rate is the donor's clips recorded in the window over their cameras in the
    window and the window's days (the last ``window_days`` of the campaign up to the
    scan, fewer if the campaign is younger): a one-camera donor with 150 clips in two
    months films 2.5 a day, a camera "filming" an incident every hour 24.
    """
    if not scope.full:
        return []
    minimum, max_z = rule.param("min_clips"), rule.param("max_z")
    staged = func.sum(case((col(Clip.staged).is_(True), 1), else_=0))
    rows = session.execute(
        select(col(Clip.campaign_id), col(Clip.donor_id), func.count(), staged)
        .where(_counted())
        .group_by(col(Clip.campaign_id), col(Clip.donor_id))
        .having(func.count() >= minimum)
    ).all()
    findings = []
    floor = rule.param("min_share")
    for campaign, members in _by_campaign(rows).items():
        values = [r[3] / r[2] for r in members]
        findings += _outliers(
            rule, campaign, "staged", members, values, floor, max_z,
            lambda r, v: f"share of staged clips {v:.2f} ({r[3]} of {r[2]})",
            lambda r: {"clips": r[2], "staged": r[3]},
        )  # fmt: skip
    findings += _camera_rates(session, rule, scope)
    return findings


def _by_campaign(rows: Sequence[Any]) -> dict[str, list[Any]]:
    by_campaign: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        by_campaign[row[0]].append(row)
    return by_campaign


def _camera_rates(session: Session, rule: RuleConfig, scope: Scope) -> list[Finding]:
    """Clips per camera per day over each campaign's window (see :func:`staged_share`)."""
    minimum, max_z = rule.param("min_clips"), rule.param("max_z")
    floor, window = rule.param("min_clips_per_camera_day"), rule.param("window_days")
    if window <= 0:
        return []
    now = _utc(scope.now or datetime.now(UTC))
    findings = []
    for campaign, starts_at, ends_at in session.execute(
        select(col(Campaign.id), col(Campaign.starts_at), col(Campaign.ends_at))
    ).all():
        end = min(now, _utc(ends_at)) if ends_at is not None else now
        start = max(end - timedelta(days=window), _utc(starts_at))
        days = max((end - start).total_seconds() / 86_400, 1.0)
        rows = session.execute(
            select(
                col(Clip.campaign_id),
                col(Clip.donor_id),
                func.count(),
                func.count(distinct(col(Clip.camera_id))),
            )
            .where(
                _counted(),
                col(Clip.campaign_id) == campaign,
                col(Clip.recorded_at) >= start,
                col(Clip.recorded_at) <= end,
            )
            .group_by(col(Clip.campaign_id), col(Clip.donor_id))
            .having(func.count() >= minimum)
        ).all()
        if not rows:
            continue
        values = [r[2] / r[3] / days for r in rows]

        def describe(r: Any, v: float, days: float = days, end: datetime = end) -> str:
            return (
                f"{v:.2f} clips per camera per day ({r[2]} clips on {r[3]} camera(s) in the "
                f"{days:g} days to {end.date()})"
            )

        def figures(
            r: Any, days: float = days, start: datetime = start, end: datetime = end
        ) -> dict[str, Any]:
            return {
                "clips": r[2], "cameras": r[3], "days": round(days, 2),
                "from": start.isoformat(), "to": end.isoformat(),
            }  # fmt: skip

        findings += _outliers(
            rule, campaign, "per_camera_day", rows, values, floor, max_z, describe, figures
        )
    return findings


def _outliers(
    rule: RuleConfig,
    campaign: str,
    measure: str,
    members: Sequence[Any],
    values: Sequence[float],
    floor: float,
    max_z: float,
    describe: Callable[[Any, float], str],
    figures: Callable[[Any], dict[str, Any]],
) -> list[Finding]:
    """Donors whose measure is at least ``floor`` and a modified z-score above ``max_z``.
    The magnitude is the measure in multiples of its floor, so a dismissal's cover means
    the same for both measures (1.5 times the floor is 1.5 whichever it is)."""
    if not members:
        return []
    median = float(np.median(values))
    findings = []
    for row, value, z in zip(members, values, modified_z_scores(values), strict=True):
        if value < floor or z <= max_z:
            continue
        findings.append(
            Finding(
                rule.code,
                row[1],
                f"{campaign}:{measure}",
                round(z, 2),
                round(value / floor, 3) if floor > 0 else round(value, 3),
                f"{describe(row, value)} in {campaign} against a median of {median:.2f} "
                f"({len(members)} donors), modified z {z:.1f}",
                {
                    "campaign_id": campaign,
                    "measure": measure,
                    "value": round(value, 3),
                    "floor": floor,
                    "cohort_median": median,
                    "cohort_size": len(members),
                    "z": round(z, 2),
                    **figures(row),
                },
            )
        )
    return findings
