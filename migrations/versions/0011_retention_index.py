"""retention index: the daily retention job's chunks find the clips still due at once

Without it each chunk walks the whole camera-caps index past every clip already
scrubbed: quadratic once retention deletes (docs/capacity.md, R5).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 13:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_clips_retention_due",
        "clips",
        ["campaign_id", "created_at"],
        sqlite_where=sa.text("metadata_deleted_at IS NULL"),
        postgresql_where=sa.text("metadata_deleted_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_clips_retention_due", table_name="clips")
