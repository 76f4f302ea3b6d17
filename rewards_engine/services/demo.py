"""A living demo: the program's past weeks, built once from ``fixtures/demo_activity.toml``.

Everything goes through the same use cases as real traffic (consent, submissions,
uploads and their verification, support adjustments, redemptions, vesting, the fraud
scan, payout batches), each at the moment it would have happened (a clock moved to
each donation), so that the app and the console show a believable program on first
run: populated boards, medals, balances to spend, a redemption and a fraud flag to
handle, a payout batch to settle.

Each donated clip is a real video, tiny (``rewards_engine.media.synthetic``), claimed,
put into the video store as the app would upload it, completed, then verified by the
verify-uploads job's own code (``services.verification``): the engine measures and
pays the demo's videos as it does any donor's.
"""

from __future__ import annotations

import hashlib
import io
import logging
import random
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlmodel import col

from rewards_engine.attestations import sign_development_attestation
from rewards_engine.clock import FixedClock
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.submissions import ClipInput
from rewards_engine.media.synthetic import DistinctVideos
from rewards_engine.models import Campaign, Clip, ClipClaim, Donor
from rewards_engine.runtime import Runtime
from rewards_engine.services import cameras as camera_registry
from rewards_engine.services import (
    consents,
    donors,
    fraud,
    medals,
    payouts,
    redemptions,
    submissions,
    support,
    uploads,
    verification,
    vesting,
)

log = logging.getLogger(__name__)
SUPPORT = Actor(id="support:demo", role="support")
DEVICE_CLOUD = Actor(id="service:device-cloud", role="service")
CAMERA_MODELS = ("Cam Outdoor 2", "Doorbell Pro", "Cam Floodlight")
FILE = "demo_activity.toml"
VIDEO_TYPE = "video/mp4"
VERIFIED_AFTER = timedelta(seconds=20)  # the verify-uploads job's interval


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
    ``on_progress(step, done, total)`` hears of the donors joined, the donations
    made (calls), then of the aftermath (one step)."""
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
    report = DemoReport(built=True)
    with _wal_kept(runtime):
        _build(runtime, spec, kinds, report, on_progress)
    log.info("demo activity built", extra={"fields": report.as_dict()})
    return report


def _build(
    runtime: Runtime,
    spec: dict[str, Any],
    kinds: list[str],
    report: DemoReport,
    on_progress: Callable[[str, int, int | None], None] | None,
) -> None:
    """The donors join, donate through the weeks, then the aftermath."""
    rng = random.Random(spec["seed"])  # noqa: S311 - demo data, the same every time
    now = runtime.clock.now().replace(microsecond=0)
    start = now - timedelta(weeks=spec["weeks"])
    version = consents.get_current(runtime.db, runtime.clock).version
    app = DemoApp(runtime, spec["campaign"], version, seed=spec["seed"])
    people = _donors(runtime, spec, rng, start, version, on_progress)
    report.donors = len(people)
    days = (now - start).days
    seconds = tuple(spec["clip_seconds"])
    calls = []
    for donor_id, plan in people.items():
        for day in sorted(rng.sample(range(days), k=min(days, plan.days(rng, days)))):
            moment = start + timedelta(days=day, hours=rng.uniform(7, 22))
            count = rng.randint(*plan.clips_per_day)
            clips = [plan.clip(rng, moment, kinds, seconds) for _ in range(count)]
            calls.append(Call(donor_id, moment, clips))

    def made(done: int, clips: int) -> None:
        report.calls, report.clips = done, report.clips + clips
        if on_progress:
            on_progress("donations made", done, len(calls))

    app.donate_all(calls, on_done=made)
    if on_progress:
        on_progress("aftermath", 0, 1)  # vesting, medals, a redemption, payouts
    _aftermath(runtime, app, spec, start)
    if on_progress:
        on_progress("aftermath", 1, 1)


@contextmanager
def _wal_kept(runtime: Runtime) -> Iterator[None]:
    """On SQLite, one idle connection held open while the demo's thousands of short
    transactions run: the last connection to close makes SQLite checkpoint and delete
    its write-ahead log (a disk flush), and the next commit start a new one (another)."""
    if not runtime.db.is_sqlite:
        yield
        return
    with runtime.db.engine.connect():
        yield


@dataclass(frozen=True)
class PlannedClip:
    """A clip a demo donor is about to donate: its video is made when it is donated."""

    event_id: str
    incident_type: str
    camera_id: str
    recorded_at: datetime
    seconds: int
    staged: bool = False


@dataclass(frozen=True)
class Call:
    """One call of the app: a donor's clips, donated at ``moment``."""

    donor_id: int
    moment: datetime
    clips: Sequence[PlannedClip]


