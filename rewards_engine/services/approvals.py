"""Four-eyes approval requests: recording them (the gate), claiming an approved one when
it applies, expiring and reading them (docs/security.md, T3). A second person's
decision (approve or refuse, and the outcome of applying) is in
``services/approval_decisions.py``; approving, which applies the action, is in
``services/approving.py`` (it calls the gated use cases, which call :func:`gate`).

A gated use case calls :func:`gate` inside its own transaction before it changes
anything. Below the action's threshold the gate returns None and the action applies as
before. Above it, the gate records a pending request (or finds the one this requester's
Idempotency-Key already made) and the use case returns it instead of applying. When an
approved request is applied, the use case runs again with ``approval=<id>``: the gate
then marks the request applied in the use case's transaction, so the action and the
request's new state commit together, once (a second apply finds it applied and stops).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.clock import Clock
from rewards_engine.config import PROJECT_ROOT
from rewards_engine.db import Database, insert, row_view, table_of
from rewards_engine.domain import approvals as rules
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.approvals import Policy, Status
from rewards_engine.domain.errors import Conflict, InvalidInput, NotFound
from rewards_engine.models import ApprovalRequest
from rewards_engine.pagination import Page, fetch_page
from rewards_engine.services import audit

log = logging.getLogger(__name__)

POLICY_FILE = "approvals.toml"
DEFAULT_FIXTURES = PROJECT_ROOT / "fixtures"


@dataclass(frozen=True)
class ApprovalView:
    """A request as the API, the console and the requester's 202 show it."""

    id: int
    action: str
    status: str
    target_type: str
    target_id: str
    amount: int
    reason: str
    payload: dict[str, Any]
    evidence: dict[str, Any] | None
    requested_by: str
    requester_role: str
    decided_by: str | None
    decider_role: str | None
    decision_reason: str | None
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    applied_at: datetime | None


@functools.cache
def _parsed(version: tuple[Path, float]) -> Policy:
    path = version[0]
    with path.open("rb") as handle:
        return rules.parse_policy(tomllib.load(handle), str(path))


def load_policy(fixtures_dir: Path | None = None) -> Policy:
    """The policy file, parsed once per version of the file (path and modification
    time: an edited file is read again without a restart)."""
    path = (fixtures_dir or DEFAULT_FIXTURES) / POLICY_FILE
    return _parsed((path, path.stat().st_mtime))


def policy_of(session: Session) -> Policy:
    """The policy of the process this session belongs to: ``approvals.toml`` in its
    ``FIXTURES_DIR`` (the runtime hands the directory to every session)."""
    return load_policy(session.info.get("fixtures_dir"))


def fingerprint(action: str, payload: dict[str, Any]) -> str:
    canonical = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(f"{action}\n{canonical}".encode()).hexdigest()


def as_json(data: dict[str, Any]) -> dict[str, Any]:
    """The payload as it is stored and replayed: datetimes as ISO text, tuples as lists."""
    loaded: dict[str, Any] = json.loads(json.dumps(data, default=_iso))
    return loaded


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def gate(
    session: Session,
    clock: Clock,
    actor: Actor,
    action: str,
    amount: int,
    payload: dict[str, Any],
    idempotency_key: str | None,
    *,
    target: tuple[str, str | int],
    reason: str,
    evidence: dict[str, Any] | None = None,
    approval: int | None = None,
    policy: Policy | None = None,
    check: Callable[[], None] | None = None,
) -> ApprovalView | None:
    """None: apply the action now. Otherwise the pending request to answer with (202).

    ``approval``: the use case is applying this approved request; it is marked applied
    here, in the caller's transaction, if it is approved, for this action and payload,
    and the amount did not grow past what was approved (else a 409).

    ``check``: run before a new request is recorded (not for a retry that finds its
    request), so that what could not apply is refused now rather than once approved."""
    payload = as_json(payload)
    print_ = fingerprint(action, payload)
    if approval is not None:
        _claim_approved(session, clock, actor, approval, action, print_, amount)
        return None
    if actor.role == "system":  # jobs, fixtures, the demo: four eyes are for people
        return None
    policy = policy or policy_of(session)
    if not rules.needs_approval(policy, action, amount):
        return None
    now = clock.now()
    values = {
        "action": action,
        "target_type": target[0],
        "target_id": str(target[1]),
        "payload": payload,
        "fingerprint": print_,
        "amount": abs(amount),
        "reason": reason,
        "evidence": as_json(evidence) if evidence else None,
        "requested_by": actor.id,
        "requester_role": actor.role,
        "idempotency_key": idempotency_key,
        "status": Status.PENDING.value,
        "created_at": now,
        "expires_at": rules.expires_at(policy, now),
    }
    if idempotency_key is not None:
        found = _by_key(session, actor, idempotency_key, print_)
        if found is not None:
            return found
    if check is not None:
        check()
    table = table_of(ApprovalRequest)
    statement = insert(session, table).values(**values).returning(table.c.id)
    if idempotency_key is not None:
        statement = statement.on_conflict_do_nothing(
            index_elements=["requested_by", "idempotency_key"]
        )
    new_id = session.execute(statement).scalar()
    if new_id is None:  # a concurrent call with this requester's key made it: the same one
        assert idempotency_key is not None
        again = _by_key(session, actor, idempotency_key, print_)
        assert again is not None
        return again
    audit.record(
        session,
        clock,
        actor,
        action="approval.requested",
        target_type="approval",
        target_id=new_id,
        after={"action": action, "amount": abs(amount), "target": f"{target[0]}:{target[1]}"},
        reason=reason,
    )
    row = session.get(ApprovalRequest, new_id)
    assert row is not None
    return row_view(ApprovalView, row)


