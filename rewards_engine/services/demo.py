"""A living demo: the program's past weeks, built once from ``fixtures/demo_activity.toml``.

Everything goes through the same use cases as real traffic (consent, submissions,
support adjustments, redemptions, vesting, the fraud scan, payout batches), each at
the moment it would have happened (a fixed clock per donation), so that the app and
the console show a believable program on first run: populated boards, medals,
balances to spend, a redemption and a fraud flag to handle, a payout batch to settle.
"""

from __future__ import annotations

import logging
import random
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlmodel import col

from rewards_engine.clock import FixedClock
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.submissions import ClipInput
from rewards_engine.models import Campaign, Clip, Donor
from rewards_engine.runtime import Runtime
from rewards_engine.services import (
    consents,
    donors,
    fraud,
    medals,
    payouts,
    redemptions,
    submissions,
    support,
    vesting,
)

log = logging.getLogger(__name__)
SUPPORT = Actor(id="support:demo", role="support")
FILE = "demo_activity.toml"


@dataclass
class DemoReport:
    built: bool = False
    donors: int = 0
    calls: int = 0
    clips: int = 0

    def as_dict(self) -> dict[str, int | bool]:
        return dict(vars(self))


def build_activity(
    runtime: Runtime,
    directory: Path,
    on_progress: Callable[[str, int, int | None], None] | None = None,
) -> DemoReport:
    """Build the demo's past weeks, unless they exist (a rerun changes nothing).
    ``on_progress(step, done, total)`` hears of the donors joined, the donors whose
    weeks are built, then of the aftermath (one step)."""
    path = directory / FILE
    if not path.exists():
        return DemoReport()
    spec = tomllib.loads(path.read_text())
    campaign = spec["campaign"]
    with runtime.db.read() as session:
        if session.scalar(
            select(func.count()).select_from(Clip).where(Clip.campaign_id == campaign)
        ):
            return DemoReport()  # built already (or real activity): never twice
        kinds = list(session.get_one(Campaign, campaign).incident_types)
    rng = random.Random(spec["seed"])  # noqa: S311 - demo data, the same every time
    now = runtime.clock.now().replace(microsecond=0)
    start = now - timedelta(weeks=spec["weeks"])
    report = DemoReport(built=True)
    version = consents.get_current(runtime.db, runtime.clock).version
    people = _donors(runtime, spec, rng, start, version, on_progress)
    report.donors = len(people)
    days = (now - start).days
    for n, (donor_id, plan) in enumerate(people.items()):
        for day in sorted(rng.sample(range(days), k=min(days, plan.days(rng, days)))):
            moment = start + timedelta(days=day, hours=rng.uniform(7, 22))
            count = rng.randint(*plan.clips_per_day)
            clips = [plan.clip(rng, moment, kinds) for _ in range(count)]
            result = submissions.submit(
                runtime.db,
                FixedClock(moment),
                Actor(id=f"donor:{donor_id}", role="donor"),
                donor_id,
                submissions.SubmissionRequest(campaign, version, clips),
            )
            report.calls += 1
            report.clips += len(result.outcomes)
        if on_progress:
            on_progress("donors' weeks built", n + 1, len(people))
    if on_progress:
        on_progress("aftermath", 0, 1)  # vesting, medals, a redemption, payouts
    _aftermath(runtime, spec, campaign, version, start)
    if on_progress:
        on_progress("aftermath", 1, 1)
    log.info("demo activity built", extra={"fields": report.as_dict()})
    return report


@dataclass
class _Plan:
    cameras: list[str]
    clips_per_day: tuple[int, int]
    days_share: float = 0.0
    days_range: tuple[int, int] = (1, 1)

    def days(self, rng: random.Random, days: int) -> int:
        if self.days_share:
            return round(days * self.days_share)
        return rng.randint(*self.days_range)

    def clip(self, rng: random.Random, moment: datetime, kinds: list[str]) -> ClipInput:
        return ClipInput(
            video_sha256=f"{rng.getrandbits(256):064x}",
            event_id=f"ev-{rng.getrandbits(40):010x}",
            incident_type=rng.choice(kinds),
            camera_id=rng.choice(self.cameras),
            recorded_at=moment - timedelta(minutes=rng.randint(5, 600)),
            duration_s=float(rng.randint(8, 90)),
            staged=rng.random() < 0.1,
        )


