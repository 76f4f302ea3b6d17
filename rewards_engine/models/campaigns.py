from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Text

from rewards_engine.models.base import Field, SQLModel, json_column, timestamp


class Campaign(SQLModel, table=True):
    """A donation campaign and every rule it pays by; the rules are data, not code."""

    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint("bounty_cents >= 0", name="bounty_non_negative"),
        CheckConstraint("points_per_clip >= 0", name="points_non_negative"),
        CheckConstraint(
            "unregistered_cameras IN ('allow', 'review', 'reject')", name="unregistered_cameras"
        ),
    )

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=120)
    description: str = Field(default="", sa_type=Text())
    starts_at: datetime = timestamp(default=False)
    ends_at: datetime | None = timestamp(nullable=True, default=False)
    incident_types: list[str] = json_column()
    targets: dict[str, int] | None = json_column(nullable=True)
    stop_at_target: bool = Field(default=False)
    bounty_cents: int = Field(default=0)
    currency: str = Field(default="USD", max_length=3)
    points_per_clip: int = Field(default=0)
    cap_per_camera_per_incident_type: int | None = Field(default=None)
    cap_paid_per_event: int | None = Field(default=None)
    daily_cap_per_donor: int | None = Field(default=None)
    staged_allowed: bool = Field(default=True)
    min_duration_s: int = Field(default=1)
    max_duration_s: int = Field(default=600)
    review_window_days: int = Field(default=14)
    # Footage recorded this many days or more before it is donated waits for a person.
    review_if_older_than_days: int | None = Field(default=None)
    retention_days: int = Field(default=730)
    payout_provider: str | None = Field(default=None, max_length=16)
    # Clips are paid only once their video is uploaded and verified (campaigns made
    # before uploads existed collected metadata only).
    requires_upload: bool = Field(default=True)
    # Other languages: {"fr": {"name": ..., "description": ...}}
    translations: dict[str, Any] | None = json_column(nullable=True)
    # What becomes of clips from a camera not registered to their donor: allow, review
    # (pending review, support decides) or reject (docs/cameras.md).
    unregistered_cameras: str = Field(default="allow", max_length=8)
    created_at: datetime = timestamp()
    updated_at: datetime = timestamp()


class ConsentVersion(SQLModel, table=True):
    """A published consent text; the newest published one is the current one."""

    __tablename__ = "consent_versions"

    version: str = Field(primary_key=True, max_length=32)
    title: str = Field(max_length=200)
    summary: str = Field(default="", sa_type=Text())
    body: str = Field(sa_type=Text())
    published_at: datetime = timestamp(index=True, default=False)
    # Other languages: {"fr": {"title": ..., "summary": ..., "body": ...}}
    translations: dict[str, Any] | None = json_column(nullable=True)
