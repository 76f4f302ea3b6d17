"""A donor's daily accepted clips beside their cohort's median: the first picture a
reviewer reads. The cohort of a day is every donor who had clips accepted that day in
any campaign the donor gave to in the window, each counted with all their clips in
those campaigns (the fraud rule compares within one campaign at a time; its evidence
carries that campaign's median)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlmodel import col

from rewards_engine.clock import Clock
from rewards_engine.db import Database, one_of, utc_bucket
from rewards_engine.domain.stats import histogram_median
from rewards_engine.models import Clip

MAX_DAYS = 366


@dataclass(frozen=True)
class ActivityDay:
    day: date
    clips: int
    cohort_median: float
    cohort_size: int  # donors with accepted clips that day in the donor's campaigns


def daily_clips(db: Database, clock: Clock, donor_id: int, days: int = 30) -> list[ActivityDay]:
    """The last ``days`` UTC days, oldest first, today included."""
    days = max(1, min(days, MAX_DAYS))
    today = clock.now().astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, time(), tzinfo=UTC)
    accepted = [col(Clip.status) == "accepted", col(Clip.accepted_at) >= start]
    with db.read() as session:
        day = utc_bucket(session, col(Clip.accepted_at), "day").label("day")
        campaigns = list(
            session.scalars(
                select(col(Clip.campaign_id))
                .where(col(Clip.donor_id) == donor_id, *accepted)
                .distinct()
            )
        )
        own: dict[str, int] = {}
        histograms: dict[str, dict[int, int]] = defaultdict(dict)
        if campaigns:
            own = dict(
                session.execute(
                    select(day, func.count())
                    .where(col(Clip.donor_id) == donor_id, *accepted)
                    .group_by(day)
                ).all()
            )
            per_donor = (
                select(day, func.count().label("clips"))
                .where(*accepted, one_of(session, col(Clip.campaign_id), campaigns))
                .group_by(day, col(Clip.donor_id))
                .subquery()
            )
            # (day, clips, donors with that many): a few rows per day, whatever the cohort.
            for moment, clips, donors in session.execute(
                select(per_donor.c.day, per_donor.c.clips, func.count()).group_by(
                    per_donor.c.day, per_donor.c.clips
                )
            ):
                histograms[moment][clips] = donors
    result = []
    for offset in range(days):
        current = first + timedelta(days=offset)
        key = current.isoformat()
        histogram = histograms.get(key, {})
        result.append(
            ActivityDay(
                day=current,
                clips=own.get(key, 0),
                cohort_median=histogram_median(histogram),
                cohort_size=sum(histogram.values()),
            )
        )
    return result
