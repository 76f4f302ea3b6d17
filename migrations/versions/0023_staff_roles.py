"""staff roles: each staff role's permissions and limits (issue 24, part 1), and each
agent's use of a daily limit

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import rewards_engine.db

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = rewards_engine.db.UTCDateTime(timezone=True)
TEXT = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "staff_roles",
        sa.Column("role", TEXT(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("description", TEXT(length=500), nullable=False),
        sa.Column("may", sa.JSON(), nullable=False),
        sa.Column("limits", sa.JSON(), nullable=False),
        sa.Column("updated_by", TEXT(length=160), nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("role", name=op.f("pk_staff_roles")),
    )
    op.create_table(
        "staff_daily_usage",
        sa.Column("actor_id", TEXT(length=160), nullable=False),
        sa.Column("action", TEXT(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("actor_id", "action", "day", name=op.f("pk_staff_daily_usage")),
    )


def downgrade() -> None:
    op.drop_table("staff_daily_usage")
    op.drop_table("staff_roles")
