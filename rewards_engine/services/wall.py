"""The Honor Wall: keeping the Redis boards true to the database, and reading them.

Writes: a use case that changes what a board shows (clips accepted or reversed, a
donor's visibility, name, hold or ban) calls ``record_*`` in its own transaction.
That updates the donor's tallies, bumps the donor's ``wall_version`` and adds an
outbox row; after the commit the runtime drains the outbox into Redis. If Redis is
down the rows wait and the ``wall-drain`` job applies them later: nothing is lost.

Reads answer from Redis for live boards and from the archive for closed periods.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

import redis
from sqlalchemy import delete, func, select, union, update
from sqlalchemy.orm import Session

from rewards_engine.db import UnitOfWork, insert, one_of
from rewards_engine.domain import wall as rules
from rewards_engine.domain.errors import InvalidInput, Unavailable
from rewards_engine.domain.wall import Board
from rewards_engine.honor_wall import HonorWall, Placement, Update
from rewards_engine.models import (
    Campaign,
    Clip,
    Donor,
    MedalAward,
    WallOutbox,
    WallSnapshot,
    WallSnapshotEntry,
    WallTally,
)
from rewards_engine.pagination import decode_cursor, encode_cursor
from rewards_engine.runtime import Runtime

log = logging.getLogger(__name__)

LIVE_GRACE = timedelta(days=7)  # a closed period's board stays live this long
OUTBOX_KEEP = timedelta(days=1)  # applied rows kept for rebuilds to replay
REPLAY_MARGIN = timedelta(minutes=5)  # longer than any transaction
DRAIN_BATCH = 1000
MAX_AROUND = 25


@dataclass(frozen=True)
class WallChanged:
    """Published when a transaction added an outbox row (drained after commit)."""

    outbox_id: int
    donor_id: int


def hall(runtime: Runtime) -> HonorWall:
    """The process's Honor Wall client (one per runtime: it caches public names)."""
    return runtime.extension(
        "honor_wall", lambda: HonorWall(runtime.redis, runtime.settings.redis_namespace)
    )


# --- writes, inside the caller's transaction ---------------------------------


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
    table = WallTally.__table__
    statement = insert(uow.session, table).values(
        [
            {"board": b, "donor_id": donor_id, "clips": n, "reached_at": now}
            for b, n in added.items()
        ]
    )
    uow.session.execute(
        statement.on_conflict_do_update(
            index_elements=["board", "donor_id"],
            set_={"clips": table.c.clips + statement.excluded.clips, "reached_at": now},
        )
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
        {b for c in clips for b in boards_of_acceptance(c.campaign_id, c.accepted_at)}  # type: ignore[arg-type]
    )
    for name in boards:
        board = _resolve(session, name)
        count, reached = session.execute(
            select(func.count(), func.max(Clip.accepted_at)).where(
                Clip.donor_id == donor_id, *_counted(board)
            )
        ).one()
        session.execute(
            update(WallTally)
            .where(WallTally.board == name, WallTally.donor_id == donor_id)
            .values(clips=count, reached_at=reached or board.start)
        )
    for incident_type, n in Counter(c.incident_type for c in clips).items():
        session.execute(
            update(WallTally)
            .where(WallTally.board == type_key(incident_type), WallTally.donor_id == donor_id)
            .values(clips=WallTally.clips - n)
        )
    _changed(uow, now, donor_id, boards)


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
        .values(wall_version=Donor.wall_version + 1)
    )
    table = WallOutbox.__table__
    rows = session.execute(
        insert(session, table)
        .values([{"donor_id": d, "boards": None, "created_at": now} for d in ids])
        .returning(table.c.id, table.c.donor_id)
    ).all()
    for outbox_id, donor_id in rows:
        uow.publish(WallChanged(outbox_id, donor_id))


def _changed(uow: UnitOfWork, now: datetime, donor_id: int, boards: list[str] | None) -> None:
    uow.session.execute(
        update(Donor).where(Donor.id == donor_id).values(wall_version=Donor.wall_version + 1)
    )
    outbox_id = uow.session.execute(
        insert(uow.session, WallOutbox.__table__)
        .values(donor_id=donor_id, boards=boards, created_at=now)
        .returning(WallOutbox.__table__.c.id)
    ).scalar_one()
    uow.publish(WallChanged(outbox_id, donor_id))


