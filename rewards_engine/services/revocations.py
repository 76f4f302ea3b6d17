"""Revoking bearer tokens before their ``exp``: by ``jti``, or a subject's not-before.

A revoked ``jti`` is kept until the token's own ``exp`` (then purged by the
``revocations-purge`` job); a subject's not-before voids every token of that subject
whose ``iat`` is earlier (a token without ``iat`` of such a subject is refused), and every
console session opened before it. It is what an admin, or the identity provider's
offboarding, uses when a role is removed upstream.

The check runs on every API and console request, so it reads memory only: each process
holds a copy of the (small) table, :class:`RevocationCache`, and asks the database for the
table's largest id at most every ``REFRESH_S`` seconds, reloading only when it changed.
Revocations are inserted one at a time (an advisory lock on PostgreSQL, SQLite's single
writer), so ids commit in order, and the purge never deletes the newest row: the largest
id is a version number that only grows. A
revocation made in this process applies at its next request; in another, within
``REFRESH_S``. Redis plays no part: its outage changes nothing here. When the database
cannot be read, the last copy stands for ``MAX_STALE_S``; after that staff tokens are
refused (fail closed: an offboarded agent must not keep acting), donors' are not (their
calls need the database anyway, and a revoked donor token does nothing without it).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.clock import Clock
from rewards_engine.db import Database, changed_rows, lock_keys, row_view
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.errors import InvalidInput
from rewards_engine.domain.roles import STAFF_ROLES
from rewards_engine.models import TokenRevocation
from rewards_engine.services import audit, staff_sessions
from rewards_engine.services.support import require_reason
from rewards_engine.tokens import MAX_JTI_LENGTH, MAX_SUBJECT_LENGTH, Principal

log = logging.getLogger(__name__)

# A jti revoked without its token's exp is kept this long (longer than any token we issue).
UNKNOWN_EXPIRY_KEEP = timedelta(days=30)


@dataclass(frozen=True)
class RevocationView:
    id: int
    jti: str | None
    subject: str | None
    not_before: datetime | None
    expires_at: datetime | None
    created_at: datetime
    actor_id: str
    reason: str | None


def _bounded(value: str | None, name: str, limit: int) -> str:
    text = (value or "").strip()
    if not 0 < len(text) <= limit:
        raise InvalidInput(f"{name} must have 1 to {limit} characters", field=name)
    return text


def revoke_jti(
    db: Database,
    clock: Clock,
    actor: Actor,
    jti: str,
    *,
    reason: str,
    expires_at: datetime | None = None,
    subject: str | None = None,
) -> RevocationView:
    """Deny one token by its ``jti`` until ``expires_at`` (its ``exp``; unknown: 30 days),
    and end the console sessions opened with it. Revoking the same ``jti`` again answers
    the first revocation (a retry acts once)."""
    jti = _bounded(jti, "jti", MAX_JTI_LENGTH)
    reason = require_reason(reason)
    now = clock.now()
    if expires_at is not None and expires_at < now:
        # A past exp (a typo'd year, say) would let the purge job drop the denial at its
        # next run while the token, if its real exp is later, still verifies.
        raise InvalidInput(
            "expires_at is the token's exp and must not be past (an expired token "
            "needs no revocation; leave it out when unknown: 30 days)",
            field="expires_at",
        )
    with db.transaction() as uow:
        lock_keys(uow.session, "token-revocations", ["insert"])  # ids commit in order
        existing = uow.session.scalars(
            select(TokenRevocation).where(col(TokenRevocation.jti) == jti)
        ).first()
        if existing is not None:
            return row_view(RevocationView, existing)
        until = expires_at or now + UNKNOWN_EXPIRY_KEEP
        row = TokenRevocation(
            jti=jti,
            subject=subject.strip() if subject and subject.strip() else None,
            expires_at=until,
            created_at=now,
            actor_id=actor.id,
            reason=reason,
        )
        uow.session.add(row)
        uow.session.flush()
        ended = staff_sessions.end_for_jti(uow.session, now, jti)
        audit.record(
            uow.session,
            clock,
            actor,
            action="token.revoked",
            target_type="token",
            target_id=jti,
            after={
                "subject": row.subject,
                "expires_at": until.isoformat(),
                "sessions_ended": ended,
            },
            reason=reason,
        )
        return row_view(RevocationView, row)


def revoke_subject(
    db: Database, clock: Clock, actor: Actor, subject: str, *, reason: str
) -> RevocationView:
    """Void every token of ``subject`` issued before now, and its open console sessions.

    A retry moves the not-before a little later (it voids no more than the first call
    meant to: tokens issued in between belong to the same offboarding)."""
    subject = _bounded(subject, "subject", MAX_SUBJECT_LENGTH)
    reason = require_reason(reason)
    now = clock.now()
    with db.transaction() as uow:
        lock_keys(uow.session, "token-revocations", ["insert"])  # ids commit in order
        row = TokenRevocation(
            subject=subject, not_before=now, created_at=now, actor_id=actor.id, reason=reason
        )
        uow.session.add(row)
        uow.session.flush()
        ended = staff_sessions.end_for_subject(uow.session, now, subject)
        audit.record(
            uow.session,
            clock,
            actor,
            action="subject.revoked",
            target_type="subject",
            target_id=subject,
            after={"not_before": now.isoformat(), "sessions_ended": ended},
            reason=reason,
        )
        return row_view(RevocationView, row)


def list_revocations(db: Database, clock: Clock, *, limit: int = 200) -> list[RevocationView]:
    """The revocations still in force, newest first."""
    now = clock.now()
    with db.read() as session:
        rows = session.scalars(
            select(TokenRevocation)
            .where(
                (col(TokenRevocation.expires_at).is_(None))
                | (col(TokenRevocation.expires_at) > now)
            )
            .order_by(col(TokenRevocation.id).desc())
            .limit(limit)
        )
        return [row_view(RevocationView, row) for row in rows]


def purge_expired(db: Database, clock: Clock) -> int:
    """Delete revoked ``jti`` rows whose token has expired (nothing could use it now),
    except the newest row of all: its id is the caches' version number, which must never
    go back (SQLite would hand the same id out again)."""
    with db.transaction() as uow:
        lock_keys(uow.session, "token-revocations", ["insert"])
        newest = uow.session.scalar(select(func.max(TokenRevocation.id))) or 0
        return changed_rows(
            uow.session,
            delete(TokenRevocation).where(
                col(TokenRevocation.jti).is_not(None),
                col(TokenRevocation.expires_at) <= clock.now(),
                col(TokenRevocation.id) < newest,
            ),
        )


@dataclass(frozen=True)
class Snapshot:
    version: int
    denied_jtis: frozenset[str]
    not_before: dict[str, float]  # subject -> epoch seconds (the latest revocation)


EMPTY = Snapshot(version=0, denied_jtis=frozenset(), not_before={})


class RevocationCache:
    """This process's copy of the revocations: answers from memory, refreshed lazily.

    ``refusal`` costs two dictionary lookups; once every ``REFRESH_S`` one of the
    requests also reads the table's largest id (and the whole table when it changed).
    """

    REFRESH_S = 2.0
    MAX_STALE_S = 60.0

    def __init__(self, db: Database, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._db = db
        self._monotonic = monotonic
        self._snapshot = EMPTY
        self._checked_at = float("-inf")  # when the version was last read
        self._loaded_at = float("-inf")  # when the copy was last known current
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        """Read the table again at the next check (after a revocation in this process)."""
        self._checked_at = float("-inf")

    def refusal(self, principal: Principal) -> str | None:
        snapshot = self._current(staff=principal.role in STAFF_ROLES)
        if snapshot is None:
            return "revocations cannot be checked right now; retry shortly"
        if principal.jti is not None and principal.jti in snapshot.denied_jtis:
            return "the token was revoked"
        cutoff = snapshot.not_before.get(principal.subject)
        if cutoff is not None and (principal.issued_at is None or principal.issued_at < cutoff):
            return "the token was revoked (its subject's tokens issued before a time are void)"
        return None

    def jti_revoked(self, jti: str) -> bool:
        """Whether the token ``jti`` was revoked (for the console: a session opened with
        it ends). Fails closed, as for staff tokens, when the copy is too old."""
        snapshot = self._current(staff=True)
        return snapshot is None or jti in snapshot.denied_jtis

    def subject_not_before(self, subject: str) -> datetime | None:
        """When ``subject``'s sessions and tokens stopped counting (for the console)."""
        snapshot = self._current(staff=True)
        if snapshot is None:  # fail closed for staff: the session ends
            return datetime.max.replace(tzinfo=UTC)
        cutoff = snapshot.not_before.get(subject)
        return None if cutoff is None else datetime.fromtimestamp(cutoff, UTC)

    def _current(self, *, staff: bool) -> Snapshot | None:
        now = self._monotonic()
        if now - self._checked_at >= self.REFRESH_S:
            self._refresh(now)
        if staff and self._monotonic() - self._loaded_at > self.MAX_STALE_S:
            return None
        return self._snapshot

    def _refresh(self, now: float) -> None:
        # While another thread reads, a request answers from the copy it has; but before
        # the first load there is no copy, so the first requests wait for it.
        first = self._loaded_at == float("-inf")
        if not self._lock.acquire(blocking=first):
            return
        try:
            if now - self._checked_at < self.REFRESH_S:
                return  # the thread this one waited for has just read it
            self._checked_at = now
            with self._db.read() as session:
                version = session.scalar(select(func.max(TokenRevocation.id))) or 0
                if version != self._snapshot.version:
                    self._snapshot = _load(session, version)
            self._loaded_at = now
        except SQLAlchemyError:
            log.warning("token revocations could not be read; the last copy stands")
        finally:
            self._lock.release()


def _load(session: Session, version: int) -> Snapshot:
    denied: set[str] = set()
    not_before: dict[str, float] = {}
    rows = session.execute(
        select(
            col(TokenRevocation.jti), col(TokenRevocation.subject), col(TokenRevocation.not_before)
        )
    )
    for jti, subject, cutoff in rows:
        if jti is not None:
            denied.add(jti)
        elif subject is not None and cutoff is not None:
            moment = cutoff.timestamp()
            not_before[subject] = max(moment, not_before.get(subject, moment))
    return Snapshot(version=version, denied_jtis=frozenset(denied), not_before=not_before)
