"""payout sender lease: one process sends a batch at a time

``sender`` names the process that claimed the batch (a conditional UPDATE) and
``sender_lease_until`` how long its claim holds unless renewed: the ``payout-batch``
and ``payout-reconcile`` jobs, or two schedulers, never send the same batch at once
(issue 16).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import rewards_engine.db

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("payout_batches", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sender", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "sender_lease_until", rewards_engine.db.UTCDateTime(timezone=True), nullable=True
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("payout_batches", schema=None) as batch_op:
        batch_op.drop_column("sender_lease_until")
        batch_op.drop_column("sender")
