"""How rare each medal is: the share of active donors who hold it (an award not
revoked), counted by the medal-rarity job and read by the medal screen."""

from __future__ import annotations

from sqlalchemy import distinct, func, select
from sqlmodel import col

from rewards_engine.clock import Clock
from rewards_engine.db import Database, insert, table_of
from rewards_engine.models import Donor, MedalAward
from rewards_engine.models.medals import MedalRarity
from rewards_engine.services.medals.definitions import Catalog


def refresh_rarity(db: Database, clock: Clock) -> dict[str, int]:
    now = clock.now()
    with db.transaction() as uow:
        session = uow.session
        active = session.scalar(select(func.count()).where(col(Donor.status) == "active")) or 0
        holders = dict(
            session.execute(
                select(col(MedalAward.code), func.count(distinct(col(MedalAward.donor_id))))
                .join(Donor, col(Donor.id) == col(MedalAward.donor_id))
                .where(col(MedalAward.revoked_at).is_(None), col(Donor.status) == "active")
                .group_by(col(MedalAward.code))
            ).all()
        )
        codes = [definition.code for definition in Catalog.load(session).current]
        if codes:
            table = table_of(MedalRarity)
            rows = [
                {"code": code, "holders": holders.get(code, 0), "active_donors": active,
                 "share": round(holders.get(code, 0) / active, 4) if active else 0.0,
                 "refreshed_at": now}
                for code in codes
            ]  # fmt: skip
            statement = insert(session, table).values(rows)
            counted = ("holders", "active_donors", "share", "refreshed_at")
            session.execute(
                statement.on_conflict_do_update(
                    index_elements=["code"],
                    set_={name: statement.excluded[name] for name in counted},
                )
            )
    return {"medals": len(codes), "active_donors": active}
