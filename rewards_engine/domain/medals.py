"""Medal rules: what each kind of medal asks for, and how far a donor is from it.

Definitions are data (``fixtures/medals.toml``, admin endpoints). Each has a rule of
one kind:

- ``count``: accepted clips in total, of one incident type, or in one campaign;
- ``streak``: clips accepted on N consecutive days, in the donor's time zone (UTC if
  unknown);
- ``period``: at least N accepted clips in one week or month (once per period);
- ``placement``: top N of a week or month board when the period closes (once per period);
- ``campaign_goal``: contributed to a campaign that reached its target.

An award is unique per (donor, medal, period key): the period key is the period's
board name for ``period`` and ``placement`` medals and empty otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from rewards_engine.domain.errors import InvalidInput

TIERS = ("bronze", "silver", "gold", "platinum")
_LEVEL = re.compile(r"^level-[1-9][0-9]{0,2}$")
_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,47}$")
PERIODS = ("week", "month")
MAX_STREAK_DAYS = 365


def _bad(field: str, message: str) -> InvalidInput:
    return InvalidInput(message, code="invalid_medal", field=field)


@dataclass(frozen=True)
class CountRule:
    threshold: int
    incident_type: str | None = None
    campaign: str | None = None

    kind = "count"

    @property
    def tally_key(self) -> str:
        """The tally the rule reads (see ``wall_tallies``)."""
        if self.campaign is not None:
            return f"campaign:{self.campaign}"
        if self.incident_type is not None:
            return f"type:{self.incident_type}"
        return "all-time"


@dataclass(frozen=True)
class StreakRule:
    days: int

    kind = "streak"


@dataclass(frozen=True)
class PeriodRule:
    period: str
    threshold: int

    kind = "period"


@dataclass(frozen=True)
class PlacementRule:
    period: str
    top: int

    kind = "placement"


@dataclass(frozen=True)
class CampaignGoalRule:
    campaign: str

    kind = "campaign_goal"


Rule = CountRule | StreakRule | PeriodRule | PlacementRule | CampaignGoalRule


def _positive(data: Mapping[str, Any], name: str, maximum: int = 10_000_000) -> int:
    value = data.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= maximum:
        raise _bad(f"rule.{name}", f"rule.{name} is a whole number from 1 to {maximum:,}")
    return value


def _period(data: Mapping[str, Any]) -> str:
    if data.get("period") not in PERIODS:
        raise _bad("rule.period", "rule.period is week or month")
    return str(data["period"])


def _name(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= 64:
        raise _bad(f"rule.{name}", f"rule.{name} is a name of 1 to 64 characters")
    return value


def parse_rule(data: Mapping[str, Any]) -> Rule:
    """A rule from its JSON/TOML form, or :class:`InvalidInput` naming the field."""
    kind = data.get("kind")
    allowed = {
        "count": {"kind", "threshold", "incident_type", "campaign"},
        "streak": {"kind", "days"},
        "period": {"kind", "period", "threshold"},
        "placement": {"kind", "period", "top"},
        "campaign_goal": {"kind", "campaign"},
    }
    if kind not in allowed:
        raise _bad("rule.kind", f"rule.kind is one of {', '.join(allowed)}")
    stray = sorted(set(data) - allowed[kind])
    if stray:
        raise _bad(f"rule.{stray[0]}", f"a {kind} rule has no {stray[0]!r}")
    if kind == "count":
        incident, campaign = _name(data, "incident_type"), _name(data, "campaign")
        if incident and campaign:
            raise _bad("rule.campaign", "count one incident type or one campaign, not both")
        return CountRule(_positive(data, "threshold"), incident, campaign)
    if kind == "streak":
        return StreakRule(_positive(data, "days", MAX_STREAK_DAYS))
    if kind == "period":
        return PeriodRule(_period(data), _positive(data, "threshold"))
    if kind == "placement":
        return PlacementRule(_period(data), _positive(data, "top", 1000))
    campaign = _name(data, "campaign")
    if campaign is None:
        raise _bad("rule.campaign", "a campaign_goal rule names its campaign")
    return CampaignGoalRule(campaign)


def rule_as_data(rule: Rule) -> dict[str, Any]:
    data = {"kind": rule.kind, **{k: v for k, v in vars(rule).items() if v is not None}}
    return data


def validate_tier(tier: str) -> str:
    if tier in TIERS or _LEVEL.match(tier):
        return tier
    raise _bad("tier", f"tier is one of {', '.join(TIERS)} or level-N")


def validate_code(code: str) -> str:
    if not _CODE.match(code):
        raise _bad("code", "code has 2 to 48 lower-case letters, digits, - and _")
    return code


def runs(days: Iterable[date]) -> list[tuple[date, date]]:
    """Maximal runs of consecutive days, as (first, last), oldest first."""
    ordered = sorted(set(days))
    found: list[tuple[date, date]] = []
    for day in ordered:
        if found and day == found[-1][1] + timedelta(days=1):
            found[-1] = (found[-1][0], day)
        else:
            found.append((day, day))
    return found


def run_length(run: tuple[date, date]) -> int:
    return (run[1] - run[0]).days + 1


def current_run(days: Iterable[date], today: date) -> int:
    """The run still going: it ends today, or yesterday (today is not over yet)."""
    found = runs(days)
    if not found or found[-1][1] < today - timedelta(days=1):
        return 0
    return run_length(found[-1])


def first_run_of(days: Iterable[date], length: int) -> tuple[date, date] | None:
    """The first ``length`` consecutive days reached, or None."""
    for first, last in runs(days):
        if run_length((first, last)) >= length:
            return first, first + timedelta(days=length - 1)
    return None


def percent(current: int, target: int) -> float:
    return round(min(100.0, 100.0 * current / target), 1) if target else 100.0
