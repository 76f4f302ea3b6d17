"""The installation's identity: one row, made once in its database (issue 25)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint

from rewards_engine.models.base import Field, SQLModel, timestamp


class InstallationIdentity(SQLModel, table=True):
    """A random, non-secret id of this installation's database, made the first time it
    is needed (services/installation_identity.py). It prefixes what a provider shared by
    several installations de-duplicates on (a Tremendous order's external id): a second
    installation on the same account, or a database recreated empty, numbers its
    redemptions from 1 again and would otherwise be answered with another donor's order.
    Deleting the row (after restoring a backup) makes a new one for new orders; orders
    already made keep the external id stored with them."""

    __tablename__ = "installation_identity"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: int = Field(default=1, primary_key=True, sa_column_kwargs={"autoincrement": False})
    installation_id: str = Field(max_length=32)
    created_at: datetime = timestamp()
