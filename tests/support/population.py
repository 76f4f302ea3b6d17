"""Synthetic donors and clips written straight to the database, for fraud scans.

A scan reads only the clips table (and donors' payout fingerprints), so a population
of tens of thousands of clips is bulk-inserted rather than sent through the API. Clips
look like the service's: accepted (or duplicate) with their batch, times and hashes.
"""

from __future__ import annotations

import random
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from rewards_engine.db import allocate_ids
from rewards_engine.models import Clip, Donor, SubmissionBatch, WallTally
from rewards_engine.runtime import Runtime
from rewards_engine.services.wall import boards_of_acceptance, type_key

MASK = (1 << 64) - 1


def signed(value: int) -> int:
    value &= MASK
    return value - (1 << 64) if value >= 1 << 63 else value


def random_phash(rng: random.Random) -> int:
    while True:
        value = rng.getrandbits(64)
        if 16 <= value.bit_count() <= 48:
            return value


@dataclass
class PlannedClip:
    donor: str
    camera: str
    recorded_at: datetime
    created_at: datetime
    duration_s: float = 30.0
    staged: bool = False
    sha: str = field(default_factory=lambda: secrets.token_hex(32))
    phash: int | None = None
    event: str = field(default_factory=lambda: f"ev-{secrets.token_hex(6)}")
    status: str = "accepted"
    batch: str | None = None  # clips with the same batch key arrive in one call


@dataclass
class Population:
    rng: random.Random
    clips: list[PlannedClip] = field(default_factory=list)
    donors: list[str] = field(default_factory=list)

    def add(self, clip: PlannedClip) -> PlannedClip:
        if clip.donor not in self.donors:
            self.donors.append(clip.donor)
        if clip.phash is None:
            clip.phash = random_phash(self.rng)
        self.clips.append(clip)
        return clip

    def insert(self, runtime: Runtime, campaign_id: str) -> dict[str, int]:
        """Write donors, one batch per (donor, day or batch key) and the clips, in plan
        order (so planted copies get higher ids than their originals)."""
        now = runtime.clock.now()
        with runtime.db.transaction() as uow:
            session = uow.session
            existing = dict(
                session.query(Donor.account_id, Donor.id).filter(Donor.account_id.in_(self.donors))
            )
            missing = [name for name in self.donors if name not in existing]
            for donor_id, name in zip(
                allocate_ids(session, Donor.__table__, len(missing)), missing, strict=True
            ):
                existing[name] = donor_id
            if missing:
                session.execute(
                    Donor.__table__.insert(),
                    [
                        {"id": existing[name], "account_id": name, "visibility": "public",
                         "alias": f"alias-{name}", "created_at": now, "updated_at": now}
                        for name in missing
                    ],
                )  # fmt: skip
            batches: dict[tuple[str, str], list[PlannedClip]] = defaultdict(list)
            for clip in self.clips:
                key = clip.batch or clip.created_at.date().isoformat()
                batches[(clip.donor, key)].append(clip)
            batch_ids = dict(
                zip(batches, allocate_ids(session, SubmissionBatch.__table__, len(batches)),
                    strict=True)
            )  # fmt: skip
            session.execute(
                SubmissionBatch.__table__.insert(),
                [
                    {
                        "id": batch_ids[key],
                        "donor_id": existing[key[0]],
                        "campaign_id": campaign_id,
                        "consent_version": "2024-12-01",
                        "clip_count": len(members),
                        "accepted": sum(c.status == "accepted" for c in members),
                        "points": 0,
                        "cash_cents": 0,
                        "currency": "USD",
                        "created_at": max(c.created_at for c in members),
                    }
                    for key, members in batches.items()
                ],
            )
            clip_ids = allocate_ids(session, Clip.__table__, len(self.clips))
            rows: list[dict[str, Any]] = []
            for clip_id, clip in zip(clip_ids, self.clips, strict=True):
                key = (clip.donor, clip.batch or clip.created_at.date().isoformat())
                accepted = clip.status == "accepted"
                rows.append(
                    {
                        "id": clip_id,
                        "batch_id": batch_ids[key],
                        "donor_id": existing[clip.donor],
                        "campaign_id": campaign_id,
                        "video_sha256": clip.sha,
                        "perceptual_hash": None if clip.phash is None else signed(clip.phash),
                        "intake": "verified",  # hashes the engine computed from the video
                        "event_id": clip.event,
                        "incident_type": "package_theft",
                        "camera_id": clip.camera,
                        "recorded_at": clip.recorded_at,
                        "duration_s": clip.duration_s,
                        "staged": clip.staged,
                        "status": clip.status,
                        "reason": None if accepted else "already_received",
                        "points": 0,
                        "cash_cents": 0,
                        "currency": "USD",
                        "created_at": clip.created_at,
                        "accepted_at": clip.created_at if accepted else None,
                        "vests_at": clip.created_at + timedelta(days=7) if accepted else None,
                    }
                )
            for start in range(0, len(rows), 10_000):
                session.execute(Clip.__table__.insert(), rows[start : start + 10_000])
            self._tally(session, campaign_id, existing)
        return existing

    def _tally(self, session: Any, campaign_id: str, donor_ids: dict[str, int]) -> None:
        """The Honor Wall tallies the service keeps with each accepted clip (boards and
        incident-type counts), added to whatever the donors already had."""
        tallies: dict[tuple[str, int], list[Any]] = {}
        for clip in self.clips:
            if clip.status != "accepted":
                continue
            donor_id = donor_ids[clip.donor]
            names = [*boards_of_acceptance(campaign_id, clip.created_at), type_key("package_theft")]
            for board in names:
                tally = tallies.setdefault((board, donor_id), [0, clip.created_at])
                tally[0] += 1
                tally[1] = max(tally[1], clip.created_at)
        wanted = sorted({donor_id for _, donor_id in tallies})
        known = {
            (row.board, row.donor_id): row
            for row in session.scalars(select(WallTally).where(WallTally.donor_id.in_(wanted)))
        }
        fresh = []
        for (board, donor_id), (clips, reached) in tallies.items():
            row = known.get((board, donor_id))
            if row is None:
                fresh.append({"board": board, "donor_id": donor_id, "clips": clips,
                              "reached_at": reached})  # fmt: skip
            else:
                row.clips, row.reached_at = row.clips + clips, max(row.reached_at, reached)
        if fresh:
            session.execute(WallTally.__table__.insert(), fresh)


