"""The staff policy's pure rules: who may do what, limits per action and per day, and
the validation of a role's record (the fixture's and an admin's edit)."""

from __future__ import annotations

from typing import Any

import pytest

from rewards_engine.domain import staff_policy as rules
from rewards_engine.domain.errors import Forbidden, InvalidInput
from rewards_engine.services.staff_policy import shipped_policy


def _policy() -> rules.Policy:
    return rules.Policy(
        {
            "support": rules.parse_role(
                "support",
                {
                    "may": ["donors.read", "cash.adjust"],
                    "limits": {"cash.adjust": {"per_action": 5_000, "per_day": 50_000}},
                },
            )
        }
    )


def test_a_role_may_only_its_actions() -> None:
    policy = _policy()
    assert policy.allows("support", "donors.read")
    assert not policy.allows("support", "roles.change")
    assert not policy.allows("finance", "donors.read")  # a role missing may do nothing
    assert policy.allows_any("support", ("points.adjust", "cash.adjust"))
    with pytest.raises(Forbidden) as refused:
        rules.check(policy, "support", "roles.change")
    assert refused.value.code == "forbidden"


def test_the_per_action_limit_bounds_the_absolute_amount() -> None:
    policy = _policy()
    rules.check(policy, "support", "cash.adjust", 5_000)
    rules.check(policy, "support", "cash.adjust", -5_000)
    for amount in (5_001, -5_001):
        with pytest.raises(Forbidden) as refused:
            rules.check(policy, "support", "cash.adjust", amount)
        assert refused.value.code == "over_limit"
        assert refused.value.details["limit"] == 5_000
        assert "5,000" in refused.value.message


@pytest.mark.parametrize(
    ("role", "record", "field"),
    [
        ("janitor", {"may": []}, "role"),
        ("support", {"may": "donors.read"}, "may"),
        ("support", {"may": ["donors.read", "teleport"]}, "may.1"),
        ("support", {"may": [], "colour": "red"}, "colour"),
        ("admin", {"may": ["donors.read"]}, "may"),  # admins keep roles.change
        ("support", {"may": ["clip.reverse"], "limits": {"clip.reverse": {"per_day": 1}}},
         "limits.clip.reverse"),
        ("support", {"may": [], "limits": {"cash.adjust": {"per_day": 1}}}, "limits.cash.adjust"),
        ("support", {"may": ["cash.adjust"], "limits": {"cash.adjust": {"per_day": 0}}},
         "limits.cash.adjust.per_day"),
        ("support", {"may": ["cash.adjust"], "limits": {"cash.adjust": {"per_day": "9"}}},
         "limits.cash.adjust.per_day"),
        ("support", {"may": ["cash.adjust"], "limits": {"cash.adjust": {"per_hour": 9}}},
         "limits.cash.adjust.per_hour"),
        ("support", {"may": ["cash.adjust"],
                     "limits": {"cash.adjust": {"per_action": 10, "per_day": 5}}},
         "limits.cash.adjust.per_action"),
    ],
)  # fmt: skip
def test_a_bad_role_record_names_its_field(role: str, record: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        rules.parse_role(role, record)
    assert refused.value.field == field


def test_the_shipped_policy_gives_each_staff_role_what_the_issue_asks() -> None:
    policy = shipped_policy()
    assert set(policy.roles) == {"support", "support_lead", "finance", "admin"}
    assert policy.roles["admin"].may == rules.ACTIONS  # admin: everything
    tier1 = policy.roles["support"]
    assert tier1.limit("clips.review").per_action == 1  # single-clip reviews
    assert "fraud.dismiss_high" not in tier1.may and "donor.ban" not in tier1.may
    lead = policy.roles["support_lead"]
    for action in ("points.adjust", "cash.adjust", "clips.review"):
        assert lead.limit(action).per_action > tier1.limit(action).per_action  # type: ignore[operator]
    assert {"fraud.dismiss_high", "donor.ban", "approvals.decide"} <= lead.may
    finance = policy.roles["finance"]
    assert {"payouts.batch", "payouts.export", "cash.adjust"} <= finance.may
    assert "points.adjust" not in finance.may and "roles.change" not in finance.may
    for held in policy.roles.values():  # every limit is on an action the role may do
        assert set(held.limits) <= held.may
