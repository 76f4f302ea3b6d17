"""Tremendous webhooks: verified, each event processed once, the resource fetched.

1. The signature (``Tremendous-Webhook-Signature``, HMAC-SHA256 of the raw body) is
   checked before anything is parsed or changed; with no ``TREMENDOUS_WEBHOOK_SECRET``
   every event is refused (domain/tremendous_events.py).
2. An event already in ``webhook_events`` (provider ``tremendous``, its ``uuid``) is
   answered, not applied again.
3. The order the event is about is fetched from the API (``GET /orders/{id}``), never
   taken from the body: an event that arrives late, twice or before an earlier one then
   applies the order's *current* state, and services/gift_card_orders.py's ``record``
   only moves a redemption forward (a refund at most once: the ledger's idempotency key
   ``refund:redemption:<id>``). A ``REWARDS.*`` event names a reward: its order is the
   one recorded with that reward id.
4. The event is then recorded. Recording after applying (each its own transaction,
   as ``record`` is one) means a crash in between leaves the event unrecorded:
   Tremendous delivers it again and applying it again changes nothing. The
   ``gift-card-orders`` job settles whatever a lost event would have.

The provider not answering the fetch is a 503: nothing is recorded and Tremendous
sends the event again. A ``PRODUCTS.ADDED`` or ``PRODUCTS.REMOVED`` event syncs the
product list at once (services/gift_card_products.py), so a withdrawn product leaves the
catalog before the daily job.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.db import insert, table_of
from rewards_engine.domain import tremendous_events
from rewards_engine.domain.errors import Unavailable
from rewards_engine.models import GiftCardOrder, WebhookEvent
from rewards_engine.providers.gift_cards import GiftCardOrders, OrderUnknown, ProviderOrder
from rewards_engine.runtime import Runtime
from rewards_engine.services import gift_card_orders, gift_card_products

log = logging.getLogger(__name__)
PROVIDER = "tremendous"


@dataclass(frozen=True)
class GiftCardWebhookResult:
    event_id: str
    duplicate: bool
    redemption_id: int | None  # the redemption the event was about, if one of ours
    status: str | None  # that redemption's status afterwards


def tremendous_webhook(
    runtime: Runtime, body: bytes, signature: str | None
) -> GiftCardWebhookResult:
    """Verify, de-duplicate, fetch and apply one Tremendous event."""
    tremendous_events.verify(runtime.settings.tremendous.webhook_secret, body, signature)
    event = tremendous_events.parse(body)
    with runtime.db.read() as session:
        if _seen(session, event.event_id):
            return GiftCardWebhookResult(event.event_id, True, None, None)
        known = _order_of(session, event)
    orders = runtime.gift_card_orders.get(PROVIDER)
    redemption_id = status = None
    if event.name.startswith("PRODUCTS."):  # added or removed: the catalog follows now
        synced = gift_card_products.sync_from_provider(runtime)
        if "error" in synced:
            raise Unavailable(
                "Tremendous did not answer the product list; send the event again",
                code="provider_unavailable",
            )
    elif orders is not None and known is not None:
        redemption_id, order_id, ours = known
        try:
            answer: ProviderOrder = orders.fetch(order_id)
        except OrderUnknown as exc:
            raise Unavailable(
                "Tremendous did not answer; send the event again", code="provider_unavailable"
            ) from exc
        if answer.external_id not in (None, ours):
            log.warning(  # an order id of ours naming another external id: apply nothing
                "gift card webhook order mismatch",
                extra={"fields": {"redemption_id": redemption_id, "order_id": order_id}},
            )
        else:
            status = gift_card_orders.record(
                runtime.db, runtime.clock, runtime.vault, redemption_id, answer
            )
    elif orders is not None and event.resource_type in ("", "orders", "order"):
        found = _fetch_unknown_order(orders, event.resource_id)
        if found is not None:
            redemption_id = _redemption_by_external_id(runtime, found.external_id)
            if redemption_id is not None:
                status = gift_card_orders.record(
                    runtime.db, runtime.clock, runtime.vault, redemption_id, found
                )
    now = runtime.clock.now()
    with runtime.db.transaction() as uow:
        first = _first_time(uow.session, now, event.event_id, event.name)
    log.info(
        "gift card webhook applied",
        extra={
            "fields": {
                "event": event.name,
                "redemption_id": redemption_id,
                "status": status,
                "duplicate": not first,
            }
        },
    )
    return GiftCardWebhookResult(event.event_id, not first, redemption_id, status)


def _seen(session: Session, event_id: str) -> bool:
    return (
        session.scalar(
            select(col(WebhookEvent.id)).where(
                col(WebhookEvent.provider) == PROVIDER, col(WebhookEvent.event_id) == event_id
            )
        )
        is not None
    )


def _first_time(session: Session, now: datetime, event_id: str, name: str) -> bool:
    table = table_of(WebhookEvent)
    inserted = session.execute(
        insert(session, table)
        .values(provider=PROVIDER, event_id=event_id, event_type=name[:80], received_at=now)
        .on_conflict_do_nothing(index_elements=["provider", "event_id"])
        .returning(table.c.id)
    ).scalar()
    return inserted is not None


def _order_of(session: Session, event: tremendous_events.Event) -> tuple[int, str, str] | None:
    """Our redemption, the provider's order id and our external id of the order the
    event is about, when we know the order (by its id, or by its reward's id for
    ``REWARDS.*`` events)."""
    column = (
        col(GiftCardOrder.reward_id)
        if event.resource_type in ("rewards", "reward") or event.name.startswith("REWARDS.")
        else col(GiftCardOrder.order_id)
    )
    row = session.execute(
        select(
            col(GiftCardOrder.redemption_id),
            col(GiftCardOrder.order_id),
            col(GiftCardOrder.external_id),
        ).where(col(GiftCardOrder.provider) == PROVIDER, column == event.resource_id)
    ).first()
    if row is None or row[1] is None:
        return None
    return int(row[0]), str(row[1]), str(row[2])


def _fetch_unknown_order(orders: GiftCardOrders, order_id: str) -> ProviderOrder | None:
    """An order we have no id for yet (its answer was lost): fetched, it names its
    external id, which is our redemption's id. An order the API does not know (or
    not one of ours) is ignored."""
    try:
        return orders.fetch(order_id)
    except OrderUnknown as exc:
        raise Unavailable(
            "Tremendous did not answer; send the event again", code="provider_unavailable"
        ) from exc


def _redemption_by_external_id(runtime: Runtime, external_id: str | None) -> int | None:
    if not external_id:
        return None
    with runtime.db.read() as session:
        found = session.scalar(
            select(col(GiftCardOrder.redemption_id)).where(
                col(GiftCardOrder.provider) == PROVIDER,
                col(GiftCardOrder.external_id) == external_id,
            )
        )
    return int(found) if found is not None else None
