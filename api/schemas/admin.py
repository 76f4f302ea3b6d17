from __future__ import annotations

from typing import Any

import marshmallow as ma

from api.schemas.common import REASON, BalancesSchema, StrictSchema, UtcDateTime
from api.schemas.donors import ProfileSchema
from api.schemas.fraud import FraudFlagSchema
from api.schemas.submissions import ClipSchema


class DonorOverviewSchema(ma.Schema):
    profile = ma.fields.Nested(ProfileSchema, attribute="donor", required=True)
    balances = ma.fields.Nested(BalancesSchema, required=True)
    recent_clips = ma.fields.List(ma.fields.Nested(ClipSchema), required=True)
    on_hold = ma.fields.Boolean(
        required=True, metadata={"description": "Under a fraud hold: not paid, not on the wall"}
    )
    open_flags = ma.fields.List(ma.fields.Nested(FraudFlagSchema), required=True)


class AdjustmentRequestSchema(StrictSchema):
    asset = ma.fields.String(required=True, validate=ma.validate.OneOf(["points", "cash"]))
    amount = ma.fields.Integer(
        required=True,
        strict=True,
        metadata={"description": "Signed whole points, or cents; negative removes"},
    )
    currency = ma.fields.String(
        load_default=None,
        validate=ma.validate.Regexp(r"^[A-Za-z]{3}$"),
        metadata={"description": "ISO 4217 code; required for cash"},
    )
    reason = REASON


class AdjustmentSchema(ma.Schema):
    transfer_id = ma.fields.Integer(required=True)
    donor_id = ma.fields.Integer(required=True)
    asset = ma.fields.String(required=True)
    currency = ma.fields.String(required=True)
    amount = ma.fields.Integer(required=True)
    reason = ma.fields.String(required=True)
    balance_after = ma.fields.Integer(required=True)
    replayed = ma.fields.Boolean(required=True)


class ReasonSchema(StrictSchema):
    reason = REASON


class ReviewRequestSchema(StrictSchema):
    decision = ma.fields.String(required=True, validate=ma.validate.OneOf(["accept", "reject"]))
    reason = REASON


class ReversalSchema(ma.Schema):
    clip = ma.fields.Nested(ClipSchema, required=True)
    already_reversed = ma.fields.Boolean(
        required=True, metadata={"description": "True: it was reversed before; nothing changed"}
    )
    transfer_id = ma.fields.Integer(allow_none=True, required=True)


class AuditRecordSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    created_at = ma.fields.AwareDateTime(required=True)
    actor_id = ma.fields.String(required=True)
    actor_role = ma.fields.String(required=True)
    action = ma.fields.String(required=True)
    target_type = ma.fields.String(required=True)
    target_id = ma.fields.String(required=True)
    before = ma.fields.Dict(allow_none=True, required=True)
    after = ma.fields.Dict(allow_none=True, required=True)
    reason = ma.fields.String(allow_none=True, required=True)
    request_id = ma.fields.String(allow_none=True, required=True)


class AuditQuerySchema(StrictSchema):
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=100))
    cursor = ma.fields.String(load_default=None, validate=ma.validate.Length(max=512))
    actor_id = ma.fields.String(load_default=None, validate=ma.validate.Length(max=160))
    target_type = ma.fields.String(load_default=None, validate=ma.validate.Length(max=32))
    target_id = ma.fields.String(load_default=None, validate=ma.validate.Length(max=128))
    action = ma.fields.String(load_default=None, validate=ma.validate.Length(max=64))
    since = UtcDateTime(load_default=None)
    until = UtcDateTime(load_default=None)

    @ma.validates_schema
    def ordered(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("since") and data.get("until") and data["since"] >= data["until"]:
            raise ma.ValidationError("since must be before until", field_name="since")