def _counted(board: Board) -> list[Any]:
    """The conditions under which a clip counts on ``board``."""
    conditions: list[Any] = [Clip.status == "accepted"]
    if board.campaign_id is not None:
        conditions.append(Clip.campaign_id == board.campaign_id)
    if board.is_period:
        conditions += [Clip.accepted_at >= board.start, Clip.accepted_at < board.end]
    return conditions


def _resolve(session: Session, name: str) -> Board:
    campaign_id = rules.campaign_id_of(name)
    starts = None
    if campaign_id is not None:
        starts = session.scalar(select(Campaign.starts_at).where(Campaign.id == campaign_id))
    return rules.parse_board(name, campaign_starts=starts)


def is_live(board: Board, now: datetime) -> bool:
    """Live boards are kept in Redis: open ones, and closed periods within the grace."""
    return board.end is None or now < board.end + LIVE_GRACE


# --- draining the outbox into Redis --------------------------------------------


@dataclass
class DrainReport:
    rows: int = 0
    donors: int = 0
    writes: int = 0
    applied: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "donors": self.donors,
            "writes": self.writes,
            "applied": self.applied,
        }


# What decides a donor's placement on every board, read with their tallies.
STANDING = (Donor.id, Donor.wall_version, Donor.status, Donor.visibility, Donor.on_hold)


@dataclass
class _DonorState:
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
    if any(names is None for names in wanted.values()):
        return None
    return set().union(*wanted.values())  # type: ignore[arg-type]


def _donor_states(
    session: Session, donor_ids: Iterable[int], boards: set[str] | None = None
) -> dict[int, _DonorState]:
    """Donors and their tallies in one statement: one consistent snapshot."""
    ids = list(donor_ids)
    joined = WallTally.donor_id == Donor.id
    if boards is not None:
        joined &= one_of(session, WallTally.board, boards)
    rows = session.execute(
        select(
            *STANDING,
            Donor.display_name,
            Donor.alias,
            WallTally.board,
            WallTally.clips,
            WallTally.reached_at,
        )
        .outerjoin(WallTally, joined)
        .where(one_of(session, Donor.id, ids))
    )
    states: dict[int, _DonorState] = {}
    for row in rows:
        state = states.get(row.id)
        if state is None:
            state = states[row.id] = _DonorState(
                row.wall_version,
                row.status,
                row.visibility,
                row.on_hold,
                row.display_name,
                row.alias,
            )
        if row.board is not None:
            state.tallies[row.board] = (row.clips, row.reached_at)
    for donor_id, count in _medal_counts(session, ids).items():
        states[donor_id].medals = count
    return states


def _medal_counts(session: Session, donor_ids: Sequence[int] | None = None) -> dict[int, int]:
    """Medals held (not revoked) per donor: public pages show the number."""
    query = select(MedalAward.donor_id, func.count()).where(MedalAward.revoked_at.is_(None))
    if donor_ids is not None:
        query = query.where(one_of(session, MedalAward.donor_id, donor_ids))
    return dict(session.execute(query.group_by(MedalAward.donor_id)).all())


def drain(
    runtime: Runtime, *, ids: Sequence[int] | None = None, since: datetime | None = None
) -> DrainReport:
    """Apply outbox rows to Redis: the given ones, those created ``since`` (applied or
    not: a rebuild's replay), or else every pending one.

    Raises if Redis is down; the rows then stay pending for the next drain.
    """
    report = DrainReport()
    now = runtime.clock.now()
    after_id = 0
    while True:
        with runtime.db.read() as session:
            query = select(WallOutbox.id, WallOutbox.donor_id, WallOutbox.boards).where(
                WallOutbox.id > after_id
            )
            if ids is not None:
                query = query.where(one_of(session, WallOutbox.id, ids))
            elif since is not None:
                query = query.where(WallOutbox.created_at >= since)
            else:
                query = query.where(WallOutbox.applied_at.is_(None))
            rows = session.execute(query.order_by(WallOutbox.id).limit(DRAIN_BATCH)).all()
            if not rows:
                return report
            wanted = _boards_wanted(rows)
            states = _donor_states(session, wanted, _only_boards(wanted))
            resolve = _Resolver(session)
            updates, profiles = _writes(wanted, states, resolve, now)
        report.applied += hall(runtime).apply(updates, profiles)
        _page_cache(runtime).clear()
        report.rows += len(rows)
        report.donors += len(wanted)
        report.writes += len(updates)
        # Losing this mark in a crash only means applying the rows again: harmless.
        with runtime.db.transaction(durable=False) as uow:
            uow.session.execute(
                update(WallOutbox)
                .where(one_of(uow.session, WallOutbox.id, [row.id for row in rows]))
                .values(applied_at=now)
            )
        if len(rows) < DRAIN_BATCH:
            return report
        after_id = rows[-1].id


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
    """Boards by name, looking each campaign's start up once."""

    def __init__(self, session: Session) -> None:
        self.starts = dict(session.execute(select(Campaign.id, Campaign.starts_at)).all())

    def __call__(self, name: str) -> Board | None:
        if not rules.is_board_name(name):
            return None  # a tally that is not a board (``type:...``)
        campaign_id = rules.campaign_id_of(name)
        if campaign_id is not None and campaign_id not in self.starts:
            return None
        return rules.parse_board(name, campaign_starts=self.starts.get(campaign_id))


