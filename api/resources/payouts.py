"""Payouts: the donor's payments, staff tools for batches, and provider webhooks."""

from __future__ import annotations

from typing import Any

from flask import Response, request
from flask.views import MethodView

from api import context
from api.auth import auth_required, staff_action
from api.conventions import Blueprint
from api.resources.approvals import ACCEPTED_DOC, accepted
from api.schemas.admin import ReasonSchema
from api.schemas.approvals import ApprovalSchema
from api.schemas.common import IdempotencyHeader, PageArgs, page_of
from api.schemas.payouts import (
    AttachSchema,
    BatchRunSchema,
    PayoutBatchSchema,
    PayoutItemSchema,
    SettleSchema,
    WebhookAnswerSchema,
)
from rewards_engine.domain import staff_policy as policy
from rewards_engine.domain.roles import Role
from rewards_engine.services import payouts
from rewards_engine.services.approvals import ApprovalView

blp = Blueprint("payouts", __name__, description="Cash payouts")


@blp.route("/me/payouts")
class MyPayouts(MethodView):
    @auth_required(Role.DONOR)
    @blp.arguments(PageArgs(), location="query")
    @blp.response(200, page_of(PayoutItemSchema))
    def get(self, args: dict[str, Any]) -> Any:
        """The donor's payouts: amount, where to (masked), status, and why one failed"""
        return payouts.donor_payouts(context.runtime().db, context.donor().id, **args)


@blp.route("/admin/payout-batches")
class Batches(MethodView):
    @staff_action(policy.PAYOUTS_READ)
    @blp.arguments(PageArgs(), location="query")
    @blp.response(200, page_of(PayoutBatchSchema))
    def get(self, args: dict[str, Any]) -> Any:
        """Payout batches, newest first"""
        return payouts.list_batches(context.runtime().db, **args)

    @staff_action(policy.PAYOUTS_BATCH)
    @blp.arguments(IdempotencyHeader(), location="headers")
    @blp.response(201, BatchRunSchema)
    @blp.alt_response(202, schema=ApprovalSchema, description=ACCEPTED_DOC)
    def post(self, headers: dict[str, Any]) -> Any:
        """Build this period's batches now and submit them (donors already paid this
        period are skipped). A total above the payouts.batch threshold needs a second
        person (202): nothing is reserved until it is approved"""
        runtime = context.runtime()
        report = payouts.staff_batches(
            runtime, context.actor(), idempotency_key=headers["idempotency_key"]
        )
        if isinstance(report, ApprovalView):
            return accepted(report)
        payouts.submit_pending(runtime)
        return report


@blp.route("/admin/payout-batches/<int:batch_id>/items")
class BatchItems(MethodView):
    @staff_action(policy.PAYOUTS_READ)
    @blp.arguments(PageArgs(), location="query")
    @blp.response(200, page_of(PayoutItemSchema))
    def get(self, args: dict[str, Any], batch_id: int) -> Any:
        """A batch's items and their states"""
        return payouts.batch_items(context.runtime().db, batch_id, **args)


@blp.route("/admin/payout-batches/<int:batch_id>/export.csv")
class ExportBatch(MethodView):
    @staff_action(policy.PAYOUTS_EXPORT)
    @blp.response(200, content_type="text/csv")
    def get(self, batch_id: int) -> Any:
        """A manual batch as CSV, with the destinations to pay (audited)"""
        text = payouts.export_csv(context.runtime(), context.actor(), batch_id)
        return Response(
            text,
            mimetype="text/csv",
            headers={"Content-Disposition": f"attachment; filename=batch-{batch_id}.csv"},
        )


@blp.route("/admin/payout-batches/<int:batch_id>/attach")
class AttachBatch(MethodView):
    @staff_action(policy.PAYOUTS_BATCH)
    @blp.arguments(AttachSchema())
    @blp.response(200, PayoutBatchSchema)
    def post(self, body: dict[str, Any], batch_id: int) -> Any:
        """Give the provider's batch id of a batch it said exists (``needs_attention`` or
        ``unknown``, or ``rejected`` by the old engine on PayPal's duplicate answer): the
        next poll checks the batch carries our sender_batch_id before applying anything"""
        return payouts.attach_provider_batch(
            context.runtime(), context.actor(), batch_id, body["provider_batch_id"], body["reason"]
        )


@blp.route("/admin/payout-batches/<int:batch_id>/resend")
class ResendBatch(MethodView):
    @staff_action(policy.PAYOUTS_BATCH)
    @blp.arguments(ReasonSchema())
    @blp.response(200, PayoutBatchSchema)
    @blp.alt_response(409, description="Not waiting for a person, or past PayPal's 30 days")
    def post(self, body: dict[str, Any], batch_id: int) -> Any:
        """Send a ``needs_attention`` batch again with the same ids (after fixing what the
        provider objected to): a batch it made already is answered as a duplicate"""
        return payouts.resend_batch(context.runtime(), context.actor(), batch_id, body["reason"])


@blp.route("/admin/payout-items/<id64:item_id>/settle")
class SettleItem(MethodView):
    @staff_action(policy.PAYOUTS_BATCH)
    @blp.arguments(SettleSchema())
    @blp.response(200, PayoutItemSchema)
    def post(self, body: dict[str, Any], item_id: int) -> Any:
        """Record the outcome of a manual payout: paid, or failed (the money returns)"""
        return payouts.settle_manual(
            context.runtime(), context.actor(), item_id, body["outcome"] == "paid", body["reason"]
        )


@blp.route("/admin/payout-items/<id64:item_id>/cancel")
class CancelItem(MethodView):
    @staff_action(policy.PAYOUTS_BATCH)
    @blp.arguments(ReasonSchema())
    @blp.response(200, PayoutItemSchema)
    @blp.alt_response(503, description="PayPal did not answer: nothing changed; retry")
    def post(self, body: dict[str, Any], item_id: int) -> Any:
        """Cancel an unclaimed PayPal payment: the money returns to the donor now"""
        return payouts.cancel_unclaimed(context.runtime(), context.actor(), item_id, body["reason"])


@blp.route("/webhooks/paypal")
class PayPalWebhook(MethodView):
    @blp.response(200, WebhookAnswerSchema)
    @blp.alt_response(422, description="The signature does not verify: nothing changed")
    def post(self) -> Any:
        """PayPal payout events, verified with PayPal before anything changes, applied once"""
        headers = dict(request.headers.items())
        return payouts.paypal_webhook(context.runtime(), headers, request.get_data())


@blp.route("/webhooks/stripe")
class StripeWebhook(MethodView):
    @blp.response(200, WebhookAnswerSchema)
    @blp.alt_response(422, description="The signature does not verify: nothing changed")
    def post(self) -> Any:
        """Stripe transfer events, verified by their signature, applied once"""
        return payouts.stripe_webhook(
            context.runtime(), request.get_data(), request.headers.get("Stripe-Signature")
        )
