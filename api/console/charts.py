"""Geometry of the console's charts, drawn as inline SVG by the templates (no script)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rewards_engine.services.activity import ActivityDay

PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, PLOT_BOTTOM = 48, 8, 10, 24


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # the tooltip: day and counts


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class DailyChart:
    width: int
    height: int
    bars: list[Bar]
    median_line: str  # SVG polyline points
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    plot_left: float
    plot_bottom: float
    plot_right: float
    total: int
    peak: int
    peak_median: float


def nice_ceiling(value: float) -> int:
    """The top of the axis: the first of 4, 8, 20, 40, 80, 200, ... that is at least
    ``value``; each splits into four whole ticks."""
    magnitude = 1
    while True:
        for step in (4, 8, 20):
            if step * magnitude >= value:
                return step * magnitude
        magnitude *= 10


def daily_chart(days: Sequence[ActivityDay], width: int = 720, height: int = 220) -> DailyChart:
    """Bars for the donor's clips per day, a line for the cohort's median."""
    plot_width = width - PLOT_LEFT - PLOT_RIGHT
    plot_height = height - PLOT_TOP - PLOT_BOTTOM
    bottom = PLOT_TOP + plot_height
    top_value = nice_ceiling(max([d.clips for d in days] + [d.cohort_median for d in days] + [1]))
    slot = plot_width / max(len(days), 1)

    def y(value: float) -> float:
        return round(bottom - plot_height * value / top_value, 1)

    bars, points = [], []
    for index, day in enumerate(days):
        left = PLOT_LEFT + index * slot
        bars.append(
            Bar(
                x=round(left + slot * 0.15, 1),
                y=y(day.clips),
                width=round(slot * 0.7, 1),
                height=round(bottom - y(day.clips), 1),
                label=(
                    f"{day.day.isoformat()}: {day.clips:,} clips; cohort median "
                    f"{day.cohort_median:g} of {day.cohort_size:,} donors"
                ),
            )
        )
        points.append(f"{round(left + slot / 2, 1)},{y(day.cohort_median)}")
    every = max(1, math.ceil(len(days) / 8))
    x_ticks = [
        Tick(round(PLOT_LEFT + (i + 0.5) * slot, 1), day.day.strftime("%d %b"))
        for i, day in enumerate(days)
        if i % every == 0
    ]
    y_ticks = [Tick(y(top_value * i // 4), f"{top_value * i // 4:,}") for i in range(5)]
    return DailyChart(
        width=width,
        height=height,
        bars=bars,
        median_line=" ".join(points),
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        plot_left=PLOT_LEFT,
        plot_bottom=bottom,
        plot_right=width - PLOT_RIGHT,
        total=sum(d.clips for d in days),
        peak=max((d.clips for d in days), default=0),
        peak_median=max((d.cohort_median for d in days), default=0.0),
    )
