from datetime import date, timedelta

import pytest

from rewards_engine.domain.errors import InvalidInput
from rewards_engine.domain.medals import (
    CampaignGoalRule,
    CountRule,
    PeriodRule,
    PlacementRule,
    StreakRule,
    current_run,
    first_run_of,
    parse_rule,
    percent,
    rule_as_data,
    runs,
    validate_code,
    validate_tier,
)


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        ({"kind": "count", "threshold": 1}, CountRule(1)),
        (
            {"kind": "count", "threshold": 25, "incident_type": "car_door"},
            CountRule(25, "car_door"),
        ),
        ({"kind": "count", "threshold": 5, "campaign": "c"}, CountRule(5, None, "c")),
        ({"kind": "streak", "days": 7}, StreakRule(7)),
        ({"kind": "period", "period": "week", "threshold": 50}, PeriodRule("week", 50)),
        ({"kind": "placement", "period": "month", "top": 10}, PlacementRule("month", 10)),
        ({"kind": "campaign_goal", "campaign": "c"}, CampaignGoalRule("c")),
    ],
)
def test_rules_parse_and_round_trip(data, rule) -> None:  # type: ignore[no-untyped-def]
    assert parse_rule(data) == rule
    assert parse_rule(rule_as_data(rule)) == rule


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"kind": "badge"}, "rule.kind"),
        ({"kind": "count"}, "rule.threshold"),
        ({"kind": "count", "threshold": 0}, "rule.threshold"),
        ({"kind": "count", "threshold": "10"}, "rule.threshold"),
        ({"kind": "count", "threshold": True}, "rule.threshold"),
        ({"kind": "count", "threshold": 1, "incident_type": "a", "campaign": "b"}, "rule.campaign"),
        ({"kind": "count", "threshold": 1, "days": 3}, "rule.days"),
        ({"kind": "streak", "days": 366}, "rule.days"),
        ({"kind": "period", "period": "year", "threshold": 3}, "rule.period"),
        ({"kind": "placement", "period": "week"}, "rule.top"),
        ({"kind": "campaign_goal"}, "rule.campaign"),
    ],
)
def test_bad_rules_name_the_field(data, field) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput) as caught:
        parse_rule(data)
    assert caught.value.field == field


def test_codes_and_tiers() -> None:
    assert validate_code("watch-10") == "watch-10"
    assert validate_tier("gold") == "gold" and validate_tier("level-12") == "level-12"
    for bad in ("X", "has space", "a" * 49):
        with pytest.raises(InvalidInput):
            validate_code(bad)
    for bad in ("diamond", "level-0", "level-"):
        with pytest.raises(InvalidInput):
            validate_tier(bad)


def test_runs_of_days() -> None:
    d = date(2025, 1, 1)
    days = {d, d + timedelta(1), d + timedelta(2), d + timedelta(5), d + timedelta(6)}
    assert runs(days) == [(d, d + timedelta(2)), (d + timedelta(5), d + timedelta(6))]
    assert first_run_of(days, 3) == (d, d + timedelta(2))
    assert first_run_of(days, 4) is None
    assert current_run(days, d + timedelta(6)) == 2
    assert current_run(days, d + timedelta(7)) == 2  # today is not over: yesterday counts
    assert current_run(days, d + timedelta(8)) == 0
    assert current_run(set(), d) == 0


def test_percent_is_capped() -> None:
    assert percent(5, 10) == 50.0 and percent(15, 10) == 100.0 and percent(1, 3) == 33.3
