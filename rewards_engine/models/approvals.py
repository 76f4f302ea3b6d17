"""Four-eyes approval requests: a staff action above its threshold, waiting for a
second person (docs/security.md, T3)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, UniqueConstraint

from rewards_engine.models.base import BIG_INT, Field, SQLModel, big_id, json_column, timestamp

APPROVAL_STATUSES = ("pending", "approved", "applied", "failed", "refused", "expired")


class ApprovalRequest(SQLModel, table=True):
    """One gated action: what was asked (``payload``, replayed as the requester when
    approved), by whom, the evidence shown to the approver, and how it ended."""

    __tablename__ = "approval_requests"
    __table_args__ = (
        CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in APPROVAL_STATUSES) + ")", name="status"
        ),
        # A requester's retried call finds its request instead of making a second one.
        UniqueConstraint("requested_by", "idempotency_key"),
        Index("ix_approval_requests_status_expires", "status", "expires_at"),
        Index("ix_approval_requests_target", "target_type", "target_id"),
    )

    id: int = big_id()
    action: str = Field(max_length=64)
    target_type: str = Field(max_length=32)
    target_id: str = Field(max_length=128)
    payload: dict[str, Any] = json_column()
    fingerprint: str = Field(max_length=64)  # sha256 of the action and payload
    amount: int = Field(sa_type=BIG_INT)
    reason: str = Field(max_length=1000)  # the requester's reason for the action
    evidence: dict[str, Any] | None = json_column(nullable=True)
    requested_by: str = Field(max_length=128)
    requester_role: str = Field(max_length=16)
    idempotency_key: str | None = Field(default=None, max_length=255)
    status: str = Field(default="pending", max_length=16)
    decided_by: str | None = Field(default=None, max_length=128)
    decider_role: str | None = Field(default=None, max_length=16)
    decision_reason: str | None = Field(default=None, max_length=1000)
    result: dict[str, Any] | None = json_column(nullable=True)
    error: dict[str, Any] | None = json_column(nullable=True)
    created_at: datetime = timestamp()
    expires_at: datetime = timestamp(default=False)
    decided_at: datetime | None = timestamp(nullable=True, default=False)
    applied_at: datetime | None = timestamp(nullable=True, default=False)
