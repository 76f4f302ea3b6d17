from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index

from rewards_engine.models.base import Field, SQLModel, big_id, timestamp


class ConsentRecord(SQLModel, table=True):
    """Every grant and withdrawal of consent, with its version and time (never edited)."""

    __tablename__ = "consent_records"
    __table_args__ = (
        CheckConstraint("action IN ('grant', 'withdraw')", name="action"),
        Index("ix_consent_records_donor_id_id", "donor_id", "id"),
    )

    id: int = big_id()
    donor_id: int = Field(foreign_key="donors.id")
    version: str = Field(foreign_key="consent_versions.version", max_length=32)
    action: str = Field(max_length=8)
    created_at: datetime = timestamp()
