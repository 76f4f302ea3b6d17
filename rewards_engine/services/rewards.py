"""The rewards catalog: gift cards and cameras, their stock, and gift-card codes."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.clock import Clock
from rewards_engine.crypto import Vault
from rewards_engine.db import Database, insert, lock_keys, one_of, table_of
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.currencies import validate_currency
from rewards_engine.domain.errors import Conflict, InvalidInput, NotFound
from rewards_engine.domain.ids import INT32_MAX
from rewards_engine.domain.languages import DEFAULT_LANGUAGE, localised, validate_translations
from rewards_engine.domain.redemptions import RewardKind
from rewards_engine.models import GiftCardCode, RewardItem
from rewards_engine.providers.gift_cards import ORDERED, SOURCES
from rewards_engine.services import audit, gift_card_products

ITEM_FIELDS = (
    "kind",
    "name",
    "description",
    "point_cost",
    "brand",
    "denomination_cents",
    "currency",
    "model",
    "sku",
    "stock",
    "shipping_countries",
    "per_donor_limit",
    "requires_campaign",
    "requires_medal",
    "provider",
    "translations",
)
MAX_CODE_LENGTH = 128
TRANSLATED = ("name", "description")


@dataclass(frozen=True)
class CatalogItem:
    item: RewardItem
    in_stock: int
    texts: dict[str, str] = field(default_factory=dict)  # name, description: the reader's
    ordered_on_demand: bool = False  # a provider's card: no stock, ordered when redeemed


def list_items(
    db: Database,
    *,
    include_retired: bool = False,
    language: str = DEFAULT_LANGUAGE,
    country: str | None = None,
    currency: str | None = None,
    providers: frozenset[str] = frozenset(),
) -> list[CatalogItem]:
    """Items and what is left of each (camera units, or unassigned gift-card codes), in
    ``language``. The public catalog offers a provider-backed gift card only where its
    product serves the donor's ``country`` and ``currency`` and its provider is one of
    ``providers`` (configured: services/gift_card_products.py); staff see every item."""
    with db.read() as session:
        query = select(RewardItem).order_by(
            col(RewardItem.kind), col(RewardItem.point_cost), col(RewardItem.id)
        )
        if not include_retired:
            query = query.where(col(RewardItem.active).is_(True))
        items = list(session.scalars(query))
        if not include_retired:
            items = gift_card_products.offered(
                session, items, providers, country=country, currency=currency
            )
        codes: dict[str, int] = {}
        for name, source in SOURCES.items():
            ids = [i.id for i in items if i.kind == RewardKind.GIFT_CARD and i.provider == name]
            codes.update(source.available(session, ids))
    return [
        CatalogItem(
            item,
            item.stock or 0 if item.kind == RewardKind.CAMERA else codes.get(item.id, 0),
            localised(
                {"name": item.name, "description": item.description}, item.translations, language
            ),
            item.provider in ORDERED,
        )
        for item in items
    ]


def validate_item(data: dict[str, Any]) -> dict[str, Any]:
    """Check an item's fields by its kind; raise :class:`InvalidInput` naming the field."""
    kind = data.get("kind")
    if kind not in (RewardKind.GIFT_CARD, RewardKind.CAMERA):
        raise InvalidInput("kind is gift_card or camera", field="kind")
    if not isinstance(data.get("point_cost"), int) or data["point_cost"] <= 0:
        raise InvalidInput("point_cost is a whole number above zero", field="point_cost")
    needed = (
        ("brand", "denomination_cents", "currency")
        if kind == RewardKind.GIFT_CARD
        else ("model", "sku", "stock", "shipping_countries")
    )
    for name in needed:
        if data.get(name) in (None, "", []):
            raise InvalidInput(f"a {kind} needs {name}", field=name)
    if "translations" in data:
        data["translations"] = validate_translations(data["translations"], TRANSLATED)
    if kind == RewardKind.GIFT_CARD:
        validate_currency(data["currency"])
    if kind == RewardKind.CAMERA:
        countries = data["shipping_countries"]
        if not all(isinstance(c, str) and len(c) == 2 and c.isupper() for c in countries):
            raise InvalidInput(
                "shipping_countries are ISO 3166 two-letter codes", field="shipping_countries"
            )
        if data["stock"] < 0:
            raise InvalidInput("stock cannot be negative", field="stock")
    if data.get("provider", "inventory") not in SOURCES:
        raise InvalidInput(f"provider is one of {', '.join(SOURCES)}", field="provider")
    if data.get("provider", "inventory") != "inventory" and not data.get("sku"):
        raise InvalidInput(
            "a provider's gift card names the provider's product in sku", field="sku"
        )
    limit = data.get("per_donor_limit")
    if limit is not None and limit < 1:
        raise InvalidInput("per_donor_limit is 1 or more, or null", field="per_donor_limit")
    return data


