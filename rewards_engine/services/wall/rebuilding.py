"""Rebuilding boards from the database, for drift, a lost Redis or a new board:
recounted into temporary keys and swapped in at once.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select, union
from sqlmodel import col

from rewards_engine.domain import wall as rules
from rewards_engine.domain.wall import Board
from rewards_engine.models import Campaign, Clip, Donor, WallTally
from rewards_engine.services.wall.boards import (
    counts_on,
    hall,
    is_live,
    page_cache,
    resolve_board,
)
from rewards_engine.services.wall.draining import STANDING, DonorState, drain, medal_counts

if TYPE_CHECKING:
    from rewards_engine.runtime import Runtime

log = logging.getLogger(__package__)  # the wall's one logger, as before the split

REPLAY_MARGIN = timedelta(minutes=5)  # longer than any transaction


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
    runtime: Runtime, name: str, on_progress: Callable[[str, int, int | None], None] | None = None
) -> dict[str, int]:
    """Recount ``name`` from the clips into temporary keys and swap them in at once.

    Readers see the old board until the swap and the new one after, never a half-built
    one. Changes committed while it ran are replayed from the outbox afterwards.
    ``on_progress(step, done, total)`` hears of the donors placed and tallies checked.
    """
    started = runtime.clock.now()
    with runtime.db.read() as session:
        board = resolve_board(session, name)
        counted = (
            select(
                col(Clip.donor_id),
                func.count().label("clips"),
                func.max(Clip.accepted_at).label("reached_at"),
            )
            .where(*counts_on(board))
            .group_by(col(Clip.donor_id))
            .subquery()
        )
        known = union(
            select(col(WallTally.donor_id).label("donor_id")).where(col(WallTally.board) == name),
            select(counted.c.donor_id),
        ).subquery()
        rows = session.execute(
            select(
                *STANDING,
                col(Donor.display_name),
                col(Donor.alias),
                func.coalesce(counted.c.clips, 0),
                counted.c.reached_at,
            )
            .join(known, known.c.donor_id == Donor.id)
            .outerjoin(counted, counted.c.donor_id == Donor.id)
        ).all()
        medals = medal_counts(session)
    entries = []
    for donor_id, version, status, visibility, on_hold, shown, alias, clips, reached in rows:
        state = DonorState(version, status, visibility, on_hold, shown, alias)
        state.medals = medals.get(donor_id, 0)
        score = rules.encode(clips, reached, board) if clips else 0.0
        entries.append((donor_id, state.placement(clips), score, version, state.profile()))
        if on_progress:
            on_progress("donors placed", len(entries), len(rows))
    members = hall(runtime).rebuild(name, entries)
    page_cache(runtime).clear()
    corrected = _correct_tallies(runtime, board, {row[0]: row[7] for row in rows}, on_progress)
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


def _correct_tallies(
    runtime: Runtime,
    board: Board,
    counted: dict[int, int],
    on_progress: Callable[[str, int, int | None], None] | None = None,
) -> int:
    """Set tallies that differ from the recount, each under its donor's lock."""
    with runtime.db.read() as session:
        tallies = {
            t.donor_id: t.clips
            for t in session.scalars(select(WallTally).where(col(WallTally.board) == board.name))
        }
    suspects = [donor for donor, clips in counted.items() if tallies.get(donor) != clips]
    corrected = 0
    for n, donor_id in enumerate(suspects, start=1):
        if on_progress:
            on_progress("tallies checked", n, len(suspects))
        with runtime.db.transaction() as uow:
            session = uow.session
            session.get(Donor, donor_id, with_for_update=True)
            clips, reached = session.execute(
                select(func.count(), func.max(Clip.accepted_at)).where(
                    col(Clip.donor_id) == donor_id, *counts_on(board)
                )
            ).one()
            tally = session.get(WallTally, (board.name, donor_id))
            if tally is not None and tally.clips == clips:
                continue
            reached_at = reached or board.start
            if tally is None:
                session.add(
                    WallTally(
                        board=board.name, donor_id=donor_id, clips=clips, reached_at=reached_at
                    )
                )
            else:
                tally.clips, tally.reached_at = clips, reached_at
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
