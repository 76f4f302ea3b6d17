"""The installation's id, made once in its database (models/installation.py).

Not a secret: it only keeps the external ids this installation sends a provider apart
from those of any other installation, or of an earlier database, on the same account.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.db import insert, table_of
from rewards_engine.models import InstallationIdentity


def installation_id(session: Session, now: datetime) -> str:
    """This database's installation id, made (16 random hex digits) the first time.
    Two transactions making it at once agree: the second insert does nothing and both
    read the row that won."""
    found = session.scalar(select(col(InstallationIdentity.installation_id)))
    if found is not None:
        return str(found)
    session.execute(
        insert(session, table_of(InstallationIdentity))
        .values(id=1, installation_id=secrets.token_hex(8), created_at=now)
        .on_conflict_do_nothing(index_elements=["id"])
    )
    made = session.scalar(select(col(InstallationIdentity.installation_id)))
    assert made is not None
    return str(made)


def external_id(installation: str, redemption_id: int) -> str:
    """What a provider de-duplicates a redemption's order on."""
    return f"{installation}-{redemption_id}"
