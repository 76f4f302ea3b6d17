"""medal art and languages: a medal's category, secret flag and rarity; translations of
medals, campaigns, rewards and consent texts

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 08:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import rewards_engine.db

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRANSLATED = ("medal_definitions", "campaigns", "reward_items", "consent_versions")


def upgrade() -> None:
    with op.batch_alter_table("medal_definitions") as table:
        table.add_column(
            sa.Column(
                "category",
                sqlmodel.sql.sqltypes.AutoString(length=32),
                nullable=False,
                server_default="clips",
            )
        )
        table.add_column(
            sa.Column("secret", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    for name in TRANSLATED:
        with op.batch_alter_table(name) as table:
            table.add_column(sa.Column("translations", sa.JSON(), nullable=True))
    op.create_table(
        "medal_rarity",
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=48), nullable=False),
        sa.Column("holders", sa.Integer(), nullable=False),
        sa.Column("active_donors", sa.Integer(), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("refreshed_at", rewards_engine.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_medal_rarity")),
    )


def downgrade() -> None:
    op.drop_table("medal_rarity")
    for name in TRANSLATED:
        with op.batch_alter_table(name) as table:
            table.drop_column("translations")
    with op.batch_alter_table("medal_definitions") as table:
        table.drop_column("secret")
        table.drop_column("category")
