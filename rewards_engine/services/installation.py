"""The erasure salt: from configuration (``ERASURE_SALTS``), never from the database.

Installations from before issue 24 made their salt in the database
(``installation_secrets``), beside the hashes it protects. Such a salt is moved out once:
``rewards-engine secrets export-erasure-salt`` prints it for the operator's secret store,
and ``secrets forget-database-salt`` deletes the row once ``ERASURE_SALTS`` names it.
Until then every process checks, once per database, that the configured salts include
it: a salt silently replaced would make every hash kept of erased data unmatchable (an
erased account could sign up again, an erased video be paid twice).
"""

from __future__ import annotations

import logging
from weakref import WeakKeyDictionary

from sqlalchemy import delete, inspect, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import Pool
from sqlmodel import col

from rewards_engine.clock import Clock
from rewards_engine.config import ConfigError
from rewards_engine.db import Database
from rewards_engine.domain.actors import Actor
from rewards_engine.models import InstallationSecret
from rewards_engine.services import audit

log = logging.getLogger(__name__)

ERASURE_SALT = "erasure_salt"  # the legacy row's name
SALTS_INFO = "erasure_salts"  # the key of Session.info under which the runtime puts them
NO_SALT = (
    "ERASURE_SALTS is not set: give it a random value (python -c 'import secrets; "
    "print(secrets.token_hex(32))'), or its file in ERASURE_SALTS_FILE"
)
# Pools whose database was checked for a legacy salt the configuration does not name:
# once per database and process, so every submission pays no round trip for it.
_CHECKED: WeakKeyDictionary[Pool, bool] = WeakKeyDictionary()


def mismatch_message() -> str:
    return (
        "the database still holds an erasure salt (installation_secrets) that "
        "ERASURE_SALTS does not name: the hashes kept of erased data were made with it. "
        "Run `rewards-engine secrets export-erasure-salt`, put the value it prints in "
        "ERASURE_SALTS (or its file; first, or after a newer salt), restart, then run "
        "`rewards-engine secrets forget-database-salt` (docs/operations.md, Secrets)"
    )


def erasure_salts(session: Session) -> tuple[str, ...]:
    """The configured salts, newest first: hashes are made with the first and matched
    with each. The runtime hands them to every session (``Session.info``), so reading
    them costs nothing; the first call per database also checks for a legacy salt."""
    salts: tuple[str, ...] = session.info.get(SALTS_INFO, ())
    if not salts:
        raise ConfigError(NO_SALT)
    pool = session.get_bind().engine.pool
    if pool not in _CHECKED:
        legacy = database_salt(session)
        if legacy is not None and legacy not in salts:
            log.error("erasure salt: the database holds one ERASURE_SALTS does not name")
            raise ConfigError(mismatch_message())
        _CHECKED[pool] = True
    return salts


def erasure_salt(session: Session) -> str:
    """The salt new hashes are made with (the newest)."""
    return erasure_salts(session)[0]


def database_salt(session: Session) -> str | None:
    """The salt an installation from before issue 24 keeps in its database, if any."""
    return session.scalar(
        select(col(InstallationSecret.value)).where(col(InstallationSecret.name) == ERASURE_SALT)
    )


def check_at_start(db: Database) -> None:
    """Refuse to start (ConfigError) while the database holds a salt the configuration
    does not name. A database not migrated yet holds none."""
    if not inspect(db.engine).has_table(InstallationSecret.__tablename__):
        return
    with db.read() as session:
        _CHECKED.pop(session.get_bind().engine.pool, None)  # ask the database again
        erasure_salts(session)


def export_database_salt(db: Database) -> str | None:
    """The legacy salt, for the operator to move into ERASURE_SALTS (None: none left)."""
    with db.read() as session:
        return database_salt(session)


def forget_database_salt(db: Database, clock: Clock, actor: Actor) -> bool:
    """Delete the legacy salt once the configuration names it (False: there was none),
    audited (never the value). Refused while it is not configured: deleting it would lose
    it."""
    with db.transaction() as uow:
        session = uow.session
        legacy = database_salt(session)
        if legacy is None:
            return False
        if legacy not in session.info.get(SALTS_INFO, ()):
            raise ConfigError(
                "the database's erasure salt is not in ERASURE_SALTS: refusing to delete "
                "it (run `rewards-engine secrets export-erasure-salt` and configure it first)"
            )
        session.execute(
            delete(InstallationSecret).where(col(InstallationSecret.name) == ERASURE_SALT)
        )
        audit.record(
            session,
            clock,
            actor,
            action="secrets.database_salt_forgotten",
            target_type="installation",
            target_id=ERASURE_SALT,
            after={"configured": True},
        )
    _CHECKED.clear()
    return True
