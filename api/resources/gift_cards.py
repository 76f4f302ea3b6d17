"""Provider gift cards: Tremendous's webhooks, and support's resend and cancel."""

from __future__ import annotations

from typing import Any

from flask import request
from flask.views import MethodView

from api import context
from api.auth import staff_action
from api.conventions import Blueprint
from api.schemas.gift_cards import (
    GiftCardActionSchema,
    GiftCardOutcomeSchema,
    GiftCardWebhookAnswerSchema,
)
from rewards_engine.domain import staff_policy as policy
from rewards_engine.domain.tremendous_events import SIGNATURE_HEADER
from rewards_engine.services import gift_card_support, gift_card_webhooks

blp = Blueprint("gift_cards", __name__, description="Gift cards ordered from a provider")


@blp.route("/webhooks/tremendous")
class TremendousWebhook(MethodView):
    @blp.response(200, GiftCardWebhookAnswerSchema)
    @blp.alt_response(422, description="The signature does not verify: nothing changed")
    @blp.alt_response(503, description="Tremendous did not answer the order's read: send again")
    def post(self) -> Any:
        """Tremendous events, verified by their signature, each applied once; the order
        is read from the API, not taken from the event"""
        return gift_card_webhooks.tremendous_webhook(
            context.runtime(), request.get_data(), request.headers.get(SIGNATURE_HEADER)
        )


@blp.route("/admin/redemptions/<id64:redemption_id>/resend")
class Resend(MethodView):
    @staff_action(policy.REDEMPTION_RESEND)
    @blp.arguments(GiftCardActionSchema())
    @blp.response(200, GiftCardOutcomeSchema)
    @blp.alt_response(409, description="Not an ordered provider gift card whose delivery failed")
    def post(self, body: dict[str, Any], redemption_id: int) -> Any:
        """Ask the provider to deliver a gift card again (audited)"""
        return gift_card_support.resend(
            context.runtime(), context.actor(), redemption_id, body["reason"]
        )


@blp.route("/admin/redemptions/<id64:redemption_id>/cancel-order")
class CancelOrder(MethodView):
    @staff_action(policy.REDEMPTION_CANCEL)
    @blp.arguments(GiftCardActionSchema())
    @blp.response(200, GiftCardOutcomeSchema)
    @blp.alt_response(409, description="The provider does not hold it for approval")
    def post(self, body: dict[str, Any], redemption_id: int) -> Any:
        """Cancel a gift-card order the provider holds for approval; the points go back
        once (audited)"""
        return gift_card_support.cancel(
            context.runtime(), context.actor(), redemption_id, body["reason"]
        )
