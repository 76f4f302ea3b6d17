"""Staging: one moment claimed as more events than cameras filmed it, and one event
claimed with more clips than its cameras or the campaign pays."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, distinct, func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.db import one_of, seconds_between
from rewards_engine.domain.fraud import Finding, RuleConfig, tier
from rewards_engine.models import Campaign, Clip
from rewards_engine.services.fraud_signals.base import (
    HashIndex,
    Scope,
    _clip_ids,
    _counted,
    _earliest_new,
    _new_values,
    _utc,
    camera_as_counted,
)


def staging_fanout(session: Session, rule: RuleConfig, scope: Scope, _: HashIndex) -> list[Finding]:
    """One moment claimed as more events than cameras filmed it; one event claimed with
    more clips than its cameras or the campaign pays."""
    window = rule.param("window_s")
    min_events = int(rule.param("min_events"))
    where: list[Any] = [_counted()]
    if not scope.full:
        donors = _new_values(session, scope, col(Clip.donor_id))
        earliest = _earliest_new(session, scope, col(Clip.recorded_at))
        if not donors or earliest is None:
            return []
        since = earliest - timedelta(seconds=window)
        # A clip is donated after it is recorded: the created_at bound lets the
        # (donor, created_at) index skip a heavy donor's older clips.
        where += [
            one_of(session, col(Clip.donor_id), donors),
            col(Clip.recorded_at) >= since,
            col(Clip.created_at) >= since,
        ]
    previous = func.lag(col(Clip.recorded_at)).over(
        partition_by=col(Clip.donor_id), order_by=(col(Clip.recorded_at), col(Clip.id))
    )
    ordered = (
        select(
            col(Clip.id),
            col(Clip.donor_id),
            camera_as_counted(col(Clip.camera_id), col(Clip.camera_rule)).label("camera_id"),
            col(Clip.event_id),
            col(Clip.recorded_at),
            case(
                (seconds_between(session, col(Clip.recorded_at), previous) <= window, 0), else_=1
            ).label("starts"),
        )
        .where(*where)
        .subquery()
    )
    clustered = select(
        ordered,
        func.sum(ordered.c.starts)
        .over(partition_by=ordered.c.donor_id, order_by=(ordered.c.recorded_at, ordered.c.id))
        .label("cluster"),
    ).subquery()
    events = func.count(distinct(clustered.c.event_id))
    cameras = func.count(distinct(clustered.c.camera_id))
    rows = session.execute(
        select(
            clustered.c.donor_id,
            func.min(clustered.c.id),
            func.count(),
            events,
            cameras,
            func.min(clustered.c.recorded_at),
            func.max(clustered.c.recorded_at),
        )
        .group_by(clustered.c.donor_id, clustered.c.cluster)
        .having(events > cameras, events >= min_events)
    ).all()
    moments = [(donor, first, clips, n_events, n_cameras, _utc(a), _utc(b))
               for donor, first, clips, n_events, n_cameras, a, b in rows]  # fmt: skip
    ids = _clip_ids(
        session,
        (m[1] for m in moments),
        [
            _counted(),
            one_of(session, col(Clip.donor_id), sorted({m[0] for m in moments})),
            col(Clip.recorded_at) >= min((m[5] for m in moments), default=datetime.now(UTC)),
            col(Clip.recorded_at) <= max((m[6] for m in moments), default=datetime.now(UTC)),
        ],
        [col(Clip.donor_id), col(Clip.recorded_at)],
        _moments_of(moments),
    )
    findings = [
        Finding(
            rule.code,
            donor_id,
            f"moment:{first_id}",
            round(n_events / n_cameras, 2),
            round(n_events / n_cameras, 2),
            f"{n_events} events claimed from {n_cameras} camera(s) within "
            f"{(end - start).total_seconds():.0f} s",
            {
                "first_clip_id": first_id,
                "clips": clips,
                "events": n_events,
                "cameras": n_cameras,
                "from": start.isoformat(),
                "to": end.isoformat(),
            },
            ids[first_id],
        )
        for donor_id, first_id, clips, n_events, n_cameras, start, end in moments
    ]
    findings += _events_with_too_many_clips(session, rule, scope)
    return findings


def _moments_of(moments: Sequence[tuple[Any, ...]]) -> Callable[[Any], list[Hashable]]:
    """Which flagged moments (by their first clip) a clip falls in."""
    by_donor: dict[int, list[tuple[datetime, datetime, int]]] = defaultdict(list)
    for donor, first, *_, start, end in moments:
        by_donor[donor].append((start, end, first))

    def keys(row: Any) -> list[Hashable]:
        at = _utc(row.recorded_at)
        return [first for start, end, first in by_donor[row.donor_id] if start <= at <= end]

    return keys


def _events_with_too_many_clips(session: Session, rule: RuleConfig, scope: Scope) -> list[Finding]:
    where: list[Any] = [col(Clip.status) != "duplicate"]
    if not scope.full:
        donors = _new_values(session, scope, col(Clip.donor_id))
        if not donors:
            return []
        events = _new_values(session, scope, col(Clip.event_id))
        where += [
            one_of(session, col(Clip.donor_id), donors),
            one_of(session, col(Clip.event_id), events),
        ]
    clips = func.count()
    cameras = func.count(distinct(camera_as_counted(col(Clip.camera_id), col(Clip.camera_rule))))
    rows = session.execute(
        select(
            col(Clip.donor_id),
            col(Clip.campaign_id),
            col(Clip.event_id),
            clips,
            cameras,
            col(Campaign.cap_paid_per_event),
        )
        .join(Campaign, col(Campaign.id) == col(Clip.campaign_id))
        .where(*where)
        .group_by(
            col(Clip.donor_id),
            col(Clip.campaign_id),
            col(Clip.event_id),
            col(Campaign.cap_paid_per_event),
        )
        .having(
            (clips > cameras)
            | (
                col(Campaign.cap_paid_per_event).is_not(None)
                & (clips > col(Campaign.cap_paid_per_event))
            )
        )
    ).all()
    ids = _clip_ids(
        session,
        ((donor, campaign, event) for donor, campaign, event, *_ in rows),
        [
            _counted(),
            one_of(session, col(Clip.donor_id), sorted({r[0] for r in rows})),
            one_of(session, col(Clip.event_id), sorted({r[2] for r in rows})),
        ],
        [col(Clip.donor_id), col(Clip.campaign_id), col(Clip.event_id)],
        lambda r: [(r.donor_id, r.campaign_id, r.event_id)],
    )
    findings = []
    for donor_id, campaign, event, n_clips, n_cameras, cap in rows:
        allowed = min(n_cameras, cap) if cap else n_cameras
        findings.append(
            Finding(
                rule.code,
                donor_id,
                f"event:{campaign}:{event}:t{tier(n_clips)}"[:200],
                round(n_clips / max(allowed, 1), 2),
                float(n_clips),
                f"event {event}: {n_clips} clips from {n_cameras} camera(s)"
                + (f"; the campaign pays {cap} per event" if cap else ""),
                {
                    "campaign_id": campaign,
                    "event_id": event,
                    "clips": n_clips,
                    "cameras": n_cameras,
                    "paid_per_event": cap,
                },
                ids[(donor_id, campaign, event)],
            )
        )
    return findings
