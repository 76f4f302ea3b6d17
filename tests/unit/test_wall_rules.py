"""Boards, exact scores and competition ranks (pure)."""

from datetime import UTC, datetime, timedelta

import pytest

from rewards_engine.domain.errors import InvalidInput
from rewards_engine.domain.wall import (
    ALL_TIME_EPOCH,
    MAX_CLIPS,
    TIME_SPAN,
    BoardKind,
    all_time,
    competition_ranks,
    decode_clips,
    encode,
    parse_board,
    periods_of,
    placement,
    previous_periods,
    public_name,
)


def test_iso_weeks_are_monday_to_sunday_in_utc() -> None:
    week = parse_board("week:2025-W01")
    assert week.start == datetime(2024, 12, 30, tzinfo=UTC)  # ISO week 1 starts in 2024
    assert week.end == datetime(2025, 1, 6, tzinfo=UTC)
    assert parse_board("week:2026-W53").start == datetime(2026, 12, 28, tzinfo=UTC)
    month, week = periods_of(datetime(2025, 1, 5, 23, 59, 59, tzinfo=UTC))
    assert (month.name, week.name) == ("month:2025-01", "week:2025-W01")
    _, next_week = periods_of(datetime(2025, 1, 6, tzinfo=UTC))
    assert next_week.name == "week:2025-W02"


def test_months_and_their_boundaries() -> None:
    december = parse_board("month:2024-12")
    assert (december.start, december.end) == (
        datetime(2024, 12, 1, tzinfo=UTC),
        datetime(2025, 1, 1, tzinfo=UTC),
    )
    assert december.contains(datetime(2024, 12, 31, 23, 59, 59, tzinfo=UTC))
    assert not december.contains(december.end)
    last_month, last_week = previous_periods(datetime(2025, 3, 1, 0, 0, 1, tzinfo=UTC))
    assert (last_month.name, last_week.name) == ("month:2025-02", "week:2025-W08")


@pytest.mark.parametrize(
    "name",
    [
        "",
        "weekly",
        "month:2025-13",
        "month:2025-1",
        "month:1999-01",
        "week:2025-W53",
        "week:2025-W00",
        "week:2025-03",
        "campaign:",
        "campaign:unknown",
        "all time",
        "campaign:x y",
    ],
)
def test_unknown_boards_are_422_naming_board(name: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_board(name)
    assert (caught.value.field, caught.value.location) == ("board", "query")


def test_campaign_boards_count_from_the_campaign_start() -> None:
    start = datetime(2024, 12, 18, tzinfo=UTC)
    board = parse_board("campaign:theft-bounty-2024", campaign_starts=start)
    assert board.kind == BoardKind.CAMPAIGN and board.start == start and board.end is None


def test_scores_are_exact_and_order_by_count_then_earliest() -> None:
    board = all_time()
    late = ALL_TIME_EPOCH + timedelta(days=700)
    early = ALL_TIME_EPOCH + timedelta(days=1)
    assert encode(201_531, late, board) > encode(201_530, early, board)  # more clips win
    assert encode(5, early, board) > encode(5, late, board)  # same count: earlier wins
    for clips in (0, 1, 201_531, MAX_CLIPS):
        for moment in (ALL_TIME_EPOCH, late, ALL_TIME_EPOCH + timedelta(seconds=TIME_SPAN - 1)):
            score = encode(clips, moment, board)
            assert score == int(score) and int(score) < 2**53  # exact in a double
            assert decode_clips(score) == clips
    assert decode_clips(encode(MAX_CLIPS + 10, late, board)) == MAX_CLIPS  # held at the limit


def test_competition_ranks_share_ties_and_skip() -> None:
    assert competition_ranks(1, 1, [9, 9, 7, 7, 7, 1]) == [1, 1, 3, 3, 3, 6]
    # A page starting mid-tie: its first entry shares the rank of entries on the page before.
    assert competition_ranks(3, 5, [7, 1]) == [3, 6]


def test_placement_and_public_names() -> None:
    active = {"status": "active", "on_hold": False}
    assert placement(visibility="public", clips=3, **active) == "listed"
    assert placement(visibility="alias", clips=3, **active) == "listed"
    assert placement(visibility="hidden", clips=3, **active) == "shadow"
    assert placement(visibility="public", clips=3, status="active", on_hold=True) == "shadow"
    assert placement(visibility="public", clips=0, **active) == "removed"
    assert placement(visibility="public", clips=3, status="banned", on_hold=False) == "removed"
    assert public_name(visibility="public", display_name="Ada", alias="Swift Owl 1234") == "Ada"
    assert public_name(visibility="alias", display_name="Ada", alias="Swift Owl 1234") == (
        "Swift Owl 1234"
    )
    assert public_name(visibility="public", display_name=None, alias="Swift Owl 1234") == (
        "Swift Owl 1234"
    )
