"""Re-arm a stuck provider gift-card order (``rewards-engine gift-cards retry-order``).

An order nobody could confirm (no answer, none found by its external id) is ordered
again by the ``gift-card-orders`` job up to ``TREMENDOUS_MAX_ATTEMPTS`` times, then
waits for a person (docs/operations.md, "Stuck gift-card orders"). Once the cause is
fixed (funding, API key, an outage over), this use case gives it its attempts back
and tries at once: the order is looked up by the external id stored with it and, only
when none is found, ordered **with that same external id** (Tremendous answers a
repeated external id with the first order, so a lagging look-up cannot make a second
card). It never makes an order under another id, and refuses an order the provider
already has (its order id is known: the job reads it) or a redemption that is not
``ordering``. The re-arming is audited (``gift_card_order.retry``) before any call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from rewards_engine.domain.actors import Actor
from rewards_engine.domain.errors import Conflict, InvalidInput, NotFound, Unavailable
from rewards_engine.domain.redemptions import Status, check_lengths
from rewards_engine.models import Donor, GiftCardOrder, Redemption
from rewards_engine.providers.gift_cards import OrderUnknown
from rewards_engine.runtime import Runtime
from rewards_engine.services import audit, gift_card_orders

log = logging.getLogger(__name__)
ACTION = "gift_card_order.retry"


@dataclass(frozen=True)
class RetryOutcome:
    redemption_id: int
    external_id: str
    found: bool  # the look-up found the order (nothing was ordered)
    ordered: bool  # an order call was made, with the same external id
    status: str  # the redemption's status afterwards
    error: str | None  # the provider did not answer: the job tries again


def retry_order(
    runtime: Runtime, actor: Actor, redemption_id: int, reason: str | None
) -> RetryOutcome:
    """Give a stuck order its attempts back (audited), then look it up and, if the
    provider has none, order it again under the same external id."""
    if not reason:
        raise InvalidInput("say why the order is tried again", field="reason")
    check_lengths(reason=reason)
    with runtime.db.transaction() as uow:
        session = uow.session
        redemption = session.get(Redemption, redemption_id)
        if redemption is None:
            raise NotFound(f"no redemption {redemption_id}", code="redemption_not_found")
        session.get(Donor, redemption.donor_id, with_for_update=True)  # the usual order
        session.refresh(redemption, with_for_update=True)
        order = session.get(GiftCardOrder, redemption_id, with_for_update=True)
        if order is None:
            raise Conflict(
                f"redemption {redemption_id} has no order at a gift-card provider",
                code="no_provider_order",
                details={"current": redemption.status},
            )
        if order.order_id is not None:
            raise Conflict(
                f"the provider already has order {order.order_id} for redemption "
                f"{redemption_id}: the gift-card-orders job reads it, nothing to retry",
                code="already_ordered",
                details={"current": redemption.status},
            )
        if redemption.status != Status.ORDERING:
            raise Conflict(
                f"redemption {redemption_id} is {redemption.status}; only an order "
                "left ordering can be retried",
                code="not_retryable",
                details={"current": redemption.status},
            )
        if order.provider not in runtime.gift_card_orders:
            raise Unavailable(f"{order.provider} is not configured", code="provider_not_configured")
        before = {"attempts": order.attempts, "last_error": order.last_error}
        order.attempts = 0  # the attempts allowed start again (each call counts one)
        order.last_error = None
        order.checked_at = None  # first in the job's queue if the call below is lost
        order.updated_at = runtime.clock.now()
        provider, ours = order.provider, order.external_id
        audit.record(session, runtime.clock, actor, action=ACTION, target_type="redemption",
                     target_id=redemption_id, before=before,
                     after={"attempts": 0, "external_id": ours}, reason=reason)  # fmt: skip
    orders = runtime.gift_card_orders[provider]
    db, clock, vault = runtime.db, runtime.clock, runtime.vault
    try:
        found = orders.find(ours)
    except OrderUnknown as unknown:
        return RetryOutcome(redemption_id, ours, False, False, Status.ORDERING.value, str(unknown))
    if found is not None:
        status = gift_card_orders.record(db, clock, vault, redemption_id, found)
        return RetryOutcome(redemption_id, ours, True, False, status, None)
    status = gift_card_orders.place(db, clock, orders, vault, redemption_id)
    with db.read() as session:
        left = session.get(GiftCardOrder, redemption_id)
        error = left.last_error if left is not None else None
    log.info("gift card order retried",
             extra={"fields": {"redemption_id": redemption_id, "status": status}})  # fmt: skip
    return RetryOutcome(redemption_id, ours, False, True, status, error)
