"""The donor's inbox: what happened to them, kept for a while (docs/notifications.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, UniqueConstraint, text

from rewards_engine.models.base import Field, SQLModel, big_id, json_column, timestamp


class Notification(SQLModel, table=True):
    """One thing that happened to a donor, written in the same transaction as the event
    that caused it. ``key`` names the event: the same event never notifies twice.
    Texts are rendered when read, in the donor's language, from ``kind`` and ``data``."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("donor_id", "key"),
        Index("ix_notifications_donor_id", "donor_id", "id"),
        Index(
            "ix_notifications_unread",
            "donor_id",
            sqlite_where=text("read_at IS NULL"),
            postgresql_where=text("read_at IS NULL"),
        ),
        Index("ix_notifications_created_at", "created_at"),
    )

    id: int = big_id()
    donor_id: int = Field(foreign_key="donors.id")
    kind: str = Field(max_length=32)
    key: str = Field(max_length=200)
    data: dict[str, Any] = json_column()
    created_at: datetime = timestamp()
    read_at: datetime | None = timestamp(nullable=True, default=False)


class NotificationBroadcast(SQLModel, table=True):
    """A notification for every donor (a new campaign, a new consent text), fanned out
    by a job in chunks of donors; ``next_donor_id`` is where the next chunk starts, so
    a run killed halfway resumes without notifying anyone twice."""

    __tablename__ = "notification_broadcasts"

    id: int = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)
    data: dict[str, Any] = json_column()
    created_at: datetime = timestamp()
    next_donor_id: int = Field(default=0)
    done_at: datetime | None = timestamp(nullable=True, default=False)


class BoardFollow(SQLModel, table=True):
    """A board a donor follows: the standings job tells them when they pass someone or
    are passed there. ``last_rank`` is the rank they were last told of."""

    __tablename__ = "board_follows"

    donor_id: int = Field(foreign_key="donors.id", primary_key=True)
    board: str = Field(max_length=80, primary_key=True)
    last_rank: int | None = Field(default=None)
    last_told_at: datetime | None = timestamp(nullable=True, default=False)
    created_at: datetime = timestamp()
