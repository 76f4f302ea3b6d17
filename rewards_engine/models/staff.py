"""The staff policy (issue 24, part 1): each staff role's permissions and limits, and
what each agent has used of a daily limit.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Date

from rewards_engine.models.base import Field, SQLModel, json_column, timestamp


class StaffRole(SQLModel, table=True):
    """One staff role: the actions it may do and their limits. A change is a new
    version (the audit log keeps before and after); versions only grow, so the sum of
    versions tells a process whether its cached policy is still current."""

    __tablename__ = "staff_roles"

    role: str = Field(primary_key=True, max_length=32)
    version: int = Field(default=1)
    description: str = Field(default="", max_length=500)
    may: list[str] = json_column()
    limits: dict[str, Any] = json_column()  # action -> {"per_action": N, "per_day": M}
    updated_by: str = Field(default="fixtures", max_length=160)
    updated_at: datetime = timestamp()


class StaffDailyUsage(SQLModel, table=True):
    """How much of an action one agent did in one UTC day, counted by a conditional
    UPDATE in the use case's transaction so that concurrent actions never pass the cap."""

    __tablename__ = "staff_daily_usage"

    actor_id: str = Field(primary_key=True, max_length=160)
    action: str = Field(primary_key=True, max_length=32)
    day: date = Field(sa_column=Column(Date, primary_key=True))
    used: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
