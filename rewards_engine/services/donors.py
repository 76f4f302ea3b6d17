"""Donor records and profiles."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from rewards_engine.clock import Clock
from rewards_engine.db import Database, insert
from rewards_engine.domain.errors import NotFound
from rewards_engine.domain.profiles import (
    Visibility,
    normalise_display_name,
    random_alias,
    validate_timezone,
)
from rewards_engine.models import Donor
from rewards_engine.services import ledger, wall
from rewards_engine.services.ledger import Balances

UNSET = object()


def find_by_account(session: Session, account_id: str) -> Donor | None:
    return session.scalars(select(Donor).where(Donor.account_id == account_id)).first()


def ensure_donor(db: Database, clock: Clock, account_id: str) -> Donor:
    """The donor behind a token, created on their first authenticated call.

    Two first calls at the same moment create one donor: the insert ignores a
    conflict on ``account_id`` and both read the row that won.
    """
    with db.read() as session:
        donor = find_by_account(session, account_id)
    if donor is not None:
        return donor
    now = clock.now()
    with db.transaction() as uow:
        statement = (
            insert(uow.session, Donor.__table__)
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
        donor = find_by_account(uow.session, account_id)
    assert donor is not None
    return donor


def get_donor(db: Database, donor_id: int) -> Donor:
    with db.read() as session:
        donor = session.get(Donor, donor_id)
    if donor is None:
        raise NotFound(f"no donor {donor_id}", code="donor_not_found")
    return donor


@dataclass(frozen=True)
class ProfileChanges:
    """What a donor asked to change; fields left as UNSET are kept."""

    display_name: object = UNSET
    visibility: object = UNSET
    timezone: object = UNSET


def update_profile(db: Database, clock: Clock, donor_id: int, changes: ProfileChanges) -> Donor:
    values: dict[str, object] = {}
    if changes.display_name is not UNSET:
        name = changes.display_name
        values["display_name"] = None if name is None else normalise_display_name(str(name))
    if changes.visibility is not UNSET:
        values["visibility"] = Visibility(str(changes.visibility)).value
    if changes.timezone is not UNSET:
        zone = changes.timezone
        values["timezone"] = None if zone is None else validate_timezone(str(zone))
    with db.transaction() as uow:
        donor = uow.session.get(Donor, donor_id, with_for_update=True)
        if donor is None:
            raise NotFound(f"no donor {donor_id}", code="donor_not_found")
        changed = {name for name, value in values.items() if getattr(donor, name) != value}
        for name in changed:
            setattr(donor, name, values[name])
        if changed:
            donor.updated_at = clock.now()
        if changed & {"display_name", "visibility"}:
            wall.record_donor_changed(uow, clock.now(), donor_id)
    return donor


@dataclass(frozen=True)
class Profile:
    donor: Donor
    balances: Balances
    all_time_rank: int | None = None


def get_profile(db: Database, donor_id: int) -> Profile:
    """The donor and their balances, read together."""
    with db.read() as session:
        donor = session.get(Donor, donor_id)
        if donor is None:
            raise NotFound(f"no donor {donor_id}", code="donor_not_found")
        return Profile(donor, ledger.balances(session, donor_id))
