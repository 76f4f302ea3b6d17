"""Holds: a donor under review keeps earning but is not paid nor shown in public."""

from __future__ import annotations

from rewards_engine.clock import Clock
from rewards_engine.db import Database
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.errors import NotFound
from rewards_engine.domain.events import DonorChanged
from rewards_engine.models import Donor
from rewards_engine.services import audit, wall


def set_hold(
    db: Database, clock: Clock, actor: Actor, donor_id: int, on_hold: bool, reason: str
) -> bool:
    """Put a donor on hold or release them; True if that changed anything (audited)."""
    now = clock.now()
    with db.transaction() as uow:
        donor = uow.session.get(Donor, donor_id, with_for_update=True)
        if donor is None:
            raise NotFound(f"no donor {donor_id}", code="donor_not_found")
        if donor.on_hold == on_hold:
            return False
        donor.on_hold = on_hold
        donor.updated_at = now
        uow.publish(DonorChanged(donor_id))
        audit.record(
            uow.session,
            clock,
            actor,
            action="donor.hold" if on_hold else "donor.release",
            target_type="donor",
            target_id=donor_id,
            before={"on_hold": not on_hold},
            after={"on_hold": on_hold},
            reason=reason,
        )
        uow.session.flush()
        wall.record_donor_changed(uow, now, donor_id)
    return True
