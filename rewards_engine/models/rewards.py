"""The rewards catalog, the gift-card code inventory and redemptions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, Text, UniqueConstraint, text

from rewards_engine.models.base import BIG_INT, Field, SQLModel, big_id, json_column, timestamp


class RewardItem(SQLModel, table=True):
    """A gift card or a camera that points buy. Cameras count their units in ``stock``;
    a gift card's stock is its unassigned codes."""

    __tablename__ = "reward_items"
    __table_args__ = (
        CheckConstraint("kind IN ('gift_card', 'camera')", name="kind"),
        CheckConstraint("point_cost > 0", name="cost_positive"),
        CheckConstraint("stock IS NULL OR stock >= 0", name="stock_non_negative"),
    )

    id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=16)
    name: str = Field(max_length=120)
    description: str = Field(default="", sa_type=Text())
    point_cost: int
    active: bool = Field(default=True)
    brand: str | None = Field(default=None, max_length=80)
    denomination_cents: int | None = Field(default=None)
    currency: str | None = Field(default=None, max_length=3)
    model: str | None = Field(default=None, max_length=80)
    sku: str | None = Field(default=None, max_length=64)
    stock: int | None = Field(default=None)
    shipping_countries: list[str] | None = json_column(nullable=True)
    per_donor_limit: int | None = Field(default=None)
    requires_campaign: str | None = Field(default=None, max_length=64)
    requires_medal: str | None = Field(default=None, max_length=48)
    provider: str = Field(default="inventory", max_length=32)
    # Other languages: {"fr": {"name": ..., "description": ...}}
    translations: dict[str, Any] | None = json_column(nullable=True)
    created_at: datetime = timestamp()
    updated_at: datetime = timestamp()


class GiftCardCode(SQLModel, table=True):
    """One gift-card code, encrypted at rest (Fernet). ``fingerprint`` (a keyed hash)
    finds duplicates without decrypting; ``last4`` is all support staff ever see."""

    __tablename__ = "gift_card_codes"
    __table_args__ = (
        UniqueConstraint("item_id", "fingerprint"),
        CheckConstraint("status IN ('available', 'assigned', 'void')", name="status"),
        Index(
            "ix_gift_card_codes_available",
            "item_id",
            "id",
            postgresql_where=text("status = 'available'"),
            sqlite_where=text("status = 'available'"),
        ),
    )

    id: int = big_id()
    item_id: str = Field(foreign_key="reward_items.id", max_length=64)
    encrypted: str = Field(sa_type=Text())
    fingerprint: str = Field(max_length=64)
    last4: str = Field(max_length=4)
    status: str = Field(default="available", max_length=12)
    redemption_id: int | None = Field(default=None, index=True)
    uploaded_at: datetime = timestamp()
    uploaded_by: str = Field(max_length=160)
    assigned_at: datetime | None = timestamp(nullable=True, default=False)


class Redemption(SQLModel, table=True):
    __tablename__ = "redemptions"
    __table_args__ = (
        CheckConstraint(
            "status IN ('requested', 'approved', 'fulfilled', 'shipped', 'delivered', "
            "'cancelled', 'failed', 'ordering', 'ordered', 'pending_approval')",
            name="status",
        ),
        Index("ix_redemptions_donor_id_id", "donor_id", "id"),
        Index("ix_redemptions_status_id", "status", "id"),
        Index("ix_redemptions_item_donor", "item_id", "donor_id"),
    )

    id: int = big_id()
    donor_id: int = Field(foreign_key="donors.id")
    item_id: str = Field(foreign_key="reward_items.id", max_length=64)
    kind: str = Field(max_length=16)
    point_cost: int
    status: str = Field(max_length=20)
    shipping_address: dict[str, Any] | None = json_column(nullable=True)
    carrier: str | None = Field(default=None, max_length=40)
    tracking_number: str | None = Field(default=None, max_length=64)
    gift_card_code_id: int | None = Field(default=None)
    note: str | None = Field(default=None, max_length=300)
    created_at: datetime = timestamp()
    updated_at: datetime = timestamp()


class RedemptionEvent(SQLModel, table=True):
    """Every state a redemption went through, with who moved it (the donor sees these)."""

    __tablename__ = "redemption_events"
    __table_args__ = (Index("ix_redemption_events_redemption_id_id", "redemption_id", "id"),)

    id: int = big_id()
    redemption_id: int = Field(foreign_key="redemptions.id")
    from_status: str | None = Field(default=None, max_length=20)
    to_status: str = Field(max_length=20)
    actor_kind: str = Field(max_length=16)
    note: str | None = Field(default=None, max_length=300)
    created_at: datetime = timestamp()


class GiftCardOrder(SQLModel, table=True):
    """A gift card ordered from a provider (Tremendous) for one redemption.

    Written with the redemption, before any call (``external_id`` is what the provider
    de-duplicates on, so a retry never orders twice); the provider's answers fill in
    the rest. ``link_encrypted`` is the card itself (its redemption link): encrypted at
    rest like a code, shown to the donor only. ``attempts`` counts order calls made,
    ``sent_at`` is the first: the reconciliation job looks an unanswered order up by its
    external id and orders again (same id) only after ``TREMENDOUS_RETRY_AFTER_S``."""

    __tablename__ = "gift_card_orders"
    __table_args__ = (
        UniqueConstraint("provider", "external_id"),
        Index("ix_gift_card_orders_open", "open", "checked_at"),
    )

    redemption_id: int = Field(sa_type=BIG_INT, primary_key=True, foreign_key="redemptions.id")
    provider: str = Field(max_length=32)
    external_id: str = Field(max_length=64)
    order_id: str | None = Field(default=None, max_length=64)
    reward_id: str | None = Field(default=None, max_length=64)
    order_status: str | None = Field(default=None, max_length=40)
    delivery_status: str | None = Field(default=None, max_length=16)
    link_encrypted: str | None = Field(default=None, sa_type=Text())
    open: bool = Field(default=True)
    attempts: int = Field(default=0)
    last_error: str | None = Field(default=None, max_length=300)
    sent_at: datetime | None = timestamp(nullable=True, default=False)
    checked_at: datetime | None = timestamp(nullable=True, default=False)
    created_at: datetime = timestamp()
    updated_at: datetime = timestamp()
