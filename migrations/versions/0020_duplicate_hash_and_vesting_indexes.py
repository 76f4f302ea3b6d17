"""duplicate hash and vesting indexes: the fraud scan finds a hash's clips through
indexes, and the vesting index keeps only the accepted clips still to vest

- ``ix_clips_duplicate_hash``: the duplicates' hashes. With the owner index
  (``uq_clips_campaign_hash_owner``, every clip that is not a duplicate) it finds all
  the clips of a hash without reading the table (docs/capacity.md, R2).
- ``ix_clips_vesting`` also requires ``status = 'accepted'``: reversed clips stayed in
  it forever, and the vesting job read them all every run (docs/capacity.md, R4).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _vesting_index(where: str) -> None:
    op.create_index(
        "ix_clips_vesting",
        "clips",
        ["vests_at"],
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )


def upgrade() -> None:
    op.create_index(
        "ix_clips_duplicate_hash",
        "clips",
        ["video_sha256"],
        sqlite_where=sa.text("status = 'duplicate'"),
        postgresql_where=sa.text("status = 'duplicate'"),
    )
    op.drop_index("ix_clips_vesting", table_name="clips")
    _vesting_index("vested_at IS NULL AND status = 'accepted'")


def downgrade() -> None:
    op.drop_index("ix_clips_vesting", table_name="clips")
    _vesting_index("vested_at IS NULL")
    op.drop_index("ix_clips_duplicate_hash", table_name="clips")
