"""Fraud rules as configured, the flags they open, the evidence behind each, and the
scans' watermark."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Float, Index, UniqueConstraint

from rewards_engine.models.base import BIG_INT, Field, SQLModel, big_id, json_column, timestamp


class FraudRule(SQLModel, table=True):
    """A rule's settings; every change is a new version, and flags keep theirs."""

    __tablename__ = "fraud_rules"

    code: str = Field(primary_key=True, max_length=32)
    version: int = Field(default=1)
    name: str = Field(max_length=120)
    description: str = Field(default="", max_length=2000)
    enabled: bool = Field(default=True)
    severity: str = Field(max_length=8)
    high_at: float | None = Field(default=None, sa_type=Float())
    dismissal_covers: float | None = Field(default=None, sa_type=Float())
    params: dict[str, Any] = json_column()
    updated_by: str = Field(default="fixtures", max_length=160)
    updated_at: datetime = timestamp()


class FraudFlag(SQLModel, table=True):
    """A donor suspected by one rule: all that rule's open evidence on them, scored.

    One open flag per donor and rule gathers new evidence as scans find it; a decision
    closes it, and later evidence opens a new one.
    """

    __tablename__ = "fraud_flags"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'confirmed', 'dismissed')", name="status"),
        Index("ix_fraud_flags_status_score", "status", "score", "id"),
        Index("ix_fraud_flags_donor_rule", "donor_id", "rule", "status"),
    )

    id: int = Field(default=None, primary_key=True)
    donor_id: int = Field(foreign_key="donors.id")
    rule: str = Field(max_length=32)
    rule_version: int
    severity: str = Field(max_length=8)
    score: float = Field(sa_type=Float())
    status: str = Field(default="open", max_length=12)
    summary: str = Field(max_length=500)
    evidence_count: int = Field(default=0)
    # The largest magnitude of its evidence: a dismissal covers later evidence up to
    # the rule's ``dismissal_covers`` times this.
    magnitude: float = Field(default=0, sa_type=Float())
    created_at: datetime = timestamp()
    updated_at: datetime = timestamp()
    resolved_at: datetime | None = timestamp(nullable=True, default=False)
    resolved_by: str | None = Field(default=None, max_length=160)
    resolution: str | None = Field(default=None, max_length=1000)


class FraudEvidence(SQLModel, table=True):
    """One piece of evidence, found once: the same (rule, donor, key) never flags twice."""

    __tablename__ = "fraud_evidence"
    __table_args__ = (
        UniqueConstraint("rule", "donor_id", "key"),
        Index("ix_fraud_evidence_flag_id", "flag_id", "id"),
    )

    id: int = big_id()
    flag_id: int = Field(foreign_key="fraud_flags.id")
    rule: str = Field(max_length=32)
    donor_id: int = Field(foreign_key="donors.id")
    key: str = Field(max_length=200)
    score: float = Field(sa_type=Float())
    magnitude: float = Field(sa_type=Float())
    details: dict[str, Any] = json_column()
    clip_ids: list[int] = json_column()
    created_at: datetime = timestamp()


class FraudScanState(SQLModel, table=True):
    """How far the incremental scan has read the clips (by id)."""

    __tablename__ = "fraud_scan_state"

    name: str = Field(primary_key=True, max_length=32)
    watermark: int = Field(default=0, sa_type=BIG_INT)
    last_incremental_at: datetime | None = timestamp(nullable=True, default=False)
    last_full_at: datetime | None = timestamp(nullable=True, default=False)