@dataclass(frozen=True)
class _Claimed:
    """A call's claims, their videos uploaded, waiting for the app to say so."""

    call: Call
    claim_ids: list[int]


class DemoApp:
    """The demo's donations, made as the app makes them: each clip a real video (a
    scene of its own, ``DistinctVideos``), claimed (``submissions.submit``), put into
    the video store under its claim's key (as the app's upload would), completed
    (``uploads.complete``), then verified and paid by the verify-uploads job's code
    (``verification.verify_uploads``, until it finds nothing more), all at the moment
    of the donation. Any video the engine refuses is a bug of the demo: it raises."""

    def __init__(self, runtime: Runtime, campaign: str, version: str, *, seed: int) -> None:
        self.campaign, self.version = campaign, version
        self.clock = FixedClock(runtime.clock.now())
        self.runtime = _on_clock(runtime, self.clock)
        self.videos = DistinctVideos(seed)

    def donate(self, donor_id: int, moment: datetime, clips: Sequence[PlannedClip]) -> int:
        """Donate ``clips`` as one call at ``moment``; the clips decided."""
        return self._finish(self._claim(Call(donor_id, moment, clips)))

    def donate_all(
        self, calls: Sequence[Call], on_done: Callable[[int, int], None] | None = None
    ) -> None:
        """Donate ``calls`` in their order; ``on_done(calls done, clips decided)`` after
        each. While one call's uploads are completed and verified, a second thread
        makes, claims and uploads the next call's videos (its claims wait for their
        completion, so no verification run takes them before their moment)."""
        if not calls:
            return
        with ThreadPoolExecutor(1, thread_name_prefix="demo-app") as app:
            ahead = app.submit(self._claim, calls[0])
            for done, following in enumerate([*calls[1:], None], start=1):
                claimed = ahead.result()
                if following is not None:
                    ahead = app.submit(self._claim, following)
                decided = self._finish(claimed)
                if on_done:
                    on_done(done, decided)

    def _claim(self, call: Call) -> _Claimed:
        """Make the call's videos, claim them and upload each (on its own clock: this
        may run beside ``_finish`` of the previous call)."""
        runtime = self.runtime
        videos = self.videos.make([clip.seconds for clip in call.clips])
        clips = [
            ClipInput(
                video_sha256=hashlib.sha256(video).hexdigest(),
                event_id=clip.event_id,
                incident_type=clip.incident_type,
                camera_id=clip.camera_id,
                recorded_at=clip.recorded_at,
                duration_s=float(clip.seconds),
                staged=clip.staged,
                size_bytes=len(video),
                content_type=VIDEO_TYPE,
            )
            for clip, video in zip(call.clips, videos, strict=True)
        ]
        result = submissions.submit(
            runtime.db,
            FixedClock(call.moment),
            Actor(id=f"donor:{call.donor_id}", role="donor"),
            call.donor_id,
            submissions.SubmissionRequest(self.campaign, self.version, clips),
            uploads=runtime.settings.uploads,
        )
        claim_ids = [outcome.claim_id for outcome in result.outcomes if outcome.claim_id]
        assert len(claim_ids) == len(clips), "the program takes uploads: each clip is a claim"
        with runtime.db.read() as session:
            rows = session.execute(
                select(col(ClipClaim.id), col(ClipClaim.storage_key)).where(
                    col(ClipClaim.id).in_(claim_ids)
                )
            )
            keys = dict(rows.all())
        for claim_id, video in zip(claim_ids, videos, strict=True):
            runtime.video_store.put(keys[claim_id], io.BytesIO(video), content_type=VIDEO_TYPE)
        return _Claimed(call, claim_ids)

    def _finish(self, claimed: _Claimed) -> int:
        """Complete the call's uploads at its moment, then verify them: the clips
        decided."""
        runtime, call = self.runtime, claimed.call
        self.clock.set(call.moment)
        for claim_id in claimed.claim_ids:
            uploads.complete(runtime, call.donor_id, claim_id)
        self.clock.set(call.moment + VERIFIED_AFTER)
        decided, refused = 0, Counter[str]()
        while (report := verification.verify_uploads(runtime)).taken:
            decided += sum(report.decided.values())
            refused.update(report.rejected)
        if refused or decided != len(call.clips):
            raise RuntimeError(f"the demo's videos were not all paid: refused {dict(refused)}")
        return decided


def _on_clock(runtime: Runtime, clock: FixedClock) -> Runtime:
    """``runtime`` as seen at ``clock``: the same database, Redis and video store."""
    runtime.video_store  # noqa: B018 - built once, then shared
    moved = replace(runtime, clock=clock)
    for shared in ("db", "redis", "video_store", "vault"):
        if shared in vars(runtime):
            vars(moved)[shared] = vars(runtime)[shared]
    return moved


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