def save_item(
    db: Database, clock: Clock, actor: Actor, item_id: str, data: dict[str, Any], *, create: bool
) -> RewardItem:
    """Create an item, or change one (changes apply to new redemptions only)."""
    now = clock.now()
    with db.transaction() as uow:
        session = uow.session
        # Two admins at once: one at a time, and the second sees what the first wrote.
        lock_keys(session, "reward", [item_id])
        item = session.get(RewardItem, item_id, with_for_update=True)
        if create and item is not None:
            raise Conflict(f"reward {item_id!r} exists", code="reward_exists")
        if not create and item is None:
            raise NotFound(f"no reward {item_id!r}", code="reward_not_found")
        before = None if item is None else _item_json(item)
        merged = {**(before or {}), **data}
        validate_item(merged)
        if item is None:
            item = RewardItem(
                id=item_id,
                created_at=now,
                updated_at=now,
                **{k: merged[k] for k in ITEM_FIELDS if k in merged},
            )
            session.add(item)
        else:
            for name, value in data.items():
                setattr(item, name, value)
            item.updated_at = now
        session.flush()
        audit.record(
            session,
            clock,
            actor,
            action="reward.create" if create else "reward.change",
            target_type="reward",
            target_id=item_id,
            before=before,
            after=_item_json(item),
        )
    return item


def retire_item(db: Database, clock: Clock, actor: Actor, item_id: str, reason: str) -> RewardItem:
    with db.transaction() as uow:
        item = uow.session.get(RewardItem, item_id, with_for_update=True)
        if item is None:
            raise NotFound(f"no reward {item_id!r}", code="reward_not_found")
        if item.active:
            item.active = False
            item.updated_at = clock.now()
            audit.record(
                uow.session,
                clock,
                actor,
                action="reward.retire",
                target_type="reward",
                target_id=item_id,
                before={"active": True},
                after={"active": False},
                reason=reason,
            )
    return item


def restock(
    db: Database, clock: Clock, actor: Actor, item_id: str, delta: int, reason: str
) -> RewardItem:
    """Add (or remove) camera units, e.g. a delivery from the warehouse."""
    with db.transaction() as uow:
        item = uow.session.get(RewardItem, item_id, with_for_update=True)
        if item is None or item.kind != RewardKind.CAMERA:
            raise NotFound(f"no camera reward {item_id!r}", code="reward_not_found")
        before = item.stock or 0
        if before + delta > INT32_MAX:
            raise InvalidInput(
                f"stock would pass {INT32_MAX:,} units (it holds {before:,})", field="delta"
            )
        if before + delta < 0:
            raise Conflict(f"only {before} units are in stock", code="insufficient_stock")
        item.stock = before + delta
        item.updated_at = clock.now()
        audit.record(
            uow.session,
            clock,
            actor,
            action="reward.restock",
            target_type="reward",
            target_id=item_id,
            before={"stock": before},
            after={"stock": item.stock},
            reason=reason,
        )
    return item


def _item_json(item: RewardItem) -> dict[str, Any]:
    return {name: getattr(item, name) for name in (*ITEM_FIELDS, "active")}


@dataclass
class ImportReport:
    added: int = 0
    duplicates: int = 0
    invalid: list[int] = field(default_factory=list)  # 1-based line numbers


