"""Medal definitions (versioned data), awards (exactly once) and notifications."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, Index, Text, UniqueConstraint, text

from rewards_engine.models.base import Field, SQLModel, big_id, json_column, timestamp


class MedalDefinition(SQLModel, table=True):
    """One version of a medal. A change adds a version; the newest one is in force."""

    __tablename__ = "medal_definitions"
    __table_args__ = (UniqueConstraint("code", "version"),)

    id: int = Field(default=None, primary_key=True)
    code: str = Field(max_length=48, index=True)
    version: int
    name: str = Field(max_length=80)
    description: str = Field(default="", sa_type=Text())
    icon_key: str = Field(max_length=64)
    tier: str = Field(max_length=16)
    bonus_points: int = Field(default=0)
    sort_order: int = Field(default=0)
    category: str = Field(default="clips", max_length=32)  # groups the medal screen
    secret: bool = Field(default=False)  # a locked placeholder until earned
    # Other languages: {"fr": {"name": ..., "description": ...}} (English is name, description)
    translations: dict[str, Any] | None = json_column(nullable=True)
    rule: dict[str, Any] = json_column()
    active: bool = Field(default=True)
    created_at: datetime = timestamp()
    created_by: str = Field(max_length=160)


class MedalAward(SQLModel, table=True):
    """A medal a donor earned: at most one per (donor, medal, period key), forever.

    A revoked award stays, marked, so the donor sees it was taken back and why; if
    they qualify again it is granted again (``grants`` counts the times).
    """

    __tablename__ = "medal_awards"
    __table_args__ = (
        UniqueConstraint("donor_id", "code", "period_key"),
        Index("ix_medal_awards_code_period", "code", "period_key"),
        Index(
            "ix_medal_awards_bonus_due",
            "bonus_vests_at",
            sqlite_where=text("bonus_vested_at IS NULL"),
            postgresql_where=text("bonus_vested_at IS NULL"),
        ),
    )

    id: int = big_id()
    donor_id: int = Field(foreign_key="donors.id")
    code: str = Field(max_length=48)
    version: int
    period_key: str = Field(default="", max_length=80)
    awarded_at: datetime = timestamp()
    evidence: dict[str, Any] = json_column()
    provisional_until: datetime | None = timestamp(nullable=True, default=False)
    revoked_at: datetime | None = timestamp(nullable=True, default=False)
    revoke_reason: str | None = Field(default=None, max_length=300)
    grants: int = Field(default=1)
    notification_id: int | None = Field(default=None, foreign_key="medal_notifications.id")
    # The bonus waits in pending points until then, like the earnings behind the medal.
    bonus_vests_at: datetime | None = timestamp(nullable=True, default=False)
    bonus_vested_at: datetime | None = timestamp(nullable=True, default=False)


class MedalNotification(SQLModel, table=True):
    """One message to a donor for every medal granted together (a backfill that grants
    five tiers at once sends one, not five)."""

    __tablename__ = "medal_notifications"
    __table_args__ = (Index("ix_medal_notifications_donor_id_id", "donor_id", "id"),)

    id: int = Field(default=None, primary_key=True)
    donor_id: int = Field(foreign_key="donors.id")
    codes: list[str] = json_column()
    created_at: datetime = timestamp()
    read_at: datetime | None = timestamp(nullable=True, default=False)


class MedalRarity(SQLModel, table=True):
    """How rare a medal is: the share of active donors who hold it, refreshed by the
    medal-rarity job (counting holders on every read of the medal screen would not
    scale)."""

    __tablename__ = "medal_rarity"

    code: str = Field(primary_key=True, max_length=48)
    holders: int
    active_donors: int
    share: float = Field(sa_type=Float())
    refreshed_at: datetime = timestamp()
