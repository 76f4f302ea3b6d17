"""medal bonus vesting: a bonus waits in pending points like the earnings behind it

Bonuses granted before this revision were posted to available points: they count as
vested when they were awarded.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 02:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import rewards_engine.db

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAITING = sa.text("bonus_vested_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("medal_awards") as table:
        table.add_column(
            sa.Column("bonus_vests_at", rewards_engine.db.UTCDateTime(timezone=True), nullable=True)
        )
        table.add_column(
            sa.Column(
                "bonus_vested_at", rewards_engine.db.UTCDateTime(timezone=True), nullable=True
            )
        )
    op.execute("UPDATE medal_awards SET bonus_vested_at = awarded_at")
    op.create_index(
        "ix_medal_awards_bonus_due",
        "medal_awards",
        ["bonus_vests_at"],
        sqlite_where=WAITING,
        postgresql_where=WAITING,
    )


def downgrade() -> None:
    op.drop_index("ix_medal_awards_bonus_due", table_name="medal_awards")
    with op.batch_alter_table("medal_awards") as table:
        table.drop_column("bonus_vested_at")
        table.drop_column("bonus_vests_at")
