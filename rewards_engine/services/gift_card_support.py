"""Support's hands on a provider gift card: resend its delivery, cancel its order.

Each is authorized by the staff policy (``redemption.resend``, ``redemption.cancel``)
before the provider is called, and audited after, whatever the provider answered
(the call is outside any transaction, as every provider call). The order's state is
then read again from the provider and recorded through services/gift_card_orders.py's
``record``: a cancelled order moves the redemption to ``cancelled`` and refunds its
points once (the ledger's ``refund:redemption:<id>``); an order that was approved
meanwhile moves on instead, and the agent is told it could not be cancelled.

- Resend: an executed order (``ordered``) whose reward's delivery FAILED: Tremendous
  resends only those (developers.tremendous.com/reference/resend-reward).
- Cancel: an order the provider holds for approval (``pending_approval``): Tremendous
  rejects it and returns its money. An executed order cannot be cancelled there (the
  card exists and is paid for): 409 naming the state, resend instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from rewards_engine.domain import staff_policy as policy
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.errors import Conflict, InvalidInput, NotFound, Unavailable
from rewards_engine.domain.redemptions import Status, check_lengths
from rewards_engine.models import GiftCardOrder, Redemption
from rewards_engine.providers.gift_cards import OrderUnknown
from rewards_engine.providers.tremendous_support import CallFailed, reject_order, resend_reward
from rewards_engine.runtime import Runtime
from rewards_engine.services import audit, gift_card_orders, staff_policy

log = logging.getLogger(__name__)
RESENDABLE = frozenset({Status.ORDERED})  # and its delivery FAILED
CANCELLABLE = frozenset({Status.PENDING_APPROVAL})


@dataclass(frozen=True)
class SupportOutcome:
    redemption_id: int
    status: str  # the redemption's status afterwards
    order_status: str | None
    delivery_status: str | None


@dataclass(frozen=True)
class _Target:
    provider: str
    order_id: str
    reward_id: str | None
    delivery_status: str | None
    status: Status


def _target(runtime: Runtime, actor: Actor, redemption_id: int, action: str) -> _Target:
    with runtime.db.transaction() as uow:
        session = uow.session
        staff_policy.authorize(session, actor, action)
        redemption = session.get(Redemption, redemption_id)
        if redemption is None:
            raise NotFound(f"no redemption {redemption_id}", code="redemption_not_found")
        order = session.get(GiftCardOrder, redemption_id)
        if order is None or order.order_id is None:
            raise Conflict(
                f"redemption {redemption_id} has no order at a gift-card provider",
                code="no_provider_order",
                details={"current": redemption.status},
            )
        return _Target(order.provider, order.order_id, order.reward_id,
                       order.delivery_status, Status(redemption.status))  # fmt: skip


def _configured(runtime: Runtime, provider: str) -> None:
    if provider not in runtime.gift_card_orders:
        raise Unavailable(f"{provider} is not configured", code="provider_not_configured")


def _audit(
    runtime: Runtime,
    actor: Actor,
    action: str,
    redemption_id: int,
    before: Status,
    after: dict[str, str | None],
    reason: str | None,
) -> None:
    with runtime.db.transaction() as uow:
        audit.record(
            uow.session,
            runtime.clock,
            actor,
            action=action,
            target_type="redemption",
            target_id=redemption_id,
            before={"status": before.value},
            after=after,
            reason=reason,
        )


def _refresh(runtime: Runtime, target: _Target, redemption_id: int) -> SupportOutcome:
    """The order read again and recorded (moves the redemption forward only)."""
    orders = runtime.gift_card_orders[target.provider]
    try:
        answer = orders.fetch(target.order_id)
    except OrderUnknown as exc:
        raise Unavailable(
            f"{target.provider} did not answer reading the order; it is settled by the "
            "gift-card-orders job",
            code="provider_unavailable",
        ) from exc
    status = gift_card_orders.record(
        runtime.db, runtime.clock, runtime.vault, redemption_id, answer
    )
    return SupportOutcome(redemption_id, status, answer.status, answer.delivery_status)


def resend(
    runtime: Runtime, actor: Actor, redemption_id: int, reason: str | None
) -> SupportOutcome:
    """Ask the provider to deliver the card again (audited ``redemption.resend``)."""
    check_lengths(reason=reason)
    target = _target(runtime, actor, redemption_id, policy.REDEMPTION_RESEND)
    if (
        target.status not in RESENDABLE
        or not target.reward_id
        or target.delivery_status != "FAILED"
    ):
        raise Conflict(
            f"a gift card that is {target.status.value} (delivery "
            f"{(target.delivery_status or 'unknown').lower()}) cannot be resent; "
            "only an ordered one whose delivery failed",
            code="not_resendable",
            details={"current": target.status.value},
        )
    _configured(runtime, target.provider)
    try:
        resend_reward(runtime.settings.tremendous, target.reward_id)
    except CallFailed as failed:
        _audit(runtime, actor, "redemption.resend", redemption_id, target.status,
               {"resent": "no", "error": str(failed)}, reason)  # fmt: skip
        if failed.code == 0 or failed.code >= 500:
            raise Unavailable(str(failed), code="provider_unavailable") from None
        raise Conflict(
            f"the provider refused to resend: {failed}", code="provider_refused"
        ) from None
    outcome = _refresh(runtime, target, redemption_id)
    _audit(runtime, actor, "redemption.resend", redemption_id, target.status,
           {"resent": "yes", "delivery_status": outcome.delivery_status}, reason)  # fmt: skip
    log.info("gift card resent", extra={"fields": {"redemption_id": redemption_id}})
    return outcome


def cancel(
    runtime: Runtime, actor: Actor, redemption_id: int, reason: str | None
) -> SupportOutcome:
    """Reject an order the provider holds for approval; the redemption is cancelled
    and its points refunded once (audited ``redemption.cancel``)."""
    if not reason:
        raise InvalidInput("say why it is cancelled", field="reason")
    check_lengths(reason=reason)
    target = _target(runtime, actor, redemption_id, policy.REDEMPTION_CANCEL)
    if target.status not in CANCELLABLE:
        raise Conflict(
            f"a gift card that is {target.status.value} cannot be cancelled at the provider; "
            "only one held for approval (pending_approval) can",
            code="not_cancellable",
            details={"current": target.status.value},
        )
    _configured(runtime, target.provider)
    error = None
    try:
        reject_order(runtime.settings.tremendous, target.order_id)
    except CallFailed as failed:  # maybe rejected anyway, or approved meanwhile: read it
        error = str(failed)
    outcome = _refresh(runtime, target, redemption_id)
    _audit(runtime, actor, "redemption.cancel", redemption_id, target.status,
           {"status": outcome.status, "order_status": outcome.order_status,
            "error": error}, reason)  # fmt: skip
    if outcome.status != Status.CANCELLED:
        raise Conflict(
            f"the provider did not cancel the order (it is {outcome.order_status}); "
            f"the redemption is {outcome.status}",
            code="not_cancelled",
            details={"current": outcome.status, "order_status": outcome.order_status},
        )
    return outcome
