"""board follows: the boards a donor follows, and the rank they were last told of

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import rewards_engine.db

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = rewards_engine.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "board_follows",
        sa.Column("donor_id", sa.Integer(), nullable=False),
        sa.Column("board", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("last_rank", sa.Integer(), nullable=True),
        sa.Column("last_told_at", TIME, nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["donor_id"], ["donors.id"], name=op.f("fk_board_follows_donor_id_donors")
        ),
        sa.PrimaryKeyConstraint("donor_id", "board", name=op.f("pk_board_follows")),
    )


def downgrade() -> None:
    op.drop_table("board_follows")
