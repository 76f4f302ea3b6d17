"""The staff policy at work: which role may do what, up to which amount, and each
agent's daily use; admins changing a role (a new version, audited).

The policy is read on every staff request, so each process keeps the last one it read
per database (by the engine's pool, as the medal catalog does) with its stamp: the
number of roles and the sum of their versions, which only grows. One small aggregate
query per use tells whether an admin changed a role since, in this process or another,
so a change takes effect at the next request everywhere.

Until ``fixtures/staff_roles.toml`` is loaded, the table is empty and the file as it
ships is the policy (a fresh install is not locked out, and never more open than the
shipped defaults).
"""

from __future__ import annotations

import functools
import logging
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.pool import Pool
from sqlmodel import col

from rewards_engine import alerts
from rewards_engine.clock import Clock
from rewards_engine.config import PROJECT_ROOT
from rewards_engine.db import Database, insert, table_of
from rewards_engine.domain import staff_policy as rules
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.errors import Forbidden, InvalidInput, NotFound
from rewards_engine.domain.roles import STAFF_ROLES
from rewards_engine.models import StaffDailyUsage, StaffRole
from rewards_engine.services import audit

log = logging.getLogger(__name__)

SHIPPED_POLICY = PROJECT_ROOT / "fixtures" / "staff_roles.toml"
DAILY_LIMIT_EVENT = "staff.daily_limit_exceeded"
_STAFF = frozenset(role.value for role in STAFF_ROLES)
_SESSION_KEY = "staff_policy"  # Session.info: the policy this transaction read
_POLICIES: WeakKeyDictionary[Pool, tuple[tuple[int, int], rules.Policy]] = WeakKeyDictionary()


@functools.cache
def shipped_policy(path: Path = SHIPPED_POLICY) -> rules.Policy:
    """The policy file as it ships, parsed once per process."""
    with path.open("rb") as handle:
        tables = tomllib.load(handle).get("roles", {})
    return rules.Policy({role: rules.parse_role(role, table) for role, table in tables.items()})


def _of_row(row: StaffRole) -> rules.RolePolicy:
    limits = {
        action: rules.Limit(bounds.get("per_action"), bounds.get("per_day"))
        for action, bounds in (row.limits or {}).items()
    }
    return rules.RolePolicy(row.role, frozenset(row.may), limits, row.version, row.description)


def load(session: Session) -> rules.Policy:
    """The policy in force, re-read only when a role changed since this process read it;
    asked once per transaction (a use case authorizes, then charges the day's use)."""
    known_here: rules.Policy | None = session.info.get(_SESSION_KEY)
    if known_here is None:
        known_here = session.info[_SESSION_KEY] = _in_force(session)
    return known_here


def _in_force(session: Session) -> rules.Policy:
    pool = session.get_bind().engine.pool
    count, versions = session.execute(
        select(func.count(), func.coalesce(func.sum(col(StaffRole.version)), 0))
    ).one()
    if count == 0:
        return shipped_policy()
    stamp = (int(count), int(versions))
    known = _POLICIES.get(pool)
    if known is not None and known[0] == stamp:
        return known[1]
    policy = rules.Policy({row.role: _of_row(row) for row in session.scalars(select(StaffRole))})
    _POLICIES[pool] = (stamp, policy)
    return policy


def current(db: Database) -> rules.Policy:
    with db.read() as session:
        return load(session)


def _is_job(actor: Actor) -> bool:
    """Scheduled jobs, fixtures and the demo act as ``system``: the policy is for people."""
    return actor.role == "system"


def authorize(session: Session, actor: Actor, action: str, amount: int = 0) -> None:
    """403 ``forbidden`` when the actor's role may not do ``action``, ``over_limit``
    when ``amount`` passes its per-action limit. Called first in a staff use case."""
    if _is_job(actor):
        return
    if actor.role not in _STAFF:
        raise Forbidden(f"the {actor.role} role may not do {action}", details={"action": action})
    rules.check(load(session), actor.role, action, amount)


