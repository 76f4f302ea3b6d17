"""Which provider-backed gift cards a donor may see and redeem: the provider's products,
synced, and the donor's country and currency.

The engine keeps no country for a donor (donors have a locale and a timezone, neither
a country). The catalog takes ``?country=&currency=`` and redeem takes ``country`` in
its body: the app knows where its donor is. A provider-backed item (``provider`` other
than ``inventory``) names its product in ``sku``; it is offered when that product is
synced, lists the item's currency, and (when a country is given) the country. Redeem
requires the country for such an item and refuses, with a 422 naming the field and
before any point moves, a missing country, a country the product does not serve, and a
product not synced or no longer listed in the item's currency (the catalog does not
show it either).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.clock import Clock
from rewards_engine.config import Settings
from rewards_engine.db import Database
from rewards_engine.domain.errors import InvalidInput
from rewards_engine.models import GiftCardProduct, RewardItem
from rewards_engine.providers.tremendous_products import (
    Product,
    ProductsUnavailable,
    fetch_products,
)
from rewards_engine.runtime import Runtime

log = logging.getLogger(__name__)
INVENTORY = "inventory"


def configured(settings: Settings) -> frozenset[str]:
    """The providers whose cards can be ordered now (credentials set): the others'
    items are not offered."""
    return frozenset({"tremendous"}) if settings.tremendous.configured else frozenset()


@dataclass(frozen=True)
class SyncResult:
    added: int
    updated: int
    removed: int


def sync(db: Database, clock: Clock, provider: str, products: Iterable[Product]) -> SyncResult:
    """Replace the stored products of ``provider`` by ``products`` (one transaction): a
    product no longer listed is removed, so its items stop being offered."""
    now = clock.now()
    listed = {p.product_id: p for p in products}
    added = updated = 0
    with db.transaction() as uow:
        session = uow.session
        stored = {
            row.product_id: row
            for row in session.scalars(
                select(GiftCardProduct).where(col(GiftCardProduct.provider) == provider)
            )
        }
        for product_id, product in listed.items():
            row = stored.get(product_id)
            if row is None:
                session.add(
                    GiftCardProduct(
                        provider=provider,
                        product_id=product_id,
                        name=product.name,
                        countries=list(product.countries),
                        currencies=list(product.currencies),
                        synced_at=now,
                    )
                )
                added += 1
                continue
            changed = (row.name, row.countries, row.currencies) != (
                product.name, list(product.countries), list(product.currencies)
            )  # fmt: skip
            row.name, row.countries = product.name, list(product.countries)
            row.currencies, row.synced_at = list(product.currencies), now
            updated += changed
        gone = sorted(set(stored) - set(listed))
        if gone:
            session.execute(
                delete(GiftCardProduct).where(
                    col(GiftCardProduct.provider) == provider,
                    col(GiftCardProduct.product_id).in_(gone),
                )
            )
    result = SyncResult(added, updated, len(gone))
    log.info(
        "gift-card products synced",
        extra={"fields": {"provider": provider, "listed": len(listed), **vars(result)}},
    )
    return result


def sync_from_provider(runtime: Runtime) -> dict[str, object]:
    """The job and the CLI: fetch Tremendous's products and store them. Not configured:
    nothing to do. The provider not answering: the stored list stays as it was (the
    catalog keeps offering what it offered; redeem's order then meets the provider's own
    refusal if a product went away), and the run says so."""
    settings = runtime.settings.tremendous
    if not settings.configured or settings.api_key is None:
        return {"skipped": "Tremendous is not configured"}
    try:
        products = fetch_products(settings.base_url, settings.api_key, timeout_s=settings.timeout_s)
    except ProductsUnavailable as exc:
        log.warning("gift-card products not synced", extra={"fields": {"error": str(exc)}})
        return {"error": str(exc)}
    return {
        "listed": len(products),
        **vars(sync(runtime.db, runtime.clock, "tremendous", products)),
    }


def _products(session: Session, items: list[RewardItem]) -> dict[tuple[str, str], GiftCardProduct]:
    ids = {i.sku for i in items if i.provider != INVENTORY and i.sku}
    if not ids:
        return {}
    rows = session.scalars(
        select(GiftCardProduct).where(col(GiftCardProduct.product_id).in_(sorted(ids)))
    )
    return {(row.provider, row.product_id): row for row in rows}


def offered(
    session: Session,
    items: list[RewardItem],
    configured: Iterable[str],
    *,
    country: str | None,
    currency: str | None,
) -> list[RewardItem]:
    """The items a donor in ``country`` paying in ``currency`` may see: ``currency``
    keeps the gift cards in that currency; a provider-backed item needs its provider
    configured and its product synced, in its currency (and ``country``, when given)."""
    products = _products(session, items)
    sources = set(configured)
    kept = []
    for item in items:
        if item.kind == "gift_card" and currency and item.currency != currency:
            continue
        if item.provider != INVENTORY:
            product = products.get((item.provider, item.sku or ""))
            if item.provider not in sources or product is None:
                continue
            if item.currency not in product.currencies:
                continue
            if country and country not in product.countries:
                continue
        kept.append(item)
    return kept


def check_offered(
    session: Session, item: RewardItem, configured: Iterable[str], country: str | None
) -> None:
    """Refuse (422 naming the field) a provider-backed item the donor's ``country`` or
    the item's currency rules out. The engine keeps no country for a donor, so the
    request must give it: without one, a card could be ordered for a country its
    product is not sent to. A product not synced yet cannot be checked and is not
    offered (the catalog leaves it out too; the daily job or ``sync-gift-card-products``
    syncs it)."""
    if item.provider == INVENTORY:
        return
    if item.provider not in set(configured):
        raise InvalidInput(
            f"{item.name} is not on offer now", code="unknown_reward", field="reward_id"
        )
    if country is None:
        raise InvalidInput(
            f"{item.name} is sent to some countries only: give the donor's country",
            code="country_required",
            field="country",
        )
    product = _products(session, [item]).get((item.provider, item.sku or ""))
    if product is None or item.currency not in product.currencies:
        raise InvalidInput(
            f"{item.name} is not on offer now (its provider does not list it in {item.currency})",
            code="unknown_reward",
            field="reward_id",
        )
    if country is not None and country not in product.countries:
        raise InvalidInput(
            f"{item.name} is not available in {country}; it is in "
            f"{', '.join(product.countries) or 'no country'}",
            code="country_not_served",
            field="country",
        )
