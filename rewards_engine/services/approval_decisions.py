"""A second person's decision on a four-eyes request: approve or refuse it (the requester
never, under any role; only the roles fixtures/approvals.toml names), record how
applying it ended, and the ``approval.refused`` alert (docs/security.md, T3).

Requests are recorded, claimed, expired and read in ``services/approvals.py``;
``services/approving.py`` applies an approved one by calling its use case again.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine import alerts
from rewards_engine.clock import Clock
from rewards_engine.db import Database, row_view
from rewards_engine.domain import approvals as rules
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.approvals import Policy, Status
from rewards_engine.domain.errors import Conflict, Forbidden, NotFound
from rewards_engine.models import ApprovalRequest, TokenRevocation
from rewards_engine.services import approvals, audit
from rewards_engine.services.approvals import ApprovalView

log = logging.getLogger(__name__)

REFUSED_EVENT = "approval.refused"


def _locked(session: Session, approval_id: int) -> ApprovalRequest:
    row = session.get(ApprovalRequest, approval_id, with_for_update=True, populate_existing=True)
    if row is None:
        raise NotFound(f"no approval request {approval_id}", code="approval_not_found")
    return row


def check_decider(policy: Policy, row: ApprovalRequest, decider: Actor) -> None:
    """403 for the requester themself and for a role not named for this action."""
    why = rules.refusal_to_decide(policy, row.action, row.requested_by, decider.id, decider.role)
    if why is not None:
        own = rules.subject_of(row.requested_by) == rules.subject_of(decider.id)
        raise Forbidden(why, code="own_request" if own else "not_an_approver")


def decide(
    db: Database,
    clock: Clock,
    decider: Actor,
    approval_id: int,
    *,
    approve: bool,
    reason: str | None,
    policy: Policy | None = None,
) -> tuple[ApprovalView, bool]:
    """Approve or refuse a pending request (audited). Returns the request and whether
    this call decided it: the same approver calling again finds their approval (an
    approved request whose apply was interrupted is applied by the caller again).
    An expired request is marked so and answered 409; approving the request of someone
    whose tokens were revoked since they asked is 409 ``requester_revoked`` (refusing
    it is not)."""
    now = clock.now()
    expired = False
    with db.transaction() as uow:
        session = uow.session
        policy = policy or approvals.policy_of(session)
        row = _locked(session, approval_id)
        if row.decided_by == decider.id and (row.status == Status.REFUSED) != approve:
            return row_view(ApprovalView, row), False  # a retry of this person's call
        check_decider(policy, row, decider)
        if not rules.may_decide(row.status):
            raise Conflict(
                f"approval request {approval_id} is already {row.status}",
                code="approval_already_decided",
                details={"status": row.status, "decided_by": row.decided_by},
            )
        if approve and _requester_revoked_since(session, row):
            raise Conflict(
                f"{row.requested_by}'s tokens were revoked after they asked: approving "
                "would act for someone offboarded; refuse it, or let them ask again",
                code="requester_revoked",
                details={"requested_by": row.requested_by},
            )
        if rules.is_expired(row.expires_at, now):
            approvals.expire_locked(session, clock, row)
            expired = True
        else:
            row.status = (Status.APPROVED if approve else Status.REFUSED).value
            row.decided_by, row.decider_role = decider.id, decider.role
            row.decided_at, row.decision_reason = now, reason
            audit.record(
                session,
                clock,
                decider,
                action="approval.approved" if approve else "approval.refused",
                target_type="approval",
                target_id=row.id,
                before={"status": Status.PENDING.value},
                after={"status": row.status, "action": row.action, "amount": row.amount},
                reason=reason,
            )
        view = row_view(ApprovalView, row)
    if expired:
        raise approvals.expired_conflict(view)
    return view, True


def _requester_revoked_since(session: Session, row: ApprovalRequest) -> bool:
    """Whether the requester's subject was revoked (a not-before, T2) at or after the
    request was made: an offboarded agent's pending requests must not be applied in
    their name by an approver who may not know."""
    found = session.scalar(
        select(col(TokenRevocation.id))
        .where(
            col(TokenRevocation.subject) == rules.subject_of(row.requested_by),
            col(TokenRevocation.not_before) >= row.created_at,
        )
        .limit(1)
    )
    return found is not None


def record_outcome(
    db: Database,
    clock: Clock,
    approver: Actor,
    approval_id: int,
    *,
    result: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
) -> ApprovalView:
    """After applying: the action's result on an applied request, or the failure on
    an approved one (the use case's transaction rolled back: nothing partial)."""
    with db.transaction() as uow:
        session = uow.session
        row = _locked(session, approval_id)
        if error is not None and row.status == Status.APPROVED:
            row.status, row.error = Status.FAILED.value, error
            audit.record(
                session,
                clock,
                approver,
                action="approval.failed",
                target_type="approval",
                target_id=row.id,
                after={"action": row.action, **error},
            )
        elif result is not None and row.status == Status.APPLIED and row.result is None:
            row.result = approvals.as_json(result)
        return row_view(ApprovalView, row)


def alert_refused(view: ApprovalView) -> None:
    """Issue 24, part 6: a refused request is an alert (log event and metric)."""
    alerts.alert(
        log,
        REFUSED_EVENT,
        {
            "approval_id": view.id,
            "action": view.action,
            "requester": view.requested_by,
            "decider": view.decided_by,
            "amount": view.amount,
        },
    )