def ordinary_donors(
    population: Population, count: int, start: datetime, days: int, prefix: str = "donor"
) -> None:
    """Donors with one to three cameras, active about one day in three, a few clips
    (geometric, mean about 3) a day, about one clip in ten staged."""
    rng = population.rng
    for n in range(count):
        name = f"{prefix}-{n:05d}"
        cameras = [f"CAM-{name}-{c}" for c in range(rng.randint(1, 3))]
        for day in range(days):
            if rng.random() > 0.3:
                continue
            clips = 1
            while rng.random() < 0.65 and clips < 25:
                clips += 1
            for _ in range(clips):
                recorded = start + timedelta(days=day, seconds=rng.randrange(86_400))
                population.add(
                    PlannedClip(
                        name,
                        rng.choice(cameras),
                        recorded,
                        recorded + timedelta(minutes=rng.randint(1, 2_880)),
                        duration_s=rng.uniform(15, 60),
                        staged=rng.random() < 0.1,
                    )
                )


def heavy_donor(
    population: Population, name: str, start: datetime, days: int, per_day: int, cameras: int
) -> None:
    """A genuine enthusiast: many cameras, hundreds of clips a day, one clip per event.
    A camera's clips never overlap: each falls in its own slot of the camera's day,
    leaving a camera's re-trigger pause between two events."""
    rng = population.rng
    per_camera = -(-per_day // cameras)
    slot = 86_400 / per_camera
    for day in range(days):
        made = 0
        for camera in range(cameras):
            for n in range(per_camera):
                if made == per_day:
                    break
                made += 1
                offset = n * slot + rng.uniform(0, slot - 120)
                recorded = start + timedelta(days=day, seconds=offset)
                population.add(
                    PlannedClip(
                        name,
                        f"CAM-{name}-{camera}",
                        recorded,
                        recorded + timedelta(minutes=rng.randint(1, 600)),
                        staged=rng.random() < 0.1,
                    )
                )


def steady_donors(
    population: Population,
    count: int,
    end: datetime,
    days: int,
    clips: tuple[int, int],
    prefix: str = "steady",
) -> None:
    """Keen ordinary donors with one camera each: between ``clips[0]`` and ``clips[1]``
    clips spread over the ``days`` before ``end`` (100-150 in two months is 2-2.5 a
    day), about one in ten staged."""
    rng = population.rng
    for n in range(count):
        name = f"{prefix}-{n:05d}"
        for _ in range(rng.randint(*clips)):
            recorded = end - timedelta(seconds=rng.randrange(days * 86_400))
            population.add(
                PlannedClip(
                    name,
                    f"CAM-{name}",
                    recorded,
                    recorded + timedelta(minutes=rng.randint(1, 600)),
                    duration_s=rng.uniform(15, 60),
                    staged=rng.random() < 0.1,
                )
            )
