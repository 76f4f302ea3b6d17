"""Admin-only pages: payout batches with their items, and the audit log."""

from __future__ import annotations

from typing import Any

from flask import render_template, request

from api import context
from api.console.blueprint import bp
from api.console.session import staff_required
from rewards_engine.domain import staff_policy as policy
from rewards_engine.services import audit, payouts

PAGE = 50
AUDIT_FILTERS = ("actor_id", "target_type", "target_id", "action")


@bp.get("/payouts")
@staff_required(policy.PAYOUTS_READ)
def payout_batches() -> Any:
    page = payouts.list_batches(
        context.runtime().db, limit=PAGE, cursor=request.args.get("cursor") or None
    )
    return render_template("console/payouts.html", page=page)


@bp.get("/payouts/<int:batch_id>")
@staff_required(policy.PAYOUTS_READ)
def payout_batch(batch_id: int) -> Any:
    db = context.runtime().db
    batch = payouts.get_batch(db, batch_id)
    items = payouts.batch_items(db, batch_id, limit=PAGE, cursor=request.args.get("cursor") or None)
    return render_template("console/payout_batch.html", batch=batch, page=items)


@bp.get("/audit")
@staff_required(policy.AUDIT_READ)
def audit_log() -> Any:
    filters = {name: request.args.get(name, "").strip() or None for name in AUDIT_FILTERS}
    page = audit.list_records(
        context.runtime().db,
        audit.AuditFilter(
            actor_id=filters["actor_id"],
            target_type=filters["target_type"],
            target_id=filters["target_id"],
            action=filters["action"],
        ),
        limit=PAGE,
        cursor=request.args.get("cursor") or None,
    )
    return render_template("console/audit.html", page=page, filters=filters)
