from __future__ import annotations

import marshmallow as ma

from api.schemas.common import StrictSchema, UtcDateTime, translations_field


class DataRequestSchema(ma.Schema):
    id = ma.fields.String(
        required=True, metadata={"description": "Random: keep it to follow the request"}
    )
    kind = ma.fields.String(required=True, metadata={"enum": ["erasure"]})
    status = ma.fields.String(required=True, metadata={"enum": ["received", "completed"]})
    received_at = ma.fields.AwareDateTime(required=True)
    completed_at = ma.fields.AwareDateTime(allow_none=True, required=True)
    outcome = ma.fields.Dict(
        allow_none=True,
        required=True,
        metadata={"description": "What was erased, as counts"},
    )


class ConsentPublishSchema(StrictSchema):
    version = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=32))
    title = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    summary = ma.fields.String(load_default="", validate=ma.validate.Length(max=2_000))
    body = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100_000))
    published_at = UtcDateTime(
        load_default=None, metadata={"description": "When it becomes current (default: now)"}
    )
    translations = translations_field("title", "summary", "body")


class ConsentRecordSchema(ma.Schema):
    version = ma.fields.String(required=True)
    action = ma.fields.String(required=True, metadata={"enum": ["grant", "withdraw"]})
    at = ma.fields.AwareDateTime(attribute="created_at", required=True)


class ClipCountsSchema(ma.Schema):
    received = ma.fields.Integer(required=True)
    accepted = ma.fields.Integer(required=True)
    pending_review = ma.fields.Integer(required=True)
    rejected = ma.fields.Integer(required=True)
    duplicates = ma.fields.Integer(required=True)
    reversed = ma.fields.Integer(required=True)
    deleted = ma.fields.Integer(
        required=True, metadata={"description": "Metadata deleted (retention or erasure)"}
    )
    videos_stored = ma.fields.Integer(
        required=True,
        metadata={"description": "Videos the engine received, verified and kept (encrypted)"},
    )
    videos_deleted = ma.fields.Integer(
        required=True, metadata={"description": "Stored videos deleted (retention or erasure)"}
    )


class MoneySchema(ma.Schema):
    currency = ma.fields.String(required=True)
    amount_cents = ma.fields.Integer(required=True)


class ErasureCountsSchema(ma.Schema):
    received = ma.fields.Integer(required=True)
    completed = ma.fields.Integer(required=True)
    median_hours_to_complete = ma.fields.Float(allow_none=True, required=True)


class FlagCountsSchema(ma.Schema):
    opened = ma.fields.Integer(required=True)
    confirmed = ma.fields.Integer(required=True)
    dismissed = ma.fields.Integer(required=True)


class QuarterSchema(ma.Schema):
    quarter = ma.fields.String(required=True, metadata={"example": "2025-Q1"})
    clips = ma.fields.Nested(ClipCountsSchema, required=True)
    donors = ma.fields.Integer(
        required=True, metadata={"description": "Donors who donated in the quarter"}
    )
    paid_out = ma.fields.List(ma.fields.Nested(MoneySchema), required=True)
    erasure_requests = ma.fields.Nested(ErasureCountsSchema, required=True)
    fraud_flags = ma.fields.Nested(FlagCountsSchema, required=True)


class TransparencySchema(ma.Schema):
    generated_at = ma.fields.String(required=True)
    quarters = ma.fields.List(ma.fields.Nested(QuarterSchema), required=True)
