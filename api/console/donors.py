"""Donor search, the donor page, and the corrections made from it."""

from __future__ import annotations

import uuid
from typing import Any

from flask import flash, g, redirect, render_template, request, url_for

from api import context
from api.console import forms
from api.console.approvals import flash_pending
from api.console.blueprint import bp, money
from api.console.charts import daily_chart
from api.console.session import staff_required
from rewards_engine.domain import staff_policy as policy
from rewards_engine.domain.errors import DomainError
from rewards_engine.services import (
    activity,
    cameras,
    clip_review,
    clips,
    donors,
    fraud,
    ledger,
    medals,
    redemptions,
    support,
)
from rewards_engine.services.approvals import ApprovalView

PAGE = 20


@bp.get("/")
@staff_required(policy.DONORS_READ)
def home() -> Any:
    return redirect(url_for("console.search"))


@bp.get("/donors")
@staff_required(policy.DONORS_READ)
def search() -> Any:
    query = request.args.get("q", "")
    found = donors.search(context.runtime().db, query) if query.strip() else []
    return render_template("console/search.html", query=query, found=found)


@bp.get("/donors/<int:donor_id>")
@staff_required(policy.DONORS_READ)
def donor(donor_id: int) -> Any:
    runtime = context.runtime()
    db = runtime.db
    overview = support.donor_overview(db, donor_id, recent=0)
    days = activity.daily_clips(db, runtime.clock, donor_id, days=30)
    clip_page = clips.list_donor_clips(
        db,
        donor_id,
        clips.ClipFilter(),
        limit=PAGE,
        cursor=request.args.get("clips") or None,
    )
    entries = ledger.donor_entries(
        db, donor_id, limit=PAGE, cursor=request.args.get("ledger") or None
    )
    flags = fraud.list_flags(
        db,
        status=None,
        rule=None,
        donor_id=donor_id,
        sort="score",
        limit=PAGE,
        cursor=request.args.get("flags") or None,
    )
    held = cameras.cameras_of_donor_for_support(
        db, donor_id, limit=PAGE, cursor=request.args.get("cameras") or None
    )
    orders = redemptions.all_redemptions(
        db,
        status=None,
        donor_id=donor_id,
        limit=PAGE,
        cursor=request.args.get("orders") or None,
        newest_first=True,
    )
    return render_template(
        "console/donor.html",
        overview=overview,
        donor=overview.donor,
        chart=daily_chart(days),
        days=days,
        clips=clip_page,
        entries=entries,
        medals=[
            m
            for m in medals.donor_medals(
                db, runtime.clock, donor_id, medals.medal_display(runtime.settings)
            )
            if m.awards
        ],
        flags=flags,
        redemptions=orders,
        cameras=held,
        new_key=uuid.uuid4().hex,  # one per rendered form: a resent form applies once
    )


@bp.post("/donors/<int:donor_id>/adjustments")
@staff_required(policy.POINTS_ADJUST, policy.CASH_ADJUST)
def adjust(donor_id: int) -> Any:
    runtime = context.runtime()
    try:
        asset = forms.text("asset") or ""
        result = support.adjust(
            runtime.db,
            runtime.clock,
            g.staff.actor(),
            donor_id,
            asset=asset,
            amount=forms.whole_number("amount"),
            currency=forms.text("currency", required=asset == "cash"),
            reason=forms.text("reason") or "",
            idempotency_key=forms.text("idempotency_key", required=False),
        )
    except DomainError as error:
        forms.report_failure(error)
    else:
        if isinstance(result, ApprovalView):
            flash_pending(result)
            return redirect(url_for("console.donor", donor_id=donor_id), 303)
        unit = "points" if result.asset == "points" else f"cents {result.currency}"
        if result.replayed:
            flash(f"That adjustment was already recorded (transfer {result.transfer_id}).", "ok")
        else:
            flash(
                f"Adjusted by {result.amount:+,} {unit}: available now {result.balance_after:,} "
                f"(transfer {result.transfer_id}).",
                "ok",
            )
    return redirect(url_for("console.donor", donor_id=donor_id), 303)


@bp.post("/donors/<int:donor_id>/reversals")
@staff_required(policy.CLIP_REVERSE)
def reverse(donor_id: int) -> Any:
    runtime = context.runtime()
    try:
        result = clip_review.reverse_clip(
            runtime.db,
            runtime.clock,
            g.staff.actor(),
            forms.whole_number("clip_id"),
            forms.text("reason") or "",
            donor_id=donor_id,
        )
    except DomainError as error:
        forms.report_failure(error)
    else:
        clip = result.clip
        if result.already_reversed:
            flash(f"Clip {clip.id} was already reversed; nothing changed.", "ok")
        elif result.transfer_id is None:
            flash(
                f"Clip {clip.id} reversed; it was waiting for review and had earned nothing.", "ok"
            )
        else:
            flash(
                f"Clip {clip.id} reversed: {clip.points:,} points and "
                f"{money(clip.cash_cents, clip.currency)} taken back.",
                "ok",
            )
    return redirect(url_for("console.donor", donor_id=donor_id), 303)
