"""Four-eyes approval: which staff actions need a second person, who may be that
person, and when a request lapses. Pure rules over the policy in fixtures/approvals.toml;
the service (services/approvals.py) stores the requests and applies them.

Why a second person: one agent alone could credit a large sum, accept a farm's clips or
clear a fraud flag (docs/security.md, T3). Above a threshold the action becomes a
request that another staff member, of a role named for that action, must approve.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from rewards_engine.domain.errors import InvalidInput

# The staff roles an approver may hold (docs/security.md, T3). Kept here as names so the
# policy file can be checked before the role table is read.
APPROVER_ROLES = frozenset({"support", "support_lead", "finance", "admin"})
MAX_EXPIRES_HOURS = 24 * 14


class Status(StrEnum):
    PENDING = "pending"  # waiting for a second person
    APPROVED = "approved"  # approved; being applied (or the apply was interrupted)
    APPLIED = "applied"  # the action ran, once
    FAILED = "failed"  # approved, but applying it was refused (nothing written)
    REFUSED = "refused"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Rule:
    """One gated action: above ``above`` (points, cents or a count) it needs approval
    by a holder of one of ``approvers``."""

    action: str
    above: int
    approvers: frozenset[str]


@dataclass(frozen=True)
class Policy:
    rules: Mapping[str, Rule]
    expires_hours: int

    def rule(self, action: str) -> Rule | None:
        return self.rules.get(action)


def parse_policy(data: Mapping[str, Any], source: str = "approvals.toml") -> Policy:
    """The policy from the file's data, checked: a mistake stops the engine at start-up
    rather than silently letting an action through."""
    hours = data.get("expires_hours")
    if not isinstance(hours, int) or isinstance(hours, bool) or not 1 <= hours <= MAX_EXPIRES_HOURS:
        raise InvalidInput(
            f"{source}: expires_hours is a whole number of hours from 1 to {MAX_EXPIRES_HOURS}",
            field="expires_hours",
        )
    actions = data.get("actions")
    if not isinstance(actions, Mapping) or not actions:
        raise InvalidInput(f"{source}: [actions.<name>] tables are required", field="actions")
    rules: dict[str, Rule] = {}
    for action, spec in actions.items():
        where = f"actions.{action}"
        if not isinstance(spec, Mapping):
            raise InvalidInput(f"{source}: {where} is a table", field=where)
        above = spec.get("above")
        if not isinstance(above, int) or isinstance(above, bool) or above < 0:
            raise InvalidInput(
                f"{source}: {where}.above is a whole number, 0 or more", field=f"{where}.above"
            )
        approvers = spec.get("approvers")
        if not isinstance(approvers, list) or not approvers or not set(approvers) <= APPROVER_ROLES:
            raise InvalidInput(
                f"{source}: {where}.approvers lists roles among "
                f"{', '.join(sorted(APPROVER_ROLES))}",
                field=f"{where}.approvers",
            )
        rules[action] = Rule(action, above, frozenset(approvers))
    return Policy(rules, hours)


def needs_approval(policy: Policy, action: str, amount: int) -> bool:
    """Whether this action of this size needs a second person (strictly above the
    threshold: a threshold of 0 gates every occurrence of a count-of-one action)."""
    rule = policy.rule(action)
    return rule is not None and abs(amount) > rule.above


def subject_of(actor_id: str) -> str:
    """The person behind an actor id (``support:alice`` and ``admin:alice`` are one
    person: four eyes means two people, whatever role each signed in with)."""
    return actor_id.split(":", 1)[1] if ":" in actor_id else actor_id


def refusal_to_decide(
    policy: Policy, action: str, requester_id: str, decider_id: str, decider_role: str
) -> str | None:
    """Why this person may not approve this request (a message), or None if they may.
    The requester never decides their own request, under any role."""
    if subject_of(requester_id) == subject_of(decider_id):
        return "you asked for this action: another staff member must approve it"
    rule = policy.rule(action)
    approvers = rule.approvers if rule is not None else frozenset({"admin"})
    if decider_role not in approvers:
        return (
            f"approving {action} needs one of the roles {', '.join(sorted(approvers))}; "
            f"you hold {decider_role}"
        )
    return None


def expires_at(policy: Policy, now: datetime) -> datetime:
    return now + timedelta(hours=policy.expires_hours)


def is_expired(expiry: datetime, now: datetime) -> bool:
    return now >= expiry


def may_decide(status: str) -> bool:
    return status == Status.PENDING
