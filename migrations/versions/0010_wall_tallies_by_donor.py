"""wall tallies by donor: every accepted submission reads one donor's tallies

Without it the read scans the whole table (docs/capacity.md, R1: 270 ms at 1M donors).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 13:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_wall_tallies_donor_id", "wall_tallies", ["donor_id"])


def downgrade() -> None:
    op.drop_index("ix_wall_tallies_donor_id", table_name="wall_tallies")
