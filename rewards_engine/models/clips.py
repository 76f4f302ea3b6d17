"""Donated clips and the calls (batches) that brought them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Float, ForeignKey, Index, text

from rewards_engine.models.base import BIG_INT, Field, SQLModel, big_id, timestamp


class SubmissionBatch(SQLModel, table=True):
    """One ``POST /v1/submissions`` call: its clips commit or fail together."""

    __tablename__ = "submission_batches"
    __table_args__ = (Index("ix_submission_batches_donor_id_id", "donor_id", "id"),)

    id: int = big_id()
    donor_id: int = Field(foreign_key="donors.id")
    campaign_id: str = Field(foreign_key="campaigns.id", max_length=64)
    consent_version: str = Field(max_length=32)
    clip_count: int
    accepted: int
    points: int = Field(sa_type=BigInteger())
    cash_cents: int = Field(sa_type=BigInteger())
    currency: str = Field(max_length=3)
    created_at: datetime = timestamp()


class Clip(SQLModel, table=True):
    """A donated clip, decided: its metadata and, for a clip whose video the engine
    received (``intake`` ``verified``), where the video is kept and its hashes as the
    engine computed them.

    One hash is owned once per campaign: the partial unique index covers every row
    that is not itself a duplicate, so a second donor's copy is stored as a
    ``duplicate`` (evidence for fraud review) and the first keeps the clip.
    """

    __tablename__ = "clips"
    __table_args__ = (
        CheckConstraint(
            "status IN ('accepted', 'pending_review', 'duplicate', 'rejected', 'reversed')",
            name="status",
        ),
        CheckConstraint("points >= 0 AND cash_cents >= 0", name="earnings_non_negative"),
        Index(  # the hash leads: it is what every lookup knows and it is near-unique
            "uq_clips_campaign_hash_owner",
            "video_sha256",
            "campaign_id",
            unique=True,
            sqlite_where=text("status <> 'duplicate'"),
            postgresql_where=text("status <> 'duplicate'"),
        ),
        Index("ix_clips_donor_created", "donor_id", "created_at", "id"),
        Index("ix_clips_camera_caps", "camera_id", "campaign_id", "incident_type"),
        Index("ix_clips_event_caps", "donor_id", "campaign_id", "event_id"),
        Index("ix_clips_accepted_at", "accepted_at"),
        # The clips still to vest. Reversed clips never vest and stay unvested: only
        # accepted ones are kept, so the index holds what is due soon and nothing more
        # (docs/capacity.md, R4).
        Index(
            "ix_clips_vesting",
            "vests_at",
            sqlite_where=text("vested_at IS NULL AND status = 'accepted'"),
            postgresql_where=text("vested_at IS NULL AND status = 'accepted'"),
        ),
        # The duplicates' hashes: with the owner index above, which holds every other
        # clip, a hash's clips are found without reading the table (the fraud scan's
        # exact-duplicate rule; docs/capacity.md, R2). A small fraction of the clips, so
        # a clip that is not a duplicate costs no index entry here.
        Index(
            "ix_clips_duplicate_hash",
            "video_sha256",
            sqlite_where=text("status = 'duplicate'"),
            postgresql_where=text("status = 'duplicate'"),
        ),
        # Retention's chunks: clips still holding metadata, by campaign and age. Scrubbed
        # clips leave it, so each chunk starts at the first one due (docs/capacity.md, R5).
        Index(
            "ix_clips_retention_due",
            "campaign_id",
            "created_at",
            sqlite_where=text("metadata_deleted_at IS NULL"),
            postgresql_where=text("metadata_deleted_at IS NULL"),
        ),
    )

    id: int = big_id()
    batch_id: int = Field(sa_type=BIG_INT, sa_column_args=[ForeignKey("submission_batches.id")])
    donor_id: int = Field(foreign_key="donors.id")
    campaign_id: str = Field(foreign_key="campaigns.id", max_length=64)
    video_sha256: str = Field(max_length=64)
    perceptual_hash: int | None = Field(default=None, sa_type=BigInteger())
    event_id: str = Field(max_length=128)
    incident_type: str = Field(max_length=32)
    camera_id: str = Field(max_length=128)
    recorded_at: datetime = timestamp(default=False)
    duration_s: float = Field(sa_type=Float())
    staged: bool
    status: str = Field(max_length=16)
    reason: str | None = Field(default=None, max_length=48)
    duplicate_of_id: int | None = Field(default=None, sa_type=BIG_INT)
    # What the camera registry said of its camera: registered to the donor, or the
    # campaign's rule for a camera that was not (None: decided before the registry).
    camera_rule: str | None = Field(default=None, max_length=16)
    points: int = Field(default=0)
    cash_cents: int = Field(default=0)
    currency: str = Field(max_length=3)
    created_at: datetime = timestamp()
    accepted_at: datetime | None = timestamp(nullable=True, default=False)
    vests_at: datetime | None = timestamp(nullable=True, default=False)
    vested_at: datetime | None = timestamp(nullable=True, default=False)
    reviewed_at: datetime | None = timestamp(nullable=True, default=False)
    reversed_at: datetime | None = timestamp(nullable=True, default=False)
    # Retention or erasure deleted what identified the clip (its hashes, camera, event);
    # what it earned and counted stays, as the ledger does.
    metadata_deleted_at: datetime | None = timestamp(nullable=True, default=False)
    # verified: the engine received and checked the video; trusted: the maker's video
    # pipeline reported it; imported: claimed by the app before uploads existed.
    intake: str = Field(default="imported", max_length=12)
    storage_key: str | None = Field(default=None, max_length=255)
    size_bytes: int | None = Field(default=None, sa_type=BigInteger())
    pdq: str | None = Field(default=None, max_length=64)  # 256-bit PDQ, hex
    pdq_quality: int | None = Field(default=None)
    video_deleted_at: datetime | None = timestamp(nullable=True, default=False)


class CampaignCounter(SQLModel, table=True):
    """Accepted clips per campaign and incident type, kept with every change.

    Reading progress (and stopping at a target) then costs one row, not a count over
    millions of clips. ``ledger verify`` recounts it.
    """

    __tablename__ = "campaign_counters"

    campaign_id: str = Field(foreign_key="campaigns.id", primary_key=True, max_length=64)
    incident_type: str = Field(primary_key=True, max_length=32)
    accepted: int = Field(default=0, sa_type=BigInteger())
