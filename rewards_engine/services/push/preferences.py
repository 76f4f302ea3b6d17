"""A donor's push preferences: kinds muted, quiet hours (docs/push.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from rewards_engine.clock import Clock, utcnow
from rewards_engine.config import PushSettings
from rewards_engine.db import Database, insert, table_of
from rewards_engine.domain.errors import InvalidInput
from rewards_engine.domain.notifications import Kind
from rewards_engine.domain.push import parse_clock, parse_quiet_hours
from rewards_engine.models import PushPreferences


@dataclass(frozen=True)
class PreferencesView:
    muted_kinds: list[str]
    quiet_hours: tuple[str, str] | None  # local HH:MM, start and end
    default: bool  # never set: the installation's defaults apply


@dataclass(frozen=True)
class Preferences:
    muted: frozenset[str]
    quiet: tuple[str, str] | None


def effective(row: PushPreferences | None, settings: PushSettings) -> Preferences:
    if row is None:
        return Preferences(frozenset(), parse_quiet_hours(settings.quiet_hours))
    quiet = (row.quiet_start, row.quiet_end) if row.quiet_start and row.quiet_end else None
    return Preferences(frozenset(row.muted_kinds), quiet)


def _view(row: PushPreferences | None, settings: PushSettings) -> PreferencesView:
    found = effective(row, settings)
    return PreferencesView(sorted(found.muted), found.quiet, row is None)


def get_preferences(db: Database, settings: PushSettings, donor_id: int) -> PreferencesView:
    with db.read() as session:
        return _view(session.get(PushPreferences, donor_id), settings)


def set_preferences(
    db: Database,
    clock: Clock,
    settings: PushSettings,
    donor_id: int,
    *,
    muted_kinds: Sequence[str],
    quiet_hours: tuple[str, str] | None,
) -> PreferencesView:
    """Replace the donor's preferences (quiet hours None: none at all)."""
    unknown = sorted(set(muted_kinds) - {kind.value for kind in Kind})
    if unknown:
        raise InvalidInput(f"unknown kinds: {', '.join(unknown)}", field="muted_kinds")
    try:
        quiet = (parse_clock(quiet_hours[0]), parse_clock(quiet_hours[1])) if quiet_hours else None
    except ValueError as exc:
        raise InvalidInput(str(exc), field="quiet_hours") from exc
    with db.transaction() as uow:
        row = _locked(uow.session, donor_id)
        row.muted_kinds = sorted(set(muted_kinds))
        row.quiet_start, row.quiet_end = quiet if quiet else (None, None)
        row.updated_at = clock.now()
        uow.session.flush()
        return _view(row, settings)


def _locked(session: Session, donor_id: int) -> PushPreferences:
    """The donor's row, created if missing (two first saves at once: one inserts)."""
    session.execute(
        insert(session, table_of(PushPreferences))
        .values(donor_id=donor_id, muted_kinds=[], updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["donor_id"])
    )
    row = session.get(PushPreferences, donor_id, with_for_update=True, populate_existing=True)
    assert row is not None
    return row
