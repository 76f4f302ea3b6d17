"""Each donor's data key for their videos: made on first need, wrapped by the master
keys, destroyed by erasure (rewards_engine/video_crypto.py says why)."""

from __future__ import annotations

import base64
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.crypto import Vault
from rewards_engine.db import Database, insert, table_of
from rewards_engine.models import Donor, DonorVideoKey
from rewards_engine.video_crypto import new_data_key


def donor_key(db: Database, vault: Vault, donor_id: int, now: datetime) -> bytes | None:
    """The donor's data key, made the first time (two callers at once keep one); None
    for a donor who is gone or erased, whose key is never made again.

    The donor's row is locked (shared) first: an erasure locks it too and destroys the
    key in its transaction, so a key is either made before an erasure (which then
    destroys it) or refused after it, never made again for an erased donor."""
    with db.transaction() as uow:
        session = uow.session
        donor = session.get(Donor, donor_id, with_for_update={"read": True})
        if donor is None or donor.status == "erased" or donor.erased_at is not None:
            return None
        table = table_of(DonorVideoKey)
        wrapped = vault.encrypt(base64.b64encode(new_data_key()).decode())
        session.execute(
            insert(session, table)
            .values(donor_id=donor_id, wrapped=wrapped, created_at=now)
            .on_conflict_do_nothing(index_elements=["donor_id"])
        )
        row = session.get(DonorVideoKey, donor_id)
        assert row is not None
        return base64.b64decode(vault.decrypt(row.wrapped))


def existing_key(session: Session, vault: Vault, donor_id: int) -> bytes | None:
    """The donor's data key, or None once it was destroyed (or never made)."""
    row = session.get(DonorVideoKey, donor_id)
    return None if row is None else base64.b64decode(vault.decrypt(row.wrapped))


def destroy_key(session: Session, donor_id: int) -> bool:
    """Forget the donor's data key, in the caller's transaction: what was sealed with it
    can no longer be opened anywhere."""
    result = session.execute(delete(DonorVideoKey).where(col(DonorVideoKey.donor_id) == donor_id))
    return bool(getattr(result, "rowcount", 0))
