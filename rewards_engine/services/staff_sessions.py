"""Console sessions kept server side, so that they can be ended (issue 24, part 3).

The cookie carries a random id (256 bits); the database keeps only its SHA-256, with the
agent, role, when it began, when it was last used, its absolute expiry and when it was
ended. A session is good while it is not ended, not past its expiry (at most eight hours
and never past the token it was opened with), not idle longer than the configured idle
timeout, not older than its subject's revocation (a role removed upstream), and the
token it was opened with (its ``jti``, kept on the row) not revoked: a stolen token
revoked by id must not live on as the console session its thief opened with it.

Why the database and not Redis: sessions are few (one per agent and browser), read once
per console page by primary key, and must survive a Redis restart without signing every
agent out or, worse, forgetting that one was ended. The last-seen time is written at
most once every ``TOUCH_EVERY`` (a minute), so reading pages is not a write each; the
idle timeout is therefore exact to within that minute.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.clock import Clock
from rewards_engine.db import Database, changed_rows, delete_older, row_view
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.errors import InvalidInput
from rewards_engine.models import StaffSession
from rewards_engine.services import audit
from rewards_engine.services.support import require_reason
from rewards_engine.tokens import MAX_SUBJECT_LENGTH, Principal

MAX_LIFETIME = timedelta(hours=8)
TOUCH_EVERY = timedelta(minutes=1)
KEEP_ENDED = timedelta(days=7)  # ended or expired rows, for the purge job


@dataclass(frozen=True)
class SessionView:
    """A session as the console and admins see it: never its id nor the id's hash."""

    id: int
    subject: str
    role: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "replace")).hexdigest()


def open_session(db: Database, clock: Clock, principal: Principal) -> tuple[str, SessionView]:
    """Begin a session for a verified staff token; the random id goes in the cookie."""
    now = clock.now()
    expires = now + MAX_LIFETIME
    if principal.expires_at is not None:
        expires = min(expires, datetime.fromtimestamp(principal.expires_at, UTC))
    session_id = secrets.token_urlsafe(32)
    with db.transaction() as uow:
        row = StaffSession(
            id_hash=_hash(session_id),
            subject=principal.subject,
            role=principal.role.value,
            created_at=now,
            last_seen_at=now,
            expires_at=expires,
            token_jti=principal.jti,
        )
        uow.session.add(row)
        uow.session.flush()
        return session_id, row_view(SessionView, row)


def resume(
    db: Database,
    clock: Clock,
    session_id: str,
    *,
    idle: timedelta,
    not_before: Callable[[str], datetime | None],
    jti_revoked: Callable[[str], bool],
) -> SessionView | None:
    """The session this id opens, or None when it is unknown, ended, expired, idle too
    long, older than its subject's revocation (``not_before``) or opened with a token
    since revoked by ``jti`` (``jti_revoked``), both from the cache of revocations.
    ``revoke_jti`` ends such sessions in its own transaction; the check here covers a
    session opened in another process whose copy had not yet seen the revocation.
    Marks it seen, at most once every ``TOUCH_EVERY``."""
    now = clock.now()
    with db.read() as session:
        row = session.scalars(
            select(StaffSession).where(col(StaffSession.id_hash) == _hash(session_id))
        ).first()
        if row is None:
            return None
        view = row_view(SessionView, row)
        revoked_at = row.revoked_at
        token_jti = row.token_jti
    cutoff = not_before(view.subject)
    if (
        revoked_at is not None
        or (token_jti is not None and jti_revoked(token_jti))
        or now >= view.expires_at
        or now - view.last_seen_at > idle
        or (cutoff is not None and view.created_at < cutoff)
    ):
        return None
    if now - view.last_seen_at >= TOUCH_EVERY:
        with db.transaction(durable=False) as uow:  # bookkeeping: a lost write costs nothing
            uow.session.execute(
                update(StaffSession)
                .where(col(StaffSession.id) == view.id, col(StaffSession.last_seen_at) < now)
                .values(last_seen_at=now)
            )
    return view


def end_session(db: Database, clock: Clock, session_id: str) -> bool:
    """Sign-out: the session ends here, so a copy of the cookie stops working too."""
    with db.transaction() as uow:
        ended = changed_rows(
            uow.session,
            update(StaffSession)
            .where(
                col(StaffSession.id_hash) == _hash(session_id),
                col(StaffSession.revoked_at).is_(None),
            )
            .values(revoked_at=clock.now()),
        )
    return ended > 0


def end_for_subject(session: Session, now: datetime, subject: str) -> int:
    """End every open session of ``subject`` in the caller's transaction; how many."""
    return changed_rows(
        session,
        update(StaffSession)
        .where(
            col(StaffSession.subject) == subject,
            col(StaffSession.revoked_at).is_(None),
            col(StaffSession.expires_at) > now,
        )
        .values(revoked_at=now),
    )


def end_for_jti(session: Session, now: datetime, jti: str) -> int:
    """End every open session opened with the token ``jti``, in the caller's
    transaction (a revocation by id); how many."""
    return changed_rows(
        session,
        update(StaffSession)
        .where(
            col(StaffSession.token_jti) == jti,
            col(StaffSession.revoked_at).is_(None),
            col(StaffSession.expires_at) > now,
        )
        .values(revoked_at=now),
    )


def end_all(db: Database, clock: Clock, actor: Actor, subject: str, *, reason: str) -> int:
    """End every session of an agent ("sign out everywhere", or an admin ending an
    agent's sessions); audited with who did it and why. Ending none is not an error
    (a retry, or an agent already signed out): it is recorded all the same."""
    subject = subject.strip()
    if not 0 < len(subject) <= MAX_SUBJECT_LENGTH:
        raise InvalidInput(
            f"subject must have 1 to {MAX_SUBJECT_LENGTH} characters", field="subject"
        )
    reason = require_reason(reason)
    now = clock.now()
    with db.transaction() as uow:
        ended = end_for_subject(uow.session, now, subject)
        audit.record(
            uow.session,
            clock,
            actor,
            action="staff_sessions.ended",
            target_type="staff",
            target_id=subject,
            after={"ended": ended},
            reason=reason,
        )
    return ended


def list_active(
    db: Database, clock: Clock, *, idle: timedelta, limit: int = 500
) -> list[SessionView]:
    """Sessions that would let their agent in now, the most recently used first."""
    now = clock.now()
    with db.read() as session:
        rows = session.scalars(
            select(StaffSession)
            .where(
                col(StaffSession.revoked_at).is_(None),
                col(StaffSession.expires_at) > now,
                col(StaffSession.last_seen_at) >= now - idle,
            )
            .order_by(col(StaffSession.last_seen_at).desc(), col(StaffSession.id).desc())
            .limit(limit)
        )
        return [row_view(SessionView, row) for row in rows]


def purge(db: Database, clock: Clock) -> int:
    """Delete sessions that expired more than a week ago (ended ones expire too)."""
    return delete_older(db, StaffSession, col(StaffSession.expires_at), clock.now() - KEEP_ENDED)
