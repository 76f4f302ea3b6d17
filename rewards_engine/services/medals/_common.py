"""The measures that granting, the scheduled job, the backfill and the medal screen
share, so that a medal is judged the same way wherever it is judged: a donor's tallies,
the board of a period, days in the donor's time zone, and the review window.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from rewards_engine.db import table_of
from rewards_engine.domain import medals as rules
from rewards_engine.domain import wall as boards
from rewards_engine.models import Campaign, WallTally

DEFAULT_REVIEW_WINDOW = timedelta(days=14)


def donor_tallies(session: Session, donor_id: int) -> dict[str, int]:
    return dict(session.execute(_TALLIES, {"donor": donor_id}).all())


_tallies = table_of(WallTally)
_TALLIES = select(_tallies.c.board, _tallies.c.clips).where(
    _tallies.c.donor_id == bindparam("donor")
)  # built once (every accepted submission reads it); Core: it does not autoflush


def period_board(rule: rules.PeriodRule | rules.PlacementRule, moment: datetime) -> boards.Board:
    month, week = boards.periods_of(moment)
    return month if rule.period == "month" else week


def local_days(moments: Iterable[datetime | None], zone: str | None) -> set[date]:
    """The days in ``zone`` of clips' acceptance times (read under a condition on them,
    so none is NULL)."""
    tz = ZoneInfo(zone) if zone else UTC
    days: set[date] = set()
    for moment in moments:
        assert moment is not None
        days.add(moment.astimezone(tz).date())
    return days


def review_window(session: Session) -> timedelta:
    longest = session.scalar(select(func.max(Campaign.review_window_days)))
    return timedelta(days=longest) if longest else DEFAULT_REVIEW_WINDOW


def end_of_day(day: date, zone: str | None) -> datetime:
    tz = ZoneInfo(zone) if zone else UTC
    return datetime.combine(day + timedelta(days=1), time.min, tz).astimezone(UTC)
