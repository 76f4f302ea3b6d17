"""What the demo's program did after the donations, so the app and the console have
something to show and handle: vesting, medals and their rarity, support's gifts, a
redemption, a burst the fraud scan flags, and a payout batch to settle.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from rewards_engine.clock import FixedClock
from rewards_engine.domain.actors import Actor
from rewards_engine.models import Donor
from rewards_engine.runtime import Runtime
from rewards_engine.services import (
    consents,
    donors,
    fraud,
    medals,
    payouts,
    redemptions,
    support,
    vesting,
)
from rewards_engine.services.demo.app import DemoApp, PlannedClip

SUPPORT = Actor(id="support:demo", role="support")


def _aftermath(runtime: Runtime, app: DemoApp, spec: dict[str, Any], start: datetime) -> None:
    """What happened after the donations: vesting, medals and their rarity, support's
    gifts, a camera redemption, a burst the fraud scan flags, and a payout batch."""
    db, clock = runtime.db, runtime.clock
    vesting.vest_due(db, clock)
    medals.evaluate_scheduled(db, clock)
    medals.refresh_rarity(db, clock)
    ids = {}
    with db.read() as session:
        for donor_id, account in session.execute(select(col(Donor.id), col(Donor.account_id))):
            ids[account] = donor_id
    for gift in spec.get("points", []):
        support.adjust(db, clock, SUPPORT, ids[gift["account_id"]], asset="points",
                       amount=gift["points"], reason=gift["reason"])  # fmt: skip
    if wanted := spec.get("redemption"):
        redemptions.redeem(db, clock, Actor(id="donor:demo", role="donor"),
                           ids[wanted["account_id"]], wanted["reward_id"],
                           wanted["shipping_address"], vault=runtime.vault)  # fmt: skip
    if burst := spec.get("burst"):
        _burst(runtime, app, burst)
    earlier = FixedClock(start)  # destinations set long ago: past the cooling-off period
    for owed in spec.get("cash", []):
        donor_id = ids[owed["account_id"]]
        destination = payouts.prepare_destination(
            runtime, {"kind": "paypal_email", "value": owed["paypal_email"]}
        )
        donors.update_profile(db, earlier, donor_id, donors.ProfileChanges(payout=destination))
        support.adjust(db, clock, SUPPORT, donor_id, asset="cash", currency="USD",
                       amount=owed["cents"], reason=owed["reason"])  # fmt: skip
    payouts.create_batches(runtime)
    payouts.submit_pending(runtime)


def _burst(runtime: Runtime, app: DemoApp, burst: dict[str, Any]) -> None:
    """Hours of footage donated from one camera within one hour (of the clock, as the
    velocity rule counts them): the velocity rule's case."""
    moment = runtime.clock.now() - timedelta(days=2)
    hour = (moment - timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    clock = FixedClock(moment)
    ref = donors.ensure_donor(runtime.db, clock, burst["account_id"])
    consents.grant(runtime.db, clock, ref.id, app.version)
    donors.update_profile(
        runtime.db, clock, ref.id, donors.ProfileChanges(display_name=burst["display_name"])
    )
    spacing = timedelta(seconds=15)  # one clip every 15 s, all within the hour
    clips = [
        PlannedClip(
            event_id=f"burst-{n}",
            incident_type="package_theft",
            camera_id="burst-cam",
            recorded_at=hour + spacing * n,
            seconds=burst["duration_s"],
        )
        for n in range(burst["clips"])
    ]
    app.donate(ref.id, moment, clips)
    fraud.scan(runtime, full=True)