def _by_key(session: Session, actor: Actor, key: str, print_: str) -> ApprovalView | None:
    """The request this requester's Idempotency-Key made, if any (422 if it was made
    for another action or payload)."""
    found = session.scalars(
        select(ApprovalRequest).where(
            col(ApprovalRequest.requested_by) == actor.id,
            col(ApprovalRequest.idempotency_key) == key,
        )
    ).one_or_none()
    if found is not None and found.fingerprint != print_:
        raise InvalidInput(
            "this Idempotency-Key was used for a different request; use a new key",
            code="idempotency_key_reused",
            field="Idempotency-Key",
            location="headers",
        )
    return None if found is None else row_view(ApprovalView, found)


def _claim_approved(
    session: Session,
    clock: Clock,
    actor: Actor,
    approval_id: int,
    action: str,
    print_: str,
    amount: int,
) -> None:
    row = session.get(ApprovalRequest, approval_id, with_for_update=True, populate_existing=True)
    if row is None or row.action != action or row.fingerprint != print_:
        raise Conflict(f"approval {approval_id} is not for this action", code="approval_mismatch")
    if row.status != Status.APPROVED:
        raise Conflict(
            f"approval {approval_id} is {row.status}, not approved",
            code="approval_not_approved",
            details={"status": row.status},
        )
    if abs(amount) > row.amount:
        raise Conflict(
            f"the amount grew to {abs(amount):,} since {row.amount:,} was approved: ask again",
            code="approval_amount_exceeded",
            details={"approved": row.amount, "now": abs(amount)},
        )
    row.status = Status.APPLIED.value
    row.applied_at = clock.now()
    audit.record(
        session,
        clock,
        actor,
        action="approval.applied",
        target_type="approval",
        target_id=approval_id,
        after={"action": action, "amount": abs(amount), "approved_by": row.decided_by},
    )


def expire_locked(session: Session, clock: Clock, row: ApprovalRequest) -> None:
    """Mark a pending request, locked by the caller, expired (audited as the system)."""
    row.status = Status.EXPIRED.value
    audit.record(
        session,
        clock,
        Actor.system("approvals"),
        action="approval.expired",
        target_type="approval",
        target_id=row.id,
        after={"action": row.action, "requested_by": row.requested_by},
    )


def expired_conflict(row: ApprovalView) -> Conflict:
    return Conflict(
        f"approval request {row.id} expired at {row.expires_at.isoformat()}: ask again",
        code="approval_expired",
        details={"status": Status.EXPIRED.value},
    )


def expire_pending(db: Database, clock: Clock) -> int:
    """The job: pending requests past their expiry become expired (each audited)."""
    now = clock.now()
    with db.transaction() as uow:
        session = uow.session
        rows = list(
            session.scalars(
                select(ApprovalRequest)
                .where(
                    col(ApprovalRequest.status) == Status.PENDING.value,
                    col(ApprovalRequest.expires_at) <= now,
                )
                .order_by(col(ApprovalRequest.id))
                .with_for_update(skip_locked=True)
            )
        )
        for row in rows:
            expire_locked(session, clock, row)
    log.info("approval requests expired", extra={"fields": {"expired": len(rows)}})
    return len(rows)


def get_request(db: Database, approval_id: int) -> ApprovalView:
    with db.read() as session:
        row = session.get(ApprovalRequest, approval_id)
        if row is None:
            raise NotFound(f"no approval request {approval_id}", code="approval_not_found")
        return row_view(ApprovalView, row)


def list_requests(
    db: Database, *, status: str | None, limit: int, cursor: str | None
) -> Page[ApprovalView]:
    """Newest first; ``status`` filters (the console's queue shows ``pending``)."""
    query = select(ApprovalRequest)
    if status is not None:
        query = query.where(col(ApprovalRequest.status) == status)
    with db.read() as session:
        return fetch_page(
            session,
            query,
            kind="approvals",
            columns=(col(ApprovalRequest.created_at), col(ApprovalRequest.id)),
            types=(datetime, int),
            limit=limit,
            cursor=cursor,
        ).map(lambda row: row_view(ApprovalView, row))
