"""Payout batches and items, and the provider webhooks already processed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Index, Text, UniqueConstraint

from rewards_engine.models.base import Field, SQLModel, big_id, json_column, timestamp


class PayoutBatch(SQLModel, table=True):
    """One submission to one provider: at most 15,000 items for PayPal.

    ``sender_batch_id`` is derived from our own id and stored before any call, so a
    retry after a crash sends the same one and the provider recognises it. ``sender``
    and ``sender_lease_until`` make sending single-flight: a process claims the batch
    with a conditional UPDATE and renews the lease while its call runs; another process
    sends it only once the lease has run out (the holder died).
    """

    __tablename__ = "payout_batches"
    __table_args__ = (Index("ix_payout_batches_status", "status"),)

    id: int = Field(default=None, primary_key=True)
    provider: str = Field(max_length=16)  # paypal, stripe, manual
    currency: str = Field(max_length=3)
    period: str = Field(max_length=16, index=True)  # the earning period it pays: 2025-W03
    status: str = Field(max_length=20)  # domain.payouts.BatchStatus
    sender_batch_id: str = Field(max_length=64, unique=True)
    provider_batch_id: str | None = Field(default=None, max_length=64)
    item_count: int
    total_cents: int = Field(sa_type=BigInteger())
    attempts: int = Field(default=0)
    last_error: str | None = Field(default=None, sa_type=Text())
    created_by: str = Field(max_length=160)
    created_at: datetime = timestamp()
    submitted_at: datetime | None = timestamp(nullable=True, default=False)
    completed_at: datetime | None = timestamp(nullable=True, default=False)
    sender: str | None = Field(default=None, max_length=64)
    sender_lease_until: datetime | None = timestamp(nullable=True, default=False)


class PayoutItem(SQLModel, table=True):
    """One donor's payment in a batch: once per donor, currency and earning period.

    The destination is copied (encrypted) when the item is created, so a donor who
    changes it afterwards does not redirect money already in flight.
    """

    __tablename__ = "payout_items"
    __table_args__ = (
        UniqueConstraint("donor_id", "currency", "period"),
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        Index("ix_payout_items_batch_id_id", "batch_id", "id"),
        Index("ix_payout_items_status", "status"),
    )

    id: int = big_id()
    batch_id: int = Field(foreign_key="payout_batches.id")
    donor_id: int = Field(foreign_key="donors.id", index=True)
    currency: str = Field(max_length=3)
    period: str = Field(max_length=16)
    amount_cents: int = Field(sa_type=BigInteger())
    destination_kind: str = Field(max_length=16)
    destination: str = Field(sa_type=Text())  # encrypted
    destination_masked: str = Field(max_length=80)
    sender_item_id: str = Field(max_length=64, unique=True)
    provider_item_id: str | None = Field(default=None, max_length=64, index=True)
    status: str = Field(max_length=16)
    provider_status: str | None = Field(default=None, max_length=24)
    error: str | None = Field(default=None, max_length=300)
    created_at: datetime = timestamp()
    updated_at: datetime = timestamp()
    settled_at: datetime | None = timestamp(nullable=True, default=False)


class WebhookEvent(SQLModel, table=True):
    """A provider event we verified and processed: a replay is answered, not applied."""

    __tablename__ = "webhook_events"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    id: int = big_id()
    provider: str = Field(max_length=16)
    event_id: str = Field(max_length=128)
    event_type: str = Field(max_length=80)
    received_at: datetime = timestamp()
    outcome: dict[str, Any] | None = json_column(nullable=True)
