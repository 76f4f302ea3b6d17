"""Reading: live boards from Redis only (503 when it cannot answer, never a guess
from elsewhere), closed periods from their archive.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import redis
from sqlalchemy import func, select
from sqlmodel import col

from rewards_engine.domain import wall as rules
from rewards_engine.domain.errors import InvalidInput, Unavailable
from rewards_engine.domain.wall import Board
from rewards_engine.models import Donor, WallSnapshot, WallSnapshotEntry
from rewards_engine.pagination import decode_cursor, encode_cursor
from rewards_engine.services.wall.boards import hall, is_live, page_cache, resolve_board

if TYPE_CHECKING:
    from rewards_engine.runtime import Runtime

log = logging.getLogger(__package__)  # the wall's one logger, as before the split

MAX_AROUND = 25


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
            board = resolve_board(session, name)
    if board.start > runtime.clock.now():
        raise InvalidInput(
            f"{name} has not started", code="unknown_board", field="board", location="query"
        )
    return board


PAGE_CACHE_S = 1.0  # public pages are served from memory for up to a second


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
    cache = page_cache(runtime)
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
            select(WallSnapshot).where(col(WallSnapshot.board) == board.name)
        ).first()
        if snapshot is None:
            return WallPage(board, True, 0, [], None, _etag(board.name, "none"), now)
        visible = (
            select(
                col(WallSnapshotEntry.position),
                col(WallSnapshotEntry.clips),
                col(Donor.visibility),
                col(Donor.display_name),
                col(Donor.alias),
            )
            .join(Donor, col(Donor.id) == WallSnapshotEntry.donor_id)
            .where(
                col(WallSnapshotEntry.snapshot_id) == snapshot.id,
                col(Donor.visibility) != "hidden",
                col(Donor.status) != "erased",
            )
        )
        total = session.execute(select(func.count()).select_from(visible.subquery())).scalar_one()
        rows = session.execute(
            visible.order_by(col(WallSnapshotEntry.position)).offset(offset).limit(limit)
        ).all()
        first_rank = 1
        if rows:
            first_rank += session.execute(
                select(func.count()).select_from(
                    visible.where(col(WallSnapshotEntry.clips) > rows[0].clips).subquery()
                )
            ).scalar_one()
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

    @property
    def id(self) -> int: ...
    @property
    def display_name(self) -> str | None: ...
    @property
    def alias(self) -> str | None: ...
    @property
    def on_hold(self) -> bool: ...


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
