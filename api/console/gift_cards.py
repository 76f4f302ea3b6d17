"""Provider gift cards in the console: resend a card's delivery, cancel an order the
provider holds for approval (services/gift_card_support.py: authorized, audited)."""

from __future__ import annotations

from typing import Any

from flask import flash, g, redirect, request, url_for

from api import context
from api.console import forms
from api.console.blueprint import bp
from api.console.session import staff_required
from rewards_engine.domain import staff_policy as policy
from rewards_engine.domain.errors import DomainError
from rewards_engine.services import gift_card_support


def _back() -> Any:
    view = request.form.get("view")
    return redirect(
        url_for(
            "console.redemption_queue",
            status=view or None,
            cursor=request.form.get("cursor") or None,
        ),
        303,
    )


@bp.post("/redemptions/<id64:redemption_id>/resend")
@staff_required(policy.REDEMPTION_RESEND)
def resend_gift_card(redemption_id: int) -> Any:
    try:
        outcome = gift_card_support.resend(
            context.runtime(), g.staff.actor(), redemption_id,
            forms.text("reason", required=False),
        )  # fmt: skip
    except DomainError as error:
        forms.report_failure(error)
    else:
        flash(
            f"Redemption {redemption_id}: the provider is delivering it again "
            f"(delivery {outcome.delivery_status or 'unknown'}); it is now {outcome.status}.",
            "ok",
        )
    return _back()


@bp.post("/redemptions/<id64:redemption_id>/cancel-order")
@staff_required(policy.REDEMPTION_CANCEL)
def cancel_gift_card_order(redemption_id: int) -> Any:
    try:
        gift_card_support.cancel(
            context.runtime(), g.staff.actor(), redemption_id, forms.text("reason")
        )
    except DomainError as error:
        forms.report_failure(error)
    else:
        flash(
            f"Redemption {redemption_id}: the provider cancelled the order; "
            "the points went back to the donor.",
            "ok",
        )
    return _back()
