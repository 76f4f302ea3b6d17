"""Four-eyes approval requests as the API shows them (docs/api.md, "202 Accepted")."""

from __future__ import annotations

import marshmallow as ma

from api.schemas.common import REASON, PageArgs, StrictSchema, UtcDateTime
from api.schemas.submissions import ClipSchema
from rewards_engine.domain.ids import INT64_MAX

STATUSES = ["pending", "approved", "applied", "failed", "refused", "expired"]


class ApprovalSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    action = ma.fields.String(
        required=True, metadata={"description": "points.adjust, cash.adjust, clips.review, ..."}
    )
    status = ma.fields.String(required=True, metadata={"enum": STATUSES})
    target_type = ma.fields.String(required=True)
    target_id = ma.fields.String(required=True)
    amount = ma.fields.Integer(
        required=True, metadata={"description": "Points, cents or a count, as the action counts"}
    )
    reason = ma.fields.String(required=True, metadata={"description": "The requester's reason"})
    payload = ma.fields.Dict(
        required=True, metadata={"description": "The action as asked; applied as it is"}
    )
    evidence = ma.fields.Dict(
        allow_none=True,
        required=True,
        metadata={"description": "What the approver sees: balances, the flag, the totals"},
    )
    requested_by = ma.fields.String(required=True)
    requester_role = ma.fields.String(required=True)
    decided_by = ma.fields.String(allow_none=True, required=True)
    decider_role = ma.fields.String(allow_none=True, required=True)
    decision_reason = ma.fields.String(allow_none=True, required=True)
    result = ma.fields.Dict(allow_none=True, required=True)
    error = ma.fields.Dict(
        allow_none=True,
        required=True,
        metadata={"description": "Why applying was refused (status failed): nothing was written"},
    )
    created_at = UtcDateTime(required=True)
    expires_at = UtcDateTime(required=True)
    decided_at = UtcDateTime(allow_none=True, required=True)
    applied_at = UtcDateTime(allow_none=True, required=True)


class ApprovalQuerySchema(PageArgs):
    status = ma.fields.String(
        load_default="pending",
        validate=ma.validate.OneOf([*STATUSES, "all"]),
        metadata={"description": "pending (the default), another status, or all"},
    )


class ApproveSchema(StrictSchema):
    reason = ma.fields.String(
        load_default=None, validate=ma.validate.Length(max=500), allow_none=True
    )


class RefuseSchema(StrictSchema):
    reason = REASON


class BulkReviewSchema(StrictSchema):
    clip_ids = ma.fields.List(
        ma.fields.Integer(strict=True, validate=ma.validate.Range(min=1, max=INT64_MAX)),
        required=True,
        validate=ma.validate.Length(min=1, max=500),
        metadata={"description": "1 to 500 clips waiting for review"},
    )
    decision = ma.fields.String(required=True, validate=ma.validate.OneOf(["accept", "reject"]))
    reason = REASON


class BulkReviewResultSchema(ma.Schema):
    decision = ma.fields.String(required=True)
    clips = ma.fields.List(ma.fields.Nested(ClipSchema), required=True)