def _donors(
    runtime: Runtime,
    spec: dict[str, Any],
    rng: random.Random,
    start: datetime,
    version: str,
    on_progress: Callable[[str, int, int | None], None] | None,
) -> dict[int, _Plan]:
    """Every donor of the demo, consenting since its start, with how they donate."""
    joined = FixedClock(start - timedelta(days=1))
    people: dict[int, _Plan] = {}

    def join(account: str, name: str | None, visibility: str) -> int:
        ref = donors.ensure_donor(runtime.db, joined, account)
        consents.grant(runtime.db, joined, ref.id, version)
        if name is not None:
            changes = donors.ProfileChanges(display_name=name, visibility=visibility)
            donors.update_profile(runtime.db, joined, ref.id, changes)
        return ref.id

    for heavy in spec.get("heavy", []):
        donor_id = join(heavy["account_id"], None, "public")
        cameras = [f"{heavy['account_id']}-cam-{k}" for k in range(heavy["cameras"])]
        people[donor_id] = _Plan(cameras, tuple(heavy["clips_per_day"]), heavy["days_share"])
    shares = spec["visibility"]
    for n in range(spec["donors"]):
        name = f"{rng.choice(spec['names'])} {chr(65 + n % 26)}."
        visibility = rng.choices(list(shares), weights=list(shares.values()))[0]
        donor_id = join(f"demo-donor-{n:04d}", name, visibility)
        cameras = [f"demo-{n:04d}-cam-{k}" for k in range(rng.randint(*spec["ordinary_cameras"]))]
        people[donor_id] = _Plan(
            cameras,
            tuple(spec["ordinary_clips_per_day"]),
            days_range=tuple(spec["ordinary_days"]),
        )
        if on_progress:
            on_progress("donors joined", n + 1, spec["donors"])
    return people


def _aftermath(
    runtime: Runtime, spec: dict[str, Any], campaign: str, version: str, start: datetime
) -> None:
    """What happened after the donations: vesting, medals, support's gifts, a camera
    redemption, a burst the fraud scan flags, and a payout batch."""
    db, clock = runtime.db, runtime.clock
    vesting.vest_due(db, clock)
    medals.evaluate_scheduled(db, clock)
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
        _burst(runtime, burst, campaign, version)
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


def _burst(runtime: Runtime, burst: dict[str, Any], campaign: str, version: str) -> None:
    """Hours of footage claimed from one camera within one hour: the velocity rule's case."""
    moment = runtime.clock.now() - timedelta(days=2)
    clock = FixedClock(moment)
    ref = donors.ensure_donor(runtime.db, clock, burst["account_id"])
    consents.grant(runtime.db, clock, ref.id, version)
    donors.update_profile(
        runtime.db, clock, ref.id, donors.ProfileChanges(display_name=burst["display_name"])
    )
    rng = random.Random(ref.id)  # noqa: S311 - demo data
    clips = [
        ClipInput(
            video_sha256=f"{rng.getrandbits(256):064x}",
            event_id=f"burst-{n}",
            incident_type="package_theft",
            camera_id="burst-cam",
            recorded_at=moment - timedelta(minutes=60) + timedelta(seconds=15 * n),
            duration_s=float(burst["duration_s"]),
            staged=False,
        )
        for n in range(burst["clips"])
    ]
    submissions.submit(
        runtime.db, clock, Actor(id=f"donor:{ref.id}", role="donor"), ref.id,
        submissions.SubmissionRequest(campaign, version, clips),
    )  # fmt: skip
    fraud.scan(runtime, full=True)
