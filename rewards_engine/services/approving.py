"""Deciding a four-eyes request: approving applies the action once, as the requester,
with the approver recorded; refusing closes it and raises the alert (issue 24, part 6).

Approving is two steps. First the request turns ``approved`` (committed, audited), so
that a second approver racing this one is answered 409. Then the gated use case runs
again with ``approval=<id>``, as the requester: its gate turns the request ``applied``
in the use case's own transaction, so the action and that state commit together or not
at all. If the use case refuses (the balance changed, the clip was decided meanwhile),
its transaction rolls back, nothing partial is written, and the request records the
failure. The same approver calling again (a retry after a timeout, with or without the
same Idempotency-Key) finds their approval: an applied request is answered as it is,
an approved one whose apply was interrupted is applied now, once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from datetime import datetime
from typing import Any

from rewards_engine.domain.actors import Actor
from rewards_engine.domain.approvals import Status
from rewards_engine.domain.errors import Conflict, DomainError
from rewards_engine.runtime import Runtime
from rewards_engine.services import (
    approval_decisions,
    approvals,
    bulk_review,
    campaigns,
    fraud,
    payouts,
    staff_policy,
    support,
)
from rewards_engine.services.approvals import ApprovalView
from rewards_engine.services.support import optional_reason, require_reason

log = logging.getLogger(__name__)

Applier = Callable[[Runtime, Actor, dict[str, Any], int], Any]


def _adjust(runtime: Runtime, actor: Actor, payload: dict[str, Any], approval: int) -> Any:
    return support.adjust(
        runtime.db,
        runtime.clock,
        actor,
        payload["donor_id"],
        asset=payload["asset"],
        amount=payload["amount"],
        reason=payload["reason"],
        currency=payload["currency"] if payload["asset"] == "cash" else None,
        approval=approval,
    )


def _review(runtime: Runtime, actor: Actor, payload: dict[str, Any], approval: int) -> Any:
    return bulk_review.review_clips(
        runtime.db,
        runtime.clock,
        actor,
        payload["clip_ids"],
        accept=payload["decision"] == "accept",
        reason=payload["reason"],
        approval=approval,
    )


def _resolve(runtime: Runtime, actor: Actor, payload: dict[str, Any], approval: int) -> Any:
    request = approvals.get_request(runtime.db, approval)
    return fraud.resolve(
        runtime,
        actor,
        payload["flag_id"],
        confirm=payload["confirm"],
        reason=request.reason,
        ban=payload["ban"],
        keep_hold=payload["keep_hold"],
        approval=approval,
    )


def _campaign(runtime: Runtime, actor: Actor, payload: dict[str, Any], approval: int) -> Any:
    request = approvals.get_request(runtime.db, approval)
    changes = dict(payload["changes"])
    for name in ("starts_at", "ends_at"):  # stored as ISO text (services/approvals.as_json)
        if isinstance(changes.get(name), str):
            changes[name] = datetime.fromisoformat(changes[name])
    campaigns.save_campaign(
        runtime.db,
        runtime.clock,
        actor,
        payload["campaign_id"],
        changes,
        request.reason,
        create=False,
        approval=approval,
    )
    return {"campaign_id": payload["campaign_id"], "fields": sorted(changes)}


def _batches(runtime: Runtime, actor: Actor, payload: dict[str, Any], approval: int) -> Any:
    report = payouts.staff_batches(runtime, actor, approval=approval)
    payouts.submit_pending(runtime)  # as the route does once batches are committed
    return report


APPLIERS: dict[str, Applier] = {
    "points.adjust": _adjust,
    "cash.adjust": _adjust,
    "clips.review": _review,
    "fraud.dismiss_high": _resolve,
    "donor.ban": _resolve,
    "campaign.change": _campaign,
    "payouts.batch": _batches,
}


def _result_json(result: Any) -> dict[str, Any]:
    if is_dataclass(result) and not isinstance(result, type):
        data: dict[str, Any] = asdict(result)
        return data
    return result if isinstance(result, dict) else {"result": str(result)}


def approve(
    runtime: Runtime, approver: Actor, approval_id: int, reason: str | None = None
) -> ApprovalView:
    """Approve and apply (see the module doc). 403 for the requester and for a role the
    policy does not name; 409 if another person decided first or it expired; 409
    ``approval_apply_failed`` if the action was refused when applied."""
    reason = optional_reason(reason)
    current = approvals.get_request(runtime.db, approval_id)
    with runtime.db.read() as session:  # the approver's role must be allowed the action too
        staff_policy.authorize(session, approver, current.action, current.amount)
    view, _ = approval_decisions.decide(
        runtime.db, runtime.clock, approver, approval_id, approve=True, reason=reason
    )
    if view.status != Status.APPROVED:
        return view  # this approver's earlier call: applied, or failed, already
    requester = Actor(view.requested_by, view.requester_role, approver.request_id)
    try:
        result = APPLIERS[view.action](runtime, requester, view.payload, approval_id)
    except DomainError as error:
        if error.code == "approval_not_approved":  # a concurrent retry applied it
            return approvals.get_request(runtime.db, approval_id)
        failed = approval_decisions.record_outcome(
            runtime.db,
            runtime.clock,
            approver,
            approval_id,
            error={"code": error.code, "message": error.message},
        )
        log.warning(
            "approval.failed",
            extra={
                "fields": {"approval_id": approval_id, "action": view.action, "code": error.code}
            },
        )
        raise Conflict(
            f"approved, but applying it was refused: {error.message}",
            code="approval_apply_failed",
            details={"approval_id": failed.id, "status": failed.status, "cause": error.code},
        ) from error
    return approval_decisions.record_outcome(
        runtime.db, runtime.clock, approver, approval_id, result=_result_json(result)
    )


def refuse(runtime: Runtime, decider: Actor, approval_id: int, reason: str) -> ApprovalView:
    """Refuse with a reason (required): audited, and the alert: a structured log event
    ``approval.refused`` and the ``approvals_refused_total`` metric."""
    reason = require_reason(reason)
    view, decided = approval_decisions.decide(
        runtime.db, runtime.clock, decider, approval_id, approve=False, reason=reason
    )
    if decided:
        approval_decisions.alert_refused(view)
    return view
