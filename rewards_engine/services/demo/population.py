"""The demo's donors: who joins, with which cameras, and how often each donates.

A few heavy donors (named in the fixture) donate on a share of the days; the ordinary
ones, named at random and seen at a drawn visibility, on a few days each. All consent
the day before the demo's weeks begin, and the device cloud registers their cameras
with development attestations.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from rewards_engine.attestations import sign_development_attestation
from rewards_engine.clock import FixedClock
from rewards_engine.domain.actors import Actor
from rewards_engine.runtime import Runtime
from rewards_engine.services import cameras as camera_registry
from rewards_engine.services import consents, donors
from rewards_engine.services.demo.app import PlannedClip

DEVICE_CLOUD = Actor(id="service:device-cloud", role="service")
CAMERA_MODELS = ("Cam Outdoor 2", "Doorbell Pro", "Cam Floodlight")


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

    def clip(
        self, rng: random.Random, moment: datetime, kinds: list[str], seconds: tuple[int, int]
    ) -> PlannedClip:
        return PlannedClip(
            event_id=f"ev-{rng.getrandbits(40):010x}",
            incident_type=rng.choice(kinds),
            camera_id=rng.choice(self.cameras),
            recorded_at=moment - timedelta(minutes=rng.randint(5, 600)),
            seconds=rng.randint(*seconds),
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

    def register(account: str, serials: list[str]) -> None:
        """The device cloud registers the donor's cameras (the program reviews clips
        from cameras that are not)."""
        for serial in serials:
            attestation = sign_development_attestation(
                runtime.settings, account, serial, rng.choice(CAMERA_MODELS), joined.now()
            )
            camera_registry.register(runtime.db, joined, runtime.attestations, DEVICE_CLOUD,
                                     attestation, via="device_cloud")  # fmt: skip

    for heavy in spec.get("heavy", []):
        donor_id = join(heavy["account_id"], None, "public")
        cameras = [f"{heavy['account_id']}-cam-{k}" for k in range(heavy["cameras"])]
        register(heavy["account_id"], cameras)
        people[donor_id] = _Plan(cameras, tuple(heavy["clips_per_day"]), heavy["days_share"])
    shares = spec["visibility"]
    for n in range(spec["donors"]):
        name = f"{rng.choice(spec['names'])} {chr(65 + n % 26)}."
        visibility = rng.choices(list(shares), weights=list(shares.values()))[0]
        donor_id = join(f"demo-donor-{n:04d}", name, visibility)
        cameras = [f"demo-{n:04d}-cam-{k}" for k in range(rng.randint(*spec["ordinary_cameras"]))]
        register(f"demo-donor-{n:04d}", cameras)
        people[donor_id] = _Plan(
            cameras,
            tuple(spec["ordinary_clips_per_day"]),
            days_range=tuple(spec["ordinary_days"]),
        )
        if on_progress:
            on_progress("donors joined", n + 1, spec["donors"])
    return people
