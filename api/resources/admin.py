"""Support and admin tools: donors, adjustments, clip reversals and reviews, audit log."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from api import context
from api.auth import staff_action
from api.conventions import Blueprint, created
from api.resources.approvals import ACCEPTED_DOC, accepted
from api.schemas.admin import (
    AdjustmentRequestSchema,
    AdjustmentSchema,
    AuditQuerySchema,
    AuditRecordSchema,
    DonorOverviewSchema,
    ReasonSchema,
    ReversalSchema,
    ReviewRequestSchema,
)
from api.schemas.approvals import ApprovalSchema
from api.schemas.common import IdempotencyHeader, page_of
from api.schemas.submissions import ClipSchema
from rewards_engine.domain import staff_policy as policy
from rewards_engine.services import audit, clip_review, support
from rewards_engine.services.approvals import ApprovalView

blp = Blueprint("admin", __name__, description="Support and admin tools")


@blp.route("/admin/donors/<int:donor_id>")
class AdminDonor(MethodView):
    @staff_action(policy.DONORS_READ)
    @blp.response(200, DonorOverviewSchema)
    @blp.alt_response(404, description="No such donor")
    def get(self, donor_id: int) -> Any:
        """A donor's profile, balances and recent clips"""
        return support.donor_overview(context.runtime().db, donor_id)


@blp.route("/admin/donors/<int:donor_id>/adjustments")
class Adjustments(MethodView):
    @staff_action(policy.POINTS_ADJUST, policy.CASH_ADJUST)
    @blp.arguments(IdempotencyHeader(), location="headers")
    @blp.arguments(AdjustmentRequestSchema())
    @blp.response(201, AdjustmentSchema)
    @blp.alt_response(202, schema=ApprovalSchema, description=ACCEPTED_DOC)
    @blp.alt_response(409, description="It would take the available balance below zero")
    def post(self, headers: dict[str, Any], body: dict[str, Any], donor_id: int) -> Any:
        """Add or remove available points or cash, with a reason (audited); above the
        four-eyes threshold, a request another staff member must approve (202)"""
        runtime = context.runtime()
        result = support.adjust(
            runtime.db,
            runtime.clock,
            context.actor(),
            donor_id,
            idempotency_key=headers["idempotency_key"],
            **body,
        )
        return accepted(result) if isinstance(result, ApprovalView) else created(result)


@blp.route("/admin/submissions/<id64:clip_id>/reverse")
class Reverse(MethodView):
    @staff_action(policy.CLIP_REVERSE)
    @blp.arguments(ReasonSchema())
    @blp.response(200, ReversalSchema)
    @blp.alt_response(409, description="The clip earned nothing (duplicate or rejected)")
    def post(self, body: dict[str, Any], clip_id: int) -> Any:
        """Reverse a clip and everything it earned (a second call changes nothing)"""
        runtime = context.runtime()
        return clip_review.reverse_clip(
            runtime.db, runtime.clock, context.actor(), clip_id, body["reason"]
        )


@blp.route("/admin/submissions/<id64:clip_id>/review")
class Review(MethodView):
    @staff_action(policy.CLIPS_REVIEW)
    @blp.arguments(ReviewRequestSchema())
    @blp.response(200, ClipSchema)
    @blp.alt_response(409, description="The clip is not waiting for review")
    def post(self, body: dict[str, Any], clip_id: int) -> Any:
        """Accept (it earns now) or reject a clip that waits for review"""
        runtime = context.runtime()
        return clip_review.review_clip(
            runtime.db,
            runtime.clock,
            context.actor(),
            clip_id,
            accept=body["decision"] == "accept",
            reason=body["reason"],
        )


@blp.route("/admin/audit-log")
class AuditLog(MethodView):
    @staff_action(policy.AUDIT_READ)
    @blp.arguments(AuditQuerySchema(), location="query")
    @blp.response(200, page_of(AuditRecordSchema))
    def get(self, args: dict[str, Any]) -> Any:
        """Every support and admin action, newest first"""
        limit, cursor = args.pop("limit"), args.pop("cursor")
        return audit.list_records(
            context.runtime().db, audit.AuditFilter(**args), limit=limit, cursor=cursor
        )
