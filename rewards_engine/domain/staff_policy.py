"""The staff policy's pure rules: the actions staff can do, which role may do which,
and the limit arithmetic (per action and per day).

The policy itself is data (fixtures/staff_roles.toml, then the ``staff_roles`` table
that admins change): this module validates a role's record and answers questions on a
parsed policy, with no I/O, so that the rules are tested fast and the services
(``services/staff_policy.py``) only read, cache and count.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rewards_engine.domain.errors import Forbidden, InvalidInput
from rewards_engine.domain.roles import STAFF_ROLES, Role

# Writes (the names are shared with the four-eyes approvals: services/approvals.py).
POINTS_ADJUST = "points.adjust"  # amount: points, absolute
CASH_ADJUST = "cash.adjust"  # amount: cents, absolute
CLIPS_REVIEW = "clips.review"  # amount: clips decided in one action
CLIP_REVERSE = "clip.reverse"
FRAUD_RESOLVE = "fraud.resolve"  # confirm a flag, or dismiss one below high severity
FRAUD_DISMISS_HIGH = "fraud.dismiss_high"  # dismiss a high-severity flag
PAYOUTS_BATCH = "payouts.batch"  # amount: the batch total in cents; also attach/resend/settle
PAYOUTS_EXPORT = "payouts.export"  # the CSV carries payout e-mails
DONOR_BAN = "donor.ban"
DONOR_UNBAN = "donor.unban"
CAMPAIGN_CHANGE = "campaign.change"
CATALOG_CHANGE = "catalog.change"  # rewards, gift codes, stock and medals
CONSENT_PUBLISH = "consent.publish"  # a new version of the donation consent
FRAUD_RULES_CHANGE = "fraud_rules.change"
ROLES_CHANGE = "roles.change"
SESSIONS_END = "sessions.end"  # see open console sessions and end an agent's
TOKENS_REVOKE = "tokens.revoke"  # revoke a bearer token by jti, or a subject's tokens
APPROVALS_DECIDE = "approvals.decide"
REDEMPTION_SHIP = "redemption.ship"  # move a redemption on (ship, deliver, cancel, fail)
REDEMPTION_RESEND = "redemption.resend"  # ask the gift-card provider to deliver again
REDEMPTION_CANCEL = "redemption.cancel"  # cancel a provider order it still holds (refunds)
# Reads.
AUDIT_READ = "audit.read"
DONORS_READ = "donors.read"  # a donor's account, balances, clips and cameras
FRAUD_READ = "fraud.read"  # flags, their evidence and the rules' settings
REDEMPTIONS_READ = "redemptions.read"
CATALOG_READ = "catalog.read"  # the rewards and medals as staff see them
PAYOUTS_READ = "payouts.read"
ROLES_READ = "roles.read"  # the staff roles and their limits
APPROVALS_READ = "approvals.read"

ACTIONS: frozenset[str] = frozenset(
    {
        POINTS_ADJUST,
        CASH_ADJUST,
        CLIPS_REVIEW,
        CLIP_REVERSE,
        FRAUD_RESOLVE,
        FRAUD_DISMISS_HIGH,
        PAYOUTS_BATCH,
        PAYOUTS_EXPORT,
        DONOR_BAN,
        DONOR_UNBAN,
        CAMPAIGN_CHANGE,
        CATALOG_CHANGE,
        CONSENT_PUBLISH,
        FRAUD_RULES_CHANGE,
        ROLES_CHANGE,
        SESSIONS_END,
        TOKENS_REVOKE,
        APPROVALS_DECIDE,
        REDEMPTION_SHIP,
        REDEMPTION_RESEND,
        REDEMPTION_CANCEL,
        AUDIT_READ,
        DONORS_READ,
        FRAUD_READ,
        REDEMPTIONS_READ,
        CATALOG_READ,
        PAYOUTS_READ,
        ROLES_READ,
        APPROVALS_READ,
    }
)
# The actions whose amount a limit can bound (the others are allowed or not).
MEASURED: frozenset[str] = frozenset({POINTS_ADJUST, CASH_ADJUST, CLIPS_REVIEW, PAYOUTS_BATCH})
MAX_LIMIT = 10**15  # larger than any amount the engine accepts; a bound on typos


@dataclass(frozen=True)
class Limit:
    """Up to how much one action may move, and one agent in one (UTC) day; None: no bound."""

    per_action: int | None = None
    per_day: int | None = None


@dataclass(frozen=True)
class RolePolicy:
    role: str
    may: frozenset[str]
    limits: Mapping[str, Limit] = field(default_factory=dict)
    version: int = 1
    description: str = ""

    def limit(self, action: str) -> Limit:
        return self.limits.get(action, Limit())


@dataclass(frozen=True)
class Policy:
    """Every staff role's permissions: a role missing here may do nothing."""

    roles: Mapping[str, RolePolicy]

    def allows(self, role: str, action: str) -> bool:
        held = self.roles.get(role)
        return held is not None and action in held.may

    def allows_any(self, role: str, actions: tuple[str, ...]) -> bool:
        return any(self.allows(role, action) for action in actions)

    def limit(self, role: str, action: str) -> Limit:
        held = self.roles.get(role)
        return held.limit(action) if held is not None else Limit()


