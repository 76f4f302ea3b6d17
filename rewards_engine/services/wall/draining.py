"""Draining the outbox into Redis: each donor's placement recomputed from the
database and written with its version, so drains racing each other, retries and
replays all converge on what the database says.

After a use case's transaction the placements are read in that transaction just
before its commit (``prepare_events``: no session of their own), written to Redis
after it (``handle_events``) and the rows listed in Redis as applied; the wall-drain
job marks the listed rows applied in the database and applies whatever is still
pending (Redis was down, the process died between the commit and the write).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import Select, delete, func, literal, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.db import UnitOfWork, changed_rows, dialect_of, one_of, one_of_bound
from rewards_engine.domain import wall as rules
from rewards_engine.domain.wall import CAMPAIGN_PREFIX, Board
from rewards_engine.models import Campaign, Donor, MedalAward, WallOutbox, WallTally
from rewards_engine.redis_wall import Placement, Update
from rewards_engine.services.wall.boards import hall, is_live, page_cache
from rewards_engine.services.wall.outbox import WallChanged

if TYPE_CHECKING:
    from rewards_engine.runtime import Runtime

log = logging.getLogger(__package__)  # the wall's one logger, as before the split

OUTBOX_KEEP = timedelta(days=1)  # applied rows kept for rebuilds to replay
DRAIN_BATCH = 1000
PREPARE_MAX = 50  # outbox rows a transaction reads before its commit; more: after it


@dataclass
class DrainReport:
    rows: int = 0
    donors: int = 0
    writes: int = 0
    applied: int = 0
    acknowledged: int = 0  # rows applied after their commit, marked by the job

    def as_dict(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "donors": self.donors,
            "writes": self.writes,
            "applied": self.applied,
            "acknowledged": self.acknowledged,
        }


class OutboxRow(NamedTuple):
    """An outbox row as the drain reads it."""

    id: int
    donor_id: int
    boards: list[str] | None


# What decides a donor's placement on every board, read with their tallies.
STANDING = (
    col(Donor.id),
    col(Donor.wall_version),
    col(Donor.status),
    col(Donor.visibility),
    col(Donor.on_hold),
)


@dataclass
class DonorState:
    version: int
    status: str
    visibility: str
    on_hold: bool
    display_name: str | None
    alias: str | None
    tallies: dict[str, tuple[int, datetime]] = field(default_factory=dict)
    medals: int = 0

    def placement(self, clips: int) -> Placement:
        return Placement(
            rules.placement(
                status=self.status,
                visibility=self.visibility,
                on_hold=self.on_hold,
                clips=clips,
            )
        )

    def profile(self) -> dict[str, Any] | None:
        if self.placement(1) != Placement.LISTED:
            return None
        name = rules.public_name(
            visibility=self.visibility, display_name=self.display_name, alias=self.alias
        )
        return {"name": name, "medals": self.medals, "v": self.version}


def _only_boards(wanted: dict[int, set[str] | None]) -> set[str] | None:
    """The boards to read tallies of, or None when a donor-wide change needs them all."""
    boards: set[str] = set()
    for names in wanted.values():
        if names is None:
            return None
        boards |= names
    return boards


def _donor_states(
    session: Session, donor_ids: Iterable[int], boards: set[str] | None = None
) -> tuple[dict[int, DonorState], dict[str, datetime]]:
    """Donors, their tallies and medal counts, and the starts of the campaigns their
    campaign boards name, in one statement: one consistent snapshot, one round trip."""
    ids = list(donor_ids)
    statement = _states_statement(dialect_of(session), boards is not None)
    values: dict[str, list[Any]] = {"donors": ids, "holders": ids}
    if boards is not None:
        values["boards"] = list(boards)
    rows = session.execute(statement, values)
    states: dict[int, DonorState] = {}
    starts: dict[str, datetime] = {}
    for row in rows:
        state = states.get(row.id)
        if state is None:
            state = states[row.id] = DonorState(
                row.wall_version,
                row.status,
                row.visibility,
                row.on_hold,
                row.display_name,
                row.alias,
                medals=row.medals or 0,
            )
        if row.board is not None:
            state.tallies[row.board] = (row.clips, row.reached_at)
        if row.campaign_id is not None:
            starts[row.campaign_id] = row.starts_at
    return states, starts


def medal_counts(session: Session, donor_ids: Sequence[int]) -> dict[int, int]:
    """Medals held (not revoked) per donor: public pages show the number.

    Always for given donors, so a caller's memory is bounded by what it asks for; a
    ``range`` of ids (the rebuild's chunk) is read as one ``BETWEEN``.
    """
    if isinstance(donor_ids, range) and not donor_ids:
        return {}
    if isinstance(donor_ids, range) and donor_ids.step == 1:
        chosen = col(MedalAward.donor_id).between(donor_ids[0], donor_ids[-1])
    else:
        chosen = one_of(session, MedalAward.donor_id, donor_ids)
    return dict(session.execute(_held_where(chosen)).all())


def _held_where(chosen: Any) -> Select[int, int]:
    """``(donor_id, medals)`` of the donors ``chosen`` picks who hold any (a statement or
    a subquery)."""
    donor = col(MedalAward.donor_id)
    return (
        select(donor.label("donor_id"), func.count().label("medals"))
        .where(col(MedalAward.revoked_at).is_(None), chosen)
        .group_by(donor)
    )


@functools.cache
def _states_statement(dialect: str, some_boards: bool) -> Select[Any]:
    """``_donor_states``' statement, built once per dialect and shape (every submission
    reads it): bound with ``donors`` and ``holders`` (the donor ids, twice) and
    ``boards`` (read only when ``some_boards``)."""
    joined = col(WallTally.donor_id) == Donor.id
    if some_boards:
        joined &= one_of_bound(dialect, WallTally.board, "boards")
    held = _held_where(one_of_bound(dialect, MedalAward.donor_id, "holders")).subquery()
    return (
        select(
            *STANDING,
            col(Donor.display_name),
            col(Donor.alias),
            held.c.medals,
            col(WallTally.board),
            col(WallTally.clips),
            col(WallTally.reached_at),
            col(Campaign.id).label("campaign_id"),
            col(Campaign.starts_at),
        )
        .outerjoin(held, held.c.donor_id == Donor.id)
        .outerjoin(WallTally, joined)
        .outerjoin(Campaign, col(WallTally.board) == literal(CAMPAIGN_PREFIX) + col(Campaign.id))
        .where(one_of_bound(dialect, Donor.id, "donors"))
    )


def drain(
    runtime: Runtime, *, ids: Sequence[int] | None = None, since: datetime | None = None
) -> DrainReport:
    """Apply outbox rows to Redis: the given ones, those created ``since`` (applied or
    not: a rebuild's replay), or else every pending one.

    Raises if Redis is down; the rows then stay pending for the next drain.
    """
    report = DrainReport()
    if ids is None and since is None:
        report.acknowledged = _acknowledge(runtime)
    after_id = 0
    while True:
        with runtime.db.read() as session:
            query = select(
                col(WallOutbox.id), col(WallOutbox.donor_id), col(WallOutbox.boards)
            ).where(col(WallOutbox.id) > after_id)
            if ids is not None:
                query = query.where(one_of(session, WallOutbox.id, ids))
            elif since is not None:
                query = query.where(col(WallOutbox.created_at) >= since)
            else:
                query = query.where(col(WallOutbox.applied_at).is_(None))
            rows = session.execute(query.order_by(col(WallOutbox.id)).limit(DRAIN_BATCH)).all()
            if not rows:
                return report
            updates, profiles = _placements(session, rows, runtime.clock.now())
        _apply(runtime, rows, updates, profiles, report)
        if len(rows) < DRAIN_BATCH:
            return report
        after_id = rows[-1].id


def _acknowledge(runtime: Runtime) -> int:
    """Mark applied the rows the drains after commits listed in Redis."""
    marked = 0
    while ids := hall(runtime).take_applied(DRAIN_BATCH):
        with runtime.db.transaction(durable=False) as uow:
            marked += changed_rows(
                uow.session,
                update(WallOutbox)
                .where(one_of(uow.session, WallOutbox.id, ids))
                .where(col(WallOutbox.applied_at).is_(None))
                .values(applied_at=runtime.clock.now()),
            )
        if len(ids) < DRAIN_BATCH:
            break
    return marked


def _placements(
    session: Session, rows: Sequence[Any], now: datetime
) -> tuple[list[Update], dict[int, dict[str, Any] | None]]:
    """What Redis must hold for the donors of these outbox rows, read from the database."""
    wanted = _boards_wanted(rows)
    states, starts = _donor_states(session, wanted, _only_boards(wanted))
    return _writes(wanted, states, _Resolver(starts), now)


def _apply(
    runtime: Runtime,
    rows: Sequence[Any],
    updates: list[Update],
    profiles: dict[int, dict[str, Any] | None],
    report: DrainReport,
) -> None:
    """Write the placements to Redis, then mark the rows applied."""
    report.applied += hall(runtime).apply(updates, profiles)
    page_cache(runtime).clear()
    report.rows += len(rows)
    report.donors += len({row.donor_id for row in rows})
    report.writes += len(updates)
    # Losing this mark in a crash only means applying the rows again: harmless.
    with runtime.db.transaction(durable=False) as uow:
        uow.session.execute(
            update(WallOutbox)
            .where(one_of(uow.session, WallOutbox.id, [row.id for row in rows]))
            .values(applied_at=runtime.clock.now())
        )


def _boards_wanted(rows: Sequence[Any]) -> dict[int, set[str] | None]:
    """Per donor, the boards to recompute (None: every board they are on)."""
    wanted: dict[int, set[str] | None] = {}
    for row in rows:
        current = wanted.get(row.donor_id, set())
        if row.boards is None or current is None:
            wanted[row.donor_id] = None
        else:
            current.update(row.boards)
            wanted[row.donor_id] = current
    return wanted


class _Resolver:
    """Boards by name, given the starts of the campaigns they may name."""

    def __init__(self, starts: dict[str, datetime]) -> None:
        self.starts = starts

    def __call__(self, name: str) -> Board | None:
        if not rules.is_board_name(name):
            return None  # a tally that is not a board (``type:...``)
        campaign_id = rules.campaign_id_of(name)
        starts = None
        if campaign_id is not None:
            if campaign_id not in self.starts:
                return None
            starts = self.starts[campaign_id]
        return rules.parse_board(name, campaign_starts=starts)


def _writes(
    wanted: dict[int, set[str] | None],
    states: dict[int, DonorState],
    resolve: _Resolver,
    now: datetime,
) -> tuple[list[Update], dict[int, dict[str, Any] | None]]:
    updates: list[Update] = []
    profiles: dict[int, dict[str, Any] | None] = {}
    for donor_id, names in wanted.items():
        state = states.get(donor_id)
        if state is None:
            continue
        profiles[donor_id] = state.profile()
        for name in sorted(names if names is not None else state.tallies):
            board = resolve(name)
            if board is None or not is_live(board, now) or name not in state.tallies:
                continue
            clips, reached = state.tallies[name]
            score = rules.encode(clips, reached, board)
            updates.append(Update(name, donor_id, state.version, state.placement(clips), score))
    return updates, profiles


def purge_outbox(runtime: Runtime) -> int:
    cutoff = runtime.clock.now() - OUTBOX_KEEP
    with runtime.db.transaction() as uow:
        return changed_rows(
            uow.session, delete(WallOutbox).where(col(WallOutbox.applied_at) < cutoff)
        )


@dataclass(frozen=True)
class WallPrepared:
    """What Redis must hold after a transaction's outbox rows, read in it before its
    commit (``prepare_events``)."""

    rows: list[OutboxRow]
    updates: list[Update]
    profiles: dict[int, dict[str, Any] | None]


def _rows_of(events: Sequence[object]) -> list[OutboxRow]:
    return [
        OutboxRow(event.outbox_id, event.donor_id, event.boards)
        for event in events
        if isinstance(event, WallChanged)
    ]


def prepare_events(runtime: Runtime, uow: UnitOfWork) -> None:
    """Before a commit: the placements of its outbox rows, read in its own transaction
    (the donors' rows are locked by the ``wall_version`` bump, so they are what the
    commit makes visible): the write after the commit needs no session of its own.
    Rows prepared already (``UnitOfWork.prepare`` ran earlier) are not read again. A
    bulk change (a job's hundreds of donors) is read after its commit instead, so that
    the read does not hold its locks (SQLite's one writer, the donors' rows)."""
    done = {row.id for event in uow.events if isinstance(event, WallPrepared) for row in event.rows}
    rows = [row for row in _rows_of(uow.events) if row.id not in done]
    if 0 < len(rows) <= PREPARE_MAX:
        updates, profiles = _placements(uow.session, rows, runtime.clock.now())
        uow.publish(WallPrepared(rows, updates, profiles))


def handle_events(runtime: Runtime, events: list[object]) -> None:
    """After a commit: push that transaction's wall changes to Redis at once, from the
    placements read before the commit (or read now, for a runtime without
    ``prepare_events``), and list the rows as applied for the job to mark.

    Best effort: if Redis is unreachable, the rows stay pending for the job.
    """
    rows = _rows_of(events)
    if not rows:
        return
    prepared = [event for event in events if isinstance(event, WallPrepared)]
    try:
        if {row.id for event in prepared for row in event.rows} >= {row.id for row in rows}:
            updates = [u for event in prepared for u in event.updates]
            profiles = {d: p for event in prepared for d, p in event.profiles.items()}
        else:
            with runtime.db.read() as session:
                updates, profiles = _placements(session, rows, runtime.clock.now())
        hall(runtime).apply(updates, profiles, outbox_ids=[row.id for row in rows])
        page_cache(runtime).clear()
    except Exception as exc:  # Redis down: the wall-drain job catches up
        fields = {"rows": len(rows), "error": str(exc)}
        log.warning("wall update deferred", extra={"fields": fields})
