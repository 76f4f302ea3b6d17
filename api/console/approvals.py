"""The four-eyes queue: requests waiting for a second person, with their evidence, and
the forms to approve (which applies the action once) or refuse them (docs/console.md)."""

from __future__ import annotations

from typing import Any

from flask import flash, g, redirect, render_template, request, url_for

from api import context
from api.console import forms
from api.console.blueprint import bp
from api.console.session import staff_required
from rewards_engine.domain import staff_policy as policy
from rewards_engine.domain.approvals import Status
from rewards_engine.domain.errors import DomainError, InvalidInput
from rewards_engine.services import approvals, approving
from rewards_engine.services.approvals import ApprovalView

PAGE = 25
STATUSES = tuple(s.value for s in Status)  # pending first: the work waiting


def flash_pending(view: ApprovalView) -> None:
    """What a gated console form says instead of its usual result."""
    flash(
        f"Sent for approval: request #{view.id} ({view.action}, {view.amount:,}) needs "
        f"another staff member before it applies; it expires {view.expires_at:%Y-%m-%d %H:%M} UTC.",
        "ok",
    )


@bp.get("/approvals")
@staff_required(policy.APPROVALS_READ)
def approval_queue() -> Any:
    status = request.args.get("status", Status.PENDING.value)
    if status not in STATUSES:
        raise InvalidInput(
            f"status is one of {', '.join(STATUSES)}", field="status", location="query"
        )
    page = approvals.list_requests(
        context.runtime().db,
        status=status,
        limit=PAGE,
        cursor=request.args.get("cursor") or None,
    )
    return render_template("console/approvals.html", page=page, status=status, statuses=STATUSES)


@bp.post("/approvals/<int:approval_id>/approve")
@staff_required(policy.APPROVALS_DECIDE)
def approve_request(approval_id: int) -> Any:
    try:
        view = approving.approve(
            context.runtime(),
            g.staff.actor(),
            approval_id,
            forms.text("reason", required=False),
        )
    except DomainError as error:
        forms.report_failure(error)
    else:
        flash(f"Request #{view.id} ({view.action}) approved and {view.status}.", "ok")
    return redirect(url_for("console.approval_queue"), 303)


@bp.post("/approvals/<int:approval_id>/refuse")
@staff_required(policy.APPROVALS_DECIDE)
def refuse_request(approval_id: int) -> Any:
    try:
        view = approving.refuse(
            context.runtime(), g.staff.actor(), approval_id, forms.text("reason") or ""
        )
    except DomainError as error:
        forms.report_failure(error)
    else:
        flash(f"Request #{view.id} ({view.action}) refused: nothing was applied.", "ok")
    return redirect(url_for("console.approval_queue"), 303)
