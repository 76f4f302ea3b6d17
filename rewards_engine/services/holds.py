"""Holds: a donor under review keeps earning but is not paid nor shown in public."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlmodel import col

from rewards_engine.clock import Clock
from rewards_engine.db import Database, UnitOfWork, one_of, retry_on_contention
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.errors import NotFound
from rewards_engine.domain.events import DonorChanged
from rewards_engine.models import Donor, Redemption
from rewards_engine.services import audit, redemptions, wall


def change_holds(
    uow: UnitOfWork,
    clock: Clock,
    actor: Actor,
    reasons: dict[int, str],
    *,
    on_hold: bool = True,
    details: dict[int, dict[str, Any]] | None = None,
    fulfil_gift_cards: bool = False,
) -> list[int]:
    """Put donors on hold (or release them) in the caller's transaction; each donor
    whose state changes is audited with its reason and its wall entry updated.
    Released with ``fulfil_gift_cards`` (the program's GIFT_CARDS_AUTO_FULFIL), the gift
    cards they redeemed while held are fulfilled (:func:`redemptions.fulfil_after_release`).
    Returns the donors that changed."""
    if not reasons:
        return []
    session, now = uow.session, clock.now()
    changing = list(
        session.scalars(
            select(col(Donor.id)).where(
                one_of(session, col(Donor.id), list(reasons)), col(Donor.on_hold).is_(not on_hold)
            )
        )
    )
    if not changing:
        return []
    session.execute(
        update(Donor)
        .where(one_of(session, col(Donor.id), changing))
        .values(on_hold=on_hold, updated_at=now)
    )
    fulfilled: dict[int, list[int]] = {}
    if not on_hold and fulfil_gift_cards:
        session.flush()
        for redemption_id in redemptions.fulfil_after_release(session, now, changing):
            donor_id = session.get(Redemption, redemption_id).donor_id  # type: ignore[union-attr]  # the redemption exists: the caller locked it
            fulfilled.setdefault(donor_id, []).append(redemption_id)
    for donor_id in changing:
        uow.publish(DonorChanged(donor_id))
        audit.record(
            session,
            clock,
            actor,
            action="donor.hold" if on_hold else "donor.release",
            target_type="donor",
            target_id=donor_id,
            before={"on_hold": not on_hold},
            after={
                "on_hold": on_hold,
                **(details or {}).get(donor_id, {}),
                **({"redemptions_fulfilled": fulfilled[donor_id]} if donor_id in fulfilled else {}),
            },
            reason=reasons[donor_id][:500],
        )
    wall.record_donors_changed(uow, now, changing)
    return changing


@retry_on_contention
def set_hold(
    db: Database,
    clock: Clock,
    actor: Actor,
    donor_id: int,
    on_hold: bool,
    reason: str,
    *,
    fulfil_gift_cards: bool = False,
) -> bool:
    """Put a donor on hold or release them; True if that changed anything (audited)."""
    with db.transaction() as uow:
        if uow.session.get(Donor, donor_id, with_for_update=True) is None:
            raise NotFound(f"no donor {donor_id}", code="donor_not_found")
        changed = change_holds(
            uow,
            clock,
            actor,
            {donor_id: reason},
            on_hold=on_hold,
            fulfil_gift_cards=fulfil_gift_cards,
        )
        return bool(changed)
