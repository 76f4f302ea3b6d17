"""Four-eyes approvals: the queue of requests, approving (which applies the action once)
and refusing; the bulk clip review, gated like the other actions (docs/api.md).

A gated route answers ``202 Accepted`` with the request (:func:`accepted`) when the
action needs a second person; below its threshold it answers as it always did.
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app
from flask.views import MethodView

from api import context
from api.auth import staff_action
from api.conventions import Blueprint
from api.schemas.approvals import (
    ApprovalQuerySchema,
    ApprovalSchema,
    ApproveSchema,
    BulkReviewResultSchema,
    BulkReviewSchema,
    RefuseSchema,
)
from api.schemas.common import IdempotencyHeader, page_of
from rewards_engine.domain import staff_policy as policy
from rewards_engine.services import approvals, approving, bulk_review
from rewards_engine.services.approvals import ApprovalView

blp = Blueprint("approvals", __name__, description="Four-eyes approval of large staff actions")

ACCEPTED_DOC = "Above its threshold: a request another staff member must approve (202)"


def accepted(view: ApprovalView) -> Response:
    """The 202 a gated route answers with: the request, and where to follow it."""
    response = current_app.response_class(
        current_app.json.dumps(ApprovalSchema().dump(view)), mimetype="application/json"
    )
    response.status_code = 202
    response.headers["Location"] = f"/v1/admin/approvals/{view.id}"
    return response


@blp.route("/admin/approvals")
class Approvals(MethodView):
    @staff_action(policy.APPROVALS_READ)
    @blp.arguments(ApprovalQuerySchema(), location="query")
    @blp.response(200, page_of(ApprovalSchema))
    def get(self, args: dict[str, Any]) -> Any:
        """Approval requests, newest first (pending ones by default)"""
        status = None if args["status"] == "all" else args["status"]
        return approvals.list_requests(
            context.runtime().db, status=status, limit=args["limit"], cursor=args["cursor"]
        )


@blp.route("/admin/approvals/<int:approval_id>")
class Approval(MethodView):
    @staff_action(policy.APPROVALS_READ)
    @blp.response(200, ApprovalSchema)
    @blp.alt_response(404, description="No such request")
    def get(self, approval_id: int) -> Any:
        """One request with its evidence and outcome"""
        return approvals.get_request(context.runtime().db, approval_id)


@blp.route("/admin/approvals/<int:approval_id>/approve")
class Approve(MethodView):
    @staff_action(policy.APPROVALS_DECIDE)
    @blp.arguments(IdempotencyHeader(), location="headers")
    @blp.arguments(ApproveSchema())
    @blp.response(200, ApprovalSchema)
    @blp.alt_response(403, description="Your own request, or a role the action does not name")
    @blp.alt_response(
        409,
        description="Decided by someone else, expired, its requester revoked, or refused on apply",
    )
    def post(self, headers: dict[str, Any], body: dict[str, Any], approval_id: int) -> Any:
        """Approve: the action is applied once, as the requester, with you as approver. A
        retry (same approver, with or without the same Idempotency-Key) applies nothing
        twice"""
        return approving.approve(context.runtime(), context.actor(), approval_id, body["reason"])


@blp.route("/admin/approvals/<int:approval_id>/refuse")
class Refuse(MethodView):
    @staff_action(policy.APPROVALS_DECIDE)
    @blp.arguments(RefuseSchema())
    @blp.response(200, ApprovalSchema)
    @blp.alt_response(403, description="Your own request, or a role the action does not name")
    @blp.alt_response(409, description="Already decided, or expired")
    def post(self, body: dict[str, Any], approval_id: int) -> Any:
        """Refuse, with a reason: nothing is applied (audited; raises the approval.refused
        alert)"""
        return approving.refuse(context.runtime(), context.actor(), approval_id, body["reason"])


@blp.route("/admin/submissions/review")
class BulkReview(MethodView):
    @staff_action(policy.CLIPS_REVIEW)
    @blp.arguments(IdempotencyHeader(), location="headers")
    @blp.arguments(BulkReviewSchema())
    @blp.response(200, BulkReviewResultSchema)
    @blp.alt_response(202, schema=ApprovalSchema, description=ACCEPTED_DOC)
    @blp.alt_response(409, description="A clip is not waiting for review: none was decided")
    def post(self, headers: dict[str, Any], body: dict[str, Any]) -> Any:
        """Accept or reject many clips waiting for review, all or none (audited per clip);
        more than the clips.review threshold needs a second person"""
        runtime = context.runtime()
        result = bulk_review.review_clips(
            runtime.db,
            runtime.clock,
            context.actor(),
            body["clip_ids"],
            accept=body["decision"] == "accept",
            reason=body["reason"],
            idempotency_key=headers["idempotency_key"],
        )
        return accepted(result) if isinstance(result, ApprovalView) else result
