"""Claimed clips waiting for their video: a clip of a campaign that requires uploads
becomes a ``Clip`` only once the engine has received and checked its video."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Float, ForeignKey, Index, Text, text

from rewards_engine.models.base import BIG_INT, Field, SQLModel, big_id, timestamp

CLAIM_STATUSES = ("awaiting_upload", "uploaded", "verifying", "verified", "rejected", "expired")


class ClipClaim(SQLModel, table=True):
    """What the app says about a clip it is about to upload, and where that stands.

    Every claimed value (hash, duration, perceptual hash) is checked against the video
    before anything is decided; the clip the verification makes (``clip_id``) carries
    the engine's own measurements.
    """

    __tablename__ = "clip_claims"
    __table_args__ = (
        CheckConstraint(f"status IN {CLAIM_STATUSES!r}", name="status"),
        CheckConstraint("size_bytes > 0", name="size_positive"),
        # The verification queue and the expiry sweep each read one status in id order.
        Index("ix_clip_claims_status_id", "status", "id"),
        Index("ix_clip_claims_donor_id", "donor_id", "id"),
        Index(
            "ix_clip_claims_waiting_expiry",
            "expires_at",
            sqlite_where=text("status = 'awaiting_upload'"),
            postgresql_where=text("status = 'awaiting_upload'"),
        ),
    )

    id: int = big_id()
    batch_id: int = Field(sa_type=BIG_INT, sa_column_args=[ForeignKey("submission_batches.id")])
    position: int  # its index in the submission call
    donor_id: int = Field(foreign_key="donors.id")
    campaign_id: str = Field(foreign_key="campaigns.id", max_length=64)
    video_sha256: str = Field(max_length=64)  # claimed; checked against the bytes
    claimed_perceptual_hash: int | None = Field(default=None, sa_type=BigInteger())
    event_id: str = Field(max_length=128)
    incident_type: str = Field(max_length=32)
    camera_id: str = Field(max_length=128)
    recorded_at: datetime = timestamp(default=False)
    duration_s: float = Field(sa_type=Float())  # claimed; checked against the stream
    staged: bool
    size_bytes: int = Field(sa_type=BigInteger())
    content_type: str = Field(max_length=64)
    storage_key: str = Field(max_length=255)
    upload_id: str | None = Field(default=None, max_length=255)  # multipart uploads
    status: str = Field(default="awaiting_upload", max_length=16)
    reason: str | None = Field(default=None, max_length=48)
    lease_until: datetime | None = timestamp(nullable=True, default=False)  # verifying
    attempts: int = Field(default=0)
    clip_id: int | None = Field(default=None, sa_type=BIG_INT)
    expires_at: datetime = timestamp(default=False)
    created_at: datetime = timestamp()
    uploaded_at: datetime | None = timestamp(nullable=True, default=False)
    decided_at: datetime | None = timestamp(nullable=True, default=False)


class DonorVideoKey(SQLModel, table=True):
    """A donor's data key for their videos, wrapped by the master keys (``Vault``).
    Erasure deletes the row: every copy of the donor's videos becomes unreadable."""

    __tablename__ = "donor_video_keys"

    donor_id: int = Field(foreign_key="donors.id", primary_key=True)
    wrapped: str = Field(sa_type=Text())
    created_at: datetime = timestamp()
