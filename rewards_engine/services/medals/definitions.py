"""Medal definitions are data with versions: an award keeps the version that granted
it, so changing or retiring a medal never rewrites the past (only a backfill does).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import Pool
from sqlmodel import col

from rewards_engine.clock import Clock
from rewards_engine.db import Database, lock_keys, row_view, table_of
from rewards_engine.domain import medals as rules
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.errors import Conflict, InvalidInput, NotFound
from rewards_engine.domain.languages import localised, validate_translations
from rewards_engine.models import MedalDefinition
from rewards_engine.services import audit


@dataclass(frozen=True)
class Definition:
    code: str
    version: int
    name: str
    description: str
    icon_key: str
    tier: str
    bonus_points: int
    sort_order: int
    rule: rules.Rule
    active: bool
    category: str = "clips"
    secret: bool = False
    translations: dict[str, Any] | None = None

    @classmethod
    def of(cls, row: MedalDefinition) -> Definition:
        return cls(
            row.code,
            row.version,
            row.name,
            row.description,
            row.icon_key,
            row.tier,
            row.bonus_points,
            row.sort_order,
            rules.parse_rule(row.rule),
            row.active,
            row.category,
            row.secret,
            row.translations,
        )

    def in_language(self, language: str) -> Definition:
        texts = localised(
            {"name": self.name, "description": self.description}, self.translations, language
        )
        return replace(self, **texts)


@dataclass(frozen=True)
class Catalog:
    """Every version of every medal (a small table).

    Versions are only ever added (a change or a retirement is a new row), so the
    number of rows tells whether a catalog read before is still whole: each use case
    counts them, and reads and parses the rows only when the count moved. Every
    accepted submission evaluates medals, so this saves it the rows' parsing.
    """

    versions: dict[tuple[str, int], Definition]

    @classmethod
    def load(cls, session: Session) -> Catalog:
        pool = session.get_bind().engine.pool
        count = session.scalar(_COUNT)
        known = _CATALOGS.get(pool)
        if known is not None and known[0] == count:
            return known[1]
        rows = session.scalars(select(MedalDefinition))
        catalog = cls({(row.code, row.version): Definition.of(row) for row in rows})
        _CATALOGS[pool] = (len(catalog.versions), catalog)
        return catalog

    @property
    def current(self) -> list[Definition]:
        """The newest version of each medal still in force, in display order."""
        newest: dict[str, Definition] = {}
        for definition in self.versions.values():
            known = newest.get(definition.code)
            if known is None or definition.version > known.version:
                newest[definition.code] = definition
        live = [d for d in newest.values() if d.active]
        return sorted(live, key=lambda d: (d.sort_order, d.code))

    def of(self, code: str, version: int) -> Definition | None:
        return self.versions.get((code, version))


_COUNT = select(func.count()).select_from(table_of(MedalDefinition))  # built once

# The last catalog read from each database (by its engine's pool), with its row count.
_CATALOGS: WeakKeyDictionary[Pool, tuple[int, Catalog]] = WeakKeyDictionary()


@dataclass(frozen=True)
class DefinitionVersion:
    """One version of a medal as the admin sees it: its rule as stored, who made it."""

    code: str
    version: int
    name: str
    description: str
    icon_key: str
    tier: str
    bonus_points: int
    sort_order: int
    category: str
    secret: bool
    translations: dict[str, Any] | None
    rule: dict[str, Any]  # JSON, as the admin wrote it
    active: bool
    created_at: datetime
    created_by: str


@dataclass(frozen=True)
class DefinitionInput:
    code: str
    name: str
    icon_key: str
    tier: str
    rule: dict[str, Any]
    description: str = ""
    bonus_points: int = 0
    sort_order: int = 0
    category: str = "clips"
    secret: bool = False
    translations: dict[str, Any] | None = None


TRANSLATED = ("name", "description")


def _validated(data: DefinitionInput) -> DefinitionInput:
    rules.validate_code(data.code)
    rules.validate_tier(data.tier)
    rules.parse_rule(data.rule)
    validate_translations(data.translations, TRANSLATED)
    if not 0 <= data.bonus_points <= 1_000_000:
        raise InvalidInput("bonus_points is 0 to 1,000,000", field="bonus_points")
    return data


def save_definition(
    db: Database, clock: Clock, actor: Actor, data: DefinitionInput, *, create: bool
) -> DefinitionVersion:
    """Create a medal (version 1) or change one (a new version; awards keep theirs)."""
    data = _validated(data)
    now = clock.now()
    with db.transaction() as uow:
        session = uow.session
        # Two admins at once: one at a time, and the second sees what the first wrote.
        lock_keys(session, "medal-definition", [data.code])
        latest = session.scalars(
            select(MedalDefinition)
            .where(col(MedalDefinition.code) == data.code)
            .order_by(col(MedalDefinition.version).desc())
            .with_for_update()
        ).first()
        if create and latest is not None:
            raise Conflict(f"medal {data.code!r} exists; change it instead", code="medal_exists")
        if not create and latest is None:
            raise NotFound(f"no medal {data.code!r}", code="medal_not_found")
        row = MedalDefinition(
            code=data.code,
            version=(latest.version + 1) if latest else 1,
            name=data.name,
            description=data.description,
            icon_key=data.icon_key,
            tier=data.tier,
            bonus_points=data.bonus_points,
            sort_order=data.sort_order,
            category=data.category,
            secret=data.secret,
            translations=validate_translations(data.translations, TRANSLATED),
            rule=data.rule,
            active=True,
            created_at=now,
            created_by=actor.id,
        )
        session.add(row)
        session.flush()
        audit.record(
            session,
            clock,
            actor,
            action="medal.create" if create else "medal.change",
            target_type="medal",
            target_id=data.code,
            before=None if latest is None else _definition_json(latest),
            after=_definition_json(row),
        )
        return row_view(DefinitionVersion, row)


def retire_definition(
    db: Database, clock: Clock, actor: Actor, code: str, reason: str
) -> DefinitionVersion:
    """Stop granting a medal (a new, inactive version); awards already given stay."""
    now = clock.now()
    with db.transaction() as uow:
        session = uow.session
        # Two admins at once: one at a time, and the second sees what the first wrote.
        lock_keys(session, "medal-definition", [code])
        latest = session.scalars(
            select(MedalDefinition)
            .where(col(MedalDefinition.code) == code)
            .order_by(col(MedalDefinition.version).desc())
            .with_for_update()
        ).first()
        if latest is None:
            raise NotFound(f"no medal {code!r}", code="medal_not_found")
        if not latest.active:
            return row_view(DefinitionVersion, latest)
        row = MedalDefinition(
            **{
                **_definition_json(latest),
                "version": latest.version + 1,
                "active": False,
                "created_at": now,
                "created_by": actor.id,
            }
        )
        session.add(row)
        audit.record(
            session,
            clock,
            actor,
            action="medal.retire",
            target_type="medal",
            target_id=code,
            before=_definition_json(latest),
            after=_definition_json(row),
            reason=reason,
        )
        return row_view(DefinitionVersion, row)


def _definition_json(row: MedalDefinition) -> dict[str, Any]:
    return {
        name: getattr(row, name)
        for name in (
            "code",
            "version",
            "name",
            "description",
            "icon_key",
            "tier",
            "bonus_points",
            "sort_order",
            "category",
            "secret",
            "translations",
            "rule",
            "active",
        )
    }


def list_definitions(db: Database) -> list[DefinitionVersion]:
    with db.read() as session:
        rows = session.scalars(
            select(MedalDefinition).order_by(
                col(MedalDefinition.code), col(MedalDefinition.version)
            )
        )
        return [row_view(DefinitionVersion, row) for row in rows]
