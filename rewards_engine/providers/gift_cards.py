"""Where gift-card codes come from.

The built-in source is the code inventory (codes uploaded by admins, encrypted at
rest): a code is set aside inside the redemption's transaction. A provider that
orders each card when it is redeemed (Tremendous) cannot do that: an HTTP call must
never run inside a database transaction (it would hold the donor's row lock for the
call's length, and a rollback cannot undo an order). So a provider is a
:class:`GiftCardOrders`: the redemption is recorded ``ordering`` and committed first,
then the order is placed, keyed by the redemption id (its external id) so that a
retry never orders twice, and its answer recorded in a second transaction
(services/gift_card_orders.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.domain.errors import Conflict
from rewards_engine.models import GiftCardCode, RewardItem


class GiftCardSource(Protocol):
    def available(self, session: Session, item_ids: list[str]) -> dict[str, int]:
        """Codes that can still be issued, per item."""
        ...

    def issue(self, session: Session, item: RewardItem, redemption_id: int, now: datetime) -> int:
        """Set a code aside for the redemption; its id. Raises Conflict when none is left."""
        ...

    def release(self, session: Session, code_id: int) -> None:
        """Put a code back (the redemption was cancelled before the donor saw it)."""
        ...


class CodeInventory:
    """Codes uploaded in advance. Concurrent redemptions take different codes without
    waiting on each other (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite has one
    writer at a time)."""

    def available(self, session: Session, item_ids: list[str]) -> dict[str, int]:
        if not item_ids:
            return {}
        rows = session.execute(
            select(col(GiftCardCode.item_id), func.count())
            .where(col(GiftCardCode.item_id).in_(item_ids), col(GiftCardCode.status) == "available")
            .group_by(col(GiftCardCode.item_id))
        )
        return dict(rows.all())

    def issue(self, session: Session, item: RewardItem, redemption_id: int, now: datetime) -> int:
        query = (
            select(col(GiftCardCode.id))
            .where(col(GiftCardCode.item_id) == item.id, col(GiftCardCode.status) == "available")
            .order_by(col(GiftCardCode.id))
            .limit(1)
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        code_id = session.scalar(query)
        if code_id is None:
            raise Conflict(f"{item.name} is out of stock", code="out_of_stock")
        session.execute(
            update(GiftCardCode)
            .where(col(GiftCardCode.id) == code_id)
            .values(status="assigned", redemption_id=redemption_id, assigned_at=now)
        )
        return code_id

    def release(self, session: Session, code_id: int) -> None:
        session.execute(
            update(GiftCardCode)
            .where(col(GiftCardCode.id) == code_id)
            .values(status="available", redemption_id=None, assigned_at=None)
        )


@dataclass(frozen=True)
class OrderRequest:
    """One card to order: ``external_id`` is ``<installation id>-<redemption id>``,
    which the provider de-duplicates on. The recipient is named by the redemption, not the donor (no
    personal data leaves the engine); the card comes back as a link."""

    external_id: str
    product_id: str
    amount: str  # the denomination in the currency's units, as a decimal string
    currency: str
    recipient_name: str


@dataclass(frozen=True)
class ProviderOrder:
    """What the provider says of an order and of its (single) reward."""

    order_id: str
    external_id: str | None
    status: str  # e.g. EXECUTED, PENDING APPROVAL, FAILED, CANCELED
    reward_id: str | None
    delivery_status: str | None  # SCHEDULED, PENDING, SUCCEEDED, FAILED
    link: str | None  # the card itself: never logged


class OrderRefused(Exception):
    """A definite refusal: the provider made no order (insufficient funds, product
    unavailable, invalid request). ``code`` is the HTTP status, ``reason`` the
    provider's message (never the link, never a secret)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code, self.reason = code, reason


class OrderUnknown(Exception):
    """No answer to trust: a timeout, a reset connection, a 5xx, a rate limit, an
    unreadable body. The order may or may not exist: look it up, never refund."""


class GiftCardOrders(Protocol):
    """A provider that orders each card when redeemed. Every call is made outside any
    database transaction."""

    name: str

    def place(self, order: OrderRequest) -> ProviderOrder:
        """Order the card; the first order again if this external id was used
        (raises :class:`OrderRefused` or :class:`OrderUnknown`)."""
        ...

    def find(self, external_id: str) -> ProviderOrder | None:
        """The order with this external id, None when the provider has none
        (raises :class:`OrderUnknown`)."""
        ...

    def fetch(self, order_id: str) -> ProviderOrder:
        """The order's current state (raises :class:`OrderUnknown`)."""
        ...


class OrderedOnDemand:
    """The catalog's side of a provider source: nothing is held in stock, and nothing
    is issued inside a transaction (services/gift_card_orders.py orders after commit).
    Its items count as unavailable here; the catalog of the provider's products
    decides what is offered."""

    def available(self, session: Session, item_ids: list[str]) -> dict[str, int]:
        return {}

    def issue(self, session: Session, item: RewardItem, redemption_id: int, now: datetime) -> int:
        raise Conflict(f"{item.name} is ordered from its provider", code="ordered_on_demand")

    def release(self, session: Session, code_id: int) -> None:
        """Nothing to put back: no code was set aside."""


SOURCES: dict[str, GiftCardSource] = {
    "inventory": CodeInventory(),
    "tremendous": OrderedOnDemand(),
}
ORDERED = frozenset({"tremendous"})  # providers whose cards are ordered, not issued


def source_for(item: RewardItem) -> GiftCardSource:
    return SOURCES[item.provider]
