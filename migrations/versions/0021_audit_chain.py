"""audit chain: placeholder (filled in by helper A, issue 24 part 4)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05 14:00:00
"""

from collections.abc import Sequence

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing yet: the audit chain's tables and triggers come in the next commit."""


def downgrade() -> None:
    """Nothing to undo yet."""
