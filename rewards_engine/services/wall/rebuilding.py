"""Rebuilding boards from the database, for a lost Redis, drift or a new board: the
board's tallies streamed, a chunk of donors at a time, into temporary keys that are
swapped in at once; and the recount of tallies from the clips, for drift.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from json.encoder import encode_basestring_ascii as _json_string
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, DateTime, func, select, type_coerce
from sqlmodel import col

from rewards_engine.db import nightly_work_mem, table_of
from rewards_engine.domain import wall as rules
from rewards_engine.domain.wall import Board
from rewards_engine.models import Campaign, Clip, Donor, WallTally
from rewards_engine.redis_wall import Placement
from rewards_engine.services.wall.boards import (
    counts_on,
    hall,
    is_live,
    page_cache,
    resolve_board,
)
from rewards_engine.services.wall.draining import drain, medal_counts
from rewards_engine.services.wall.outbox import record_donor_changed

if TYPE_CHECKING:
    from rewards_engine.runtime import Runtime

log = logging.getLogger(__package__)  # the wall's one logger, as before the split

REPLAY_MARGIN = timedelta(minutes=5)  # longer than any transaction
CHUNK = 10_000  # donors read, placed and written to Redis at a time: the memory bound

Progress = Callable[[str, int, int | None], None]
Entry = tuple[int, Placement, float, int, str | None]  # profile as JSON
_Chunk = tuple[Sequence[Any], dict[int, int]]  # rows (as in _entries), medals a donor


def live_boards(runtime: Runtime) -> list[str]:
    """All-time, every campaign, the current week and month, and the previous ones
    while they are within their grace (the same rule the drain follows)."""
    now = runtime.clock.now()
    with runtime.db.read() as session:
        campaigns = list(session.scalars(select(col(Campaign.id)).order_by(col(Campaign.id))))
    periods = [*rules.periods_of(now), *rules.previous_periods(now)]
    names = [rules.all_time().name, *(f"campaign:{c}" for c in campaigns)]
    return names + [board.name for board in periods if is_live(board, now)]


def rebuild(
    runtime: Runtime,
    name: str,
    on_progress: Progress | None = None,
    *,
    recount: bool = False,
    chunk: int = CHUNK,
) -> dict[str, int]:
    """Write ``name`` from its tallies into temporary keys and swap them in at once.

    Readers see the old board until the swap and the new one after, never a half-built
    one. Changes committed while it ran are replayed from the outbox afterwards. The
    tallies are kept with the clips, in the same transactions, so a lost or drifted
    Redis needs nothing more; ``recount`` first checks the tallies themselves against
    the clips and corrects any that drifted (``recount_tallies``). Memory is bounded by
    ``chunk`` donors, whatever the board's size. ``on_progress(step, done, total)``
    hears of the donors recounted and placed.
    """
    corrected = recount_tallies(runtime, name, on_progress, chunk=chunk) if recount else 0
    started = runtime.clock.now()
    with runtime.db.read() as session:
        board = resolve_board(session, name)
        total = session.scalar(
            select(func.count()).select_from(WallTally).where(col(WallTally.board) == name)
        )
    members = hall(runtime).rebuild(
        name, _entries(runtime, board, chunk, total, on_progress), batch=chunk
    )
    page_cache(runtime).clear()
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


def _entries(
    runtime: Runtime, board: Board, chunk: int, total: int | None, on_progress: Progress | None
) -> Iterator[Entry]:
    """The board's donors as Redis entries, a chunk of donor ids at a time.

    Each chunk is one short read (no snapshot held for the whole board): a donor read
    in a later chunk may be newer than one read earlier, which the version guard and
    the replay after the swap make harmless.
    """
    listed, shadow, removed = Placement.LISTED, Placement.SHADOW, Placement.REMOVED
    done = 0
    for rows, medals in _chunks(runtime, board.name, chunk):
        # The rules of DonorState.placement and .profile, without an object a donor.
        for donor_id, version, status, visibility, on_hold, shown, alias, clips, at in rows:
            where = rules.placement(
                status=status, visibility=visibility, on_hold=on_hold, clips=clips
            )
            if where == listed:
                name = rules.public_name(visibility=visibility, display_name=shown, alias=alias)
                profile = profile_json(name, medals.get(donor_id, 0), version)
                yield donor_id, listed, rules.encode(clips, at, board), version, profile
            elif where == shadow:
                yield donor_id, shadow, rules.encode(clips, at, board), version, None
            else:
                yield donor_id, removed, 0.0, version, None
        done += len(rows)
        if on_progress:
            on_progress("donors placed", done, total)


def _chunks(runtime: Runtime, name: str, chunk: int) -> Iterator[_Chunk]:
    """The board's donors in chunks, by keyset on the donor id. On PostgreSQL the next
    chunk is read in a thread while the caller works on this one (the server's time
    overlaps Python's; two chunks held at most); SQLite reads in this process anyway."""
    if not runtime.db.is_postgres:
        after = 0
        while rows_medals := _read_chunk(runtime, name, after, chunk):
            yield rows_medals
            after = rows_medals[0][-1][0]
        return
    with ThreadPoolExecutor(1, thread_name_prefix="wall-rebuild-read") as reader:
        pending: Future[_Chunk | None] | None = reader.submit(_read_chunk, runtime, name, 0, chunk)
        while pending is not None and (rows_medals := pending.result()) is not None:
            pending = reader.submit(_read_chunk, runtime, name, rows_medals[0][-1][0], chunk)
            yield rows_medals


def _read_chunk(runtime: Runtime, name: str, after: int, chunk: int) -> _Chunk | None:
    """The next ``chunk`` donors of the board after donor ``after``: their tallies and
    standing, and their medal counts; None when there are none."""
    tallies, donors = table_of(WallTally), table_of(Donor)
    reached: ColumnElement[Any] = tallies.c.reached_at
    if runtime.db.is_postgres:  # timestamptz arrives aware: no per-row conversion needed
        reached = type_coerce(reached, DateTime(timezone=True))
    with runtime.db.read() as session:
        connection = session.connection()
        if runtime.db.is_postgres:  # the driver's fastest timestamptz path
            connection.exec_driver_sql("SET LOCAL TIME ZONE 'UTC'")
        rows = connection.execute(
            select(
                donors.c.id,
                donors.c.wall_version,
                donors.c.status,
                donors.c.visibility,
                donors.c.on_hold,
                donors.c.display_name,
                donors.c.alias,
                tallies.c.clips,
                reached,
            )
            .select_from(tallies.join(donors, donors.c.id == tallies.c.donor_id))
            .where(
                tallies.c.board == name,
                tallies.c.donor_id > after,
                donors.c.id > after,  # else PostgreSQL's merge join reads donors from the 1st
            )
            .order_by(tallies.c.donor_id)
            .limit(chunk)
        ).all()
        if not rows:
            return None
        medals = medal_counts(session, range(rows[0][0], rows[-1][0] + 1))
    return rows, medals


def profile_json(name: str, medals: int, version: int) -> str:
    """``json.dumps(DonorState.profile())``, character for character, for an eighth of
    its time (a rebuild of a million donors writes a million of them)."""
    return f'{{"name": {_json_string(name)}, "medals": {int(medals)}, "v": {int(version)}}}'


def recount_tallies(
    runtime: Runtime, name: str, on_progress: Progress | None = None, *, chunk: int = CHUNK
) -> int:
    """Check the board's tallies against a count of its clips and correct those that
    differ, each under its donor's lock; a corrected donor goes through the outbox like
    any change, so Redis follows. Returns how many were corrected.

    The clips are counted by one statement grouped by donor, in donor order, streamed
    ``chunk`` donors at a time (the clips are read once, whatever their order on disk);
    each chunk is compared with the tallies of its donor-id range, read apart. Memory
    is bounded by the chunk. A donor who gave clips since the count began looks drifted
    and is counted again under their lock, so only real drift is corrected.

    Off the rebuild's path: the tallies change in the same transactions as the clips,
    so only a fault of the engine itself makes them drift (an operator who suspects
    one runs ``wall rebuild --recount``; the nightly ``wall-rebuild`` job does).
    """
    with runtime.db.read() as session:
        board = resolve_board(session, name)
        total = session.scalar(
            select(func.count()).select_from(WallTally).where(col(WallTally.board) == name)
        )
    after, done, corrected = 0, 0, 0
    with runtime.db.read() as session:
        nightly_work_mem(session)  # one aggregate over every clip: in memory, not on disk
        counts = (
            session.connection()
            .execution_options(stream_results=True, yield_per=chunk)
            .execute(
                select(col(Clip.donor_id), func.count())
                .where(*counts_on(board))
                .group_by(col(Clip.donor_id))
                .order_by(col(Clip.donor_id))
            )
        )
        for part in counts.partitions():
            last = part[-1][0]
            corrected += _check_range(runtime, board, dict(part), after, last)
            done += len(part)
            if on_progress:
                on_progress("donors recounted", done, total)
            after = last
    # Tallies of donors after the last one counted (their clips are all gone).
    return corrected + _check_range(runtime, board, {}, after, None)


def _check_range(
    runtime: Runtime, board: Board, counted: dict[int, int], after: int, last: int | None
) -> int:
    """Compare the tallies of donors ``after < id <= last`` with ``counted`` (a donor
    with no clips counted has 0) and correct those that differ."""
    within = [col(WallTally.board) == board.name, col(WallTally.donor_id) > after]
    if last is not None:
        within.append(col(WallTally.donor_id) <= last)
    with runtime.db.read() as session:
        query = select(col(WallTally.donor_id), col(WallTally.clips)).where(*within)
        tallies = dict(session.execute(query).all())
    suspects = sorted(
        donor
        for donor in counted.keys() | tallies.keys()
        if tallies.get(donor) != counted.get(donor, 0)
    )
    return sum(_correct(runtime, board, donor) for donor in suspects)


def _correct(runtime: Runtime, board: Board, donor_id: int) -> bool:
    """Set the donor's tally on ``board`` to the count of their clips, under the
    donor's lock (a submission of theirs waits, and is counted once)."""
    with runtime.db.transaction() as uow:
        session = uow.session
        session.get(Donor, donor_id, with_for_update=True)
        clips, reached = session.execute(
            select(func.count(), func.max(Clip.accepted_at)).where(
                col(Clip.donor_id) == donor_id, *counts_on(board)
            )
        ).one()
        tally = session.get(WallTally, (board.name, donor_id))
        if (tally is None and clips == 0) or (tally is not None and tally.clips == clips):
            return False
        reached_at = reached or board.start
        if tally is None:
            session.add(
                WallTally(board=board.name, donor_id=donor_id, clips=clips, reached_at=reached_at)
            )
        else:
            tally.clips, tally.reached_at = clips, reached_at
        session.flush()
        record_donor_changed(uow, runtime.clock.now(), donor_id)
        return True


def rebuild_live(runtime: Runtime, *, recount: bool = False) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for name in live_boards(runtime):
        for key, value in rebuild(runtime, name, recount=recount).items():
            totals[key] += value
        totals["boards"] += 1
    return dict(totals)


def ensure_built(runtime: Runtime) -> bool:
    """Rebuild the live boards if Redis lost them (an empty or restarted server): from
    the tallies, which Redis losing its data leaves true, so with no recount."""
    wall = hall(runtime)
    if wall.exists(rules.all_time().name):
        return False
    with runtime.db.read() as session:
        if session.scalar(select(func.count()).select_from(WallTally)) == 0:
            return False
    log.warning("the Honor Wall is missing from Redis; rebuilding it from the database")
    rebuild_live(runtime)
    return True
