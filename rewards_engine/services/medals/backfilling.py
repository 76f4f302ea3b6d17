"""Applying a new or changed definition to the past: recomputed from the clips
themselves (not the tallies), shown as a dry run of who gains and who loses, then
applied exactly as shown, in batches.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.clock import Clock
from rewards_engine.db import Database
from rewards_engine.domain import medals as rules
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.errors import NotFound
from rewards_engine.models import Clip, Donor, MedalAward
from rewards_engine.services import wall
from rewards_engine.services.medals._common import local_days, period_board, review_window
from rewards_engine.services.medals.awards import SYSTEM, Grant, grant_all, revoke
from rewards_engine.services.medals.definitions import Catalog, Definition
from rewards_engine.services.medals.evaluation import (
    goal_grants,
    placement_grants,
    streaks_of,
)

log = logging.getLogger(__package__)  # one logger for the package, as before the split


@dataclass(frozen=True)
class Change:
    donor_id: int
    code: str
    period_key: str
    evidence: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass
class BackfillReport:
    gains: list[Change] = field(default_factory=list)
    losses: list[Change] = field(default_factory=list)
    donors_evaluated: int = 0
    applied: bool = False

    def summary(self) -> dict[str, Any]:
        by_code: dict[str, dict[str, int]] = defaultdict(lambda: {"gain": 0, "lose": 0})
        for change in self.gains:
            by_code[change.code]["gain"] += 1
        for change in self.losses:
            by_code[change.code]["lose"] += 1
        return {
            "applied": self.applied,
            "donors_evaluated": self.donors_evaluated,
            "gains": len(self.gains),
            "losses": len(self.losses),
            "by_medal": dict(by_code),
        }


def _history(session: Session, definition: Definition) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """Every (donor, period key, evidence) that meets ``definition`` today, from the
    clips themselves (not the tallies)."""
    rule = definition.rule
    accepted = col(Clip.status) == "accepted"
    if isinstance(rule, rules.CountRule):
        scope = [accepted]
        if rule.campaign is not None:
            scope.append(col(Clip.campaign_id) == rule.campaign)
        if rule.incident_type is not None:
            scope.append(col(Clip.incident_type) == rule.incident_type)
        rows = session.execute(
            select(col(Clip.donor_id), func.count())
            .where(*scope)
            .group_by(col(Clip.donor_id))
            .having(func.count() >= rule.threshold)
        )
        for donor, count in rows:
            yield donor, "", {"count": count, "threshold": rule.threshold, "scope": rule.tally_key}
    elif isinstance(rule, rules.PeriodRule):
        counts: dict[tuple[int, str], int] = defaultdict(int)
        for donor, moment in session.execute(
            select(col(Clip.donor_id), col(Clip.accepted_at))
            .where(accepted)
            .execution_options(yield_per=50_000)
        ):
            assert moment is not None  # an accepted clip has its acceptance time
            counts[(donor, period_board(rule, moment).name)] += 1
        for (donor, key), count in sorted(counts.items()):
            if count >= rule.threshold:
                yield donor, key, {"count": count, "threshold": rule.threshold, "period": key}
    elif isinstance(rule, rules.StreakRule):
        window = review_window(session)
        moments: dict[int, list[datetime]] = defaultdict(list)
        zones: dict[int, str | None] = {}
        for donor, moment, zone in session.execute(
            select(col(Clip.donor_id), col(Clip.accepted_at), col(Donor.timezone))
            .join(Donor, col(Donor.id) == col(Clip.donor_id))
            .where(accepted)
            .execution_options(yield_per=50_000)
        ):
            assert moment is not None  # an accepted clip has its acceptance time
            moments[donor].append(moment)
            zones[donor] = zone
        for donor, times in moments.items():
            for grant in streaks_of(
                donor, local_days(times, zones[donor]), zones[donor], [definition], window
            ):
                yield donor, "", grant.evidence
    elif isinstance(rule, rules.PlacementRule):
        for grant in placement_grants(session, [definition]):
            yield grant.donor_id, grant.period_key, grant.evidence
    else:
        for grant in goal_grants(session, [definition]):
            yield grant.donor_id, grant.period_key, grant.evidence


def backfill(
    db: Database,
    clock: Clock,
    *,
    code: str | None = None,
    dry_run: bool = True,
    actor: Actor = SYSTEM,
    batch: int = 1000,
    on_progress: Callable[[str, int, int | None], None] | None = None,
) -> BackfillReport:
    """Who would gain and who would lose each medal if its current definition had
    always been in force; unless ``dry_run``, apply exactly that, in batches.

    A donor gaining several medals at once gets one notification for all of them.
    ``on_progress(step, done, total)`` hears of the medals evaluated (how many donors
    that concerns is known only at the end), then of the donors changed.
    """
    now = clock.now()
    report = BackfillReport()
    with db.read() as session:
        catalog = Catalog.load(session)
        chosen = [d for d in catalog.current if code is None or d.code == code]
        if code is not None and not chosen:
            raise NotFound(f"no medal {code!r} in force", code="medal_not_found")
        donors: set[int] = set()
        for n, definition in enumerate(chosen, start=1):
            qualified = {(d, k): e for d, k, e in _history(session, definition)}
            held = {
                (a.donor_id, a.period_key)
                for a in session.scalars(
                    select(MedalAward).where(
                        col(MedalAward.code) == definition.code,
                        col(MedalAward.revoked_at).is_(None),
                    )
                )
            }
            report.gains += [
                Change(d, definition.code, k, e)
                for (d, k), e in sorted(qualified.items())
                if (d, k) not in held
            ]
            report.losses += [
                Change(d, definition.code, k) for d, k in sorted(held) if (d, k) not in qualified
            ]
            donors |= {d for d, _ in qualified} | {d for d, _ in held}
            if on_progress:
                on_progress("medals evaluated", n, len(chosen))
        report.donors_evaluated = len(donors)
    if dry_run:
        return report
    _apply_backfill(db, now, catalog, report, actor, batch, on_progress)
    report.applied = True
    log.info("medals backfilled", extra={"fields": report.summary()})
    return report


def _apply_backfill(
    db: Database,
    now: datetime,
    catalog: Catalog,
    report: BackfillReport,
    actor: Actor,
    batch: int,
    on_progress: Callable[[str, int, int | None], None] | None,
) -> None:
    by_donor: dict[int, list[Change]] = defaultdict(list)
    for change in report.gains:
        by_donor[change.donor_id].append(change)
    losers: dict[int, list[Change]] = defaultdict(list)
    for change in report.losses:
        losers[change.donor_id].append(change)
    current = {d.code: d for d in catalog.current}
    donors = sorted(set(by_donor) | set(losers))
    for start in range(0, len(donors), batch):
        chunk = donors[start : start + batch]
        with db.transaction() as uow:
            session = uow.session
            grants = [
                Grant(c.donor_id, current[c.code], c.period_key, c.evidence)
                for donor in chunk
                for c in by_donor.get(donor, [])
            ]
            grant_all(session, now, grants, actor)
            for donor in chunk:
                for change in losers.get(donor, []):
                    award = session.scalars(
                        select(MedalAward).where(
                            col(MedalAward.donor_id) == donor,
                            col(MedalAward.code) == change.code,
                            col(MedalAward.period_key) == change.period_key,
                        )
                    ).one()
                    revoke(session, now, award, catalog, "the medal's definition changed", actor)
            wall.record_donors_changed(uow, now, chunk)
        if on_progress:
            on_progress("donors changed", start + len(chunk), len(donors))
