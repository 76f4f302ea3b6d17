"""A donor's daily accepted clips and their cohort's median, as the console charts them."""

from __future__ import annotations

from datetime import timedelta

from rewards_engine.domain.actors import Actor
from rewards_engine.services import activity, clip_review
from tests.support.factories import add_campaign, clip, consenting_donor, load_program
from tests.support.factories import donate_ids as donate


def test_days_counts_and_the_cohort_of_the_same_campaigns(runtime, client, auth) -> None:
    load_program(runtime)
    clock = runtime.clock
    other = add_campaign(runtime, id="elsewhere")
    names = {"a": 5, "b": 1, "c": 3}
    ids = {name: consenting_donor(runtime, name) for name in [*names, "far"]}
    hour_ago = clock.now() - timedelta(hours=1)
    for name, count in names.items():  # day one: 5, 1 and 3 clips: median 3
        donate(client, auth(name), [clip(recorded_at=hour_ago) for _ in range(count)])
    far = [clip(recorded_at=hour_ago) for _ in range(40)]  # another campaign: not the cohort
    answer = client.post(
        "/v1/submissions",
        json={"campaign_id": other.id, "consent_version": "2024-12-01", "clips": far},
        headers=auth("far"),
    )
    assert answer.status_code == 201, answer.get_json()
    clock.advance(timedelta(days=1))
    donate(client, auth("a"), [clip(recorded_at=clock.now() - timedelta(hours=1))])
    donate(
        client, auth("b"), [clip(recorded_at=clock.now() - timedelta(hours=1)) for _ in range(3)]
    )
    first = donate(client, auth("c"), [clip(recorded_at=clock.now() - timedelta(hours=1))])
    clip_review.reverse_clip(  # a reversed clip no longer counts
        runtime.db, clock, Actor(id="support:x", role="support"), first[0], "staged"
    )

    days = activity.daily_clips(runtime.db, clock, ids["a"], days=7)
    assert len(days) == 7 and days[-1].day == clock.now().date()
    assert days[0].day == clock.now().date() - timedelta(days=6)
    yesterday, today = days[-2], days[-1]
    assert (yesterday.clips, yesterday.cohort_median, yesterday.cohort_size) == (5, 3, 3)
    assert (today.clips, today.cohort_median, today.cohort_size) == (1, 2, 2)
    assert all(d.clips == 0 and d.cohort_size == 0 for d in days[:-2])
    assert [d.clips for d in activity.daily_clips(runtime.db, clock, ids["far"], days=2)] == [40, 0]
    assert activity.daily_clips(runtime.db, clock, 999_999, days=3) == [
        activity.ActivityDay(clock.now().date() - timedelta(days=n), 0, 0.0, 0) for n in (2, 1, 0)
    ]
