"""staff sessions and token revocations: console sessions kept server side (only the
hash of the cookie's id, and the jti of the token that opened it), revoked token ids
and per-subject not-befores

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import rewards_engine.db

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = rewards_engine.db.UTCDateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TEXT = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "staff_sessions",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("id_hash", TEXT(length=64), nullable=False),
        sa.Column("subject", TEXT(length=128), nullable=False),
        sa.Column("role", TEXT(length=32), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("last_seen_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.Column("revoked_at", TIME, nullable=True),
        sa.Column("token_jti", TEXT(length=128), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_sessions")),
        sa.UniqueConstraint("id_hash", name=op.f("uq_staff_sessions_id_hash")),
    )
    op.create_index("ix_staff_sessions_subject", "staff_sessions", ["subject", "expires_at"])
    op.create_index("ix_staff_sessions_expires_at", "staff_sessions", ["expires_at"])
    op.create_index("ix_staff_sessions_token_jti", "staff_sessions", ["token_jti"])
    op.create_table(
        "token_revocations",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("jti", TEXT(length=128), nullable=True),
        sa.Column("subject", TEXT(length=128), nullable=True),
        sa.Column("not_before", TIME, nullable=True),
        sa.Column("expires_at", TIME, nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("actor_id", TEXT(length=160), nullable=False),
        sa.Column("reason", TEXT(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_token_revocations")),
        sa.UniqueConstraint("jti", name=op.f("uq_token_revocations_jti")),
    )
    op.create_index("ix_token_revocations_subject", "token_revocations", ["subject"])
    op.create_index("ix_token_revocations_expires_at", "token_revocations", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_token_revocations_expires_at", table_name="token_revocations")
    op.drop_index("ix_token_revocations_subject", table_name="token_revocations")
    op.drop_table("token_revocations")
    op.drop_index("ix_staff_sessions_token_jti", table_name="staff_sessions")
    op.drop_index("ix_staff_sessions_expires_at", table_name="staff_sessions")
    op.drop_index("ix_staff_sessions_subject", table_name="staff_sessions")
    op.drop_table("staff_sessions")
