"""Push to phones (docs/push.md): the donors' devices, their preferences, and one
delivery row per notification and device, the outbox the ``push`` job sends from."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Text, UniqueConstraint

from rewards_engine.models.base import BIG_INT, Field, SQLModel, big_id, json_column, timestamp


class PushDevice(SQLModel, table=True):
    """A phone of a donor's, by its provider token (FCM registration token or APNs
    device token). The token is a credential of a sort: never logged nor shown; it is
    unique per platform by its SHA-256 (``token_hash``), so the same token registered
    again updates this row, and moves here if another donor had it."""

    __tablename__ = "push_devices"
    __table_args__ = (
        CheckConstraint("platform IN ('fcm', 'apns')", name="platform"),
        UniqueConstraint("platform", "token_hash"),
        Index("ix_push_devices_donor_id", "donor_id", "id"),
    )

    id: int = Field(default=None, primary_key=True)
    donor_id: int = Field(foreign_key="donors.id")
    platform: str = Field(max_length=8)
    token: str = Field(sa_type=Text())
    token_hash: str = Field(max_length=64)
    app_version: str | None = Field(default=None, max_length=32)
    locale: str | None = Field(default=None, max_length=16)
    created_at: datetime = timestamp()
    # When it was registered to its donor (again): it is sent what is notified after.
    registered_at: datetime = timestamp()
    updated_at: datetime = timestamp()


class PushPreferences(SQLModel, table=True):
    """A donor's push settings: kinds they want no push for, and their quiet hours
    (local ``HH:MM`` in their time zone; both null: none). No row: every kind, and the
    installation's default quiet hours (PUSH_QUIET_HOURS)."""

    __tablename__ = "push_preferences"

    donor_id: int = Field(foreign_key="donors.id", primary_key=True)
    muted_kinds: list[str] = json_column()
    quiet_start: str | None = Field(default=None, max_length=5)
    quiet_end: str | None = Field(default=None, max_length=5)
    updated_at: datetime = timestamp()


class PushDelivery(SQLModel, table=True):
    """One notification for one device: pending until the ``push`` job sends it under
    a lease, then sent (with the provider's message id), failed, skipped (a preference,
    the daily cap, too old), collapsed (a newer one of its kind went instead) or
    cancelled (the device or the notification is gone). ``notification_id`` has no
    foreign key: the inbox deletes and purges notifications on its own."""

    __tablename__ = "push_deliveries"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'failed', 'skipped', 'collapsed', "
            "'cancelled')",
            name="status",
        ),
        UniqueConstraint("notification_id", "device_id"),
        Index("ix_push_deliveries_due", "status", "next_attempt_at"),
        Index("ix_push_deliveries_donor_id", "donor_id", "created_at"),
        Index("ix_push_deliveries_created_at", "created_at"),
    )

    id: int = big_id()
    notification_id: int = Field(sa_type=BIG_INT)
    donor_id: int = Field(foreign_key="donors.id")
    device_id: int | None = Field(
        default=None, sa_column=Column(ForeignKey("push_devices.id"), nullable=True, index=True)
    )
    kind: str = Field(max_length=32)
    collapse_key: str = Field(max_length=64)
    status: str = Field(default="pending", max_length=10)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = timestamp()
    lease_until: datetime | None = timestamp(nullable=True, default=False)
    message_id: str | None = Field(default=None, max_length=255)
    error: str | None = Field(default=None, max_length=200)
    created_at: datetime = timestamp()
    sent_at: datetime | None = timestamp(nullable=True, default=False)
    updated_at: datetime = timestamp()