def parse_codes(text: str) -> list[str | None]:
    """Codes from CSV text: the first column of each row; a header row ``code`` is
    skipped; an empty or over-long code is kept as None (reported by line)."""
    reader = csv.reader(io.StringIO(text))
    try:
        rows = list(reader)
    except csv.Error as error:  # a bare carriage return inside a line, say
        raise InvalidInput(
            f"line {reader.line_num} is not valid CSV ({str(error).split(' - ')[0]}): "
            "a carriage return (\\r) belongs in a line ending \\r\\n or a quoted value",
            code="invalid_csv",
            field="csv",
        ) from None
    if rows and rows[0] and rows[0][0].strip().lower() == "code":
        rows = [[], *rows[1:]]  # keep line numbers
    codes: list[str | None] = []
    for row in rows:
        code = row[0].strip() if row else ""
        codes.append(code if 0 < len(code) <= MAX_CODE_LENGTH and code.isprintable() else None)
    return codes


# Bound parameters per statement: PostgreSQL takes at most 65,535, SQLite 32,766; a code
# row binds 7.
CODES_PER_STATEMENT = 2_000


def import_codes(
    db: Database,
    clock: Clock,
    actor: Actor,
    vault: Vault,
    item_id: str,
    codes: Iterable[str | None],
    on_progress: Callable[[str, int, int | None], None] | None = None,
) -> ImportReport:
    """Encrypt and store codes for a gift card (one transaction; audited with counts,
    never the codes). A code already in stock, or repeated in the upload, counts once.
    ``on_progress(step, done, total)`` hears of the codes read (one per line)."""
    report = ImportReport()
    now = clock.now()
    rows: dict[str, dict[str, Any]] = {}
    older: dict[str, str] = {}  # a code's fingerprint under an older key -> its newest one
    for line, code in enumerate(codes, start=1):
        if on_progress:
            on_progress("codes", line, None)
        if code is None:
            if line > 1:  # line 1 may be the header
                report.invalid.append(line)
            continue
        fingerprint, *before = vault.fingerprints(code)
        if fingerprint in rows:
            report.duplicates += 1
            continue
        rows[fingerprint] = {
            "item_id": item_id,
            "encrypted": vault.encrypt(code),
            "fingerprint": fingerprint,
            "last4": code[-4:],
            "status": "available",
            "uploaded_at": now,
            "uploaded_by": actor.id,
        }
        older.update(dict.fromkeys(before, fingerprint))
    with db.transaction() as uow:
        session = uow.session
        item = session.get(RewardItem, item_id)
        if item is None or item.kind != RewardKind.GIFT_CARD:
            raise NotFound(f"no gift-card reward {item_id!r}", code="reward_not_found")
        if older:  # codes in stock since a fingerprint key rotation are duplicates too
            report.duplicates += drop_stocked_under_older_keys(session, item_id, rows, older)
        table = table_of(GiftCardCode)
        pending = list(rows.values())
        for start in range(0, len(pending), CODES_PER_STATEMENT):
            added = session.execute(
                insert(session, table)
                .values(pending[start : start + CODES_PER_STATEMENT])
                .on_conflict_do_nothing(index_elements=["item_id", "fingerprint"])
                .returning(table.c.id)
            ).all()
            report.added += len(added)
        report.duplicates += len(rows) - report.added
        audit.record(
            session,
            clock,
            actor,
            action="reward.codes_uploaded",
            target_type="reward",
            target_id=item_id,
            after={
                "added": report.added,
                "duplicates": report.duplicates,
                "invalid_lines": len(report.invalid),
            },
        )
    return report


def drop_stocked_under_older_keys(
    session: Session, item_id: str, rows: dict[str, dict[str, Any]], older: dict[str, str]
) -> int:
    """Take out of ``rows`` (by newest fingerprint) the codes this item already holds
    under an older fingerprint key (stored before a rotation, not yet re-fingerprinted):
    the unique index, which sees only the newest fingerprint, would let them in twice.
    Returns how many were taken out."""
    stocked = session.scalars(
        select(col(GiftCardCode.fingerprint)).where(
            col(GiftCardCode.item_id) == item_id,
            one_of(session, col(GiftCardCode.fingerprint), list(older)),
        )
    )
    dropped = 0
    for fingerprint in stocked:
        if rows.pop(older[fingerprint], None) is not None:
            dropped += 1
    return dropped
