"""The median taken from a histogram, and the geometry of the console's daily chart."""

from __future__ import annotations

import statistics
from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from api.console.charts import PLOT_TOP, daily_chart, nice_ceiling
from rewards_engine.domain.stats import histogram_median
from rewards_engine.services.activity import ActivityDay


@given(st.lists(st.integers(min_value=0, max_value=50), min_size=1, max_size=200))
def test_the_histogram_median_is_the_median_of_the_values(values: list[int]) -> None:
    counts: dict[int, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    assert histogram_median(counts) == statistics.median(values)


def test_an_empty_histogram_has_median_zero() -> None:
    assert histogram_median({}) == 0.0


def test_nice_ceilings() -> None:
    assert [nice_ceiling(v) for v in (0, 1, 2.5, 5, 8, 11, 24, 41, 480, 5001)] == [
        4, 4, 4, 8, 8, 20, 40, 80, 800, 8_000,
    ]  # fmt: skip


def days(counts: list[int], medians: list[float]) -> list[ActivityDay]:
    start = date(2025, 1, 1)
    return [
        ActivityDay(start + timedelta(days=i), clips, median, 10)
        for i, (clips, median) in enumerate(zip(counts, medians, strict=True))
    ]


def test_bars_are_in_proportion_and_the_median_is_a_line_over_the_same_days() -> None:
    chart = daily_chart(days([0, 5, 20, 2], [1, 2, 2.5, 0]), width=448, height=134)
    assert len(chart.bars) == 4
    assert [b.height for b in chart.bars] == [0, 25, 100, 10]  # scale: 20 clips = 100 px
    assert chart.bars[2].y == PLOT_TOP  # the tallest bar reaches the top of the plot
    points = [tuple(map(float, p.split(","))) for p in chart.median_line.split()]
    assert [y for _, y in points] == [105.0, 100.0, 97.5, 110.0]
    assert [x for x, _ in points] == [b.x + b.width / 2 for b in chart.bars]
    assert (chart.total, chart.peak, chart.peak_median) == (27, 20, 2.5)
    assert [t.label for t in chart.y_ticks] == ["0", "5", "10", "15", "20"]
    assert chart.y_ticks[0].position == chart.plot_bottom
    assert "5 clips; cohort median 2 of 10 donors" in chart.bars[1].label


def test_a_month_gets_a_readable_number_of_day_labels() -> None:
    chart = daily_chart(days([1] * 30, [1.0] * 30))
    assert 5 <= len(chart.x_ticks) <= 8
    assert chart.x_ticks[0].label == "01 Jan"
