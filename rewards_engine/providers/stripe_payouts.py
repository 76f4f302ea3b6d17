"""Stripe Connect transfers, one per item, with the item's own idempotency key.

Stripe saves the first answer to an ``Idempotency-Key`` and replays it for 24 hours
(https://docs.stripe.com/api/idempotent_requests), so within that time an item's answer
is definitive whichever attempt it answers; a key in use by a concurrent request, or
reused with other parameters, is an ``IdempotencyError``: no answer, the item stays
queued. Lists are paged (https://docs.stripe.com/api/pagination): ``auto_paging_iter``
follows ``has_more`` / ``starting_after``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import stripe

from rewards_engine.config import StripeSettings
from rewards_engine.domain.payouts import ItemStatus
from rewards_engine.providers.payouts import (
    InvalidSignature,
    ItemOutcome,
    OutgoingBatch,
    Submitted,
    VerifiedEvent,
)

KEY_LIFETIME = timedelta(hours=23)  # Stripe keeps idempotency keys 24 hours: stay inside
DEFINITE = (stripe.InvalidRequestError, stripe.CardError, stripe.PermissionError)
UNKNOWN = (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError,
           stripe.AuthenticationError, stripe.IdempotencyError)  # fmt: skip


class StripeProvider:
    name = "stripe"
    max_items = 100_000

    def __init__(self, settings: StripeSettings) -> None:
        assert settings.api_key is not None
        addresses: dict[str, Any] = {}
        if settings.api_base:
            addresses["api"] = settings.api_base.rstrip("/")
        self.client = stripe.StripeClient(
            settings.api_key,
            base_addresses=addresses,  # type: ignore[arg-type]  # stripe's TypedDict wants literal keys
            max_network_retries=2,
            http_client=stripe.RequestsClient(timeout=settings.timeout_s),
        )
        self.webhook_secret = settings.webhook_secret

    def submit(self, batch: OutgoingBatch) -> Submitted:
        """A transfer per item. An item whose answer is unknown stays queued; sending it
        again later is safe within the key's 24 hours, and after them ``poll`` looks the
        transfer up before anything is sent again."""
        outcomes: list[ItemOutcome] = []
        known = {}
        if batch.first_sent_ago is not None and batch.first_sent_ago > KEY_LIFETIME:
            known = {o.sender_item_id: o for o in self.poll(batch).outcomes}
        for item in batch.items:
            if item.sender_item_id in known:
                outcomes.append(known[item.sender_item_id])
                continue
            try:
                transfer = self.client.v1.transfers.create(
                    params={
                        "amount": item.amount_cents,
                        "currency": item.currency.lower(),
                        "destination": item.destination,
                        "transfer_group": batch.sender_batch_id,
                        "metadata": {"sender_item_id": item.sender_item_id},
                    },
                    options={"idempotency_key": item.sender_item_id},
                )
            except DEFINITE as exc:
                outcomes.append(
                    ItemOutcome(
                        item.sender_item_id,
                        ItemStatus.FAILED,
                        error=getattr(exc, "code", None) or "refused",
                    )
                )
            except UNKNOWN:
                continue  # no answer: the item stays queued for the next run
            else:
                outcomes.append(transfer_outcome(transfer, item.sender_item_id))
        unsent = len(batch.items) - len(outcomes)
        return Submitted(batch.sender_batch_id, outcomes, complete=not unsent, unsent=unsent)

    def poll(self, batch: OutgoingBatch) -> Submitted:
        outcomes = []
        transfers = self.client.v1.transfers.list(
            params={"transfer_group": batch.sender_batch_id, "limit": 100}
        )
        for transfer in transfers.auto_paging_iter():
            sender_item_id = sender_item_id_of(transfer)
            if sender_item_id:
                outcomes.append(transfer_outcome(transfer, sender_item_id))
        return Submitted(batch.sender_batch_id, outcomes)

    def verified_event(self, payload: bytes, signature: str | None) -> VerifiedEvent:
        """The event, if its signature verifies with our endpoint secret
        (https://docs.stripe.com/webhooks#verify-events); else :class:`InvalidSignature`."""
        try:
            event = stripe.Webhook.construct_event(payload, signature, self.webhook_secret)
        except (stripe.SignatureVerificationError, ValueError) as exc:
            raise InvalidSignature(str(exc)) from None
        outcomes = []
        if event.type.startswith("transfer."):
            transfer = event.data.object
            outcomes.append(transfer_outcome(transfer, sender_item_id_of(transfer) or ""))
        return VerifiedEvent(event.id, event.type, outcomes)


def sender_item_id_of(transfer: Any) -> str | None:
    """Our item id, kept in the transfer's metadata (a StripeObject: no ``.get``)."""
    metadata = transfer.to_dict().get("metadata") or {}
    return metadata.get("sender_item_id")


def transfer_outcome(transfer: Any, sender_item_id: str) -> ItemOutcome:
    """A transfer made is money paid, unless it was reversed since."""
    if transfer.reversed:
        return ItemOutcome(sender_item_id, ItemStatus.REVERSED, transfer.id, "reversed")
    return ItemOutcome(sender_item_id, ItemStatus.SUCCEEDED, transfer.id, "paid")
