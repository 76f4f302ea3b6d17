from __future__ import annotations

import marshmallow as ma

from api.schemas.common import REASON, StrictSchema
from rewards_engine.domain.payouts import BatchStatus


class PayoutBatchSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    provider = ma.fields.String(required=True, metadata={"enum": ["paypal", "stripe", "manual"]})
    currency = ma.fields.String(required=True)
    period = ma.fields.String(required=True, metadata={"description": "ISO week it pays"})
    status = ma.fields.String(
        required=True,
        metadata={
            "enum": [s.value for s in BatchStatus],
            "description": (
                "created: never sent. submitting: a sender holds it (or died holding it: "
                "sent again once its lease runs out). unknown: sent without a clear answer "
                "(timeout, 5xx, refused token): sent again with the same ids, the money "
                "stays in flight. submitted: the provider has it, polled until every item "
                "is final. completed. rejected: refused on its first send, the money went "
                "back. needs_attention: sent, and the provider said it exists without "
                "saying which batch, or answered neither made nor refused: the money "
                "stays in flight until its batch is found (a webhook, or attach) or a "
                "person sends it again (resend); last_error says what was answered."
            ),
        },
    )
    sender_batch_id = ma.fields.String(required=True)
    provider_batch_id = ma.fields.String(allow_none=True, required=True)
    item_count = ma.fields.Integer(required=True)
    total_cents = ma.fields.Integer(required=True)
    attempts = ma.fields.Integer(required=True)
    last_error = ma.fields.String(allow_none=True, required=True)
    created_by = ma.fields.String(required=True)
    created_at = ma.fields.AwareDateTime(required=True)
    submitted_at = ma.fields.AwareDateTime(allow_none=True, required=True)
    completed_at = ma.fields.AwareDateTime(allow_none=True, required=True)


class PayoutItemSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    batch_id = ma.fields.Integer(required=True)
    donor_id = ma.fields.Integer(required=True)
    amount_cents = ma.fields.Integer(required=True)
    currency = ma.fields.String(required=True)
    period = ma.fields.String(required=True)
    destination_kind = ma.fields.String(required=True)
    destination = ma.fields.String(attribute="destination_masked", required=True)
    sender_item_id = ma.fields.String(required=True)
    provider_item_id = ma.fields.String(allow_none=True, required=True)
    status = ma.fields.String(required=True)
    provider_status = ma.fields.String(allow_none=True, required=True)
    error = ma.fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "Why it was not paid, if it was not"},
    )
    created_at = ma.fields.AwareDateTime(required=True)
    settled_at = ma.fields.AwareDateTime(allow_none=True, required=True)


class BatchRunSchema(ma.Schema):
    batches = ma.fields.List(ma.fields.Integer(), required=True)
    items = ma.fields.Integer(required=True)
    total_cents = ma.fields.Integer(required=True)


class SettleSchema(StrictSchema):
    outcome = ma.fields.String(required=True, validate=ma.validate.OneOf(["paid", "failed"]))
    reason = REASON


class AttachSchema(StrictSchema):
    provider_batch_id = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    reason = REASON


class WebhookAnswerSchema(ma.Schema):
    event_id = ma.fields.String(required=True)
    duplicate = ma.fields.Boolean(
        required=True, metadata={"description": "Seen before: nothing was applied"}
    )
    items_settled = ma.fields.Integer(required=True)
