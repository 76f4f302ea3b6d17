"""Medals: awarded exactly once, explained, revocable, and retroactive with a dry run.

- Count and per-period medals are decided in the transaction that accepts the clips
  (they read the donor's tallies, kept in that same transaction).
- Streaks, placements and campaign goals are decided by the ``medals-evaluate`` job.
- A database unique key on (donor, medal, period key) makes a second award of the
  same medal impossible, whoever races for it; the bonus points are posted only by
  the insert that won, through the ledger, with the award as reference.
- When the evidence of an award is reversed (a reversed clip takes a count below the
  threshold of the version that granted it), the award is revoked, visibly, and its
  bonus taken back. A later change of a definition never revokes on its own: only a
  backfill applies it to the past, after a dry run shows who gains and who loses.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from rewards_engine.clock import Clock
from rewards_engine.db import Database, UnitOfWork, insert, lock_keys
from rewards_engine.domain import medals as rules
from rewards_engine.domain import wall as boards
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.errors import Conflict, InvalidInput, NotFound
from rewards_engine.domain.ledger import POINTS, AccountKind, TransferKind, issue
from rewards_engine.models import (
    Campaign,
    CampaignCounter,
    Clip,
    Donor,
    MedalAward,
    MedalDefinition,
    MedalNotification,
    WallSnapshot,
    WallSnapshotEntry,
    WallTally,
)
from rewards_engine.services import audit, ledger, wall

log = logging.getLogger(__name__)
SYSTEM = Actor.system("medals")
IN_TRANSACTION = ("count", "period")
DEFAULT_REVIEW_WINDOW = timedelta(days=14)


@dataclass(frozen=True)
class Definition:
    code: str
    version: int
    name: str
    description: str
    icon_key: str
    tier: str
    bonus_points: int
    sort_order: int
    rule: rules.Rule
    active: bool

    @classmethod
    def of(cls, row: MedalDefinition) -> Definition:
        return cls(
            row.code,
            row.version,
            row.name,
            row.description,
            row.icon_key,
            row.tier,
            row.bonus_points,
            row.sort_order,
            rules.parse_rule(row.rule),
            row.active,
        )


@dataclass
class Catalog:
    """Every version of every medal, read once per use case (a small table)."""

    versions: dict[tuple[str, int], Definition]

    @classmethod
    def load(cls, session: Session) -> Catalog:
        rows = session.scalars(select(MedalDefinition))
        return cls({(row.code, row.version): Definition.of(row) for row in rows})

    @property
    def current(self) -> list[Definition]:
        """The newest version of each medal still in force, in display order."""
        newest: dict[str, Definition] = {}
        for definition in self.versions.values():
            known = newest.get(definition.code)
            if known is None or definition.version > known.version:
                newest[definition.code] = definition
        live = [d for d in newest.values() if d.active]
        return sorted(live, key=lambda d: (d.sort_order, d.code))

    def of(self, code: str, version: int) -> Definition | None:
        return self.versions.get((code, version))


# --- granting and revoking --------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    donor_id: int
    definition: Definition
    period_key: str
    evidence: dict[str, Any]
    provisional_until: datetime | None = None


def _grant_all(
    session: Session, now: datetime, grants: Sequence[Grant], actor: Actor = SYSTEM
) -> list[str]:
    """Insert awards (or re-grant revoked ones), post bonuses, notify once per donor.

    Returns the codes granted. An award someone else inserted first is skipped: the
    unique key decides, and only the winner posts the bonus. Works in bulk (a
    backfill grants thousands at a time).
    """
    if not grants:
        return []
    table = MedalAward.__table__
    by_key = {(g.donor_id, g.definition.code, g.period_key): g for g in grants}
    # A bonus vests like the earnings behind the medal: once the longest review window
    # has passed, every clip that earned it has vested or been reversed (and with it,
    # the medal revoked). Held donors' bonuses wait longer (vesting skips them).
    bonus_vests_at = now + _review_window(session)
    inserted = session.execute(
        insert(session, table)
        .values(
            [
                {
                    "donor_id": g.donor_id,
                    "code": g.definition.code,
                    "version": g.definition.version,
                    "period_key": g.period_key,
                    "awarded_at": now,
                    "evidence": g.evidence,
                    "provisional_until": g.provisional_until,
                    "grants": 1,
                    "bonus_vests_at": bonus_vests_at if g.definition.bonus_points else None,
                }
                for g in by_key.values()
            ]
        )
        .on_conflict_do_nothing(index_elements=["donor_id", "code", "period_key"])
        .returning(table.c.id, table.c.donor_id, table.c.code, table.c.period_key)
    ).all()
    won: list[tuple[Grant, int, int]] = [
        (by_key[(d, c, k)], award_id, 1) for award_id, d, c, k in inserted
    ]
    for key in set(by_key) - {(d, c, k) for _, d, c, k in inserted}:
        grant = by_key[key]  # it exists: granted again only if it had been revoked
        row = session.execute(
            update(MedalAward)
            .where(
                MedalAward.donor_id == key[0],
                MedalAward.code == key[1],
                MedalAward.period_key == key[2],
                MedalAward.revoked_at.is_not(None),
            )
            .values(
                revoked_at=None,
                revoke_reason=None,
                awarded_at=now,
                version=grant.definition.version,
                evidence=grant.evidence,
                provisional_until=grant.provisional_until,
                grants=MedalAward.grants + 1,
                bonus_vests_at=bonus_vests_at if grant.definition.bonus_points else None,
                bonus_vested_at=None,
            )
            .returning(MedalAward.id, MedalAward.grants)
        ).first()
        if row is not None:
            won.append((grant, row[0], row[1]))
    if not won:
        return []
    per_donor: dict[int, list[tuple[Grant, int, int]]] = defaultdict(list)
    for item in won:
        per_donor[item[0].donor_id].append(item)
    notes = MedalNotification.__table__
    created = session.execute(
        insert(session, notes)
        .values(
            [
                {
                    "donor_id": donor,
                    "codes": sorted(g.definition.code for g, _, _ in items),
                    "created_at": now,
                }
                for donor, items in per_donor.items()
            ]
        )
        .returning(notes.c.id, notes.c.donor_id)
    ).all()
    note_of = {donor: note_id for note_id, donor in created}
    session.execute(
        table.update()
        .where(table.c.id == bindparam("award"))
        .values(notification_id=bindparam("note")),
        [{"award": award_id, "note": note_of[g.donor_id]} for g, award_id, _ in won],
    )
    for grant, award_id, times in won:
        if grant.definition.bonus_points:
            ledger.post(
                session,
                now=now,
                kind=TransferKind.BONUS,
                reference=("medal_award", award_id),
                actor=actor,
                idempotency_key=f"medal:{award_id}:grant:{times}",
                legs=issue(
                    grant.donor_id,
                    AccountKind.POINTS_PENDING,
                    POINTS,
                    grant.definition.bonus_points,
                ),
                reason=f"medal {grant.definition.name}",
            )
    return [grant.definition.code for grant, _, _ in won]


def _revoke(
    session: Session,
    now: datetime,
    award: MedalAward,
    catalog: Catalog,
    reason: str,
    actor: Actor = SYSTEM,
) -> None:
    # Locked and read afresh: vesting may have moved the bonus meanwhile (then it is
    # taken from available), or another revocation got here first (then nothing to do).
    session.refresh(award, with_for_update=True)
    if award.revoked_at is not None:
        return
    award.revoked_at = now
    award.revoke_reason = reason
    definition = catalog.of(award.code, award.version)
    if definition is not None and definition.bonus_points:
        # Taken back from where it is now: pending until it vested, available after.
        vested = award.bonus_vested_at is not None
        account = AccountKind.POINTS_AVAILABLE if vested else AccountKind.POINTS_PENDING
        ledger.post(
            session,
            now=now,
            kind=TransferKind.REVERSAL,
            reference=("medal_award", award.id),
            actor=actor,
            idempotency_key=f"medal:{award.id}:revoke:{award.grants}",
            legs=issue(award.donor_id, account, POINTS, -definition.bonus_points),
            reason=f"medal {definition.name} revoked: {reason}",
        )


def _tallies(session: Session, donor_id: int) -> dict[str, int]:
    return dict(
        session.execute(
            select(WallTally.board, WallTally.clips).where(WallTally.donor_id == donor_id)
        ).all()
    )


def _period_board(rule: rules.PeriodRule | rules.PlacementRule, moment: datetime) -> boards.Board:
    month, week = boards.periods_of(moment)
    return month if rule.period == "month" else week


def _qualifies(
    definition: Definition, tallies: dict[str, int], period_key: str
) -> tuple[bool, dict[str, Any]]:
    """Whether tallies meet a count or period rule (for ``period_key``), and the evidence."""
    rule = definition.rule
    if isinstance(rule, rules.CountRule):
        count = tallies.get(rule.tally_key, 0)
        return count >= rule.threshold, {
            "count": count,
            "threshold": rule.threshold,
            "scope": rule.tally_key,
        }
    assert isinstance(rule, rules.PeriodRule)
    count = tallies.get(period_key, 0)
    return count >= rule.threshold, {
        "count": count,
        "threshold": rule.threshold,
        "period": period_key,
    }


def evaluate_donor(
    uow: UnitOfWork,
    now: datetime,
    donor_id: int,
    *,
    touched: Iterable[datetime] = (),
    reason: str | None = None,
    reference: dict[str, Any] | None = None,
) -> list[str]:
    """Grant the count and period medals the donor's tallies now meet, in the caller's
    transaction; with a ``reason`` (a reversal), also revoke those whose evidence fell
    below the threshold of the version that granted them. ``touched`` are the times
    of the clips that changed (their weeks and months are the periods checked)."""
    session = uow.session
    catalog = Catalog.load(session)
    definitions = [d for d in catalog.current if d.rule.kind in IN_TRANSACTION]
    if not definitions and reason is None:
        return []
    tallies = _tallies(session, donor_id)
    moments = list(touched) or [now]
    grants = []
    for definition in definitions:
        if isinstance(definition.rule, rules.PeriodRule):
            keys = {_period_board(definition.rule, m).name for m in moments}
        else:
            keys = {""}
        for key in keys:
            ok, evidence = _qualifies(definition, tallies, key)
            if ok:
                grants.append(Grant(donor_id, definition, key, {**evidence, **(reference or {})}))
    held = {
        (a.code, a.period_key): a
        for a in session.scalars(select(MedalAward).where(MedalAward.donor_id == donor_id))
    }
    fresh = [
        g
        for g in grants
        if (g.definition.code, g.period_key) not in held
        or held[(g.definition.code, g.period_key)].revoked_at is not None
    ]
    codes = _grant_all(session, now, fresh)
    if reason is not None:
        for award in held.values():
            definition = catalog.of(award.code, award.version)
            if award.revoked_at is None and definition is not None:
                why = _evidence_lost(session, definition, award, tallies)
                if why is not None:
                    _revoke(session, now, award, catalog, f"{reason}: {why}")
    if codes or reason is not None:
        session.flush()
    return codes


def _evidence_lost(
    session: Session, definition: Definition, award: MedalAward, tallies: dict[str, int]
) -> str | None:
    """Why an award no longer stands, judged by the rule of the version that granted it;
    None if it still does. Placements stand: they record a closed period."""
    rule = definition.rule
    if rule.kind in IN_TRANSACTION:
        still, evidence = _qualifies(definition, tallies, award.period_key)
        return None if still else f"{evidence['count']} of {evidence['threshold']} clips left"
    if isinstance(rule, rules.CampaignGoalRule):
        left = tallies.get(f"campaign:{rule.campaign}", 0)
        return None if left else "no accepted clip left in the campaign"
    if isinstance(rule, rules.StreakRule):
        return None if _streak_holds(session, award) else "a day of the streak has no clip left"
    return None


# --- the scheduled evaluation: streaks, placements, campaign goals, confirmations ----


@dataclass
class JobReport:
    streaks: int = 0
    placements: int = 0
    campaign_goals: int = 0
    confirmed: int = 0
    revoked: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


def _local_days(moments: Iterable[datetime], zone: str | None) -> set[date]:
    tz = ZoneInfo(zone) if zone else UTC
    return {moment.astimezone(tz).date() for moment in moments}


def _review_window(session: Session) -> timedelta:
    longest = session.scalar(select(func.max(Campaign.review_window_days)))
    return timedelta(days=longest) if longest else DEFAULT_REVIEW_WINDOW


def _end_of_day(day: date, zone: str | None) -> datetime:
    tz = ZoneInfo(zone) if zone else UTC
    return datetime.combine(day + timedelta(days=1), time.min, tz).astimezone(UTC)


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
            report.streaks = len(_grant_all(session, now, _streak_grants(session, now, streaks)))
        placements = [d for d in current if isinstance(d.rule, rules.PlacementRule)]
        if placements:
            report.placements = len(
                _grant_all(session, now, _placement_grants(session, placements))
            )
        goals = [d for d in current if isinstance(d.rule, rules.CampaignGoalRule)]
        if goals:
            report.campaign_goals = len(_grant_all(session, now, _goal_grants(session, goals)))
        report.confirmed, report.revoked = _settle_provisional(session, now, catalog)
        changed = session.scalars(
            select(MedalAward.donor_id).where(MedalAward.awarded_at == now).distinct()
        ).all()
        wall.record_donors_changed(uow, now, changed)
    log.info("medals evaluated", extra={"fields": report.as_dict()})
    return report


def _streak_grants(session: Session, now: datetime, streaks: list[Definition]) -> list[Grant]:
    """Donors with a clip in the last two days: does a recent run reach a streak medal?"""
    longest = max(d.rule.days for d in streaks)  # type: ignore[union-attr]
    since = now - timedelta(days=longest + 2)
    active = (
        select(Clip.donor_id)
        .where(Clip.status == "accepted", Clip.accepted_at >= now - timedelta(days=2))
        .distinct()
    )
    rows = session.execute(
        select(Clip.donor_id, Clip.accepted_at, Donor.timezone)
        .join(Donor, Donor.id == Clip.donor_id)
        .where(Clip.status == "accepted", Clip.accepted_at >= since, Clip.donor_id.in_(active))
    )
    moments: dict[int, list[datetime]] = defaultdict(list)
    zones: dict[int, str | None] = {}
    for donor_id, accepted_at, zone in rows:
        moments[donor_id].append(accepted_at)
        zones[donor_id] = zone
    window = _review_window(session)
    grants = []
    for donor_id, times in moments.items():
        days = _local_days(times, zones[donor_id])
        grants += _streaks_of(donor_id, days, zones[donor_id], streaks, window)
    return grants


def _streaks_of(
    donor_id: int, days: set[date], zone: str | None, streaks: list[Definition], window: timedelta
) -> list[Grant]:
    found = []
    for definition in streaks:
        run = rules.first_run_of(days, definition.rule.days)  # type: ignore[union-attr]
        if run is not None:
            evidence = {
                "first_day": run[0].isoformat(),
                "last_day": run[1].isoformat(),
                "days": definition.rule.days,
                "timezone": zone or "UTC",
            }  # type: ignore[union-attr]
            # Provisional until clips of those days can no longer be reversed in review.
            found.append(
                Grant(donor_id, definition, "", evidence, _end_of_day(run[1], zone) + window)
            )
    return found


def _placement_grants(session: Session, placements: list[Definition]) -> list[Grant]:
    grants = []
    snapshots = session.scalars(select(WallSnapshot)).all()
    for snapshot in snapshots:
        kind = snapshot.board.split(":", 1)[0]
        for definition in placements:
            if definition.rule.period != kind:  # type: ignore[union-attr]
                continue
            rows = session.execute(
                select(
                    WallSnapshotEntry.donor_id, WallSnapshotEntry.rank, WallSnapshotEntry.clips
                ).where(
                    WallSnapshotEntry.snapshot_id == snapshot.id,
                    WallSnapshotEntry.rank <= definition.rule.top,
                )  # type: ignore[union-attr]
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
            select(CampaignCounter.incident_type, CampaignCounter.accepted).where(
                CampaignCounter.campaign_id == campaign_id
            )
        ).all()
    )
    return all(counts.get(kind, 0) >= target for kind, target in campaign.targets.items())


def _goal_grants(session: Session, goals: list[Definition]) -> list[Grant]:
    grants = []
    for definition in goals:
        campaign_id = definition.rule.campaign  # type: ignore[union-attr]
        if not _goal_reached(session, campaign_id):
            continue
        rows = session.execute(
            select(WallTally.donor_id, WallTally.clips).where(
                WallTally.board == f"campaign:{campaign_id}", WallTally.clips > 0
            )
        )
        grants += [
            Grant(donor, definition, "", {"campaign": campaign_id, "clips": clips})
            for donor, clips in rows
        ]
    return grants


def _streak_holds(session: Session, award: MedalAward) -> bool:
    """Every day of the award's run still has an accepted clip (in its time zone)."""
    first = date.fromisoformat(award.evidence["first_day"])
    last = date.fromisoformat(award.evidence["last_day"])
    zone = award.evidence.get("timezone")
    zone = None if zone == "UTC" else zone
    times = session.scalars(
        select(Clip.accepted_at).where(
            Clip.donor_id == award.donor_id,
            Clip.status == "accepted",
            Clip.accepted_at >= _end_of_day(first - timedelta(days=1), zone),
            Clip.accepted_at < _end_of_day(last, zone),
        )
    ).all()
    needed = {first + timedelta(days=n) for n in range((last - first).days + 1)}
    return needed <= _local_days(times, zone)


