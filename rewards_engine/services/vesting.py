"""Vesting: earnings leave ``pending`` once the campaign's review window has passed,
and medal bonuses once the longest review window has (see ``medals._grant_all``)."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Row, TextClause, select, text, update
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.clock import Clock
from rewards_engine.db import Database, one_of
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.ledger import POINTS, AccountKind, Leg, TransferKind, move
from rewards_engine.domain.submissions import ClipStatus
from rewards_engine.models import Clip, Donor, MedalAward
from rewards_engine.services import ledger
from rewards_engine.services.medals import Catalog

log = logging.getLogger(__name__)
ACTOR = Actor.system("vest-earnings")
DONORS_PER_TRANSACTION = 200
_DueClip = Row[int, int, int, int, str]  # id, donor_id, points, cash_cents, currency


@dataclass
class VestingReport:
    donors: int = 0
    clips: int = 0
    points: int = 0
    cash_cents: int = 0
    bonuses: int = 0
    bonus_points: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


# ix_clips_vesting's own condition, as literal SQL: the planner then proves it in a
# prepared (generic) plan too, where a bound status would hide it.
_UNVESTED = text(f"clips.vested_at IS NULL AND clips.status = '{ClipStatus.ACCEPTED.value}'")


def _due(now: datetime) -> tuple[TextClause | ColumnElement[bool], ...]:
    return (_UNVESTED, col(Clip.vests_at) <= now)


def _bonus_due(now: datetime) -> tuple[ColumnElement[bool], ...]:
    return (
        col(MedalAward.bonus_vested_at).is_(None),
        col(MedalAward.bonus_vests_at) <= now,
        col(MedalAward.revoked_at).is_(None),
    )


def vest_due(db: Database, clock: Clock) -> VestingReport:
    """Move every due clip's earnings and medal bonus from pending to available, a
    donor at a time.

    Donors on hold are skipped: their earnings stay pending until a person decides.
    Donors are locked in id order (as every writer locks a donor first), their due
    clips marked vested and their earnings moved in the same transaction: a rerun,
    or a second scheduler, finds nothing left to do.
    """
    now = clock.now()
    report = VestingReport()
    with db.read() as session:
        donor_ids = _due_donors(session, now)
    for start in range(0, len(donor_ids), DONORS_PER_TRANSACTION):
        chunk = sorted(donor_ids[start : start + DONORS_PER_TRANSACTION])
        with db.transaction() as uow:
            session = uow.session
            chunk = list(  # a hold placed meanwhile stops vesting too
                session.scalars(
                    select(col(Donor.id))
                    .where(col(Donor.id).in_(chunk), col(Donor.on_hold).is_(False))
                    .order_by(col(Donor.id))
                    .with_for_update()
                )
            )
            rows = session.execute(
                select(
                    col(Clip.id),
                    col(Clip.donor_id),
                    col(Clip.points),
                    col(Clip.cash_cents),
                    col(Clip.currency),
                )
                .where(col(Clip.donor_id).in_(chunk), *_due(now))
                .order_by(col(Clip.donor_id), col(Clip.id))
            ).all()
            by_donor: dict[int, list[_DueClip]] = defaultdict(list)
            for row in rows:
                by_donor[row.donor_id].append(row)
            for donor_id, clips in by_donor.items():
                _vest_donor(session, now, donor_id, clips, report)
            if rows:
                session.execute(
                    update(Clip).where(col(Clip.id).in_([r.id for r in rows])).values(vested_at=now)
                )
            _vest_bonuses(session, now, chunk, report)
    log.info("earnings vested", extra={"fields": report.as_dict()})
    return report


def _due_donors(session: Session, now: datetime) -> list[int]:
    """The donors with a due clip or medal bonus, not on hold, in id order.

    The due clips come from ``ix_clips_vesting`` alone, with no join: the planner
    cannot tell how few clips are due (it guesses from every clip's ``vests_at``), and a
    join would read every donor to find a few hundred. The holds are then read by
    primary key, for the donors found.
    """
    due = set(session.scalars(select(col(Clip.donor_id)).where(*_due(now)).distinct()))
    due |= set(session.scalars(select(col(MedalAward.donor_id)).where(*_bonus_due(now)).distinct()))
    if not due:
        return []
    return sorted(
        session.scalars(
            select(col(Donor.id)).where(
                one_of(session, col(Donor.id), sorted(due)), col(Donor.on_hold).is_(False)
            )
        )
    )


def _vest_bonuses(
    session: Session, now: datetime, donor_ids: list[int], report: VestingReport
) -> None:
    """The due medal bonuses of these (locked) donors, each moved once: the award is
    marked vested in the transaction that moves its points."""
    # Locked, so that a revocation running now (the medals job) either lands first (the
    # award drops out: PostgreSQL re-checks the conditions after the wait) or waits.
    awards = session.scalars(
        select(MedalAward)
        .where(col(MedalAward.donor_id).in_(donor_ids), *_bonus_due(now))
        .order_by(col(MedalAward.id))
        .with_for_update()
    ).all()
    if not awards:
        return
    catalog = Catalog.load(session)
    for award in awards:
        definition = catalog.of(award.code, award.version)
        award.bonus_vested_at = now
        if definition is None or not definition.bonus_points:
            continue
        ledger.post(
            session,
            now=now,
            kind=TransferKind.VESTING,
            reference=("medal_award", award.id),
            actor=ACTOR,
            idempotency_key=f"medal:{award.id}:vest:{award.grants}",
            legs=move(
                award.donor_id,
                AccountKind.POINTS_PENDING,
                AccountKind.POINTS_AVAILABLE,
                POINTS,
                definition.bonus_points,
            ),
            reason=f"medal {definition.name}: bonus vested",
        )
        report.bonuses += 1
        report.bonus_points += definition.bonus_points


def _vest_donor(
    session: Session,
    now: datetime,
    donor_id: int,
    clips: Sequence[_DueClip],
    report: VestingReport,
) -> None:
    points = sum(c.points for c in clips)
    cash: dict[str, int] = defaultdict(int)
    for clip in clips:
        cash[clip.currency] += clip.cash_cents
    legs: list[Leg] = []
    if points:
        legs += move(
            donor_id, AccountKind.POINTS_PENDING, AccountKind.POINTS_AVAILABLE, POINTS, points
        )
    for currency, cents in sorted(cash.items()):
        if cents:
            legs += move(
                donor_id, AccountKind.CASH_PENDING, AccountKind.CASH_AVAILABLE, currency, cents
            )
    report.donors += 1
    report.clips += len(clips)
    report.points += points
    report.cash_cents += sum(cash.values())
    if not legs:
        return
    ledger.post(
        session,
        now=now,
        kind=TransferKind.VESTING,
        reference=("donor", donor_id),
        actor=ACTOR,
        idempotency_key=f"vest:{donor_id}:{clips[0].id}:{clips[-1].id}:{len(clips)}",
        legs=legs,
        reason=f"{len(clips)} clips passed their review window",
    )
