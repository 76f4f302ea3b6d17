"""camera registry: cameras registered to donors by attestations; a campaign's rule for
cameras that are not

Campaigns made before this revision paid clips from any serial: they keep doing so
(``unregistered_cameras`` ``allow``). Clips decided before it have no ``camera_rule``.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 08:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import rewards_engine.db

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = rewards_engine.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cameras",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("serial", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("model", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("donor_id", sa.Integer(), nullable=True),
        sa.Column("registered_at", TIME, nullable=True),
        sa.Column("attested_at", TIME, nullable=False),
        sa.Column("moves", sa.Integer(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["donor_id"], ["donors.id"], name=op.f("fk_cameras_donor_id_donors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cameras")),
        sa.UniqueConstraint("serial", name=op.f("uq_cameras_serial")),
    )
    op.create_index("ix_cameras_donor", "cameras", ["donor_id"])
    op.create_table(
        "camera_registrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("camera_id", sa.Integer(), nullable=False),
        sa.Column("donor_id", sa.Integer(), nullable=True),
        sa.Column("token_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("key_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("model", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("issued_at", TIME, nullable=False),
        sa.Column("via", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("previous_donor_id", sa.Integer(), nullable=True),
        sa.Column("registered_at", TIME, nullable=False),
        sa.Column("ended_at", TIME, nullable=True),
        sa.Column("ended_by", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.CheckConstraint(
            "ended_by IN ('moved', 'renewed', 'erased')",
            name=op.f("ck_camera_registrations_ended_by"),
        ),
        sa.CheckConstraint(
            "via IN ('app', 'device_cloud')", name=op.f("ck_camera_registrations_via")
        ),
        sa.ForeignKeyConstraint(
            ["camera_id"], ["cameras.id"], name=op.f("fk_camera_registrations_camera_id_cameras")
        ),
        sa.ForeignKeyConstraint(
            ["donor_id"], ["donors.id"], name=op.f("fk_camera_registrations_donor_id_donors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_camera_registrations")),
        sa.UniqueConstraint("token_id", name=op.f("uq_camera_registrations_token_id")),
    )
    op.create_index("ix_camera_registrations_camera", "camera_registrations", ["camera_id", "id"])
    op.create_index("ix_camera_registrations_donor", "camera_registrations", ["donor_id"])
    with op.batch_alter_table("campaigns") as table:
        table.add_column(
            sa.Column(
                "unregistered_cameras",
                sqlmodel.sql.sqltypes.AutoString(length=8),
                nullable=False,
                server_default="allow",
            )
        )
        table.create_check_constraint(
            "unregistered_cameras", "unregistered_cameras IN ('allow', 'review', 'reject')"
        )
    with op.batch_alter_table("clips") as table:
        table.add_column(
            sa.Column("camera_rule", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("clips") as table:
        table.drop_column("camera_rule")
    with op.batch_alter_table("campaigns") as table:
        table.drop_constraint("ck_campaigns_unregistered_cameras", type_="check")
        table.drop_column("unregistered_cameras")
    op.drop_index("ix_camera_registrations_donor", table_name="camera_registrations")
    op.drop_index("ix_camera_registrations_camera", table_name="camera_registrations")
    op.drop_table("camera_registrations")
    op.drop_index("ix_cameras_donor", table_name="cameras")
    op.drop_table("cameras")
