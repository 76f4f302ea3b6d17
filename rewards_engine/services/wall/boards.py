"""What the parts of the wall share about a board: which clips count on it, whether
Redis still keeps it, and this process's handles on the boards Redis keeps."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.domain import wall as rules
from rewards_engine.domain.wall import Board
from rewards_engine.models import Campaign, Clip
from rewards_engine.redis_wall import HonorWall

if TYPE_CHECKING:
    from rewards_engine.runtime import Runtime
    from rewards_engine.services.wall.read import WallPage

LIVE_GRACE = timedelta(days=7)  # a closed period's board stays live this long


def hall(runtime: Runtime) -> HonorWall:
    """The process's Honor Wall client (one per runtime: it caches public names)."""
    return runtime.extension(
        "honor_wall", lambda: HonorWall(runtime.redis, runtime.settings.redis_namespace)
    )


def page_cache(runtime: Runtime) -> dict[tuple[str, int, int], tuple[float, WallPage]]:
    """Recently read public pages of this process (cleared by this process's writes)."""
    return runtime.extension("wall_pages", dict)


def counts_on(board: Board) -> list[ColumnElement[bool]]:
    """The conditions under which a clip counts on ``board``."""
    conditions = [col(Clip.status) == "accepted"]
    if board.campaign_id is not None:
        conditions.append(col(Clip.campaign_id) == board.campaign_id)
    if board.is_period:
        accepted_at = col(Clip.accepted_at)
        conditions += [accepted_at >= board.start, accepted_at < board.end]
    return conditions


def resolve_board(session: Session, name: str) -> Board:
    campaign_id = rules.campaign_id_of(name)
    starts = None
    if campaign_id is not None:
        starts = session.scalar(
            select(col(Campaign.starts_at)).where(col(Campaign.id) == campaign_id)
        )
    return rules.parse_board(name, campaign_starts=starts)


def is_live(board: Board, now: datetime) -> bool:
    """Live boards are kept in Redis: open ones, and closed periods within the grace."""
    return board.end is None or now < board.end + LIVE_GRACE
