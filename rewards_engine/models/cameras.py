"""The camera registry: physical cameras, whom each is registered to, and every
registration the device cloud attested (docs/cameras.md)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index

from rewards_engine.models.base import Field, SQLModel, timestamp

REGISTRATION_ENDS = ("moved", "renewed", "erased")


class Camera(SQLModel, table=True):
    """One physical camera, by its serial; registered to at most one donor at a time.

    The row outlives its owners: a camera's caps count every clip it filmed, under
    every account it was registered to, so selling it does not renew them.
    ``attested_at`` is the issue time of the attestation in force: an older one cannot
    take the camera back.
    """

    __tablename__ = "cameras"
    __table_args__ = (Index("ix_cameras_donor", "donor_id"),)

    id: int = Field(default=None, primary_key=True)
    serial: str = Field(max_length=128, unique=True)
    model: str = Field(max_length=64)
    donor_id: int | None = Field(default=None, foreign_key="donors.id")
    registered_at: datetime | None = timestamp(nullable=True, default=False)
    attested_at: datetime = timestamp(default=False)
    moves: int = Field(default=0)  # times it changed accounts
    created_at: datetime = timestamp()
    updated_at: datetime = timestamp()


class CameraRegistration(SQLModel, table=True):
    """One attested registration of a camera to a donor, from its start to its end
    (moved to another account, renewed by a newer attestation, or the donor erased).

    ``token_id`` is the attestation's ``jti``: unique, so the same attestation is never
    used twice."""

    __tablename__ = "camera_registrations"
    __table_args__ = (
        CheckConstraint(f"ended_by IN {REGISTRATION_ENDS!r}", name="ended_by"),
        CheckConstraint("via IN ('app', 'device_cloud')", name="via"),
        Index("ix_camera_registrations_camera", "camera_id", "id"),
        Index("ix_camera_registrations_donor", "donor_id"),
    )

    id: int = Field(default=None, primary_key=True)
    camera_id: int = Field(foreign_key="cameras.id")
    donor_id: int | None = Field(default=None, foreign_key="donors.id")  # None once erased
    token_id: str = Field(max_length=128, unique=True)
    key_id: str = Field(max_length=128)
    model: str = Field(max_length=64)
    issued_at: datetime = timestamp(default=False)
    via: str = Field(max_length=16)
    previous_donor_id: int | None = Field(default=None)  # whom a move took it from
    registered_at: datetime = timestamp()
    ended_at: datetime | None = timestamp(nullable=True, default=False)
    ended_by: str | None = Field(default=None, max_length=16)
