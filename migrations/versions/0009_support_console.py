"""support console: donor search by name or alias prefix

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 11:35:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {"ix_donors_display_name_lower": "display_name", "ix_donors_alias_lower": "alias"}


def upgrade() -> None:
    for name, column in INDEXES.items():
        expression = f"lower({column})"
        op.create_index(
            name,
            "donors",
            [sa.text(expression)],
            postgresql_ops={expression: "text_pattern_ops"},
        )


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="donors")
