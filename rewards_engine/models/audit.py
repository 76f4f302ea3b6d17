from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index

from rewards_engine.models.base import Field, SQLModel, big_id, json_column, timestamp


class AuditRecord(SQLModel, table=True):
    """One support or admin action: who, what, on what, before, after and why.

    Rows are only ever inserted; nothing in the engine updates or deletes them.
    """

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_target", "target_type", "target_id"),
        Index("ix_audit_log_actor_created", "actor_id", "created_at"),
    )

    id: int = big_id()
    created_at: datetime = timestamp(index=True)
    actor_id: str = Field(max_length=128)
    actor_role: str = Field(max_length=16)
    action: str = Field(max_length=64)
    target_type: str = Field(max_length=32)
    target_id: str = Field(max_length=128)
    before: dict[str, Any] | None = json_column(nullable=True)
    after: dict[str, Any] | None = json_column(nullable=True)
    reason: str | None = Field(default=None, max_length=1000)
    request_id: str | None = Field(default=None, max_length=64)
