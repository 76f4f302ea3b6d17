"""Periods: a closed week or month is archived as a snapshot in the database, which
answers it once its keys have expired from Redis.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlmodel import col

from rewards_engine.db import table_of
from rewards_engine.domain import wall as rules
from rewards_engine.domain.wall import Board
from rewards_engine.models import Clip, Donor, WallSnapshot, WallSnapshotEntry, WallTally
from rewards_engine.services.wall.boards import LIVE_GRACE, counts_on, hall

if TYPE_CHECKING:
    from rewards_engine.runtime import Runtime

log = logging.getLogger(__package__)  # the wall's one logger, as before the split


def rollover(runtime: Runtime) -> dict[str, int]:
    """Archive every closed week and month not archived yet, and let its keys expire."""
    now = runtime.clock.now()
    archived = 0
    with runtime.db.read() as session:
        names = set(
            session.scalars(
                select(col(WallTally.board))
                .where(col(WallTally.board).like("month:%") | col(WallTally.board).like("week:%"))
                .distinct()
            )
        )
        done = set(session.scalars(select(col(WallSnapshot.board))))
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
            select(col(Clip.donor_id), func.count(), func.max(Clip.accepted_at))
            .join(Donor, col(Donor.id) == Clip.donor_id)
            .where(
                *counts_on(board),
                col(Donor.status) == "active",
                col(Donor.visibility) != "hidden",
                col(Donor.on_hold).is_(False),
            )
            .group_by(col(Clip.donor_id))
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
                table_of(WallSnapshotEntry).insert(),
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
