from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index

from rewards_engine.models.base import Field, SQLModel, big_id, json_column, timestamp


class AuditRecord(SQLModel, table=True):
    """One support or admin action: who, what, on what, before, after and why.

    Insert-only, hash-chained (``rewards_engine.domain.audit_chain``): database triggers
    refuse a DELETE and any UPDATE except erasing a value (before, after, reason) with its
    nonce, whose digest the chain keeps (migration 0021). Rows are written only by
    ``services.audit`` at commit, under the chain's lock.
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
    # The chain: position, link and hash (64 hex digits each), set at commit (None
    # until then: a record added some other way fails on NOT NULL).
    seq: int = Field(default=None, sa_type=BigInteger, unique=True, nullable=False)
    prev_hash: str = Field(default=None, max_length=64, nullable=False)
    record_hash: str = Field(default=None, max_length=64, nullable=False)
    # Per value: the random HMAC key (gone once erased) and the digest the chain covers.
    before_nonce: str | None = Field(default=None, max_length=32)
    after_nonce: str | None = Field(default=None, max_length=32)
    reason_nonce: str | None = Field(default=None, max_length=32)
    before_digest: str | None = Field(default=None, max_length=64)
    after_digest: str | None = Field(default=None, max_length=64)
    reason_digest: str | None = Field(default=None, max_length=64)
