"""Tremendous webhooks' answer, and support's resend and cancel of a provider gift card."""

from __future__ import annotations

import marshmallow as ma

from api.schemas.common import StrictSchema


class GiftCardWebhookAnswerSchema(ma.Schema):
    event_id = ma.fields.String(required=True)
    duplicate = ma.fields.Boolean(
        required=True, metadata={"description": "Seen before: nothing was applied again"}
    )
    redemption_id = ma.fields.Integer(
        allow_none=True, metadata={"description": "The redemption the event was about"}
    )
    status = ma.fields.String(
        allow_none=True, metadata={"description": "That redemption's status afterwards"}
    )


class GiftCardActionSchema(StrictSchema):
    reason = ma.fields.String(
        load_default=None,
        validate=ma.validate.Length(min=1, max=300),
        metadata={"description": "Why (kept in the audit log); required to cancel"},
    )


class GiftCardOutcomeSchema(ma.Schema):
    redemption_id = ma.fields.Integer(required=True)
    status = ma.fields.String(required=True, metadata={"description": "The redemption's"})
    order_status = ma.fields.String(allow_none=True, metadata={"description": "The provider's"})
    delivery_status = ma.fields.String(allow_none=True)