def _settle_provisional(session: Session, now: datetime, catalog: Catalog) -> tuple[int, int]:
    """Streak awards whose review window closed: confirm them if every day of the run
    still has an accepted clip, else revoke them."""
    confirmed = revoked = 0
    due = session.scalars(
        select(MedalAward).where(
            MedalAward.provisional_until <= now, MedalAward.revoked_at.is_(None)
        )
    ).all()
    for award in due:
        if _streak_holds(session, award):
            award.provisional_until = None
            confirmed += 1
        else:
            _revoke(session, now, award, catalog, "a day of the streak was reversed in review")
            revoked += 1
    return confirmed, revoked


# --- backfill: applying a new or changed definition to the past ----------------------


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
    accepted = Clip.status == "accepted"
    if isinstance(rule, rules.CountRule):
        scope = [accepted]
        if rule.campaign is not None:
            scope.append(Clip.campaign_id == rule.campaign)
        if rule.incident_type is not None:
            scope.append(Clip.incident_type == rule.incident_type)
        rows = session.execute(
            select(Clip.donor_id, func.count())
            .where(*scope)
            .group_by(Clip.donor_id)
            .having(func.count() >= rule.threshold)
        )
        for donor, count in rows:
            yield donor, "", {"count": count, "threshold": rule.threshold, "scope": rule.tally_key}
    elif isinstance(rule, rules.PeriodRule):
        counts: dict[tuple[int, str], int] = defaultdict(int)
        for donor, moment in session.execute(
            select(Clip.donor_id, Clip.accepted_at)
            .where(accepted)
            .execution_options(yield_per=50_000)
        ):
            counts[(donor, _period_board(rule, moment).name)] += 1
        for (donor, key), count in sorted(counts.items()):
            if count >= rule.threshold:
                yield donor, key, {"count": count, "threshold": rule.threshold, "period": key}
    elif isinstance(rule, rules.StreakRule):
        window = _review_window(session)
        moments: dict[int, list[datetime]] = defaultdict(list)
        zones: dict[int, str | None] = {}
        for donor, moment, zone in session.execute(
            select(Clip.donor_id, Clip.accepted_at, Donor.timezone)
            .join(Donor, Donor.id == Clip.donor_id)
            .where(accepted)
            .execution_options(yield_per=50_000)
        ):
            moments[donor].append(moment)
            zones[donor] = zone
        for donor, times in moments.items():
            for grant in _streaks_of(
                donor, _local_days(times, zones[donor]), zones[donor], [definition], window
            ):
                yield donor, "", grant.evidence
    elif isinstance(rule, rules.PlacementRule):
        for grant in _placement_grants(session, [definition]):
            yield grant.donor_id, grant.period_key, grant.evidence
    else:
        for grant in _goal_grants(session, [definition]):
            yield grant.donor_id, grant.period_key, grant.evidence


