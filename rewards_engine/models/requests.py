"""Idempotency keys: a retried write replays its first answer instead of acting twice."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import UniqueConstraint

from rewards_engine.models.base import Field, SQLModel, big_id, json_column, timestamp


class IdempotencyKey(SQLModel, table=True):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: int = big_id()
    scope: str = Field(max_length=160)  # whose key: "donor:<id>", "support:<sub>"
    key: str = Field(max_length=255)
    operation: str = Field(max_length=64)
    fingerprint: str = Field(max_length=64)  # sha256 of the operation and its request
    result: dict[str, Any] | None = json_column(nullable=True)
    created_at: datetime = timestamp(index=True)
