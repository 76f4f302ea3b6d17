"""uploads and verified clips: claims wait for their video; a clip says how it arrived

Campaigns made before this revision collected metadata only: they keep doing so
(``requires_upload`` false) and their clips are ``imported``. New campaigns require
uploads by default (the model's default).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 05:18:04.962307
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import rewards_engine.db

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "donor_video_keys",
        sa.Column("donor_id", sa.Integer(), nullable=False),
        sa.Column("wrapped", sa.Text(), nullable=False),
        sa.Column("created_at", rewards_engine.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["donor_id"], ["donors.id"], name=op.f("fk_donor_video_keys_donor_id_donors")
        ),
        sa.PrimaryKeyConstraint("donor_id", name=op.f("pk_donor_video_keys")),
    )
    op.create_table(
        "clip_claims",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("donor_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("video_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("claimed_perceptual_hash", sa.BigInteger(), nullable=True),
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("incident_type", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("camera_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("recorded_at", rewards_engine.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("staged", sa.Boolean(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("storage_key", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("upload_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=48), nullable=True),
        sa.Column("lease_until", rewards_engine.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("clip_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("expires_at", rewards_engine.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", rewards_engine.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("uploaded_at", rewards_engine.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_at", rewards_engine.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('awaiting_upload', 'uploaded', 'verifying', 'verified', 'rejected', 'expired')",
            name=op.f("ck_clip_claims_status"),
        ),
        sa.CheckConstraint("size_bytes > 0", name=op.f("ck_clip_claims_size_positive")),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["submission_batches.id"],
            name=op.f("fk_clip_claims_batch_id_submission_batches"),
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_clip_claims_campaign_id_campaigns")
        ),
        sa.ForeignKeyConstraint(
            ["donor_id"], ["donors.id"], name=op.f("fk_clip_claims_donor_id_donors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clip_claims")),
    )
    with op.batch_alter_table("clip_claims", schema=None) as batch_op:
        batch_op.create_index("ix_clip_claims_donor_id", ["donor_id", "id"], unique=False)
        batch_op.create_index("ix_clip_claims_status_id", ["status", "id"], unique=False)
        batch_op.create_index(
            "ix_clip_claims_waiting_expiry",
            ["expires_at"],
            unique=False,
            sqlite_where=sa.text("status = 'awaiting_upload'"),
            postgresql_where=sa.text("status = 'awaiting_upload'"),
        )

    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("requires_upload", sa.Boolean(), nullable=False, server_default=sa.false())
        )

    with op.batch_alter_table("clips", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "intake",
                sqlmodel.sql.sqltypes.AutoString(length=12),
                nullable=False,
                server_default="imported",
            )
        )
        batch_op.add_column(
            sa.Column("storage_key", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True)
        )
        batch_op.add_column(sa.Column("size_bytes", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column("pdq", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.add_column(sa.Column("pdq_quality", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "video_deleted_at", rewards_engine.db.UTCDateTime(timezone=True), nullable=True
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("clips", schema=None) as batch_op:
        batch_op.drop_column("video_deleted_at")
        batch_op.drop_column("pdq_quality")
        batch_op.drop_column("pdq")
        batch_op.drop_column("size_bytes")
        batch_op.drop_column("storage_key")
        batch_op.drop_column("intake")

    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("requires_upload")

    with op.batch_alter_table("clip_claims", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_clip_claims_waiting_expiry",
            sqlite_where=sa.text("status = 'awaiting_upload'"),
            postgresql_where=sa.text("status = 'awaiting_upload'"),
        )
        batch_op.drop_index("ix_clip_claims_status_id")
        batch_op.drop_index("ix_clip_claims_donor_id")

    op.drop_table("clip_claims")
    op.drop_table("donor_video_keys")