def charge_daily(session: Session, clock: Clock, actor: Actor, action: str, amount: int) -> None:
    """Add ``amount`` to the agent's use of ``action`` today (UTC), in the caller's
    transaction: one conditional UPDATE, which PostgreSQL re-checks on the row's newest
    version when another transaction changed it first, so concurrent actions never pass
    the cap together. Past it: 403 ``daily_limit_exceeded``, the alert, and the caller's
    transaction rolls back (nothing of the action is written)."""
    amount = abs(amount)
    if _is_job(actor) or amount == 0:
        return
    cap = load(session).limit(actor.role, action).per_day
    if cap is None:
        return
    key = {"actor_id": actor.id, "action": action, "day": clock.now().date()}
    session.execute(
        insert(session, table_of(StaffDailyUsage)).on_conflict_do_nothing(), [{**key, "used": 0}]
    )
    where = and_(*(getattr(StaffDailyUsage, name) == value for name, value in key.items()))
    done = session.execute(
        update(StaffDailyUsage)
        .where(where, col(StaffDailyUsage.used) + amount <= cap)
        .values(used=col(StaffDailyUsage.used) + amount)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount == 1:  # type: ignore[attr-defined]  # a CursorResult for an UPDATE
        return
    used = session.scalar(select(col(StaffDailyUsage.used)).where(where)) or 0
    alerts.alert(  # a WARNING line and rewards_alerts_total{event}
        log,
        DAILY_LIMIT_EVENT,
        {
            "actor": actor.id,
            "role": actor.role,
            "action": action,
            "limit": cap,
            "used": used,
            "amount": amount,
        },
    )
    raise Forbidden(
        f"{amount:,} more would pass the {actor.role} role's limit of {cap:,} per day for "
        f"{action} ({used:,} used today)",
        code="daily_limit_exceeded",
        details={"action": action, "limit": cap, "per": "day", "used": used},
    )


@dataclass(frozen=True)
class RoleView:
    """A staff role as admins read and change it."""

    role: str
    version: int
    description: str
    may: list[str]
    limits: dict[str, dict[str, int]]
    updated_by: str
    updated_at: datetime | None


def _view(policy: rules.RolePolicy, row: StaffRole | None) -> RoleView:
    return RoleView(
        role=policy.role,
        version=row.version if row else 0,
        description=policy.description,
        may=sorted(policy.may),
        limits=rules.limits_json(policy.limits),
        updated_by=row.updated_by if row else "fixtures file (not loaded)",
        updated_at=row.updated_at if row else None,
    )


def list_roles(db: Database) -> list[RoleView]:
    with db.read() as session:
        rows = {row.role: row for row in session.scalars(select(StaffRole))}
        policy = load(session)
        return [_view(policy.roles[role], rows.get(role)) for role in sorted(policy.roles)]


def update_role(
    db: Database, clock: Clock, actor: Actor, role: str, changes: Mapping[str, Any], reason: str
) -> RoleView:
    """Replace a role's permissions and limits: a new version, audited with before and
    after; every process applies it at its next request. 422 naming the field on a bad
    edit, before anything is written."""
    from rewards_engine.services.support import require_reason  # support imports this module

    if role not in _STAFF:
        raise NotFound(f"no staff role {role}", code="role_not_found")
    reason = require_reason(reason)
    if not isinstance(changes, Mapping):
        raise InvalidInput("a role is {may, limits, description}", field="may")
    parsed = rules.parse_role(role, changes)
    may, limits = sorted(parsed.may), rules.limits_json(parsed.limits)
    values: dict[str, Any] = {"description": parsed.description, "may": may, "limits": limits}
    now = clock.now()
    with db.transaction() as uow:
        session = uow.session
        authorize(session, actor, rules.ROLES_CHANGE)
        _materialise(session, now)
        row = session.get(StaffRole, role, with_for_update=True)
        if row is None:
            row = StaffRole(role=role, version=0, may=[], limits={}, updated_at=now)
            session.add(row)
        before = {"description": row.description, "may": row.may, "limits": row.limits}
        if before == values:
            return _view(_of_row(row), row)
        row.description, row.may, row.limits = parsed.description, may, limits
        row.version += 1
        row.updated_at, row.updated_by = now, actor.id
        audit.record(
            session,
            clock,
            actor,
            action="staff_role.changed",
            target_type="staff_role",
            target_id=role,
            before=before,
            after={**values, "version": row.version},
            reason=reason,
        )
        session.flush()
        return _view(_of_row(row), row)


def _materialise(session: Session, now: datetime) -> None:
    """Write the shipped policy into the empty table before the first admin edit, so
    that changing one role does not leave the others without any permission."""
    if session.scalar(select(func.count()).select_from(StaffRole)):
        return
    for policy in shipped_policy().roles.values():
        session.add(
            StaffRole(
                role=policy.role,
                version=1,
                description=policy.description,
                may=sorted(policy.may),
                limits=rules.limits_json(policy.limits),
                updated_at=now,
                updated_by="system:fixtures",
            )
        )
    session.flush()
