"""The work queues: fraud flags to review and redemptions to move on."""

from __future__ import annotations

from typing import Any

from flask import flash, g, redirect, render_template, request, url_for

from api import context
from api.console import forms
from api.console.approvals import flash_pending
from api.console.blueprint import bp
from api.console.charts import daily_chart
from api.console.session import staff_required
from rewards_engine.domain import staff_policy as policy
from rewards_engine.domain.errors import DomainError, InvalidInput
from rewards_engine.domain.fraud import FlagStatus
from rewards_engine.domain.redemptions import RewardKind, Status, next_states
from rewards_engine.services import activity, fraud, redemptions, support
from rewards_engine.services.approvals import ApprovalView

PAGE = 25
FLAG_STATUSES = tuple(s.value for s in FlagStatus)
QUEUE_STATUSES = tuple(s.value for s in Status)  # requested first: the work waiting
MOVE_ORDER = QUEUE_STATUSES[1:]  # forward moves first, then cancel and fail
EVIDENCE_CLIPS_SHOWN = 40


def _choice(name: str, allowed: tuple[str, ...]) -> str:
    value = request.args.get(name, allowed[0])
    if value not in allowed:
        raise InvalidInput(f"{name} is one of {', '.join(allowed)}", field=name, location="query")
    return value


@bp.get("/fraud")
@staff_required(policy.FRAUD_READ)
def fraud_queue() -> Any:
    status = _choice("status", FLAG_STATUSES)
    page = fraud.list_flags(
        context.runtime().db,
        status=status,
        rule=None,
        donor_id=None,
        sort="score",
        limit=PAGE,
        cursor=request.args.get("cursor") or None,
    )
    return render_template(
        "console/fraud_queue.html", page=page, status=status, statuses=FLAG_STATUSES
    )


@bp.get("/fraud/<int:flag_id>")
@staff_required(policy.FRAUD_READ)
def fraud_flag(flag_id: int) -> Any:
    runtime = context.runtime()
    detail = fraud.flag_detail(runtime.db, flag_id)
    overview = support.donor_overview(runtime.db, detail.flag.donor_id, recent=0)
    days = activity.daily_clips(runtime.db, runtime.clock, detail.flag.donor_id, days=30)
    return render_template(
        "console/fraud_flag.html",
        flag=detail.flag,
        evidence=detail.evidence,
        overview=overview,
        chart=daily_chart(days),
        clips_shown=EVIDENCE_CLIPS_SHOWN,
    )


@bp.post("/fraud/<int:flag_id>/resolve")
@staff_required(policy.FRAUD_RESOLVE)
def resolve_flag(flag_id: int) -> Any:
    try:
        decision = forms.text("decision")
        if decision not in ("confirm", "dismiss"):
            raise InvalidInput("decision is confirm or dismiss", field="decision")
        confirm = decision == "confirm"
        result = fraud.resolve(
            context.runtime(),
            g.staff.actor(),
            flag_id,
            confirm=confirm,
            reason=forms.text("reason") or "",
            ban=confirm and forms.checked("ban"),
            keep_hold=forms.checked("keep_hold"),
        )
    except DomainError as error:
        forms.report_failure(error)
    else:
        if isinstance(result, ApprovalView):
            flash_pending(result)
            return redirect(url_for("console.fraud_flag", flag_id=flag_id), 303)
        held = "stays on hold" if result.on_hold else "is no longer on hold"
        if confirm:
            banned = " and banned" if result.banned else ""
            flash(
                f"Flag {flag_id} confirmed: {result.clips_reversed:,} clips reversed; "
                f"the donor {held}{banned}.",
                "ok",
            )
        else:
            flash(f"Flag {flag_id} dismissed; the donor {held}.", "ok")
    return redirect(url_for("console.fraud_flag", flag_id=flag_id), 303)


@bp.get("/redemptions")
@staff_required(policy.REDEMPTIONS_READ)
def redemption_queue() -> Any:
    status = _choice("status", QUEUE_STATUSES)
    page = redemptions.all_redemptions(
        context.runtime().db,
        status=status,
        donor_id=None,
        limit=PAGE,
        cursor=request.args.get("cursor") or None,
    )
    moves = {
        view.redemption.id: [
            move
            for move in MOVE_ORDER
            if move in next_states(RewardKind(view.redemption.kind), Status(view.redemption.status))
        ]
        for view in page.items
    }
    return render_template(
        "console/redemptions.html",
        page=page,
        status=status,
        statuses=QUEUE_STATUSES,
        moves=moves,
    )


@bp.post("/redemptions/<id64:redemption_id>/transition")
@staff_required(policy.REDEMPTION_SHIP)
def move_redemption(redemption_id: int) -> Any:
    runtime = context.runtime()
    try:
        target = forms.text("to") or ""
        if target not in QUEUE_STATUSES:
            raise InvalidInput(f"{target!r} is not a redemption state", field="to")
        view = redemptions.transition(
            runtime.db,
            runtime.clock,
            g.staff.actor(),
            redemption_id,
            Status(target),
            carrier=forms.text("carrier", required=False),
            tracking_number=forms.text("tracking_number", required=False),
            reason=forms.text("reason", required=False),
        )
    except DomainError as error:
        forms.report_failure(error)
    else:
        shipped = (
            f" with {view.redemption.carrier} {view.redemption.tracking_number}"
            if target == Status.SHIPPED
            else ""
        )
        flash(f"Redemption {redemption_id} is now {target}{shipped}.", "ok")
    back = request.form.get("view")
    return redirect(
        url_for(
            "console.redemption_queue",
            status=back if back in QUEUE_STATUSES else None,
            cursor=request.form.get("cursor") or None,  # the page the agent was on
        ),
        303,
    )
