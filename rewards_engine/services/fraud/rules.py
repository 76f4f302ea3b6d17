"""The fraud rules' settings: what a scan runs with, and staff changing them (each
change a new version, audited).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from rewards_engine.db import Database, row_view
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.errors import NotFound
from rewards_engine.domain.fraud import RuleConfig, Severity, validate_rule
from rewards_engine.models import FraudRule
from rewards_engine.runtime import Runtime
from rewards_engine.services import audit, support


def rule_configs(db: Database) -> dict[str, RuleConfig]:
    with db.read() as session:
        return {row.code: _config(row) for row in session.scalars(select(FraudRule))}


def _config(row: FraudRule) -> RuleConfig:
    return RuleConfig(
        code=row.code,
        version=row.version,
        enabled=row.enabled,
        severity=Severity(row.severity),
        high_at=row.high_at,
        dismissal_covers=row.dismissal_covers,
        params=row.params or {},
    )


@dataclass(frozen=True)
class RuleView:
    """A fraud rule's settings as staff read and change them."""

    code: str
    version: int
    name: str
    description: str
    enabled: bool
    severity: str
    high_at: float | None
    dismissal_covers: float | None
    params: dict[str, Any]
    updated_by: str
    updated_at: datetime


def list_rules(db: Database) -> list[RuleView]:
    with db.read() as session:
        rows = session.scalars(select(FraudRule).order_by(col(FraudRule.code)))
        return [row_view(RuleView, row) for row in rows]


def update_rule(
    runtime: Runtime, actor: Actor, code: str, changes: dict[str, Any], reason: str
) -> RuleView:
    """Change a rule's settings: a new version; flags keep the version that opened them."""
    reason = support.require_reason(reason)
    values = validate_rule(code, changes)
    with runtime.db.transaction() as uow:
        rule = uow.session.get(FraudRule, code, with_for_update=True)
        if rule is None:
            raise NotFound(f"no fraud rule {code}", code="rule_not_found")
        before = {name: getattr(rule, name) for name in values}
        if all(before[name] == value for name, value in values.items()):
            return row_view(RuleView, rule)
        for name, value in values.items():
            setattr(rule, name, value)
        rule.version += 1
        rule.updated_at, rule.updated_by = runtime.clock.now(), actor.id
        audit.record(
            uow.session,
            runtime.clock,
            actor,
            action="fraud.rule_changed",
            target_type="fraud_rule",
            target_id=code,
            before=before,
            after={**values, "version": rule.version},
            reason=reason,
        )
        uow.session.flush()
        uow.session.refresh(rule)
        return row_view(RuleView, rule)
