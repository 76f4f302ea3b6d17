"""What a redemption looks like to its donor (codes and links in full) and to support
(codes masked, a provider order's state but never its link), and the reads that list
them. Split from services/redemptions.py, which changes redemptions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.crypto import Vault
from rewards_engine.db import Database, row_view
from rewards_engine.domain.errors import NotFound
from rewards_engine.domain.redemptions import Status, mask_code
from rewards_engine.models import (
    GiftCardCode,
    GiftCardOrder,
    Redemption,
    RedemptionEvent,
    RewardItem,
)
from rewards_engine.pagination import Page, fetch_page


@dataclass(frozen=True)
class RedemptionRecord:
    """A redemption's state: what was ordered, for how many points, where it is now."""

    id: int
    donor_id: int
    item_id: str
    kind: str
    point_cost: int
    status: str
    shipping_address: dict[str, Any] | None
    carrier: str | None
    tracking_number: str | None
    note: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class RedemptionStep:
    """One move of a redemption from one status to the next, and who made it."""

    id: int
    from_status: str | None
    to_status: str
    actor_kind: str
    note: str | None
    created_at: datetime


@dataclass(frozen=True)
class RedemptionView:
    """A redemption as its donor (``code`` in full) or support (``code`` masked) sees it."""

    redemption: RedemptionRecord
    item_name: str
    code: str | None  # a provider's card: its link, to its donor only, once delivered
    events: list[RedemptionStep]
    replayed: bool = False  # answered from the first call with the same Idempotency-Key
    provider: str | None = None  # the gift-card provider that orders it, if any
    order: ProviderState | None = None


@dataclass(frozen=True)
class ProviderState:
    """A provider order as support sees it (never the link)."""

    order_id: str | None
    order_status: str | None
    delivery_status: str | None
    attempts: int
    last_error: str | None


def redemption_view(
    session: Session, redemption: Redemption, vault: Vault | None, *, reveal: bool
) -> RedemptionView:
    item = session.get(RewardItem, redemption.item_id)
    code = None
    order = session.get(GiftCardOrder, redemption.id) if redemption.kind == "gift_card" else None
    state = None
    if order is not None:
        state = ProviderState(order.order_id, order.order_status, order.delivery_status,
                              order.attempts, order.last_error)  # fmt: skip
        delivered = redemption.status == Status.DELIVERED and order.link_encrypted
        if reveal and delivered and vault is not None:
            code = vault.decrypt(order.link_encrypted or "")
    if redemption.gift_card_code_id is not None:
        row = session.get(GiftCardCode, redemption.gift_card_code_id)
        assert row is not None
        if reveal and redemption.status == Status.FULFILLED and vault is not None:
            code = vault.decrypt(row.encrypted)
        elif not reveal:
            code = mask_code(row.last4)
    events = session.scalars(
        select(RedemptionEvent)
        .where(col(RedemptionEvent.redemption_id) == redemption.id)
        .order_by(col(RedemptionEvent.id))
    )
    return RedemptionView(
        row_view(RedemptionRecord, redemption),
        item.name if item else redemption.item_id,
        code,
        [row_view(RedemptionStep, event) for event in events],
        provider=order.provider if order is not None else None,
        order=state,
    )


def donor_redemptions(
    db: Database, vault: Vault, donor_id: int, *, limit: int, cursor: str | None
) -> Page[RedemptionView]:
    """The donor's redemptions, newest first, with their gift-card codes in full."""
    with db.read() as session:
        page = fetch_page(
            session,
            select(Redemption).where(col(Redemption.donor_id) == donor_id),
            kind="redemptions",
            columns=(col(Redemption.id),),
            types=(int,),
            limit=limit,
            cursor=cursor,
        )
        return Page(
            [redemption_view(session, r, vault, reveal=True) for r in page.items], page.next_cursor
        )


def donor_redemption(
    db: Database, vault: Vault, donor_id: int, redemption_id: int
) -> RedemptionView:
    with db.read() as session:
        redemption = session.get(Redemption, redemption_id)
        if redemption is None or redemption.donor_id != donor_id:
            raise NotFound(f"no redemption {redemption_id}", code="redemption_not_found")
        return redemption_view(session, redemption, vault, reveal=True)


def all_redemptions(
    db: Database,
    *,
    status: str | None,
    donor_id: int | None,
    limit: int,
    cursor: str | None,
    newest_first: bool = False,
) -> Page[RedemptionView]:
    """Support's queue, oldest first (first come, first served), or a donor's history
    newest first; codes masked."""
    query = select(Redemption)
    if status is not None:
        query = query.where(col(Redemption.status) == status)
    if donor_id is not None:
        query = query.where(col(Redemption.donor_id) == donor_id)
    with db.read() as session:
        page = fetch_page(
            session,
            query,
            kind="admin-redemptions:newest" if newest_first else "admin-redemptions",
            columns=(col(Redemption.id),),
            types=(int,),
            limit=limit,
            cursor=cursor,
            descending=newest_first,
        )
        return Page(
            [redemption_view(session, r, None, reveal=False) for r in page.items], page.next_cursor
        )
