"""Provider webhooks: a PayPal or Stripe event, verified, recorded once by its id, and
applied like a poll's outcomes (sooner). A verified event may also name the provider's
batch of one of ours that was waiting for its id.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.db import insert, one_of, table_of
from rewards_engine.domain import payouts as rules
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.errors import InvalidInput, Unavailable
from rewards_engine.domain.payouts import ItemStatus
from rewards_engine.models import PayoutBatch, PayoutItem, WebhookEvent
from rewards_engine.providers.payouts import (
    InvalidSignature,
    ItemOutcome,
    ProviderUnavailable,
    VerifiedEvent,
)
from rewards_engine.runtime import Runtime
from rewards_engine.services.payouts.outcomes import _complete_if_final, apply_outcomes


@runtime_checkable
class AsksForVerification(Protocol):
    """A rail whose events are verified by asking it (PayPal's)."""

    def verify_webhook(self, headers: dict[str, str], event: dict[str, Any]) -> bool: ...


@runtime_checkable
class VerifiesSignatures(Protocol):
    """A rail whose events carry a signature checked with our secret (Stripe's)."""

    def verified_event(self, payload: bytes, signature: str | None) -> VerifiedEvent: ...


log = logging.getLogger(__package__)  # one logger for the package, as before the split


@dataclass(frozen=True)
class WebhookResult:
    event_id: str
    duplicate: bool
    items_settled: int


def _first_time(
    session: Session, now: datetime, provider: str, event_id: str, event_type: str
) -> bool:
    table = table_of(WebhookEvent)
    inserted = session.execute(
        insert(session, table)
        .values(provider=provider, event_id=event_id, event_type=event_type, received_at=now)
        .on_conflict_do_nothing(index_elements=["provider", "event_id"])
        .returning(table.c.id)
    ).scalar()
    return inserted is not None


def paypal_webhook(runtime: Runtime, headers: dict[str, str], body: bytes) -> WebhookResult:
    """A PayPal event, applied once, after PayPal confirmed its signature."""
    provider = runtime.payout_providers.get("paypal")
    try:
        event = json.loads(body)
    except ValueError:
        raise InvalidInput("the body is not JSON", code="invalid_webhook") from None
    try:
        genuine = isinstance(provider, AsksForVerification) and provider.verify_webhook(
            headers, event
        )
    except ProviderUnavailable as exc:
        raise Unavailable(str(exc), code="provider_unavailable") from exc  # PayPal sends again
    if not genuine:
        raise InvalidInput(
            "the webhook signature does not verify",
            code="invalid_signature",
            field="Paypal-Transmission-Sig",
            location="headers",
        )
    event_id, event_type = str(event.get("id", "")), str(event.get("event_type", ""))
    resource = event.get("resource") or {}
    if event_type.startswith("PAYMENT.PAYOUTSBATCH."):
        # No item in it (developer.paypal.com/docs/payouts/standard/reference/webhooks):
        # it names the batch, which finds one PayPal told us exists without its id.
        header = resource.get("batch_header") or {}
        found = _Found(
            str(header.get("payout_batch_id") or ""),
            sender_batch_id=(header.get("sender_batch_header") or {}).get("sender_batch_id"),
        )
        return _apply_event(runtime, "paypal", event_id, event_type, [], found)
    status = event_type.rsplit(".", 1)[-1].upper()
    outcome = ItemOutcome(
        sender_item_id=(resource.get("payout_item") or {}).get("sender_item_id", ""),
        status=rules.PAYPAL_STATUS.get(
            str(resource.get("transaction_status", status)).upper(),
            rules.PAYPAL_STATUS.get(status, ItemStatus.PENDING),
        ),
        provider_item_id=resource.get("payout_item_id"),
        provider_status=str(resource.get("transaction_status", status)),
    )
    found = _Found(
        str(resource.get("payout_batch_id") or ""), sender_item_id=outcome.sender_item_id
    )
    return _apply_event(runtime, "paypal", event_id, event_type, [outcome], found)


def stripe_webhook(runtime: Runtime, body: bytes, signature: str | None) -> WebhookResult:
    """A Stripe event, applied once, after its signature verified with our secret."""
    provider = runtime.payout_providers.get("stripe")
    try:
        if not isinstance(provider, VerifiesSignatures):
            raise InvalidSignature("Stripe is not configured")
        event = provider.verified_event(body, signature)
    except InvalidSignature:
        raise InvalidInput(
            "the webhook signature does not verify",
            code="invalid_signature",
            field="Stripe-Signature",
            location="headers",
        ) from None
    return _apply_event(runtime, "stripe", event.event_id, event.event_type, event.outcomes)


@dataclass(frozen=True)
class _Found:
    """A verified event names the provider's batch of one of ours."""

    provider_batch_id: str
    sender_batch_id: str | None = None
    sender_item_id: str | None = None


def _apply_event(
    runtime: Runtime,
    provider: str,
    event_id: str,
    event_type: str,
    outcomes: list[ItemOutcome],
    found: _Found | None = None,
) -> WebhookResult:
    now = runtime.clock.now()
    with runtime.db.transaction() as uow:
        if not _first_time(uow.session, now, provider, event_id, event_type):
            return WebhookResult(event_id, True, 0)
        if found is not None and found.provider_batch_id:
            _attach_found(uow.session, now, found)
        settled = apply_outcomes(uow.session, now, Actor.system(f"webhook:{provider}"), outcomes)
        batches = uow.session.scalars(
            select(col(PayoutItem.batch_id)).where(
                one_of(
                    uow.session,
                    col(PayoutItem.sender_item_id),
                    [o.sender_item_id for o in outcomes],
                )
            )
        ).all()
        _complete_if_final(uow.session, now, set(batches))
    log.info(
        "payout webhook applied",
        extra={"fields": {"provider": provider, "type": event_type, "settled": settled}},
    )
    return WebhookResult(event_id, False, settled)


def _attach_found(session: Session, now: datetime, found: _Found) -> None:
    """Give a batch waiting for its provider id the one a verified event names."""
    query = select(PayoutBatch)
    if found.sender_batch_id:
        query = query.where(col(PayoutBatch.sender_batch_id) == found.sender_batch_id)
    elif found.sender_item_id:
        query = query.join(PayoutItem, col(PayoutItem.batch_id) == col(PayoutBatch.id)).where(
            col(PayoutItem.sender_item_id) == found.sender_item_id
        )
    else:
        return
    batch = session.scalars(query.with_for_update()).first()
    if batch is None or batch.provider_batch_id:
        return
    status = rules.BatchStatus(batch.status)
    if status is rules.BatchStatus.SUBMITTING:
        batch.provider_batch_id = found.provider_batch_id  # its sender records the rest
    elif status in rules.ATTACHABLE or rules.refused_as_duplicate(status, batch.last_error):
        batch.provider_batch_id = found.provider_batch_id
        batch.status, batch.completed_at = rules.BatchStatus.SUBMITTED.value, None
        log.info("payout batch found by a webhook", extra={"fields": {"batch_id": batch.id}})