def _writes(
    wanted: dict[int, set[str] | None],
    states: dict[int, _DonorState],
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
        result = uow.session.execute(delete(WallOutbox).where(WallOutbox.applied_at < cutoff))
    return int(result.rowcount or 0)


def handle_events(runtime: Runtime, events: list[object]) -> None:
    """After a commit: push that transaction's wall changes to Redis at once.

    Best effort: if Redis is unreachable, the rows stay pending for the job.
    """
    ids = [event.outbox_id for event in events if isinstance(event, WallChanged)]
    if not ids:
        return
    try:
        drain(runtime, ids=ids)
    except Exception as exc:  # Redis down: the wall-drain job catches up
        log.warning("wall update deferred", extra={"fields": {"rows": len(ids), "error": str(exc)}})


# --- rebuilding ------------------------------------------------------------------


def live_boards(runtime: Runtime) -> list[str]:
    """All-time, every campaign, the current week and month, and the previous ones
    while they are within their grace (the same rule the drain follows)."""
    now = runtime.clock.now()
    with runtime.db.read() as session:
        campaigns = list(session.scalars(select(Campaign.id).order_by(Campaign.id)))
    periods = [*rules.periods_of(now), *rules.previous_periods(now)]
    names = [rules.all_time().name, *(f"campaign:{c}" for c in campaigns)]
    return names + [board.name for board in periods if is_live(board, now)]


def rebuild(runtime: Runtime, name: str) -> dict[str, int]:
    """Recount ``name`` from the clips into temporary keys and swap them in at once.

    Readers see the old board until the swap and the new one after, never a half-built
    one. Changes committed while it ran are replayed from the outbox afterwards.
    """
    started = runtime.clock.now()
    with runtime.db.read() as session:
        board = _resolve(session, name)
        counted = (
            select(
                Clip.donor_id,
                func.count().label("clips"),
                func.max(Clip.accepted_at).label("reached_at"),
            )
            .where(*_counted(board))
            .group_by(Clip.donor_id)
            .subquery()
        )
        known = union(
            select(WallTally.donor_id.label("donor_id")).where(WallTally.board == name),
            select(counted.c.donor_id),
        ).subquery()
        rows = session.execute(
            select(
                *STANDING,
                Donor.display_name,
                Donor.alias,
                func.coalesce(counted.c.clips, 0),
                counted.c.reached_at,
            )
            .join(known, known.c.donor_id == Donor.id)
            .outerjoin(counted, counted.c.donor_id == Donor.id)
        ).all()
        medals = _medal_counts(session)
    entries = []
    for donor_id, version, status, visibility, on_hold, shown, alias, clips, reached in rows:
        state = _DonorState(version, status, visibility, on_hold, shown, alias)
        state.medals = medals.get(donor_id, 0)
        score = rules.encode(clips, reached, board) if clips else 0.0
        entries.append((donor_id, state.placement(clips), score, version, state.profile()))
    members = hall(runtime).rebuild(name, entries)
    _page_cache(runtime).clear()
    corrected = _correct_tallies(runtime, board, {row[0]: row[7] for row in rows})
    replayed = drain(runtime, since=started - REPLAY_MARGIN)
    log.info(
        "wall board rebuilt",
        extra={
            "fields": {
                "board": name,
                "members": members,
                "corrected_tallies": corrected,
                "replayed_rows": replayed.rows,
            }
        },
    )
    return {"members": members, "corrected_tallies": corrected, "replayed_rows": replayed.rows}


def _correct_tallies(runtime: Runtime, board: Board, counted: dict[int, int]) -> int:
    """Set tallies that differ from the recount, each under its donor's lock."""
    with runtime.db.read() as session:
        tallies = {
            t.donor_id: t.clips
            for t in session.scalars(select(WallTally).where(WallTally.board == board.name))
        }
    suspects = [donor for donor, clips in counted.items() if tallies.get(donor) != clips]
    corrected = 0
    for donor_id in suspects:
        with runtime.db.transaction() as uow:
            session = uow.session
            session.get(Donor, donor_id, with_for_update=True)
            clips, reached = session.execute(
                select(func.count(), func.max(Clip.accepted_at)).where(
                    Clip.donor_id == donor_id, *_counted(board)
                )
            ).one()
            tally = session.get(WallTally, (board.name, donor_id))
            if tally is not None and tally.clips == clips:
                continue
            values = {"clips": clips, "reached_at": reached or board.start}
            if tally is None:
                session.add(WallTally(board=board.name, donor_id=donor_id, **values))
            else:
                tally.clips, tally.reached_at = values["clips"], values["reached_at"]
            corrected += 1
    return corrected


def rebuild_live(runtime: Runtime) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for name in live_boards(runtime):
        for key, value in rebuild(runtime, name).items():
            totals[key] += value
        totals["boards"] += 1
    return dict(totals)


def ensure_built(runtime: Runtime) -> bool:
    """Rebuild the live boards if Redis lost them (an empty or restarted server)."""
    wall = hall(runtime)
    if wall.exists(rules.all_time().name):
        return False
    with runtime.db.read() as session:
        if session.scalar(select(func.count()).select_from(WallTally)) == 0:
            return False
    log.warning("the Honor Wall is missing from Redis; rebuilding it from the database")
    rebuild_live(runtime)
    return True


# --- periods: archiving closed boards ------------------------------------------------


def rollover(runtime: Runtime) -> dict[str, int]:
    """Archive every closed week and month not archived yet, and let its keys expire."""
    now = runtime.clock.now()
    archived = 0
    with runtime.db.read() as session:
        names = set(
            session.scalars(
                select(WallTally.board)
                .where(WallTally.board.like("month:%") | WallTally.board.like("week:%"))
                .distinct()
            )
        )
        done = set(session.scalars(select(WallSnapshot.board)))
    for name in sorted(names - done):
        board = rules.parse_board(name)
        if not board.is_closed(now):
            continue
        _archive(runtime, board, now)
        assert board.end is not None
        hall(runtime).expire_in(name, int((board.end + LIVE_GRACE - now).total_seconds()))
        archived += 1
    return {"archived": archived}


def _archive(runtime: Runtime, board: Board, now: datetime) -> None:
    with runtime.db.transaction() as uow:
        session = uow.session
        rows = session.execute(
            select(Clip.donor_id, func.count(), func.max(Clip.accepted_at))
            .join(Donor, Donor.id == Clip.donor_id)
            .where(
                *_counted(board),
                Donor.status == "active",
                Donor.visibility != "hidden",
                Donor.on_hold.is_(False),
            )
            .group_by(Clip.donor_id)
        ).all()
        ordered = sorted(rows, key=lambda r: (-r[1], r[2], r[0]))
        ranks = rules.competition_ranks(1, 1, [r[1] for r in ordered])
        digest = hashlib.sha256(board.name.encode())
        for position, (row, rank) in enumerate(zip(ordered, ranks, strict=True), start=1):
            digest.update(f"\n{position},{row[0]},{row[1]},{rank}".encode())
        assert board.end is not None
        snapshot = WallSnapshot(
            board=board.name,
            window_start=board.start,
            window_end=board.end,
            closed_at=now,
            entries=len(ordered),
            content_hash=digest.hexdigest(),
        )
        session.add(snapshot)
        session.flush()
        if ordered:
            session.execute(
                WallSnapshotEntry.__table__.insert(),
                [
                    {
                        "snapshot_id": snapshot.id,
                        "position": position,
                        "donor_id": row[0],
                        "clips": row[1],
                        "rank": rank,
                    }
                    for position, (row, rank) in enumerate(zip(ordered, ranks, strict=True), 1)
                ],
            )
    log.info(
        "wall period archived", extra={"fields": {"board": board.name, "entries": len(ordered)}}
    )


# --- reading -------------------------------------------------------------------------


@dataclass(frozen=True)
class WallEntry:
    rank: int
    name: str
    clips: int
    medals: int = 0
    is_me: bool = False


@dataclass(frozen=True)
class WallPage:
    board: Board
    archived: bool
    ranked_donors: int
    entries: list[WallEntry]
    next_cursor: str | None
    etag: str
    server_time: datetime


def _board_for_read(runtime: Runtime, name: str) -> Board:
    if rules.campaign_id_of(name) is None:
        board = rules.parse_board(name)  # no database needed
    else:
        with runtime.db.read() as session:
            board = _resolve(session, name)
    if board.start > runtime.clock.now():
        raise InvalidInput(
            f"{name} has not started", code="unknown_board", field="board", location="query"
        )
    return board


PAGE_CACHE_S = 1.0  # public pages are served from memory for up to a second


def _page_cache(runtime: Runtime) -> dict[tuple[str, int, int], tuple[float, WallPage]]:
    """Recently read public pages of this process (cleared by this process's writes)."""
    return runtime.extension("wall_pages", dict)


def read_page(runtime: Runtime, name: str, *, limit: int, cursor: str | None) -> WallPage:
    """A page of a board. The top pages are what every app opens: each process answers
    them from memory for up to ``PAGE_CACHE_S``, so a burst of readers costs Redis
    one read a second; the wall is a projection that may lag that much anyway."""
    board = _board_for_read(runtime, name)
    position = decode_cursor(cursor, f"wall:{name}", (int,))
    offset = position[0] if position else 0
    now = runtime.clock.now()
    if not is_live(board, now):
        return _archived_page(runtime, board, offset, limit, now)
    cache = _page_cache(runtime)
    key = (name, offset, limit)
    cached = cache.get(key)
    if cached is not None and cached[0] > time.monotonic():
        return replace(cached[1], server_time=now)
    page = _live_page(runtime, board, offset, limit, now)
    if len(cache) > 10_000:
        cache.clear()
    cache[key] = (time.monotonic() + PAGE_CACHE_S, page)
    return page


def _live_page(runtime: Runtime, board: Board, offset: int, limit: int, now: datetime) -> WallPage:
    name = board.name
    try:
        read = hall(runtime).read_page(name, offset, limit)
    except redis.RedisError as exc:  # down, hung, or answering errors (BUSY, OOM, READONLY)
        raise _wall_unavailable(runtime, exc) from exc
    entries = _entries(read.entries, read.first_rank, offset, read.profiles)
    more = offset + len(entries) < read.total
    return WallPage(
        board,
        False,
        read.total,
        entries,
        encode_cursor(f"wall:{name}", [offset + limit]) if more else None,
        _etag(name, read.rev, offset, limit),
        now,
    )


def _wall_unavailable(runtime: Runtime, exc: Exception) -> Unavailable:
    """Live boards are read from Redis only: down or hung, the answer is 503 with
    ``Retry-After`` (about when the circuit breaker lets a probe through)."""
    log.warning("honor wall unavailable", extra={"fields": {"error": type(exc).__name__}})
    return Unavailable(
        "the Honor Wall is unavailable for a moment; retry",
        code="wall_unavailable",
        retry_after=max(1, round(runtime.settings.redis_breaker_open_s)),
    )


def _entries(
    rows: list[tuple[int, float]],
    first_rank: int | None,
    offset: int,
    profiles: dict[int, dict[str, Any]],
    me: int | None = None,
) -> list[WallEntry]:
    counts = [rules.decode_clips(score) for _, score in rows]
    ranks = rules.competition_ranks(first_rank or 1, offset + 1, counts)
    return [
        WallEntry(rank, profiles.get(donor, {}).get("name", "Anonymous donor"), clips,
                  profiles.get(donor, {}).get("medals", 0), donor == me)
        for (donor, _), clips, rank in zip(rows, counts, ranks, strict=True)
    ]  # fmt: skip


def _etag(*parts: object) -> str:
    return hashlib.sha1(":".join(map(str, parts)).encode(), usedforsecurity=False).hexdigest()


def _archived_page(
    runtime: Runtime, board: Board, offset: int, limit: int, now: datetime
) -> WallPage:
    """A closed period from its archive; donors hidden since are left out and the
    ranks of the others recomputed, so no page reveals where a hidden donor stood."""
    with runtime.db.read() as session:
        snapshot = session.scalars(
            select(WallSnapshot).where(WallSnapshot.board == board.name)
        ).first()
        if snapshot is None:
            return WallPage(board, True, 0, [], None, _etag(board.name, "none"), now)
        visible = (
            select(
                WallSnapshotEntry.position,
                WallSnapshotEntry.clips,
                Donor.visibility,
                Donor.display_name,
                Donor.alias,
            )
            .join(Donor, Donor.id == WallSnapshotEntry.donor_id)
            .where(
                WallSnapshotEntry.snapshot_id == snapshot.id,
                Donor.visibility != "hidden",
                Donor.status != "erased",
            )
        )
        total = session.scalar(select(func.count()).select_from(visible.subquery()))
        rows = session.execute(
            visible.order_by(WallSnapshotEntry.position).offset(offset).limit(limit)
        ).all()
        first_rank = 1
        if rows:
            first_rank += session.scalar(
                select(func.count()).select_from(
                    visible.where(WallSnapshotEntry.clips > rows[0].clips).subquery()
                )
            )
    ranks = rules.competition_ranks(first_rank, offset + 1, [r.clips for r in rows])
    entries = [
        WallEntry(rank, rules.public_name(visibility=r.visibility, display_name=r.display_name,
                                          alias=r.alias), r.clips)
        for r, rank in zip(rows, ranks, strict=True)
    ]  # fmt: skip
    more = offset + len(entries) < total
    return WallPage(
        board,
        True,
        total,
        entries,
        encode_cursor(f"wall:{board.name}", [offset + limit]) if more else None,
        _etag(board.name, snapshot.content_hash, total, offset, limit),
        now,
    )


@dataclass(frozen=True)
class WallStanding:
    """A donor's own view of a board."""

    board: Board
    ranked_donors: int
    state: str  # ranked, hidden, under_review, unranked
    rank: int | None
    clips: int
    percentile: float | None
    clips_to_pass_next: int | None
    entries: list[WallEntry]
    etag: str
    server_time: datetime


class Viewer(Protocol):
    """The donor asking for their standing (a donor record or its request-time view)."""

    id: int
    display_name: str | None
    alias: str | None
    on_hold: bool


def read_standing(runtime: Runtime, name: str, donor: Viewer, around: int) -> WallStanding:
    """The donor's rank, count and percentile, and the listed donors around them."""
    if not 0 <= around <= MAX_AROUND:
        raise InvalidInput(f"around is 0 to {MAX_AROUND}", field="around", location="query")
    board = _board_for_read(runtime, name)
    try:
        read = hall(runtime).read_standing(name, donor.id, around)
    except redis.RedisError as exc:  # down, hung, or answering errors (BUSY, OOM, READONLY)
        raise _wall_unavailable(runtime, exc) from exc
    etag = _etag(name, read.rev, donor.id, around)
    now = runtime.clock.now()
    if read.score is None:
        entries = _entries(read.entries, read.first_rank, read.window_start, read.profiles)
        to_pass = entries[-1].clips + 1 if entries else None
        return WallStanding(
            board, read.total, "unranked", None, 0, None, to_pass, entries, etag, now
        )
    assert read.position is not None
    clips = rules.decode_clips(read.score)
    rank = read.higher_count + 1
    entries = _entries(read.entries, read.first_rank, read.window_start, read.profiles, me=donor.id)
    above = read.position - read.window_start - 1  # index of the entry just above the donor
    to_pass = entries[above].clips - clips + 1 if above >= 0 else None
    if not read.listed:  # show the donor where they would stand, marked as themselves
        me = rules.public_name(
            visibility="public", display_name=donor.display_name, alias=donor.alias
        )
        entries.insert(read.position - read.window_start, WallEntry(rank, me, clips, 0, True))
    shown = entries[max(read.position - read.window_start - around, 0) :]
    state = "ranked" if read.listed else ("under_review" if donor.on_hold else "hidden")
    total = read.total if read.listed else read.total + 1
    percentile = round(100.0 * (total - rank + 1) / total, 1)
    return WallStanding(
        board, read.total, state, rank, clips, percentile, to_pass, shown, etag, now
    )


def all_time_rank(runtime: Runtime, donor_id: int) -> int | None:
    """The donor's all-time rank (None when unranked); None too if Redis is down."""
    try:
        return hall(runtime).rank_of(rules.all_time().name, donor_id)
    except Exception:  # the profile must answer even when the wall cannot
        log.warning("all-time rank unavailable: redis unreachable")
        return None
