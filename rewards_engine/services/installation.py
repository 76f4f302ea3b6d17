"""Values made once per installation and kept in its database."""

from __future__ import annotations

import secrets
from weakref import WeakKeyDictionary

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.pool import Pool
from sqlmodel import col

from rewards_engine.db import insert, table_of
from rewards_engine.models import InstallationSecret

ERASURE_SALT = "erasure_salt"
# Each database's salt, by its engine's pool: it never changes once made, and every
# submission reads it (a round trip saved per call).
_SALTS: WeakKeyDictionary[Pool, str] = WeakKeyDictionary()


def erasure_salt(session: Session) -> str:
    """The salt of the hashes kept after an erasure or a retention deletion (made by the
    migration; made again, in a write transaction, if it was lost)."""
    pool = session.get_bind().engine.pool
    if pool in _SALTS:
        return _SALTS[pool]
    query = select(col(InstallationSecret.value)).where(
        col(InstallationSecret.name) == ERASURE_SALT
    )
    value = session.scalar(query)
    if value is None:
        session.execute(
            insert(session, table_of(InstallationSecret))
            .values(name=ERASURE_SALT, value=secrets.token_hex(32))
            .on_conflict_do_nothing()
        )
        value = session.scalar(query)
    assert value is not None
    _SALTS[pool] = value
    return value
