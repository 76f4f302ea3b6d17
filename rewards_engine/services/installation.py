"""Values made once per installation and kept in its database."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.db import insert, table_of
from rewards_engine.models import InstallationSecret

ERASURE_SALT = "erasure_salt"


def erasure_salt(session: Session) -> str:
    """The salt of the hashes kept after an erasure or a retention deletion (made by the
    migration; made again, in a write transaction, if it was lost)."""
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
    return value
