"""Boards a donor follows, and telling them when they pass someone there or are passed
(the ``standings`` job): the rank read from the Honor Wall, compared with the rank they
were last told of, told at once at a milestone and otherwise at most once a day."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import redis
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.db import Database, changed_rows, insert, row_view, table_of
from rewards_engine.domain.errors import Conflict, NotFound
from rewards_engine.domain.notifications import rank_news
from rewards_engine.domain.wall import campaign_id_of
from rewards_engine.models import BoardFollow, Campaign
from rewards_engine.runtime import Runtime
from rewards_engine.services.notifications.inbox import notify
from rewards_engine.services.wall.boards import hall, resolve_board

log = logging.getLogger(__name__)
MAX_FOLLOWS = 10
CHUNK = 500


@dataclass(frozen=True)
class FollowView:
    board: str
    last_rank: int | None
    created_at: datetime


def follows(db: Database, donor_id: int) -> list[FollowView]:
    with db.read() as session:
        rows = session.scalars(
            select(BoardFollow)
            .where(col(BoardFollow.donor_id) == donor_id)
            .order_by(col(BoardFollow.created_at), col(BoardFollow.board))
        )
        return [row_view(FollowView, row) for row in rows]


def follow(runtime: Runtime, donor_id: int, board: str) -> FollowView:
    """Follow a board (again: nothing changes). The rank the donor holds now is where
    the news starts from."""
    now = runtime.clock.now()
    with runtime.db.transaction() as uow:
        session = uow.session
        resolve_board(session, board)  # a board that exists (422 naming it otherwise)
        count = (
            session.scalar(select(func.count()).where(col(BoardFollow.donor_id) == donor_id)) or 0
        )
        if count >= MAX_FOLLOWS and session.get(BoardFollow, (donor_id, board)) is None:
            raise Conflict(f"a donor follows at most {MAX_FOLLOWS} boards", code="too_many_follows")
        statement = insert(session, table_of(BoardFollow)).values(
            donor_id=donor_id, board=board, last_rank=_rank(runtime, board, donor_id),
            created_at=now,
        )  # fmt: skip
        session.execute(statement.on_conflict_do_nothing(index_elements=["donor_id", "board"]))
        row = session.get(BoardFollow, (donor_id, board))
        assert row is not None
        return row_view(FollowView, row)


def unfollow(db: Database, donor_id: int, board: str) -> None:
    with db.transaction() as uow:
        gone = changed_rows(
            uow.session,
            delete(BoardFollow).where(
                col(BoardFollow.donor_id) == donor_id, col(BoardFollow.board) == board
            ),
        )
    if not gone:
        raise NotFound(f"you do not follow {board}", code="not_following")


def _rank(runtime: Runtime, board: str, donor_id: int) -> int | None:
    try:
        return hall(runtime).rank_of(board, donor_id)
    except redis.RedisError:
        return None  # set by the next standings run


def tell_standings(runtime: Runtime) -> dict[str, int]:
    """Read each followed board's ranks and tell the donors whose rank moved, a chunk
    of follows per transaction (the rank told and its notification commit together, so
    a rerun tells nobody twice). Redis down: nothing is read, nothing changes."""
    told = read = after = 0
    last = (0, "")
    while True:
        with runtime.db.transaction() as uow:
            session = uow.session
            rows = list(
                session.scalars(
                    select(BoardFollow)
                    .where(
                        (col(BoardFollow.donor_id) > last[0])
                        | (
                            (col(BoardFollow.donor_id) == last[0])
                            & (col(BoardFollow.board) > last[1])
                        )
                    )
                    .order_by(col(BoardFollow.donor_id), col(BoardFollow.board))
                    .limit(CHUNK)
                    .with_for_update(skip_locked=True)
                )
            )
            if not rows:
                break
            last = (rows[-1].donor_id, rows[-1].board)
            try:
                ranks = [hall(runtime).rank_of(row.board, row.donor_id) for row in rows]
            except redis.RedisError as exc:
                log.warning(
                    "standings: the wall cannot answer", extra={"fields": {"error": str(exc)}}
                )
                break
            now = runtime.clock.now()
            names = _campaign_names(session, {row.board for row in rows})
            for row, rank in zip(rows, ranks, strict=True):
                read += 1
                if row.last_rank is None:  # where the news starts from
                    row.last_rank = rank
                    after += rank is not None
                    continue
                kind = rank_news(row.last_rank, rank, row.last_told_at, now)
                if kind is None:
                    continue
                notify(session, now, row.donor_id, kind,
                       f"rank:{row.board}:{now.isoformat()}",
                       {"board": row.board, "rank": rank, "previous_rank": row.last_rank,
                        "campaign": names.get(row.board)})  # fmt: skip
                row.last_rank, row.last_told_at = rank, now
                told += 1
    return {"read": read, "told": told, "started": after}


def _campaign_names(session: Session, boards: set[str]) -> dict[str, str]:
    ids = {campaign_id_of(board): board for board in boards if campaign_id_of(board)}
    if not ids:
        return {}
    rows = session.execute(
        select(col(Campaign.id), col(Campaign.name)).where(col(Campaign.id).in_(list(ids)))
    )
    return {ids[campaign_id]: name for campaign_id, name in rows}
