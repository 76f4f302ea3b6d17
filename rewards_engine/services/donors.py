"""Donor records and profiles."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, or_, select
from sqlmodel import col

from rewards_engine.clock import Clock
from rewards_engine.db import (
    Database,
    UnitOfWork,
    insert,
    one_of,
    retry_on_contention,
    row_view,
    table_of,
)
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.errors import InvalidInput, NotFound
from rewards_engine.domain.events import DonorChanged
from rewards_engine.domain.languages import normalise_language
from rewards_engine.domain.privacy import salted_all
from rewards_engine.domain.profiles import (
    Visibility,
    normalise_display_name,
    random_alias,
    validate_timezone,
)
from rewards_engine.models import Donor, ErasedSubject
from rewards_engine.services import audit, ledger, wall
from rewards_engine.services.installation import erasure_salts
from rewards_engine.services.ledger import Balances

UNSET = object()


@dataclass(frozen=True)
class DonorRef:
    """The caller's donor record as a request needs it: read on every donor request,
    so it is a plain value read with a Core query (no ORM session, no model object)."""

    id: int
    account_id: str
    status: str
    visibility: str
    on_hold: bool
    display_name: str | None
    alias: str | None
    consent_version: str | None
    locale: str | None


_REF_COLUMNS = [table_of(Donor).c[name] for name in DonorRef.__dataclass_fields__]


def find_by_account(db: Database, account_id: str) -> DonorRef | None:
    with db.engine.connect() as connection:
        row = connection.execute(
            select(*_REF_COLUMNS).where(table_of(Donor).c.account_id == account_id)
        ).first()
    return None if row is None else DonorRef(*row)


class DonorLookup:
    """Donors by account id for one process, remembered for a moment.

    Every authenticated donor request needs its donor; a database round trip for
    each costs more than the rest of a wall read. Entries live ``TTL_S`` seconds and
    are forgotten at once when this process commits a change to the donor; another
    process sees such a change within ``TTL_S``.
    """

    TTL_S = 2.0
    MAX_ENTRIES = 100_000

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self._entries: dict[str, tuple[float, DonorRef]] = {}
        db.subscribe(self._on_events)

    def get(self, account_id: str) -> DonorRef:
        now = time.monotonic()
        cached = self._entries.get(account_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        donor = ensure_donor(self.db, self.clock, account_id)
        if len(self._entries) >= self.MAX_ENTRIES:
            self._entries.clear()
        self._entries[account_id] = (now + self.TTL_S, donor)
        return donor

    def _on_events(self, events: list[object]) -> None:
        changed = {getattr(event, "donor_id", None) for event in events} - {None}
        if changed:
            for account_id, (_, donor) in list(self._entries.items()):
                if donor.id in changed:
                    self._entries.pop(account_id, None)


def _shared_fingerprint(uow: UnitOfWork, payout: PayoutDestination) -> str:
    """The fingerprint to store: the newest, unless another donor holds this destination
    under an older key (stored before a rotation, not yet re-fingerprinted), whose
    fingerprint is then kept, so that the shared-destination check, which compares
    fingerprints, still finds them together (``secrets refingerprint`` moves both on)."""
    if not payout.older:
        return payout.fingerprint
    column = col(Donor.payout_fingerprint)
    found = uow.session.scalars(
        select(column).where(one_of(uow.session, column, payout.older)).limit(1)
    ).first()
    return found or payout.fingerprint


class AccountErased(Exception):
    """The account behind this token was erased at its owner's request: its tokens are
    refused, and no new donor is made for it."""


def is_erased(db: Database, account_id: str) -> bool:
    with db.read() as session:
        # under each configured salt: an account erased before a salt rotation stays so
        subjects = salted_all(erasure_salts(session), f"subject:{account_id}")
        found = session.scalar(
            select(func.count()).where(col(ErasedSubject.subject_hash).in_(subjects))
        )
        return bool(found)


@retry_on_contention
def ensure_donor(db: Database, clock: Clock, account_id: str) -> DonorRef:
    """The donor behind a token, created on their first authenticated call.

    Two first calls at the same moment create one donor: the insert ignores a
    conflict on ``account_id`` and both read the row that won.
    """
    donor = find_by_account(db, account_id)
    if donor is not None:
        return donor
    if is_erased(db, account_id):
        raise AccountErased(account_id)
    now = clock.now()
    with db.transaction() as uow:
        statement = (
            insert(uow.session, table_of(Donor))
            .values(
                account_id=account_id,
                alias=random_alias(),
                visibility=Visibility.HIDDEN.value,
                status="active",
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["account_id"])
        )
        uow.session.execute(statement)
    donor = find_by_account(db, account_id)
    assert donor is not None
    return donor


SEARCH_LIMIT = 50


@dataclass(frozen=True)
class DonorMatch:
    """A donor found by :func:`search`, as the console lists it."""

    id: int
    account_id: str | None  # None once erased
    display_name: str | None
    alias: str | None
    status: str
    on_hold: bool
    created_at: datetime


def search(db: Database, text: str, limit: int = 20) -> list[DonorMatch]:
    """Donors whose id or account id is ``text``, or whose display name or alias starts
    with it (any case): what a support agent has in hand when a donor writes in."""
    text = text.strip()[:128]
    if not text:
        return []
    prefix = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    matches: list[ColumnElement[bool]] = [
        col(Donor.account_id) == text,
        func.lower(col(Donor.display_name)).like(prefix, escape="\\"),
        func.lower(col(Donor.alias)).like(prefix, escape="\\"),
    ]
    if text.isascii() and text.isdigit() and len(text) < 19:
        matches.append(col(Donor.id) == int(text))
    with db.read() as session:
        return [
            row_view(DonorMatch, donor)
            for donor in session.scalars(
                select(Donor)
                .where(or_(*matches))
                .order_by(col(Donor.id))
                .limit(min(limit, SEARCH_LIMIT))
            )
        ]


@dataclass(frozen=True)
class ProfileChanges:
    """What a donor asked to change; fields left as UNSET are kept. ``payout`` is a
    ``PayoutDestination`` already validated and encrypted, or None to remove it."""

    display_name: object = UNSET
    visibility: object = UNSET
    timezone: object = UNSET
    locale: object = UNSET
    payout: object = UNSET


@dataclass(frozen=True)
class PayoutDestination:
    kind: str
    encrypted: str
    masked: str
    fingerprint: str  # keyed hash: the same account under several donors is found
    older: tuple[str, ...] = ()  # its fingerprints under older keys (a rotation under way)


@retry_on_contention
def update_profile(
    db: Database, clock: Clock, donor_id: int, changes: ProfileChanges, actor: Actor | None = None
) -> None:
    """Apply the changes, all validated first, in one transaction. A new payout
    destination is audited; money already in a batch still goes where the batch says,
    and the next payout waits for the cooling-off period."""
    values: dict[str, object] = {}
    if changes.display_name is not UNSET:
        name = changes.display_name
        values["display_name"] = None if name is None else normalise_display_name(str(name))
    if changes.visibility is not UNSET:
        values["visibility"] = Visibility(str(changes.visibility)).value
    if changes.timezone is not UNSET:
        zone = changes.timezone
        values["timezone"] = None if zone is None else validate_timezone(str(zone))
    if changes.locale is not UNSET:
        values["locale"] = None if changes.locale is None else _language(str(changes.locale))
    with db.transaction() as uow:
        donor = uow.session.get(Donor, donor_id, with_for_update=True)
        if donor is None:
            raise NotFound(f"no donor {donor_id}", code="donor_not_found")
        changed = {name for name, value in values.items() if getattr(donor, name) != value}
        for name in changed:
            setattr(donor, name, values[name])
        if changed:
            donor.updated_at = clock.now()
            uow.publish(DonorChanged(donor_id))
        if changed & {"display_name", "visibility"}:
            wall.record_donor_changed(uow, clock.now(), donor_id)
        if changes.payout is not UNSET:
            payout = changes.payout
            if payout is not None and not isinstance(payout, PayoutDestination):
                raise TypeError(f"payout is a PayoutDestination or None, not {type(payout)}")
            _set_payout(uow, clock, actor, donor, payout)


def _language(raw: str) -> str:
    try:
        return normalise_language(raw)
    except ValueError as exc:
        raise InvalidInput(
            f"texts are written in {exc}", code="unsupported_locale", field="locale"
        ) from None


def _set_payout(
    uow: UnitOfWork,
    clock: Clock,
    actor: Actor | None,
    donor: Donor,
    payout: PayoutDestination | None,
) -> None:
    now = clock.now()
    before = {"kind": donor.payout_kind, "destination": donor.payout_masked}
    donor.payout_kind = payout.kind if payout else None
    donor.payout_destination = payout.encrypted if payout else None
    donor.payout_masked = payout.masked if payout else None
    donor.payout_fingerprint = _shared_fingerprint(uow, payout) if payout else None
    donor.payout_changed_at = now
    donor.updated_at = now
    audit.record(
        uow.session,
        clock,
        actor or Actor(id=f"donor:{donor.id}", role="donor"),
        action="donor.payout_destination",
        target_type="donor",
        target_id=donor.id,
        before=before,
        after={"kind": donor.payout_kind, "destination": donor.payout_masked},
    )
    uow.publish(DonorChanged(donor.id))


@dataclass(frozen=True)
class DonorView:
    """A donor's account as the donor and support read it (never the payout destination
    itself: only its kind and masked form)."""

    id: int
    account_id: str | None
    display_name: str | None
    alias: str | None
    visibility: str
    status: str
    timezone: str | None
    locale: str | None
    consent_version: str | None
    consent_withdrawn_at: datetime | None
    on_hold: bool
    payout_kind: str | None
    payout_masked: str | None
    created_at: datetime


def donor_view(row: Donor) -> DonorView:
    return row_view(DonorView, row)


@dataclass(frozen=True)
class Profile:
    donor: DonorView
    balances: Balances
    all_time_rank: int | None = None


def get_profile(db: Database, donor_id: int) -> Profile:
    """The donor and their balances, read together."""
    with db.read() as session:
        donor = session.get(Donor, donor_id)
        if donor is None:
            raise NotFound(f"no donor {donor_id}", code="donor_not_found")
        return Profile(donor_view(donor), ledger.balances(session, donor_id))
