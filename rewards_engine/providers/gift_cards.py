"""Where gift-card codes come from.

The built-in source is the code inventory (codes uploaded by admins, encrypted at
rest). An external provider (Tremendous, Tango Card...) would implement the same
three methods with its API, keyed by the redemption id so that a retry never orders
twice.
"""

from __future__ import annotations

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


SOURCES: dict[str, GiftCardSource] = {"inventory": CodeInventory()}


def source_for(item: RewardItem) -> GiftCardSource:
    return SOURCES[item.provider]