def check(policy: Policy, role: str, action: str, amount: int = 0) -> None:
    """Raise 403 ``forbidden`` when ``role`` may not do ``action``, or ``over_limit``
    when ``amount`` (absolute) passes the role's per-action limit."""
    if not policy.allows(role, action):
        raise Forbidden(f"the {role} role may not do {action}", details={"action": action})
    cap = policy.limit(role, action).per_action
    if cap is not None and abs(amount) > cap:
        raise Forbidden(
            f"{abs(amount):,} is over the {role} role's limit of {cap:,} per {action}",
            code="over_limit",
            details={"action": action, "limit": cap, "per": "action"},
        )


def parse_role(role: str, record: Mapping[str, Any], prefix: str = "") -> RolePolicy:
    """Validate one role's record (the fixture's table or an admin's edit): 422 naming
    the field (``may``, ``limits.cash.adjust.per_day``...) on anything unknown."""
    if role not in {r.value for r in STAFF_ROLES}:
        raise InvalidInput(
            f"{role!r} is not a staff role ({', '.join(sorted(STAFF_ROLES))})",
            code="unknown_role",
            field=f"{prefix}role",
        )
    unknown = sorted(set(record) - {"may", "limits", "description"})
    if unknown:
        raise InvalidInput(f"unknown field {unknown[0]!r}", field=f"{prefix}{unknown[0]}")
    may = record.get("may")
    if not isinstance(may, list) or not all(isinstance(a, str) for a in may):
        raise InvalidInput("may is a list of action names", field=f"{prefix}may")
    for index, action in enumerate(may):
        if action not in ACTIONS:
            raise InvalidInput(
                f"unknown action {action!r}", code="unknown_action", field=f"{prefix}may.{index}"
            )
    if role == Role.ADMIN and ROLES_CHANGE not in may:
        raise InvalidInput(
            "the admin role keeps roles.change (else nobody could change roles again)",
            field=f"{prefix}may",
        )
    description = record.get("description", "")
    if not isinstance(description, str) or len(description) > 500:
        raise InvalidInput("description is a text of at most 500 characters", field="description")
    return RolePolicy(
        role=role,
        may=frozenset(may),
        limits=_parse_limits(record.get("limits", {}), set(may), f"{prefix}limits"),
        description=description,
    )


def _parse_limits(raw: Any, may: set[str], where: str) -> dict[str, Limit]:
    if not isinstance(raw, Mapping):
        raise InvalidInput("limits is a table of action = {per_action, per_day}", field=where)
    limits: dict[str, Limit] = {}
    for action, bounds in raw.items():
        path = f"{where}.{action}"
        if action not in MEASURED:
            raise InvalidInput(
                f"{action!r} has no amount to limit ({', '.join(sorted(MEASURED))} do)",
                code="unknown_action",
                field=path,
            )
        if action not in may:
            raise InvalidInput(f"a limit for {action!r}, which the role may not do", field=path)
        if not isinstance(bounds, Mapping) or not bounds:
            raise InvalidInput("a limit is {per_action = N, per_day = M}", field=path)
        values: dict[str, int] = {}
        for name, value in bounds.items():
            if name not in ("per_action", "per_day"):
                raise InvalidInput(f"unknown field {name!r}", field=f"{path}.{name}")
            if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_LIMIT:
                raise InvalidInput(
                    f"{name} is a whole number from 1 to {MAX_LIMIT:,}", field=f"{path}.{name}"
                )
            values[name] = value
        limit = Limit(**values)
        if limit.per_action and limit.per_day and limit.per_action > limit.per_day:
            raise InvalidInput("per_action is more than per_day", field=f"{path}.per_action")
        limits[action] = limit
    return limits


def limits_json(limits: Mapping[str, Limit]) -> dict[str, dict[str, int]]:
    """How the table and the API write limits: the bounds set, by action."""
    return {
        action: {k: v for k, v in (("per_action", x.per_action), ("per_day", x.per_day)) if v}
        for action, x in sorted(limits.items())
    }
