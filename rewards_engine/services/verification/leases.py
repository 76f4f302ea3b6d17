"""Claims taken under a lease, renewed as a run goes, changed only while held.

A run takes each uploaded claim (or one whose verifier's lease ran out) by a
conditional UPDATE only one run wins, and marks it with its lease; every later change
names the lease, so a run that outlived it changes nothing, and a killed run's claims
are taken again once it ends. ``attempts`` counts the checks that began and never
finished: set before a check, refunded after one that finished or a store that failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlmodel import col

from rewards_engine.db import changed_rows
from rewards_engine.domain.uploads import ClaimStatus
from rewards_engine.models import ClipClaim
from rewards_engine.runtime import Runtime


@dataclass
class _Taken:
    """A claim this run holds: its row as taken, and the lease that marks it ours (a
    claim taken over gets a later lease, so an earlier holder's no longer matches)."""

    claim: ClipClaim
    lease: datetime


def _waiting(now: datetime) -> ColumnElement[bool]:
    return or_(
        col(ClipClaim.status) == ClaimStatus.UPLOADED.value,
        (col(ClipClaim.status) == ClaimStatus.VERIFYING.value) & (col(ClipClaim.lease_until) < now),
    )


def _held(item: _Taken) -> ColumnElement[bool]:
    return and_(
        col(ClipClaim.id) == item.claim.id,
        col(ClipClaim.status) == ClaimStatus.VERIFYING.value,
        col(ClipClaim.lease_until) == item.lease,
    )


def _take(runtime: Runtime, limit: int, lease_s: int) -> list[_Taken]:
    """Claim up to ``limit`` uploaded claims (or ones whose verifier's lease ran out),
    each by a conditional UPDATE that only one run can win."""
    now = runtime.clock.now()
    lease = now + timedelta(seconds=lease_s)
    with runtime.db.read() as session:
        candidates = list(
            session.scalars(
                select(ClipClaim).where(_waiting(now)).order_by(col(ClipClaim.id)).limit(limit)
            )
        )
    taken = []
    for claim in candidates:
        before = (
            col(ClipClaim.lease_until).is_(None)
            if claim.lease_until is None
            else col(ClipClaim.lease_until) == claim.lease_until
        )
        with runtime.db.transaction() as uow:
            won = changed_rows(
                uow.session,
                update(ClipClaim)
                .where(col(ClipClaim.id) == claim.id, before, _waiting(now))
                .values(status=ClaimStatus.VERIFYING.value, lease_until=lease),
            )
        if won:
            taken.append(_Taken(claim, lease))
    return taken


def _renew(runtime: Runtime, held: dict[int, _Taken], lease_s: int) -> None:
    """Extend the lease of every claim this run still holds as it goes on to the next
    video, so that a run making progress is not taken over; forget the ones it lost."""
    if not held:
        return
    lease = runtime.clock.now() + timedelta(seconds=lease_s)
    with runtime.db.transaction() as uow:
        renewed = {
            claim_id
            for claim_id, item in held.items()
            if changed_rows(
                uow.session, update(ClipClaim).where(_held(item)).values(lease_until=lease)
            )
        }
    for claim_id in list(held):
        if claim_id in renewed:
            held[claim_id].lease = lease
        else:
            del held[claim_id]


def _mark_attempt(runtime: Runtime, item: _Taken, attempts: int) -> bool:
    """Set the claim's count of unfinished checks, if this run still holds it."""
    with runtime.db.transaction() as uow:
        return bool(
            changed_rows(
                uow.session, update(ClipClaim).where(_held(item)).values(attempts=attempts)
            )
        )


def _release(runtime: Runtime, item: _Taken, attempts: int, lease_s: int) -> None:
    """Give a claim up, its attempt refunded, to be taken again once a fresh lease has
    run out: a store in trouble gets a pause, and an object the store keeps failing on
    takes no run's place meanwhile."""
    pause = runtime.clock.now() + timedelta(seconds=lease_s)
    with runtime.db.transaction() as uow:
        changed_rows(
            uow.session,
            update(ClipClaim).where(_held(item)).values(lease_until=pause, attempts=attempts),
        )
