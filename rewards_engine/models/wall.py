"""The Honor Wall's database side: tallies (the source the Redis boards are built
from), the outbox that carries changes to Redis, and archived period boards."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, UniqueConstraint, text

from rewards_engine.models.base import Field, SQLModel, big_id, json_column, timestamp


class WallTally(SQLModel, table=True):
    """A donor's accepted clips on one board and when they reached that number.

    Kept in the same transaction as the clips that change it; ``wall rebuild``
    recounts it from the clips.
    """

    __tablename__ = "wall_tallies"
    __table_args__ = (
        Index("ix_wall_tallies_board_clips", "board", "clips"),
        # A donor's tallies, read on every accepted submission (docs/capacity.md, R1).
        Index("ix_wall_tallies_donor_id", "donor_id"),
    )

    board: str = Field(primary_key=True, max_length=80)
    donor_id: int = Field(foreign_key="donors.id", primary_key=True)
    clips: int = Field(default=0)
    reached_at: datetime = timestamp(default=False)


class WallOutbox(SQLModel, table=True):
    """A committed change the Redis boards must reflect; drained after the commit.

    ``boards`` lists the boards touched, or is null for a change of the donor
    (visibility, name, hold, ban, erasure) that touches every board they are on.
    Rows are kept a day after they are applied: a rebuild replays what changed
    while it ran.
    """

    __tablename__ = "wall_outbox"
    __table_args__ = (
        Index(
            "ix_wall_outbox_pending",
            "id",
            postgresql_where=text("applied_at IS NULL"),
            sqlite_where=text("applied_at IS NULL"),
        ),
    )

    id: int = big_id()
    donor_id: int = Field(foreign_key="donors.id", index=True)
    boards: list[str] | None = json_column(nullable=True)
    created_at: datetime = timestamp()
    applied_at: datetime | None = timestamp(nullable=True, default=False)


class WallSnapshot(SQLModel, table=True):
    """A closed period board, archived with a hash of its content."""

    __tablename__ = "wall_snapshots"

    id: int = Field(default=None, primary_key=True)
    board: str = Field(max_length=80, unique=True)
    window_start: datetime = timestamp(default=False)
    window_end: datetime = timestamp(default=False)
    closed_at: datetime = timestamp()
    entries: int
    content_hash: str = Field(max_length=64)


class WallSnapshotEntry(SQLModel, table=True):
    __tablename__ = "wall_snapshot_entries"
    __table_args__ = (
        UniqueConstraint("snapshot_id", "position"),
        Index("ix_wall_snapshot_entries_clips", "snapshot_id", "clips"),
    )

    id: int = big_id()
    snapshot_id: int = Field(foreign_key="wall_snapshots.id")
    position: int
    donor_id: int = Field(foreign_key="donors.id", index=True)
    clips: int = Field(sa_type=BigInteger())
    rank: int
