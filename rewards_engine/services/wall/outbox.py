"""Writes inside the caller's transaction: a use case that changes what a board shows
(clips accepted or reversed, a donor's visibility, name, hold or ban) calls
``record_*`` so that the tallies, the donor's ``wall_version`` and an outbox row
commit or roll back with its own changes. Redis is never touched here: the drain
applies the rows after the commit, so a Redis outage loses nothing.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select, update
from sqlmodel import col

from rewards_engine.db import UnitOfWork, dialect_of, insert, one_of, table_of, upsert_adding
from rewards_engine.domain import wall as rules
from rewards_engine.models import Clip, Donor, WallOutbox, WallTally
from rewards_engine.services.wall.boards import counts_on, resolve_board


@dataclass(frozen=True)
class WallChanged:
    """Published when a transaction added an outbox row (drained after commit). It
    carries the row, so the drain after the commit need not read it back."""

    outbox_id: int
    donor_id: int
    boards: list[str] | None = None  # the row's: None for every board of the donor


def boards_of_acceptance(campaign_id: str, accepted_at: datetime) -> list[str]:
    month, week = rules.periods_of(accepted_at)
    return [rules.all_time().name, f"campaign:{campaign_id}", month.name, week.name]


def record_accepted(
    uow: UnitOfWork, now: datetime, donor_id: int, accepted: Counter[tuple[str, str]]
) -> None:
    """Clips accepted ``now``, counted per (campaign, incident type), start counting.

    Besides the boards, tallies keep the donor's count per incident type
    (``type:<name>``), which medals read.
    """
    added: dict[str, int] = defaultdict(int)
    for (campaign, incident_type), n in accepted.items():
        if not n:
            continue
        for board in boards_of_acceptance(campaign, now):
            added[board] += n
        added[type_key(incident_type)] += n
    if not added:
        return
    uow.session.execute(
        upsert_adding(
            dialect_of(uow.session),
            table_of(WallTally),
            ("board", "donor_id"),
            "clips",
            taken=("reached_at",),
        ),
        [
            {"board": b, "donor_id": donor_id, "clips": n, "reached_at": now}
            for b, n in added.items()
        ],
    )
    _changed(uow, now, donor_id, sorted(name for name in added if rules.is_board_name(name)))


def type_key(incident_type: str) -> str:
    return f"type:{incident_type}"


def record_reversed(uow: UnitOfWork, now: datetime, clips: Sequence[Clip]) -> None:
    """Accepted clips of one donor stopped counting: recount each board they counted
    on, once, however many clips."""
    if not clips:
        return
    session = uow.session
    donor_id = clips[0].donor_id
    boards = sorted(
        {b for c in clips for b in boards_of_acceptance(c.campaign_id, _accepted_at(c))}
    )
    for name in boards:
        board = resolve_board(session, name)
        count, reached = session.execute(
            select(func.count(), func.max(Clip.accepted_at)).where(
                col(Clip.donor_id) == donor_id, *counts_on(board)
            )
        ).one()
        session.execute(
            update(WallTally)
            .where(col(WallTally.board) == name, col(WallTally.donor_id) == donor_id)
            .values(clips=count, reached_at=reached or board.start)
        )
    for incident_type, n in Counter(c.incident_type for c in clips).items():
        session.execute(
            update(WallTally)
            .where(
                col(WallTally.board) == type_key(incident_type),
                col(WallTally.donor_id) == donor_id,
            )
            .values(clips=col(WallTally.clips) - n)
        )
    _changed(uow, now, donor_id, boards)


def _accepted_at(clip: Clip) -> datetime:
    if clip.accepted_at is None:  # only accepted clips count, and so are reversed
        raise ValueError(f"clip {clip.id} was never accepted")
    return clip.accepted_at


def record_donor_changed(uow: UnitOfWork, now: datetime, donor_id: int) -> None:
    """The donor's visibility, name, hold or standing changed: every board they are on."""
    _changed(uow, now, donor_id, None)


def record_donors_changed(uow: UnitOfWork, now: datetime, donor_ids: Sequence[int]) -> None:
    """``record_donor_changed`` for many donors at once (a backfill, a job)."""
    ids = sorted(set(donor_ids))
    if not ids:
        return
    session = uow.session
    session.execute(
        update(Donor)
        .where(one_of(session, Donor.id, ids))
        .values(wall_version=col(Donor.wall_version) + 1)
    )
    table = table_of(WallOutbox)
    rows = session.execute(
        insert(session, table)
        .values([{"donor_id": d, "boards": None, "created_at": now} for d in ids])
        .returning(table.c.id, table.c.donor_id)
    ).all()
    for outbox_id, donor_id in rows:
        uow.publish(WallChanged(outbox_id, donor_id))


def _changed(uow: UnitOfWork, now: datetime, donor_id: int, boards: list[str] | None) -> None:
    uow.session.execute(_BUMP_VERSION, {"donor": donor_id})
    outbox_id = uow.session.execute(
        _OUTBOX_INSERT, {"donor_id": donor_id, "boards": boards, "created_at": now}
    ).scalar_one()
    uow.publish(WallChanged(outbox_id, donor_id, boards))


# Built once: every accepted submission sends both (Core: no ORM session to synchronise).
_donors = table_of(Donor)
_BUMP_VERSION = (
    _donors.update()
    .where(_donors.c.id == bindparam("donor"))
    .values(wall_version=_donors.c.wall_version + 1)
)
_OUTBOX_INSERT = table_of(WallOutbox).insert().returning(table_of(WallOutbox).c.id)
