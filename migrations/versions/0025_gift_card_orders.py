"""gift card orders: cards ordered from a provider per redemption (issue 25)

A redemption of a provider-backed gift card (``reward_items.provider = 'tremendous'``)
goes requested → ordering → ordered / pending_approval → delivered | failed |
cancelled (docs/rewards.md). ``gift_card_orders`` holds the provider's side of each:
its external id (the redemption id, what the provider de-duplicates on), its order
and reward ids, statuses, and the card's link, encrypted. ``pending_approval`` is 16
characters: the redemption status columns widen from 12 to 20.

``installation_identity`` holds one random, non-secret id per database, made the first
time an order needs it: external ids are ``<installation id>-<redemption id>``, so two
installations sharing a Tremendous account, or a database recreated empty, never collide
(Tremendous answers a repeated external id with the first order).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-05 14:40:00
"""

import warnings
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import rewards_engine.db

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = rewards_engine.db.UTCDateTime(timezone=True)
STR = sqlmodel.sql.sqltypes.AutoString
BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OLD = (
    "status IN ('requested', 'approved', 'fulfilled', 'shipped', 'delivered', "
    "'cancelled', 'failed')"
)
NEW = (
    "status IN ('requested', 'approved', 'fulfilled', 'shipped', 'delivered', "
    "'cancelled', 'failed', 'ordering', 'ordered', 'pending_approval')"
)


def _statuses(width: int, check: str) -> None:
    # SQLite rebuilds the table, reflecting the donors table its foreign key names; that
    # reflection warns about donors' expression index, which the rebuild never touches.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sa.exc.SAWarning)
        _rebuild(width, check)


def _rebuild(width: int, check: str) -> None:
    with op.batch_alter_table("redemptions", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_redemptions_status"), type_="check")
        batch_op.alter_column("status", type_=STR(length=width), existing_nullable=False)
        batch_op.create_check_constraint(op.f("ck_redemptions_status"), sa.text(check))
    with op.batch_alter_table("redemption_events", schema=None) as batch_op:
        batch_op.alter_column("from_status", type_=STR(length=width), existing_nullable=True)
        batch_op.alter_column("to_status", type_=STR(length=width), existing_nullable=False)


def upgrade() -> None:
    _statuses(20, NEW)
    op.create_table(
        "gift_card_orders",
        sa.Column("redemption_id", BIG, nullable=False),
        sa.Column("provider", STR(length=32), nullable=False),
        sa.Column("external_id", STR(length=64), nullable=False),
        sa.Column("order_id", STR(length=64), nullable=True),
        sa.Column("reward_id", STR(length=64), nullable=True),
        sa.Column("order_status", STR(length=40), nullable=True),
        sa.Column("delivery_status", STR(length=16), nullable=True),
        sa.Column("link_encrypted", sa.Text(), nullable=True),
        sa.Column("open", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", STR(length=300), nullable=True),
        sa.Column("sent_at", TIME, nullable=True),
        sa.Column("checked_at", TIME, nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["redemption_id"],
            ["redemptions.id"],
            name=op.f("fk_gift_card_orders_redemption_id_redemptions"),
        ),
        sa.PrimaryKeyConstraint("redemption_id", name=op.f("pk_gift_card_orders")),
        sa.UniqueConstraint(
            "provider", "external_id", name=op.f("uq_gift_card_orders_provider_external_id")
        ),
    )
    op.create_index("ix_gift_card_orders_open", "gift_card_orders", ["open", "checked_at"])
    op.create_table(
        "installation_identity",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("installation_id", STR(length=32), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_installation_identity_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_installation_identity")),
    )


def downgrade() -> None:
    op.drop_table("installation_identity")
    op.drop_index("ix_gift_card_orders_open", table_name="gift_card_orders")
    op.drop_table("gift_card_orders")
    _statuses(12, OLD)
