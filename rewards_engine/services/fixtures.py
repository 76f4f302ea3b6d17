"""Loading the program's data files (``fixtures/*.toml``) into the database.

Idempotent: a record that already exists is compared, not rewritten. Unless
``update`` is asked for, differences are reported and kept, so that an admin's later
change to a campaign is not silently undone by a re-run.
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import SQLModel, col

from rewards_engine.clock import Clock
from rewards_engine.crypto import Vault
from rewards_engine.db import Database
from rewards_engine.domain import fraud as fraud_rules
from rewards_engine.domain import medals as medal_rules
from rewards_engine.domain import staff_policy
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.campaigns import check_id, validate_campaign
from rewards_engine.domain.errors import InvalidInput
from rewards_engine.domain.languages import validate_translations
from rewards_engine.domain.profiles import (
    Visibility,
    normalise_display_name,
    random_alias,
    validate_timezone,
)
from rewards_engine.models import (
    Campaign,
    ConsentVersion,
    Donor,
    FraudRule,
    MedalDefinition,
    RewardItem,
    StaffRole,
)
from rewards_engine.services.rewards import validate_item

log = logging.getLogger(__name__)


@dataclass
class FixtureReport:
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)
    differing: list[str] = field(default_factory=list)

    def count(self, bucket: dict[str, int], kind: str) -> None:
        bucket[kind] = bucket.get(kind, 0) + 1

    @property
    def changed_anything(self) -> bool:
        return bool(self.created or self.updated)


@dataclass(frozen=True)
class FixtureKind:
    """One data file: its table, its list key, its natural key and its validation."""

    name: str
    filename: str
    list_key: str
    model: type[SQLModel]
    key_field: str
    prepare: Callable[[dict[str, Any]], dict[str, Any]]
    lookup: Callable[[Session, dict[str, Any]], Any]
    # Values a new record gets besides the file's (timestamps, a first version...).
    defaults: Callable[[datetime], dict[str, Any]] = lambda now: {}
    # How --update applies a differing record (default: rewrite it in place).
    revise: Callable[[Session, Any, dict[str, Any], datetime], None] | None = None
    demo: bool = False  # demo data: loaded only when asked for (never in production)


def _known_fields(model: type[SQLModel], record: dict[str, Any], source: str) -> dict[str, Any]:
    unknown = sorted(set(record) - set(model.model_fields))
    if unknown:
        raise InvalidInput(f"{source}: unknown field(s) {', '.join(unknown)}", field=unknown[0])
    return dict(record)


def _prepare_campaign(record: dict[str, Any]) -> dict[str, Any]:
    record = _known_fields(Campaign, record, f"campaign {record.get('id')!r}")
    check_id(str(record.get("id", "")))
    return validate_campaign(record)


def _prepare_consent(record: dict[str, Any]) -> dict[str, Any]:
    record = _known_fields(ConsentVersion, record, f"consent {record.get('version')!r}")
    for required in ("version", "title", "body", "published_at"):
        if required not in record:
            raise InvalidInput(f"consent lacks {required!r}", field=required)
    record["translations"] = validate_translations(
        record.get("translations"), ("title", "summary", "body")
    )
    return record


def _prepare_donor(record: dict[str, Any]) -> dict[str, Any]:
    record = _known_fields(Donor, record, f"donor {record.get('account_id')!r}")
    if "account_id" not in record:
        raise InvalidInput("donor lacks 'account_id'", field="account_id")
    if record.get("display_name") is not None:
        record["display_name"] = normalise_display_name(record["display_name"])
    if record.get("timezone") is not None:
        record["timezone"] = validate_timezone(record["timezone"])
    record["visibility"] = Visibility(record.get("visibility", "hidden")).value
    return record


FIXTURES_ACTOR = "system:fixtures"


def _prepare_reward(record: dict[str, Any]) -> dict[str, Any]:
    record = _known_fields(RewardItem, record, f"reward {record.get('id')!r}")
    if "id" not in record:
        raise InvalidInput("reward lacks 'id'", field="id")
    return validate_item(record)


def _prepare_medal(record: dict[str, Any]) -> dict[str, Any]:
    record = _known_fields(MedalDefinition, record, f"medal {record.get('code')!r}")
    for required in ("code", "name", "icon_key", "tier", "rule"):
        if required not in record:
            raise InvalidInput(f"medal lacks {required!r}", field=required)
    medal_rules.validate_code(record["code"])
    medal_rules.validate_tier(record["tier"])
    medal_rules.parse_rule(record["rule"])
    record["translations"] = validate_translations(
        record.get("translations"), ("name", "description")
    )
    return record


def _newest_medal(session: Session, record: dict[str, Any]) -> MedalDefinition | None:
    return session.scalars(
        select(MedalDefinition)
        .where(col(MedalDefinition.code) == record["code"])
        .order_by(col(MedalDefinition.version).desc())
    ).first()


def _new_medal_version(
    session: Session, newest: MedalDefinition, record: dict[str, Any], now: datetime
) -> None:
    """A changed medal is a new version: awards keep the version that granted them."""
    kept = {
        name: getattr(newest, name)
        for name in (
            "description",
            "bonus_points",
            "sort_order",
            "category",
            "secret",
            "translations",
            "active",
        )
    }
    session.add(
        MedalDefinition(
            **{
                **kept,
                **record,
                "version": newest.version + 1,
                "created_at": now,
                "created_by": FIXTURES_ACTOR,
            }
        )
    )


def _prepare_fraud_rule(record: dict[str, Any]) -> dict[str, Any]:
    record = _known_fields(FraudRule, record, f"fraud rule {record.get('code')!r}")
    for required in ("code", "name", "severity"):
        if required not in record:
            raise InvalidInput(f"fraud rule lacks {required!r}", field=required)
    settings: dict[str, Any] = {
        k: record[k] for k in ("severity", "high_at", "dismissal_covers", "params") if k in record
    }
    record.update(fraud_rules.validate_rule(record["code"], settings))
    record.setdefault("params", {})
    return record


def _new_version(
    session: Session, existing: FraudRule | StaffRole, record: dict[str, Any], now: datetime
) -> None:
    """Rules kept as versioned rows (fraud rules, staff roles): --update rewrites the row
    as a new version, by the fixtures."""
    for name, value in record.items():
        setattr(existing, name, value)
    existing.version += 1
    existing.updated_at, existing.updated_by = now, FIXTURES_ACTOR


def _prepare_staff_role(record: dict[str, Any]) -> dict[str, Any]:
    role = str(record.pop("role", ""))
    parsed = staff_policy.parse_role(role, record)
    return {
        "role": role,
        "description": parsed.description,
        "may": sorted(parsed.may),
        "limits": staff_policy.limits_json(parsed.limits),
    }


KINDS = (
    FixtureKind(
        "campaign",
        "campaigns.toml",
        "campaign",
        Campaign,
        "id",
        _prepare_campaign,
        lambda s, r: s.get(Campaign, r["id"]),
    ),
    FixtureKind(
        "consent",
        "consent.toml",
        "consent",
        ConsentVersion,
        "version",
        _prepare_consent,
        lambda s, r: s.get(ConsentVersion, r["version"]),
    ),
    FixtureKind(
        "donor",
        "demo_donors.toml",
        "donor",
        Donor,
        "account_id",
        _prepare_donor,
        lambda s, r: s.query(Donor).filter_by(account_id=r["account_id"]).first(),
        defaults=lambda now: {"alias": random_alias(), "created_at": now, "updated_at": now},
        demo=True,
    ),
    FixtureKind(
        "reward",
        "catalog.toml",
        "reward",
        RewardItem,
        "id",
        _prepare_reward,
        lambda s, r: s.get(RewardItem, r["id"]),
        defaults=lambda now: {"created_at": now, "updated_at": now},
    ),
    FixtureKind(
        "medal",
        "medals.toml",
        "medal",
        MedalDefinition,
        "code",
        _prepare_medal,
        _newest_medal,
        defaults=lambda now: {
            "version": 1,
            "active": True,
            "created_at": now,
            "created_by": FIXTURES_ACTOR,
        },
        revise=_new_medal_version,
    ),
    FixtureKind(
        "fraud_rule",
        "fraud_rules.toml",
        "rule",
        FraudRule,
        "code",
        _prepare_fraud_rule,
        lambda s, r: s.get(FraudRule, r["code"]),
        defaults=lambda now: {"version": 1, "updated_at": now, "updated_by": FIXTURES_ACTOR},
        revise=_new_version,
    ),
    FixtureKind(  # [roles.<role>] tables rather than a list: keyed by the role
        "staff_role",
        "staff_roles.toml",
        "roles",
        StaffRole,
        "role",
        _prepare_staff_role,
        lambda s, r: s.get(StaffRole, r["role"]),
        defaults=lambda now: {"version": 1, "updated_at": now, "updated_by": FIXTURES_ACTOR},
        revise=_new_version,
    ),
)


def read_records(directory: Path, kind: FixtureKind) -> list[dict[str, Any]]:
    path = directory / kind.filename
    if not path.exists():
        return []
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    records = data.get(kind.list_key, [])
    if isinstance(records, dict):  # tables named by their key ([roles.support])
        records = [{**table, kind.key_field: key} for key, table in records.items()]
    return [kind.prepare(dict(record)) for record in records]


def _differences(existing: Any, record: dict[str, Any]) -> list[str]:
    return [name for name, value in record.items() if getattr(existing, name) != value]


def load_fixtures(
    db: Database,
    clock: Clock,
    directory: Path,
    *,
    update: bool = False,
    demo: bool = False,
    vault: Vault | None = None,
    kinds: Iterable[FixtureKind] = KINDS,
    on_progress: Callable[[str, int, int | None], None] | None = None,
) -> FixtureReport:
    """Insert what is missing (and, with ``update``, rewrite what differs), in one
    transaction. ``demo`` adds the demo donors and, given a ``vault``, the demo gift-card
    codes (``demo_gift_codes/<reward id>.csv``). ``on_progress(step, done, total)``
    hears of the records of each kind."""
    report = FixtureReport()
    chosen = [kind for kind in kinds if demo or not kind.demo]
    batches = [(kind, read_records(directory, kind)) for kind in chosen]  # validate all first
    now = clock.now()
    with db.transaction() as uow:
        for kind, records in batches:
            for n, record in enumerate(records, start=1):
                if on_progress:
                    on_progress(kind.name, n, len(records))
                existing = kind.lookup(uow.session, record)
                if existing is None:
                    uow.session.add(kind.model(**{**kind.defaults(now), **record}))
                    report.count(report.created, kind.name)
                    continue
                differing = _differences(existing, record)
                if not differing:
                    report.count(report.unchanged, kind.name)
                elif update:
                    if kind.revise is not None:
                        kind.revise(uow.session, existing, record, now)
                    else:
                        for name in differing:
                            setattr(existing, name, record[name])
                        if hasattr(existing, "updated_at"):
                            existing.updated_at = now
                    report.count(report.updated, kind.name)
                else:
                    report.count(report.unchanged, kind.name)
                    report.differing.append(
                        f"{kind.name} {record[kind.key_field]}: {', '.join(differing)}"
                    )
    if demo and vault is not None:
        _load_demo_codes(db, clock, vault, directory / "demo_gift_codes", report)
    log.info(
        "fixtures loaded",
        extra={"fields": {"created": report.created, "updated": report.updated}},
    )
    return report


def _load_demo_codes(
    db: Database, clock: Clock, vault: Vault, folder: Path, report: FixtureReport
) -> None:
    from rewards_engine.services import rewards

    for path in sorted(folder.glob("*.csv")) if folder.exists() else []:
        codes = rewards.parse_codes(path.read_text())
        added = rewards.import_codes(db, clock, Actor.system("fixtures"), vault, path.stem, codes)
        if added.added:
            report.created["gift_card_code"] = report.created.get("gift_card_code", 0) + added.added
        if added.duplicates:
            report.unchanged["gift_card_code"] = (
                report.unchanged.get("gift_card_code", 0) + added.duplicates
            )
