"""The scheduled evaluation (the ``medals-evaluate`` job): medals that no single
accepted clip decides. Streaks, placements of closed periods and campaign goals are
granted; provisional streaks whose review window closed are confirmed or revoked.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.clock import Clock
from rewards_engine.db import Database
from rewards_engine.domain import medals as rules
from rewards_engine.models import (
    Campaign,
    CampaignCounter,
    Clip,
    Donor,
    MedalAward,
    WallSnapshot,
    WallSnapshotEntry,
    WallTally,
)
from rewards_engine.services import wall
from rewards_engine.services.medals._common import end_of_day, local_days, review_window
from rewards_engine.services.medals.awards import Grant, grant_all, revoke, streak_holds
from rewards_engine.services.medals.definitions import Catalog, Definition

log = logging.getLogger(__package__)  # one logger for the package, as before the split

RuleT = TypeVar("RuleT", rules.StreakRule, rules.PlacementRule, rules.CampaignGoalRule)


def rule_of(definition: Definition, kind: type[RuleT]) -> RuleT:
    """The rule of a definition the job has sorted by kind (with ``isinstance``)."""
    rule = definition.rule
    if not isinstance(rule, kind):
        raise TypeError(f"medal {definition.code} has a {rule.kind} rule, not {kind.kind}")
    return rule


@dataclass
class JobReport:
    streaks: int = 0
    placements: int = 0
    campaign_goals: int = 0
    confirmed: int = 0
    revoked: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


def evaluate_scheduled(db: Database, clock: Clock) -> JobReport:
    """Streaks, placements of closed periods, campaign goals, and provisional awards."""
    now = clock.now()
    report = JobReport()
    with db.transaction() as uow:
        session = uow.session
        catalog = Catalog.load(session)
        current = catalog.current
        streaks = [d for d in current if isinstance(d.rule, rules.StreakRule)]
        if streaks:
            report.streaks = len(grant_all(session, now, _streak_grants(session, now, streaks)))
        placements = [d for d in current if isinstance(d.rule, rules.PlacementRule)]
        if placements:
            report.placements = len(grant_all(session, now, placement_grants(session, placements)))
        goals = [d for d in current if isinstance(d.rule, rules.CampaignGoalRule)]
        if goals:
            report.campaign_goals = len(grant_all(session, now, goal_grants(session, goals)))
        report.confirmed, report.revoked = _settle_provisional(session, now, catalog)
        changed = session.scalars(
            select(col(MedalAward.donor_id)).where(col(MedalAward.awarded_at) == now).distinct()
        ).all()
        wall.record_donors_changed(uow, now, changed)
    log.info("medals evaluated", extra={"fields": report.as_dict()})
    return report


def _streak_grants(session: Session, now: datetime, streaks: list[Definition]) -> list[Grant]:
    """Donors with a clip in the last two days: does a recent run reach a streak medal?"""
    longest = max(rule_of(d, rules.StreakRule).days for d in streaks)
    since = now - timedelta(days=longest + 2)
    active = (
        select(col(Clip.donor_id))
        .where(col(Clip.status) == "accepted", col(Clip.accepted_at) >= now - timedelta(days=2))
        .distinct()
    )
    rows = session.execute(
        select(col(Clip.donor_id), col(Clip.accepted_at), col(Donor.timezone))
        .join(Donor, col(Donor.id) == col(Clip.donor_id))
        .where(
            col(Clip.status) == "accepted",
            col(Clip.accepted_at) >= since,
            col(Clip.donor_id).in_(active),
        )
    )
    moments: dict[int, list[datetime]] = defaultdict(list)
    zones: dict[int, str | None] = {}
    for donor_id, accepted_at, zone in rows:
        assert accepted_at is not None  # read with accepted_at >= since
        moments[donor_id].append(accepted_at)
        zones[donor_id] = zone
    window = review_window(session)
    grants = []
    for donor_id, times in moments.items():
        days = local_days(times, zones[donor_id])
        grants += streaks_of(donor_id, days, zones[donor_id], streaks, window)
    return grants


def streaks_of(
    donor_id: int, days: set[date], zone: str | None, streaks: list[Definition], window: timedelta
) -> list[Grant]:
    found = []
    for definition in streaks:
        rule = rule_of(definition, rules.StreakRule)
        run = rules.first_run_of(days, rule.days)
        if run is not None:
            evidence = {
                "first_day": run[0].isoformat(),
                "last_day": run[1].isoformat(),
                "days": rule.days,
                "timezone": zone or "UTC",
            }
            # Provisional until clips of those days can no longer be reversed in review.
            found.append(
                Grant(donor_id, definition, "", evidence, end_of_day(run[1], zone) + window)
            )
    return found


def placement_grants(session: Session, placements: list[Definition]) -> list[Grant]:
    grants = []
    snapshots = session.scalars(select(WallSnapshot)).all()
    for snapshot in snapshots:
        kind = snapshot.board.split(":", 1)[0]
        for definition in placements:
            rule = rule_of(definition, rules.PlacementRule)
            if rule.period != kind:
                continue
            rows = session.execute(
                select(
                    col(WallSnapshotEntry.donor_id),
                    col(WallSnapshotEntry.rank),
                    col(WallSnapshotEntry.clips),
                ).where(
                    col(WallSnapshotEntry.snapshot_id) == snapshot.id,
                    col(WallSnapshotEntry.rank) <= rule.top,
                )
            )
            grants += [
                Grant(
                    donor,
                    definition,
                    snapshot.board,
                    {
                        "period": snapshot.board,
                        "rank": rank,
                        "clips": clips,
                        "snapshot_hash": snapshot.content_hash,
                    },
                )
                for donor, rank, clips in rows
            ]
    return grants


def _goal_reached(session: Session, campaign_id: str) -> bool:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or not campaign.targets:
        return False
    counts = dict(
        session.execute(
            select(col(CampaignCounter.incident_type), col(CampaignCounter.accepted)).where(
                col(CampaignCounter.campaign_id) == campaign_id
            )
        ).all()
    )
    return all(counts.get(kind, 0) >= target for kind, target in campaign.targets.items())


def goal_grants(session: Session, goals: list[Definition]) -> list[Grant]:
    grants = []
    for definition in goals:
        campaign_id = rule_of(definition, rules.CampaignGoalRule).campaign
        if not _goal_reached(session, campaign_id):
            continue
        rows = session.execute(
            select(col(WallTally.donor_id), col(WallTally.clips)).where(
                col(WallTally.board) == f"campaign:{campaign_id}", col(WallTally.clips) > 0
            )
        )
        grants += [
            Grant(donor, definition, "", {"campaign": campaign_id, "clips": clips})
            for donor, clips in rows
        ]
    return grants


def _settle_provisional(session: Session, now: datetime, catalog: Catalog) -> tuple[int, int]:
    """Streak awards whose review window closed: confirm them if every day of the run
    still has an accepted clip, else revoke them."""
    confirmed = revoked = 0
    due = session.scalars(
        select(MedalAward).where(
            col(MedalAward.provisional_until) <= now, col(MedalAward.revoked_at).is_(None)
        )
    ).all()
    for award in due:
        if streak_holds(session, award):
            award.provisional_until = None
            confirmed += 1
        else:
            revoke(session, now, award, catalog, "a day of the streak was reversed in review")
            revoked += 1
    return confirmed, revoked
