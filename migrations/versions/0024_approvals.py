"""approvals: four-eyes approval requests (issue 24, part 2; docs/security.md T3)

A staff action above its threshold (fixtures/approvals.toml) is stored here until a
second staff member approves or refuses it, or it expires; approving applies it once.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-05 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import rewards_engine.db

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = rewards_engine.db.UTCDateTime(timezone=True)
STR = sqlmodel.sql.sqltypes.AutoString
STATUSES = "status IN ('pending', 'approved', 'applied', 'failed', 'refused', 'expired')"


def upgrade() -> None:
    op.create_table(
        "approval_requests",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("action", STR(length=64), nullable=False),
        sa.Column("target_type", STR(length=32), nullable=False),
        sa.Column("target_id", STR(length=128), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("fingerprint", STR(length=64), nullable=False),
        sa.Column("amount", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("reason", STR(length=1000), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=True),
        sa.Column("requested_by", STR(length=128), nullable=False),
        sa.Column("requester_role", STR(length=16), nullable=False),
        sa.Column("idempotency_key", STR(length=255), nullable=True),
        sa.Column("status", STR(length=16), nullable=False),
        sa.Column("decided_by", STR(length=128), nullable=True),
        sa.Column("decider_role", STR(length=16), nullable=True),
        sa.Column("decision_reason", STR(length=1000), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.Column("decided_at", TIME, nullable=True),
        sa.Column("applied_at", TIME, nullable=True),
        sa.CheckConstraint(STATUSES, name=op.f("ck_approval_requests_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_requests")),
        sa.UniqueConstraint(
            "requested_by",
            "idempotency_key",
            name=op.f("uq_approval_requests_requested_by_idempotency_key"),
        ),
    )
    op.create_index(
        "ix_approval_requests_status_expires", "approval_requests", ["status", "expires_at"]
    )
    op.create_index(
        "ix_approval_requests_target", "approval_requests", ["target_type", "target_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_approval_requests_target", table_name="approval_requests")
    op.drop_index("ix_approval_requests_status_expires", table_name="approval_requests")
    op.drop_table("approval_requests")
