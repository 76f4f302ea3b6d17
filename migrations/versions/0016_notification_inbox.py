"""notification inbox: what happened to each donor, kept for a while; broadcasts fanned
out in chunks; the donor's language

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 08:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import rewards_engine.db

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = rewards_engine.db.UTCDateTime(timezone=True)
UNREAD = sa.text("read_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("donor_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("read_at", TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["donor_id"], ["donors.id"], name=op.f("fk_notifications_donor_id_donors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("donor_id", "key", name=op.f("uq_notifications_donor_id_key")),
    )
    op.create_index("ix_notifications_donor_id", "notifications", ["donor_id", "id"])
    op.create_index(
        "ix_notifications_unread",
        "notifications",
        ["donor_id"],
        sqlite_where=UNREAD,
        postgresql_where=UNREAD,
    )
    op.create_index("ix_notifications_created_at", "notifications", ["created_at"])
    op.create_table(
        "notification_broadcasts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("next_donor_id", sa.Integer(), nullable=False),
        sa.Column("done_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_broadcasts")),
    )
    with op.batch_alter_table("donors") as table:
        table.add_column(
            sa.Column("locale", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("donors") as table:
        table.drop_column("locale")
    op.drop_table("notification_broadcasts")
    op.drop_index("ix_notifications_created_at", table_name="notifications")
    op.drop_index(
        "ix_notifications_unread",
        table_name="notifications",
        sqlite_where=UNREAD,
        postgresql_where=UNREAD,
    )
    op.drop_index("ix_notifications_donor_id", table_name="notifications")
    op.drop_table("notifications")
