"""Values made once per installation and kept in its database."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from rewards_engine.db import insert
from rewards_engine.models import InstallationSecret

ERASURE_SALT = "erasure_salt"


def erasure_salt(session: Session) -> str:
    """The salt of the hashes kept after an erasure or a retention deletion (made by the
    migration; made again, in a write transaction, if it was lost)."""
    query = select(InstallationSecret.value).where(InstallationSecret.name == ERASURE_SALT)
    value = session.scalar(query)
    if value is None:
        session.execute(
            insert(session, InstallationSecret.__table__)
            .values(name=ERASURE_SALT, value=secrets.token_hex(32))
            .on_conflict_do_nothing()
        )
        value = session.scalar(query)
    assert value is not None
    return value
