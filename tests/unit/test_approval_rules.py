"""The four-eyes rules (domain/approvals.py): which actions need a second person, who
may be that person, expiry, and the policy file's checks."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta

import pytest

from rewards_engine.config import PROJECT_ROOT
from rewards_engine.domain import approvals as rules
from rewards_engine.domain.errors import InvalidInput

POLICY = rules.parse_policy(
    {
        "expires_hours": 48,
        "actions": {
            "cash.adjust": {"above": 10_000, "approvers": ["finance", "admin"]},
            "fraud.dismiss_high": {"above": 0, "approvers": ["support_lead", "admin"]},
        },
    }
)


def test_shipped_policy_parses_and_gates_every_action_of_the_issue() -> None:
    with (PROJECT_ROOT / "fixtures" / "approvals.toml").open("rb") as handle:
        policy = rules.parse_policy(tomllib.load(handle))
    assert set(policy.rules) >= {
        "points.adjust",
        "cash.adjust",
        "clips.review",
        "fraud.dismiss_high",
        "donor.ban",
        "payouts.batch",
        "campaign.change",
    }


def test_needs_approval_strictly_above_the_threshold_either_sign() -> None:
    assert not rules.needs_approval(POLICY, "cash.adjust", 10_000)
    assert rules.needs_approval(POLICY, "cash.adjust", 10_001)
    assert rules.needs_approval(POLICY, "cash.adjust", -10_001)
    assert rules.needs_approval(POLICY, "fraud.dismiss_high", 1)
    assert not rules.needs_approval(POLICY, "points.adjust", 10**9)  # not gated here


def test_the_requester_never_decides_their_own_request_under_any_role() -> None:
    why = rules.refusal_to_decide(POLICY, "cash.adjust", "support:alice", "admin:alice", "admin")
    assert why is not None and "another staff member" in why


def test_a_role_not_named_for_the_action_may_not_approve() -> None:
    why = rules.refusal_to_decide(POLICY, "cash.adjust", "support:alice", "support:bob", "support")
    assert why is not None and "finance" in why
    finance = rules.refusal_to_decide(POLICY, "cash.adjust", "support:a", "finance:b", "finance")
    assert finance is None


def test_unknown_action_needs_an_admin() -> None:
    assert rules.refusal_to_decide(POLICY, "x.y", "support:a", "finance:b", "finance") is not None
    assert rules.refusal_to_decide(POLICY, "x.y", "support:a", "admin:b", "admin") is None


def test_expiry() -> None:
    now = datetime(2026, 12, 5, 12, tzinfo=UTC)
    expiry = rules.expires_at(POLICY, now)
    assert expiry == now + timedelta(hours=48)
    assert not rules.is_expired(expiry, expiry - timedelta(seconds=1))
    assert rules.is_expired(expiry, expiry)


def test_only_pending_requests_are_decided() -> None:
    assert rules.may_decide("pending")
    for status in ("approved", "applied", "failed", "refused", "expired"):
        assert not rules.may_decide(status)


ADMINS = {"above": 1, "approvers": ["admin"]}
APPROVERS = "actions.a.approvers"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"actions": {"a": ADMINS}}, "expires_hours"),
        ({"expires_hours": 0, "actions": {"a": ADMINS}}, "expires_hours"),
        ({"expires_hours": 1}, "actions"),
        ({"expires_hours": 1, "actions": {"a": {**ADMINS, "above": -1}}}, "actions.a.above"),
        ({"expires_hours": 1, "actions": {"a": {**ADMINS, "above": True}}}, "actions.a.above"),
        ({"expires_hours": 1, "actions": {"a": {**ADMINS, "approvers": []}}}, APPROVERS),
        ({"expires_hours": 1, "actions": {"a": {**ADMINS, "approvers": ["x"]}}}, APPROVERS),
    ],
)
def test_a_bad_policy_names_its_field(data: dict, field: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidInput) as caught:
        rules.parse_policy(data)
    assert caught.value.field == field
