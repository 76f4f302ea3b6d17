"""Data requests (erasure), the accounts erased, and the installation's salt."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index

from rewards_engine.models.base import Field, SQLModel, json_column, timestamp


class DataRequest(SQLModel, table=True):
    """A donor's request about their data, and what carrying it out did (counts only).

    The id is random: after an erasure it is the only handle left on the request.
    """

    __tablename__ = "data_requests"
    __table_args__ = (
        CheckConstraint("kind IN ('erasure')", name="kind"),
        CheckConstraint("status IN ('received', 'completed')", name="status"),
        Index("ix_data_requests_status_received", "status", "received_at"),
    )

    id: str = Field(primary_key=True, max_length=36)
    donor_id: int = Field(foreign_key="donors.id", index=True)  # a tombstone once erased
    kind: str = Field(max_length=16)
    status: str = Field(default="received", max_length=16)
    received_at: datetime = timestamp()
    completed_at: datetime | None = timestamp(nullable=True, default=False)
    outcome: dict[str, Any] | None = json_column(nullable=True)


class ErasedSubject(SQLModel, table=True):
    """A salted hash of an erased account's token subject: its tokens are refused and
    no new donor is created for it."""

    __tablename__ = "erased_subjects"

    subject_hash: str = Field(primary_key=True, max_length=64)
    erased_at: datetime = timestamp()


class InstallationSecret(SQLModel, table=True):
    """Random values made once per installation (by the migration), such as the salt of
    the hashes kept after an erasure."""

    __tablename__ = "installation_secrets"

    name: str = Field(primary_key=True, max_length=32)
    value: str = Field(max_length=128)
