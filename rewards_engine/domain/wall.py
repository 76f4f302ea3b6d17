"""Honor Wall rules: boards, their windows, exact scores and competition ranks.

Boards: ``all-time``, ``campaign:{id}``, ``month:YYYY-MM`` and ``week:YYYY-Www``
(ISO 8601 weeks, Monday to Sunday, in UTC). A board counts a donor's *accepted*
clips whose acceptance falls in its window; a reversed clip stops counting.

Ranking is competition ranking: equal counts share a rank (1, 1, 3). Among equal
counts the donor who reached that count first is listed first; among those, equal
to the second, the lower donor id.

Scores are exact. Redis stores a double, which holds every integer up to 2**53
exactly. A score packs the count and the time the donor reached it::

    score = clips * 2**31 + (2**31 - 1 - seconds since the board's epoch)

so a higher count always wins and, among equal counts, an earlier time scores
higher. Limits: 2**22 - 1 = 4,194,303 clips per donor per board, and 2**31 seconds
(68 years) after the epoch: 2024-01-01 for ``all-time``, the start of the campaign or
of the period for the others. A count above the limit is held at the limit (and
logged); no count a donor can reach in this program comes near it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from rewards_engine.domain.errors import InvalidInput

TIME_BITS = 31
TIME_SPAN = 1 << TIME_BITS
MAX_CLIPS = (1 << (53 - TIME_BITS)) - 1
ALL_TIME_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


class BoardKind(StrEnum):
    ALL_TIME = "all-time"
    CAMPAIGN = "campaign"
    MONTH = "month"
    WEEK = "week"


_MONTH = re.compile(r"^month:(\d{4})-(\d{2})$")
_WEEK = re.compile(r"^week:(\d{4})-W(\d{2})$")
CAMPAIGN_PREFIX = "campaign:"  # a campaign's board: the prefix, then the campaign's id
_CAMPAIGN = re.compile(rf"^{CAMPAIGN_PREFIX}([A-Za-z0-9_.-]{{1,64}})$")


@dataclass(frozen=True)
class Board:
    """A board and its window; ``end`` is exclusive and None for open boards."""

    name: str
    kind: BoardKind
    start: datetime
    end: datetime | None
    campaign_id: str | None = None

    @property
    def is_period(self) -> bool:
        return self.kind in (BoardKind.MONTH, BoardKind.WEEK)

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment and (self.end is None or moment < self.end)

    def is_closed(self, now: datetime) -> bool:
        return self.end is not None and now >= self.end


def all_time() -> Board:
    return Board(BoardKind.ALL_TIME.value, BoardKind.ALL_TIME, ALL_TIME_EPOCH, None)


def campaign_board(campaign_id: str, starts_at: datetime) -> Board:
    """A campaign's board counts from its start (its epoch), for as long as it exists."""
    return Board(
        f"{CAMPAIGN_PREFIX}{campaign_id}", BoardKind.CAMPAIGN, starts_at, None, campaign_id
    )


def month_board(year: int, month: int) -> Board:
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    return Board(f"month:{year:04d}-{month:02d}", BoardKind.MONTH, start, end)


def week_board(year: int, week: int) -> Board:
    start = datetime.combine(date.fromisocalendar(year, week, 1), datetime.min.time(), UTC)
    return Board(f"week:{year:04d}-W{week:02d}", BoardKind.WEEK, start, start + timedelta(days=7))


def periods_of(moment: datetime) -> tuple[Board, Board]:
    """The month and the ISO week that ``moment`` (UTC) falls in."""
    moment = moment.astimezone(UTC)
    year, week, _ = moment.isocalendar()
    return month_board(moment.year, moment.month), week_board(year, week)


def previous_periods(now: datetime) -> tuple[Board, Board]:
    month, week = periods_of(now)
    return periods_of(month.start - timedelta(seconds=1))[0], periods_of(
        week.start - timedelta(seconds=1)
    )[1]


def parse_board(name: str, *, campaign_starts: datetime | None = None) -> Board:
    """A board from its name, or :class:`InvalidInput` naming ``board``.

    Campaign boards need the campaign's start (the caller looks the campaign up).
    """

    def bad(message: str) -> InvalidInput:
        return InvalidInput(message, code="unknown_board", field="board", location="query")

    if name == BoardKind.ALL_TIME.value:
        return all_time()
    if match := _MONTH.match(name):
        year, month = int(match[1]), int(match[2])
        if not 1 <= month <= 12 or year < ALL_TIME_EPOCH.year:
            raise bad(f"{name!r} is not a month of the program")
        return month_board(year, month)
    if match := _WEEK.match(name):
        year, week = int(match[1]), int(match[2])
        try:
            board = week_board(year, week)
        except ValueError:
            raise bad(f"{name!r} is not an ISO week") from None
        if year < ALL_TIME_EPOCH.year:
            raise bad(f"{name!r} is before the program")
        return board
    if match := _CAMPAIGN.match(name):
        if campaign_starts is None:
            raise bad(f"no campaign {match[1]!r}")
        return campaign_board(match[1], campaign_starts)
    raise bad("board is all-time, campaign:{id}, month:YYYY-MM or week:YYYY-Www (ISO week, UTC)")


def is_board_name(name: str) -> bool:
    """Whether a tally key names a board (not, say, a per-type count)."""
    return name == BoardKind.ALL_TIME.value or bool(
        _MONTH.match(name) or _WEEK.match(name) or _CAMPAIGN.match(name)
    )


def campaign_id_of(name: str) -> str | None:
    match = _CAMPAIGN.match(name)
    return match[1] if match else None


def encode(clips: int, reached_at: datetime, board: Board) -> float:
    """The exact Redis score of ``clips`` reached at ``reached_at`` on ``board``."""
    clips = min(max(clips, 0), MAX_CLIPS)
    elapsed = int((reached_at - board.start).total_seconds())
    elapsed = min(max(elapsed, 0), TIME_SPAN - 1)
    return float(clips * TIME_SPAN + (TIME_SPAN - 1 - elapsed))


def decode_clips(score: float) -> int:
    return int(score) // TIME_SPAN


def competition_ranks(first_rank: int, first_position: int, counts: list[int]) -> list[int]:
    """Ranks of consecutive entries, given the rank and 1-based position of the first."""
    ranks: list[int] = []
    for offset, count in enumerate(counts):
        if offset == 0:
            ranks.append(first_rank)
        elif count == counts[offset - 1]:
            ranks.append(ranks[-1])
        else:
            ranks.append(first_position + offset)
    return ranks


def placement(*, status: str, visibility: str, on_hold: bool, clips: int) -> str:
    """Where a donor belongs on a board: ``listed``, ``shadow`` or ``removed``.

    Banned and erased donors, and donors with nothing counted, are on no board.
    Donors who chose ``hidden``, and donors under review (a fraud hold), are ranked
    but never shown on public pages: their own view still tells them their rank.
    """
    if status != "active" or clips <= 0:
        return "removed"
    if on_hold or visibility == "hidden":
        return "shadow"
    return "listed"


def public_name(*, visibility: str, display_name: str | None, alias: str | None) -> str:
    """What public pages show: the display name if the donor chose ``public`` and has
    one, else their pseudonym."""
    if visibility == "public" and display_name:
        return display_name
    return alias or "Anonymous donor"
