"""Staff console sessions and bearer-token revocations (issue 24, part 3).

Both live in the database, the source of truth: a Redis restart must not sign every
agent back in nor forget a revoked token.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index

from rewards_engine.models.base import Field, SQLModel, big_id, timestamp


class StaffSession(SQLModel, table=True):
    """One signed-in console session. The cookie carries a random id; only its SHA-256
    is kept, so a leaked dump or a listing never yields a usable session."""

    __tablename__ = "staff_sessions"
    __table_args__ = (Index("ix_staff_sessions_subject", "subject", "expires_at"),)

    id: int = big_id()
    id_hash: str = Field(max_length=64, unique=True)
    subject: str = Field(max_length=128)
    role: str = Field(max_length=32)
    created_at: datetime = timestamp()
    last_seen_at: datetime = timestamp()
    expires_at: datetime = timestamp(index=True)  # absolute: <= 8 h and <= the token's exp
    revoked_at: datetime | None = timestamp(nullable=True, default=False)
    # The jti of the token it was opened with: revoking that token ends the session too.
    token_jti: str | None = Field(default=None, max_length=128, index=True)


class TokenRevocation(SQLModel, table=True):
    """A revoked token (``jti`` set, kept until the token's ``expires_at``) or a subject's
    not-before (``not_before`` set: every token of ``subject`` issued before it is void).

    Rows are only inserted (and expired ``jti`` rows purged), so the largest id is a
    version number: a process reloads its copy when it changes."""

    __tablename__ = "token_revocations"

    id: int = big_id()
    jti: str | None = Field(default=None, max_length=128, unique=True)
    subject: str | None = Field(default=None, max_length=128, index=True)
    not_before: datetime | None = timestamp(nullable=True, default=False)
    expires_at: datetime | None = timestamp(nullable=True, default=False, index=True)
    created_at: datetime = timestamp()
    actor_id: str = Field(max_length=160)
    reason: str | None = Field(default=None, max_length=500)
