"""Velocity: more seconds of footage per camera in an hour or a day than the hour or
the day holds, or more clips per camera in a day than the rule allows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, literal, select
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.db import one_of, utc_bucket
from rewards_engine.domain.fraud import Finding, RuleConfig, tier
from rewards_engine.models import Clip
from rewards_engine.services.fraud_signals.base import (
    HashIndex,
    Scope,
    _bucket_start,
    _clip_ids,
    _counted,
    _earliest_new,
    _new_values,
    _utc,
)

WINDOWS = {"hour": 3_600, "day": 86_400}


def velocity(session: Session, rule: RuleConfig, scope: Scope, _: HashIndex) -> list[Finding]:
    """Seconds of footage per camera and hour or day beyond the hour or the day."""
    utilisation = rule.param("max_utilisation")
    per_day_limit = int(rule.param("max_clips_per_camera_day"))
    where: list[Any] = [_counted()]
    if not scope.full:
        cameras = _new_values(session, scope, col(Clip.camera_id))
        earliest = _earliest_new(session, scope, col(Clip.recorded_at))
        if not cameras or earliest is None:
            return []
        where += [
            one_of(session, col(Clip.camera_id), cameras),
            col(Clip.recorded_at) >= earliest - timedelta(days=1),
        ]
    findings = []
    for window, length in WINDOWS.items():
        bucket = utc_bucket(session, col(Clip.recorded_at), window).label("bucket")
        seconds = func.sum(col(Clip.duration_s))
        too_many: ColumnElement[bool] = literal(False)
        if window == "day" and per_day_limit:
            too_many = func.count() > per_day_limit
        rows = session.execute(
            select(col(Clip.donor_id), col(Clip.camera_id), bucket, func.count(), seconds)
            .where(*where)
            .group_by(col(Clip.donor_id), col(Clip.camera_id), bucket)
            .having((seconds > length * utilisation) | too_many)
        ).all()
        if not rows:
            continue
        pattern = "%Y-%m-%d %H" if window == "hour" else "%Y-%m-%d"
        starts = [_bucket_start(moment, window) for _, _, moment, _, _ in rows]

        def keys_of(r: Any, pattern: str = pattern) -> list[tuple[int, str, str]]:
            return [(r.donor_id, r.camera_id, _utc(r.recorded_at).strftime(pattern))]

        ids = _clip_ids(
            session,
            ((donor, camera, moment) for donor, camera, moment, _, _ in rows),
            [
                _counted(),
                one_of(session, col(Clip.camera_id), sorted({r[1] for r in rows})),
                col(Clip.recorded_at) >= min(starts),
                col(Clip.recorded_at) < max(starts) + timedelta(seconds=length),
            ],
            [col(Clip.donor_id), col(Clip.camera_id), col(Clip.recorded_at)],
            keys_of,
        )
        for (donor_id, camera, moment, clips, total), start in zip(rows, starts, strict=True):
            capacity = length * utilisation
            score = max(total / capacity, clips / per_day_limit if per_day_limit else 0)
            findings.append(
                Finding(
                    rule.code,
                    donor_id,
                    f"{window}:{camera}:{moment}:t{tier(clips)}",
                    round(score, 3),
                    round(score, 3),
                    f"camera {camera}: {clips} clips, {total:,.0f} s of footage in the "
                    f"{window} of {moment} ({length:,} s)",
                    {
                        "window": window,
                        "camera_id": camera,
                        "start": start.isoformat(),
                        "clips": clips,
                        "seconds": round(total, 1),
                        "capacity_s": capacity,
                    },
                    ids[(donor_id, camera, moment)],
                )
            )
    return findings
