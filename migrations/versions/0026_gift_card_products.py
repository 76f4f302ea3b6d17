"""gift card products: a provider's products with their countries and currencies (issue 25)

Synced from Tremendous's ``GET /api/v2/products`` (``rewards-engine sync-gift-card-products``
or the daily job). A provider-backed item names its product in ``reward_items.sku``; the
catalog and redeem offer it only in the product's countries and currencies.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-05 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import rewards_engine.db

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = rewards_engine.db.UTCDateTime(timezone=True)
STR = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "gift_card_products",
        sa.Column("provider", STR(length=32), nullable=False),
        sa.Column("product_id", STR(length=64), nullable=False),
        sa.Column("name", STR(length=200), nullable=False),
        sa.Column("countries", sa.JSON(), nullable=False),
        sa.Column("currencies", sa.JSON(), nullable=False),
        sa.Column("synced_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("provider", "product_id", name=op.f("pk_gift_card_products")),
    )


def downgrade() -> None:
    op.drop_table("gift_card_products")