def backfill(
    db: Database,
    clock: Clock,
    *,
    code: str | None = None,
    dry_run: bool = True,
    actor: Actor = SYSTEM,
    batch: int = 1000,
) -> BackfillReport:
    """Who would gain and who would lose each medal if its current definition had
    always been in force; unless ``dry_run``, apply exactly that, in batches.

    A donor gaining several medals at once gets one notification for all of them.
    """
    now = clock.now()
    report = BackfillReport()
    with db.read() as session:
        catalog = Catalog.load(session)
        chosen = [d for d in catalog.current if code is None or d.code == code]
        if code is not None and not chosen:
            raise NotFound(f"no medal {code!r} in force", code="medal_not_found")
        donors: set[int] = set()
        for definition in chosen:
            qualified = {(d, k): e for d, k, e in _history(session, definition)}
            held = {
                (a.donor_id, a.period_key)
                for a in session.scalars(
                    select(MedalAward).where(
                        MedalAward.code == definition.code, MedalAward.revoked_at.is_(None)
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
        report.donors_evaluated = len(donors)
    if dry_run:
        return report
    _apply_backfill(db, now, catalog, report, actor, batch)
    report.applied = True
    log.info("medals backfilled", extra={"fields": report.summary()})
    return report


def _apply_backfill(
    db: Database, now: datetime, catalog: Catalog, report: BackfillReport, actor: Actor, batch: int
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
            _grant_all(session, now, grants, actor)
            for donor in chunk:
                for change in losers.get(donor, []):
                    award = session.scalars(
                        select(MedalAward).where(
                            MedalAward.donor_id == donor,
                            MedalAward.code == change.code,
                            MedalAward.period_key == change.period_key,
                        )
                    ).one()
                    _revoke(session, now, award, catalog, "the medal's definition changed", actor)
            wall.record_donors_changed(uow, now, chunk)


# --- reading: the medal screen --------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    current: int
    target: int
    percent: float
    current_run: int | None = None  # streaks only
    period: str | None = None  # per-period and placement medals


@dataclass(frozen=True)
class MedalView:
    definition: Definition
    awards: list[MedalAward]
    progress: Progress | None


def donor_medals(db: Database, clock: Clock, donor_id: int) -> list[MedalView]:
    """Every medal in force with the donor's awards and, for those not held now,
    their progress toward it: one read renders the whole medal screen."""
    now = clock.now()
    with db.read() as session:
        catalog = Catalog.load(session)
        donor = session.get(Donor, donor_id)
        assert donor is not None
        tallies = _tallies(session, donor_id)
        awards: dict[str, list[MedalAward]] = defaultdict(list)
        for award in session.scalars(
            select(MedalAward)
            .where(MedalAward.donor_id == donor_id)
            .order_by(MedalAward.awarded_at.desc())
        ):
            awards[award.code].append(award)
        views = []
        for definition in catalog.current:
            held = awards.get(definition.code, [])
            progress = _progress(session, definition, donor, tallies, now)
            views.append(MedalView(definition, held, progress))
    return views


def _progress(
    session: Session, definition: Definition, donor: Donor, tallies: dict[str, int], now: datetime
) -> Progress | None:
    rule = definition.rule
    if isinstance(rule, rules.CountRule):
        count = tallies.get(rule.tally_key, 0)
        return Progress(
            min(count, rule.threshold), rule.threshold, rules.percent(count, rule.threshold)
        )
    if isinstance(rule, rules.PeriodRule):
        key = _period_board(rule, now).name
        count = tallies.get(key, 0)
        return Progress(
            min(count, rule.threshold),
            rule.threshold,
            rules.percent(count, rule.threshold),
            period=key,
        )
    if isinstance(rule, rules.StreakRule):
        zone = donor.timezone
        since = now - timedelta(days=rule.days + 2)
        times = session.scalars(
            select(Clip.accepted_at).where(
                Clip.donor_id == donor.id, Clip.status == "accepted", Clip.accepted_at >= since
            )
        )
        today = now.astimezone(ZoneInfo(zone) if zone else UTC).date()
        run = rules.current_run(_local_days(times, zone), today)
        return Progress(
            min(run, rule.days), rule.days, rules.percent(run, rule.days), current_run=run
        )
    if isinstance(rule, rules.CampaignGoalRule):
        campaign = session.get(Campaign, rule.campaign)
        if campaign is None or not campaign.targets:
            return None
        counts = dict(
            session.execute(
                select(CampaignCounter.incident_type, CampaignCounter.accepted).where(
                    CampaignCounter.campaign_id == rule.campaign
                )
            ).all()
        )
        target = sum(campaign.targets.values())
        reached = sum(min(counts.get(k, 0), t) for k, t in campaign.targets.items())
        return Progress(reached, target, rules.percent(reached, target))
    return None  # placement: decided when the period closes


# --- definitions: data, versioned ---------------------------------------------------


@dataclass(frozen=True)
class DefinitionInput:
    code: str
    name: str
    icon_key: str
    tier: str
    rule: dict[str, Any]
    description: str = ""
    bonus_points: int = 0
    sort_order: int = 0


def _validated(data: DefinitionInput) -> DefinitionInput:
    rules.validate_code(data.code)
    rules.validate_tier(data.tier)
    rules.parse_rule(data.rule)
    if not 0 <= data.bonus_points <= 1_000_000:
        raise InvalidInput("bonus_points is 0 to 1,000,000", field="bonus_points")
    return data


def save_definition(
    db: Database, clock: Clock, actor: Actor, data: DefinitionInput, *, create: bool
) -> MedalDefinition:
    """Create a medal (version 1) or change one (a new version; awards keep theirs)."""
    data = _validated(data)
    now = clock.now()
    with db.transaction() as uow:
        session = uow.session
        # Two admins at once: one at a time, and the second sees what the first wrote.
        lock_keys(session, "medal-definition", [data.code])
        latest = session.scalars(
            select(MedalDefinition)
            .where(MedalDefinition.code == data.code)
            .order_by(MedalDefinition.version.desc())
            .with_for_update()
        ).first()
        if create and latest is not None:
            raise Conflict(f"medal {data.code!r} exists; change it instead", code="medal_exists")
        if not create and latest is None:
            raise NotFound(f"no medal {data.code!r}", code="medal_not_found")
        row = MedalDefinition(
            code=data.code,
            version=(latest.version + 1) if latest else 1,
            name=data.name,
            description=data.description,
            icon_key=data.icon_key,
            tier=data.tier,
            bonus_points=data.bonus_points,
            sort_order=data.sort_order,
            rule=data.rule,
            active=True,
            created_at=now,
            created_by=actor.id,
        )
        session.add(row)
        session.flush()
        audit.record(
            session,
            clock,
            actor,
            action="medal.create" if create else "medal.change",
            target_type="medal",
            target_id=data.code,
            before=None if latest is None else _definition_json(latest),
            after=_definition_json(row),
        )
    return row


def retire_definition(
    db: Database, clock: Clock, actor: Actor, code: str, reason: str
) -> MedalDefinition:
    """Stop granting a medal (a new, inactive version); awards already given stay."""
    now = clock.now()
    with db.transaction() as uow:
        session = uow.session
        # Two admins at once: one at a time, and the second sees what the first wrote.
        lock_keys(session, "medal-definition", [code])
        latest = session.scalars(
            select(MedalDefinition)
            .where(MedalDefinition.code == code)
            .order_by(MedalDefinition.version.desc())
            .with_for_update()
        ).first()
        if latest is None:
            raise NotFound(f"no medal {code!r}", code="medal_not_found")
        if not latest.active:
            return latest
        row = MedalDefinition(
            **{
                **_definition_json(latest),
                "version": latest.version + 1,
                "active": False,
                "created_at": now,
                "created_by": actor.id,
            }
        )
        session.add(row)
        audit.record(
            session,
            clock,
            actor,
            action="medal.retire",
            target_type="medal",
            target_id=code,
            before=_definition_json(latest),
            after=_definition_json(row),
            reason=reason,
        )
    return row


def _definition_json(row: MedalDefinition) -> dict[str, Any]:
    return {
        name: getattr(row, name)
        for name in (
            "code",
            "version",
            "name",
            "description",
            "icon_key",
            "tier",
            "bonus_points",
            "sort_order",
            "rule",
            "active",
        )
    }


def list_definitions(db: Database) -> list[MedalDefinition]:
    with db.read() as session:
        return list(
            session.scalars(
                select(MedalDefinition).order_by(MedalDefinition.code, MedalDefinition.version)
            )
        )


def notifications(db: Database, donor_id: int, limit: int = 20) -> list[MedalNotification]:
    with db.read() as session:
        return list(
            session.scalars(
                select(MedalNotification)
                .where(MedalNotification.donor_id == donor_id)
                .order_by(MedalNotification.id.desc())
                .limit(limit)
            )
        )


def mark_read(db: Database, clock: Clock, donor_id: int, notification_id: int) -> None:
    with db.transaction() as uow:
        notification = uow.session.get(MedalNotification, notification_id)
        if notification is None or notification.donor_id != donor_id:
            raise NotFound(f"no notification {notification_id}", code="notification_not_found")
        if notification.read_at is None:
            notification.read_at = clock.now()
