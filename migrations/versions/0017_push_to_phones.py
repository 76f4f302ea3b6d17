"""push to phones: the donors' devices (FCM, APNs), their push preferences, and the
deliveries the push job sends from the inbox

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import rewards_engine.db

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = rewards_engine.db.UTCDateTime(timezone=True)
BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STATUSES = "'pending', 'sending', 'sent', 'failed', 'skipped', 'collapsed', 'cancelled'"


def upgrade() -> None:
    op.create_table(
        "push_devices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("donor_id", sa.Integer(), nullable=False),
        sa.Column("platform", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("app_version", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("locale", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("registered_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.CheckConstraint("platform IN ('fcm', 'apns')", name=op.f("ck_push_devices_platform")),
        sa.ForeignKeyConstraint(
            ["donor_id"], ["donors.id"], name=op.f("fk_push_devices_donor_id_donors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_devices")),
        sa.UniqueConstraint(
            "platform", "token_hash", name=op.f("uq_push_devices_platform_token_hash")
        ),
    )
    op.create_index("ix_push_devices_donor_id", "push_devices", ["donor_id", "id"])
    op.create_table(
        "push_preferences",
        sa.Column("donor_id", sa.Integer(), nullable=False),
        sa.Column("muted_kinds", sa.JSON(), nullable=False),
        sa.Column("quiet_start", sqlmodel.sql.sqltypes.AutoString(length=5), nullable=True),
        sa.Column("quiet_end", sqlmodel.sql.sqltypes.AutoString(length=5), nullable=True),
        sa.Column("updated_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["donor_id"], ["donors.id"], name=op.f("fk_push_preferences_donor_id_donors")
        ),
        sa.PrimaryKeyConstraint("donor_id", name=op.f("pk_push_preferences")),
    )
    op.create_table(
        "push_deliveries",
        sa.Column("id", BIG, nullable=False),
        sa.Column("notification_id", BIG, nullable=False),
        sa.Column("donor_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("collapse_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TIME, nullable=False),
        sa.Column("lease_until", TIME, nullable=True),
        sa.Column("message_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("sent_at", TIME, nullable=True),
        sa.Column("updated_at", TIME, nullable=False),
        sa.CheckConstraint(f"status IN ({STATUSES})", name=op.f("ck_push_deliveries_status")),
        sa.ForeignKeyConstraint(
            ["donor_id"], ["donors.id"], name=op.f("fk_push_deliveries_donor_id_donors")
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["push_devices.id"],
            name=op.f("fk_push_deliveries_device_id_push_devices"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_deliveries")),
        sa.UniqueConstraint(
            "notification_id",
            "device_id",
            name=op.f("uq_push_deliveries_notification_id_device_id"),
        ),
    )
    op.create_index("ix_push_deliveries_device_id", "push_deliveries", ["device_id"])
    op.create_index("ix_push_deliveries_due", "push_deliveries", ["status", "next_attempt_at"])
    op.create_index("ix_push_deliveries_donor_id", "push_deliveries", ["donor_id", "created_at"])
    op.create_index("ix_push_deliveries_created_at", "push_deliveries", ["created_at"])


def downgrade() -> None:
    op.drop_table("push_deliveries")
    op.drop_table("push_preferences")
    op.drop_index("ix_push_devices_donor_id", table_name="push_devices")
    op.drop_table("push_devices")
