from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, Text, text

from rewards_engine.models.base import Field, SQLModel, timestamp


class Donor(SQLModel, table=True):
    """A camera owner who donates clips; created on their first authenticated call.

    ``account_id`` is the identity provider's subject (the JWT ``sub``). ``alias`` is a
    random pseudonym drawn at creation, so it cannot be derived from any id.
    """

    __tablename__ = "donors"
    __table_args__ = (
        CheckConstraint("visibility IN ('public', 'alias', 'hidden')", name="visibility"),
        CheckConstraint("status IN ('active', 'banned', 'erased')", name="status"),
        # Support's search by name prefix, in any case (pattern ops: LIKE 'x%' uses them
        # whatever the database's collation).
        Index(
            "ix_donors_display_name_lower",
            text("lower(display_name)"),
            postgresql_ops={"lower(display_name)": "text_pattern_ops"},
        ),
        Index(
            "ix_donors_alias_lower",
            text("lower(alias)"),
            postgresql_ops={"lower(alias)": "text_pattern_ops"},
        ),
    )

    id: int = Field(default=None, primary_key=True)
    account_id: str | None = Field(default=None, max_length=128, unique=True)
    display_name: str | None = Field(default=None, max_length=32)
    alias: str | None = Field(default=None, max_length=48)
    visibility: str = Field(default="hidden", max_length=8)
    status: str = Field(default="active", max_length=8)
    timezone: str | None = Field(default=None, max_length=64)
    # The language texts are shown in (en, fr); None: the app's Accept-Language decides.
    locale: str | None = Field(default=None, max_length=16)
    # The consent version the donor holds now; None before a grant and after withdrawal.
    consent_version: str | None = Field(default=None, max_length=32)
    # Under a fraud hold: keeps earning, but is not paid nor shown on the public wall.
    on_hold: bool = Field(default=False)
    # Bumped by every change the Honor Wall shows; orders the writes to Redis.
    wall_version: int = Field(default=0)
    # Where cash is paid: a PayPal e-mail or payer id, or a Stripe Connect account;
    # encrypted (ENCRYPTION_KEYS), shown masked, never logged.
    payout_kind: str | None = Field(default=None, max_length=16)
    payout_destination: str | None = Field(default=None, sa_type=Text())
    payout_masked: str | None = Field(default=None, max_length=80)
    # A keyed hash of the destination: finds donors paid to the same account.
    payout_fingerprint: str | None = Field(default=None, max_length=64, index=True)
    payout_changed_at: datetime | None = timestamp(nullable=True, default=False)
    # Set when the donor withdraws consent (their clips leave the training set), cleared
    # when they grant it again.
    consent_withdrawn_at: datetime | None = timestamp(nullable=True, default=False)
    erased_at: datetime | None = timestamp(nullable=True, default=False)
    created_at: datetime = timestamp()
    updated_at: datetime = timestamp()
