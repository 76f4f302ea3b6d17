"""Gift-card products of a provider, as last synced (issue 25)."""

from __future__ import annotations

from datetime import datetime

from rewards_engine.models.base import Field, SQLModel, json_column, timestamp


class GiftCardProduct(SQLModel, table=True):
    """A provider's product (Tremendous's ``GET /api/v2/products``) as last synced: where
    it can be sent and in which currencies. A provider-backed item names its product in
    ``RewardItem.sku``; the catalog and redeem offer it only in these countries and
    currencies. A product the provider stopped listing is deleted at the next sync, so
    its items are no longer offered."""

    __tablename__ = "gift_card_products"

    provider: str = Field(primary_key=True, max_length=32)
    product_id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    countries: list[str] = json_column()
    currencies: list[str] = json_column()
    synced_at: datetime = timestamp()
