"""The fraud signals: each reads the clips (mostly as SQL aggregates) and returns
findings. A full scan reads all clips; an incremental scan only what new clips can
have changed (their cameras, donors, days, hashes, calls).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, and_, case, distinct, func, literal, select
from sqlalchemy.orm import Session

from rewards_engine.db import one_of, seconds_between, utc_bucket
from rewards_engine.domain.fraud import (
    Finding,
    HashSet,
    RuleConfig,
    modified_z_scores,
    near_matches,
    near_pairs,
    tier,
)
from rewards_engine.models import Campaign, Clip, Donor

COUNTED = ("accepted", "pending_review")  # clips that earn or may earn
CLIP_ID_LIMIT = 5_000  # clips named by one piece of evidence, at most


@dataclass(frozen=True)
class Scope:
    """Which clips a scan reads: all, or those with ``after_id < id <= up_to_id``."""

    full: bool
    after_id: int
    up_to_id: int
    now: datetime | None = None  # the scan's time: rules measured over a window end here

    def new(self) -> ColumnElement[bool]:
        return and_(Clip.id > self.after_id, Clip.id <= self.up_to_id)


@dataclass
class HashIndex:
    """The perceptual hashes already scanned, kept by the scheduler between scans so an
    incremental scan compares new clips without reading a million old ones again."""

    up_to_id: int = -1
    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    donors: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    cameras: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    hashes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint64))
    camera_codes: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def rows(
        self, session: Session, where: ColumnElement[bool]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        result = session.execute(
            select(Clip.id, Clip.donor_id, Clip.camera_id, Clip.perceptual_hash).where(
                where, Clip.perceptual_hash.is_not(None), Clip.status.in_(COUNTED)
            )
        ).all()
        codes = self.camera_codes
        ids = np.fromiter((r[0] for r in result), dtype=np.int64, count=len(result))
        donors = np.fromiter((r[1] for r in result), dtype=np.int64, count=len(result))
        cameras = np.fromiter(
            (codes.setdefault(r[2], len(codes)) for r in result), dtype=np.int64, count=len(result)
        )
        hashes = np.fromiter(
            (r[3] & 0xFFFFFFFFFFFFFFFF for r in result), dtype=np.uint64, count=len(result)
        )
        return ids, donors, cameras, hashes

    def reset(self) -> None:
        fresh = HashIndex()
        self.up_to_id, self.ids, self.donors = fresh.up_to_id, fresh.ids, fresh.donors
        self.cameras, self.hashes, self.camera_codes = fresh.cameras, fresh.hashes, {}

    def append(
        self, rows: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], up_to_id: int
    ) -> None:
        ids, donors, cameras, hashes = rows
        self.ids = np.concatenate([self.ids, ids])
        self.donors = np.concatenate([self.donors, donors])
        self.cameras = np.concatenate([self.cameras, cameras])
        self.hashes = np.concatenate([self.hashes, hashes])
        self.up_to_id = up_to_id

    def extend(self, session: Session, up_to_id: int) -> None:
        """Load what this index lacks, up to ``up_to_id`` (all of it, the first time)."""
        if up_to_id <= self.up_to_id:
            return
        self.append(
            self.rows(session, and_(Clip.id > self.up_to_id, Clip.id <= up_to_id)), up_to_id
        )


Signal = Callable[[Session, RuleConfig, Scope, HashIndex], list[Finding]]


def _counted() -> ColumnElement[bool]:
    return Clip.status.in_(COUNTED)


def _clip_ids(
    session: Session,
    wanted: Iterable[Hashable],
    where: Sequence[Any],
    columns: Sequence[Any],
    keys_of: Callable[[Any], Iterable[Hashable]],
) -> dict[Hashable, tuple[int, ...]]:
    """The clips each piece of evidence names, read in one query for all of them (not
    one per finding: the leader's 200,000 clips would be read hundreds of times)."""
    found: dict[Hashable, list[int]] = {key: [] for key in wanted}
    if found:
        rows = session.execute(select(Clip.id, *columns).where(*where).order_by(Clip.id))
        for row in rows:
            for key in keys_of(row):
                ids = found.get(key)
                if ids is not None and len(ids) < CLIP_ID_LIMIT:
                    ids.append(row.id)
    return {key: tuple(ids) for key, ids in found.items()}


def _new_values(session: Session, scope: Scope, column: Any) -> list[Any]:
    return list(session.scalars(select(column).where(scope.new()).distinct()))


def _earliest_new(session: Session, scope: Scope, column: Any) -> datetime | None:
    """Read the new clips' values, not ``min()``: PostgreSQL would walk the column's
    index from the start, past a million old rows, to find the first new one."""
    values = list(session.scalars(select(column).where(scope.new(), column.is_not(None))))
    return min(values) if values else None


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# --- velocity ------------------------------------------------------------------------------

WINDOWS = {"hour": 3_600, "day": 86_400}


def velocity(session: Session, rule: RuleConfig, scope: Scope, _: HashIndex) -> list[Finding]:
    """Seconds of footage per camera and hour or day beyond the hour or the day."""
    utilisation = rule.param("max_utilisation")
    per_day_limit = int(rule.param("max_clips_per_camera_day"))
    where: list[Any] = [_counted()]
    if not scope.full:
        cameras = _new_values(session, scope, Clip.camera_id)
        earliest = _earliest_new(session, scope, Clip.recorded_at)
        if not cameras or earliest is None:
            return []
        where += [
            one_of(session, Clip.camera_id, cameras),
            Clip.recorded_at >= earliest - timedelta(days=1),
        ]
    findings = []
    for window, length in WINDOWS.items():
        bucket = utc_bucket(session, Clip.recorded_at, window).label("bucket")
        seconds = func.sum(Clip.duration_s)
        too_many = literal(False)
        if window == "day" and per_day_limit:
            too_many = func.count() > per_day_limit
        rows = session.execute(
            select(Clip.donor_id, Clip.camera_id, bucket, func.count(), seconds)
            .where(*where)
            .group_by(Clip.donor_id, Clip.camera_id, bucket)
            .having((seconds > length * utilisation) | too_many)
        ).all()
        if not rows:
            continue
        pattern = "%Y-%m-%d %H" if window == "hour" else "%Y-%m-%d"
        starts = [_bucket_start(moment, window) for _, _, moment, _, _ in rows]
        ids = _clip_ids(
            session,
            ((donor, camera, moment) for donor, camera, moment, _, _ in rows),
            [
                _counted(),
                one_of(session, Clip.camera_id, sorted({r[1] for r in rows})),
                Clip.recorded_at >= min(starts),
                Clip.recorded_at < max(starts) + timedelta(seconds=length),
            ],
            [Clip.donor_id, Clip.camera_id, Clip.recorded_at],
            lambda r, pattern=pattern: [
                (r.donor_id, r.camera_id, _utc(r.recorded_at).strftime(pattern))
            ],
        )
        for (donor_id, camera, moment, clips, total), start in zip(rows, starts, strict=True):
            capacity = length * utilisation
            score = max(total / capacity, clips / per_day_limit if per_day_limit else 0)
            findings.append(
                Finding(
                    rule.code,
                    donor_id,
                    f"{window}:{camera}:{moment}:t{tier(clips)}",
                    round(score, 3),
                    round(score, 3),
                    f"camera {camera}: {clips} clips, {total:,.0f} s of footage in the "
                    f"{window} of {moment} ({length:,} s)",
                    {
                        "window": window,
                        "camera_id": camera,
                        "start": start.isoformat(),
                        "clips": clips,
                        "seconds": round(total, 1),
                        "capacity_s": capacity,
                    },
                    ids[(donor_id, camera, moment)],
                )
            )
    return findings


def _bucket_start(text: str, window: str) -> datetime:
    pattern = "%Y-%m-%d %H" if window == "hour" else "%Y-%m-%d"
    return datetime.strptime(text, pattern).replace(tzinfo=UTC)


# --- cohort outliers ------------------------------------------------------------------------


def cohort_outlier(session: Session, rule: RuleConfig, scope: Scope, _: HashIndex) -> list[Finding]:
    """A donor's accepted clips in a day, against every donor of the campaign that day."""
    max_z, minimum = rule.param("max_z"), rule.param("min_daily_clips")
    day = utc_bucket(session, Clip.accepted_at, "day").label("day")
    where: list[Any] = [Clip.status == "accepted", Clip.accepted_at.is_not(None)]
    if not scope.full:
        earliest = _earliest_new(session, scope, Clip.accepted_at)
        campaigns = _new_values(session, scope, Clip.campaign_id)
        if earliest is None:
            return []
        start = earliest.replace(hour=0, minute=0, second=0, microsecond=0)
        where += [Clip.accepted_at >= start, one_of(session, Clip.campaign_id, campaigns)]
    rows = session.execute(
        select(Clip.campaign_id, day, Clip.donor_id, func.count())
        .where(*where)
        .group_by(Clip.campaign_id, day, Clip.donor_id)
    ).all()
    cohorts: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for campaign, moment, donor_id, clips in rows:
        cohorts[(campaign, moment)].append((donor_id, clips))
    flagged = []
    for (campaign, moment), members in cohorts.items():
        if max(clips for _, clips in members) < minimum:
            continue
        counts = [clips for _, clips in members]
        median = float(np.median(counts))
        for (donor_id, clips), z in zip(members, modified_z_scores(counts), strict=True):
            if clips >= minimum and z > max_z:
                flagged.append((campaign, moment, donor_id, clips, z, median, len(members)))
    if not flagged:
        return []
    days = [_bucket_start(moment, "day") for _, moment, *_ in flagged]
    ids = _clip_ids(
        session,
        ((campaign, moment, donor) for campaign, moment, donor, *_ in flagged),
        [
            Clip.status == "accepted",
            one_of(session, Clip.donor_id, sorted({f[2] for f in flagged})),
            Clip.accepted_at >= min(days),
            Clip.accepted_at < max(days) + timedelta(days=1),
        ],
        [Clip.campaign_id, Clip.donor_id, Clip.accepted_at],
        lambda r: [(r.campaign_id, _utc(r.accepted_at).strftime("%Y-%m-%d"), r.donor_id)],
    )
    return [
        Finding(
            rule.code,
            donor_id,
            f"{campaign}:{moment}:t{tier(clips)}",
            round(z, 2),
            float(clips),
            f"{clips} clips accepted on {moment} in {campaign}; the cohort's median "
            f"is {median:g} ({size} donors), modified z {z:.1f}",
            {
                "campaign_id": campaign,
                "day": moment,
                "clips": clips,
                "cohort_median": median,
                "cohort_size": size,
                "z": round(z, 2),
            },
            ids[(campaign, moment, donor_id)],
        )
        for campaign, moment, donor_id, clips, z, median, size in flagged
    ]


# --- duplicates -----------------------------------------------------------------------------


def exact_duplicate(
    session: Session, rule: RuleConfig, scope: Scope, _: HashIndex
) -> list[Finding]:
    """The same SHA-256 from several donors: everyone after the first is flagged."""
    shared = select(Clip.video_sha256).group_by(Clip.video_sha256)
    if not scope.full:
        hashes = _new_values(session, scope, Clip.video_sha256)
        if not hashes:
            return []
        shared = shared.where(one_of(session, Clip.video_sha256, hashes))
    shared = shared.having(func.count(distinct(Clip.donor_id)) > 1)
    rows = session.execute(
        select(Clip.video_sha256, Clip.donor_id, Clip.id, Clip.status)
        .where(Clip.video_sha256.in_(shared.scalar_subquery()))
        .order_by(Clip.video_sha256, Clip.id)
    ).all()
    by_hash: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        by_hash[row.video_sha256].append(row)
    findings = []
    for sha, copies in by_hash.items():
        first = copies[0]
        later: dict[int, list[int]] = defaultdict(list)
        for copy in copies[1:]:
            if copy.donor_id != first.donor_id:
                later[copy.donor_id].append(copy.id)
        for donor_id, clip_ids in later.items():
            findings.append(
                Finding(
                    rule.code,
                    donor_id,
                    f"sha:{sha}",
                    1.0,
                    float(len(clip_ids)),
                    f"video {sha[:12]}… was donated first by donor {first.donor_id} "
                    f"(clip {first.id})",
                    {
                        "sha256": sha,
                        "first_donor_id": first.donor_id,
                        "first_clip_id": first.id,
                        "clip_ids": clip_ids,
                    },
                    tuple(clip_ids),
                )
            )
    return findings


def near_duplicate(
    session: Session, rule: RuleConfig, scope: Scope, index: HashIndex
) -> list[Finding]:
    """Perceptual hashes a few bits apart on different cameras: the later clip's donor
    is flagged. The full scan searches every pair; an incremental one searches only new
    clips against the index of those already scanned."""
    distance = int(rule.param("max_distance"))
    within = bool(rule.param("within_camera"))
    with index.lock:
        if scope.full:
            index.reset()  # start over from the database
            index.extend(session, scope.up_to_id)
            items = HashSet(index.hashes, index.cameras)
            pairs = [
                (int(index.ids[i]), int(index.ids[j]), d, i, j)
                for i, j, d in near_pairs(items, distance, within_group=within)
            ]
        else:
            index.extend(session, scope.after_id)
            rows = index.rows(session, scope.new())
            ids, _, cameras, hashes = rows
            new = HashSet(hashes, cameras)
            old = HashSet(index.hashes, index.cameras)
            pairs = [
                (int(index.ids[o]), int(ids[q]), d, o, q)
                for q, o, d in near_matches(old, new, distance, within_group=within)
            ]
            pairs += [
                (int(ids[i]), int(ids[j]), d, i, j)
                for i, j, d in near_pairs(new, distance, within_group=within)
            ]
            index.append(rows, scope.up_to_id)
    return _near_findings(session, rule, pairs) if pairs else []


def _near_findings(
    session: Session, rule: RuleConfig, pairs: Sequence[tuple[int, int, int, int, int]]
) -> list[Finding]:
    clip_ids = sorted({c for a, b, *_ in pairs for c in (a, b)})
    clips = {
        row.id: row
        for row in session.execute(
            select(Clip.id, Clip.donor_id, Clip.camera_id, Clip.status).where(
                one_of(session, Clip.id, clip_ids)
            )
        )
    }
    findings = []
    for a, b, d, *_ in pairs:
        first, later = sorted((a, b))
        one, two = clips.get(first), clips.get(later)
        if one is None or two is None or two.status not in COUNTED or one.status not in COUNTED:
            continue  # reversed or rejected since the index was built
        findings.append(
            Finding(
                rule.code,
                two.donor_id,
                f"pair:{first}:{later}",
                1.0,
                1.0,
                f"clip {later} (camera {two.camera_id}) is {d} bits from clip {first} "
                f"(donor {one.donor_id}, camera {one.camera_id})",
                {
                    "clip_id": later,
                    "camera_id": two.camera_id,
                    "distance": d,
                    "original_clip_id": first,
                    "original_donor_id": one.donor_id,
                    "original_camera_id": one.camera_id,
                },
                (later,),
            )
        )
    return findings


# --- staging -------------------------------------------------------------------------------


def staging_fanout(session: Session, rule: RuleConfig, scope: Scope, _: HashIndex) -> list[Finding]:
    """One moment claimed as more events than cameras filmed it; one event claimed with
    more clips than its cameras or the campaign pays."""
    window = rule.param("window_s")
    min_events = int(rule.param("min_events"))
    where: list[Any] = [_counted()]
    if not scope.full:
        donors = _new_values(session, scope, Clip.donor_id)
        earliest = _earliest_new(session, scope, Clip.recorded_at)
        if not donors or earliest is None:
            return []
        since = earliest - timedelta(seconds=window)
        # A clip is donated after it is recorded: the created_at bound lets the
        # (donor, created_at) index skip a heavy donor's older clips.
        where += [
            one_of(session, Clip.donor_id, donors),
            Clip.recorded_at >= since,
            Clip.created_at >= since,
        ]
    previous = func.lag(Clip.recorded_at).over(
        partition_by=Clip.donor_id, order_by=(Clip.recorded_at, Clip.id)
    )
    ordered = (
        select(
            Clip.id,
            Clip.donor_id,
            Clip.camera_id,
            Clip.event_id,
            Clip.recorded_at,
            case(
                (seconds_between(session, Clip.recorded_at, previous) <= window, 0), else_=1
            ).label("starts"),
        )
        .where(*where)
        .subquery()
    )
    clustered = select(
        ordered,
        func.sum(ordered.c.starts)
        .over(partition_by=ordered.c.donor_id, order_by=(ordered.c.recorded_at, ordered.c.id))
        .label("cluster"),
    ).subquery()
    events = func.count(distinct(clustered.c.event_id))
    cameras = func.count(distinct(clustered.c.camera_id))
    rows = session.execute(
        select(
            clustered.c.donor_id,
            func.min(clustered.c.id),
            func.count(),
            events,
            cameras,
            func.min(clustered.c.recorded_at),
            func.max(clustered.c.recorded_at),
        )
        .group_by(clustered.c.donor_id, clustered.c.cluster)
        .having(events > cameras, events >= min_events)
    ).all()
    moments = [(donor, first, clips, n_events, n_cameras, _utc(a), _utc(b))
               for donor, first, clips, n_events, n_cameras, a, b in rows]  # fmt: skip
    ids = _clip_ids(
        session,
        (m[1] for m in moments),
        [
            _counted(),
            one_of(session, Clip.donor_id, sorted({m[0] for m in moments})),
            Clip.recorded_at >= min((m[5] for m in moments), default=datetime.now(UTC)),
            Clip.recorded_at <= max((m[6] for m in moments), default=datetime.now(UTC)),
        ],
        [Clip.donor_id, Clip.recorded_at],
        _moments_of(moments),
    )
    findings = [
        Finding(
            rule.code,
            donor_id,
            f"moment:{first_id}",
            round(n_events / n_cameras, 2),
            round(n_events / n_cameras, 2),
            f"{n_events} events claimed from {n_cameras} camera(s) within "
            f"{(end - start).total_seconds():.0f} s",
            {
                "first_clip_id": first_id,
                "clips": clips,
                "events": n_events,
                "cameras": n_cameras,
                "from": start.isoformat(),
                "to": end.isoformat(),
            },
            ids[first_id],
        )
        for donor_id, first_id, clips, n_events, n_cameras, start, end in moments
    ]
    findings += _events_with_too_many_clips(session, rule, scope)
    return findings


def _moments_of(moments: Sequence[tuple[Any, ...]]) -> Callable[[Any], list[Hashable]]:
    """Which flagged moments (by their first clip) a clip falls in."""
    by_donor: dict[int, list[tuple[datetime, datetime, int]]] = defaultdict(list)
    for donor, first, *_, start, end in moments:
        by_donor[donor].append((start, end, first))

    def keys(row: Any) -> list[Hashable]:
        at = _utc(row.recorded_at)
        return [first for start, end, first in by_donor[row.donor_id] if start <= at <= end]

    return keys


def _events_with_too_many_clips(session: Session, rule: RuleConfig, scope: Scope) -> list[Finding]:
    where: list[Any] = [Clip.status != "duplicate"]
    if not scope.full:
        donors = _new_values(session, scope, Clip.donor_id)
        if not donors:
            return []
        events = _new_values(session, scope, Clip.event_id)
        where += [one_of(session, Clip.donor_id, donors), one_of(session, Clip.event_id, events)]
    clips = func.count()
    cameras = func.count(distinct(Clip.camera_id))
    rows = session.execute(
        select(
            Clip.donor_id,
            Clip.campaign_id,
            Clip.event_id,
            clips,
            cameras,
            Campaign.cap_paid_per_event,
        )
        .join(Campaign, Campaign.id == Clip.campaign_id)
        .where(*where)
        .group_by(Clip.donor_id, Clip.campaign_id, Clip.event_id, Campaign.cap_paid_per_event)
        .having(
            (clips > cameras)
            | (Campaign.cap_paid_per_event.is_not(None) & (clips > Campaign.cap_paid_per_event))
        )
    ).all()
    ids = _clip_ids(
        session,
        ((donor, campaign, event) for donor, campaign, event, *_ in rows),
        [
            _counted(),
            one_of(session, Clip.donor_id, sorted({r[0] for r in rows})),
            one_of(session, Clip.event_id, sorted({r[2] for r in rows})),
        ],
        [Clip.donor_id, Clip.campaign_id, Clip.event_id],
        lambda r: [(r.donor_id, r.campaign_id, r.event_id)],
    )
    findings = []
    for donor_id, campaign, event, n_clips, n_cameras, cap in rows:
        allowed = min(n_cameras, cap) if cap else n_cameras
        findings.append(
            Finding(
                rule.code,
                donor_id,
                f"event:{campaign}:{event}:t{tier(n_clips)}"[:200],
                round(n_clips / max(allowed, 1), 2),
                float(n_clips),
                f"event {event}: {n_clips} clips from {n_cameras} camera(s)"
                + (f"; the campaign pays {cap} per event" if cap else ""),
                {
                    "campaign_id": campaign,
                    "event_id": event,
                    "clips": n_clips,
                    "cameras": n_cameras,
                    "paid_per_event": cap,
                },
                ids[(donor_id, campaign, event)],
            )
        )
    return findings


# --- shared identities ------------------------------------------------------------------------


def shared_identity(
    session: Session, rule: RuleConfig, scope: Scope, _: HashIndex
) -> list[Finding]:
    """One payout destination under several donors; one camera under several accounts.

    Every account of a ring is flagged, the first holder of a camera as well as those
    it moved to, each with the whole ring (accounts, their clips, who was first). The
    magnitude is what the ring shares (accounts on a destination, clips on a camera),
    so the evidence is brought up to date as it grows and a dismissed ring is reviewed
    again once it has doubled."""
    findings = []
    shared = (
        select(Donor.payout_fingerprint)
        .where(Donor.payout_fingerprint.is_not(None))
        .group_by(Donor.payout_fingerprint)
        .having(func.count() > 1)
    )
    groups: dict[str, list[int]] = defaultdict(list)
    for fingerprint, donor_id in session.execute(
        select(Donor.payout_fingerprint, Donor.id)
        .where(Donor.payout_fingerprint.in_(shared.scalar_subquery()))
        .order_by(Donor.id)
    ):
        groups[fingerprint].append(donor_id)
    for fingerprint, donors in groups.items():
        for donor_id in donors:
            others = [d for d in donors if d != donor_id]
            findings.append(
                Finding(
                    rule.code,
                    donor_id,
                    f"payout:{fingerprint[:32]}",
                    float(len(donors)),
                    float(len(donors)),
                    f"the payout destination is also set by donor(s) {others}",
                    {"shared_with": others},
                )
            )
    cameras = select(Clip.camera_id).group_by(Clip.camera_id)
    if not scope.full:
        touched = _new_values(session, scope, Clip.camera_id)
        if not touched:
            return findings
        cameras = cameras.where(one_of(session, Clip.camera_id, touched))
    cameras = cameras.having(func.count(distinct(Clip.donor_id)) > 1)
    rows = session.execute(
        select(Clip.camera_id, Clip.donor_id, func.min(Clip.id), func.count())
        .where(Clip.camera_id.in_(cameras.scalar_subquery()))
        .group_by(Clip.camera_id, Clip.donor_id)
        .order_by(Clip.camera_id, func.min(Clip.id))
    ).all()
    by_camera: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        by_camera[row[0]].append(row)
    members = [(camera, user[1]) for camera, users in by_camera.items() for user in users]
    ids = _clip_ids(
        session,
        ((donor_id, camera) for camera, donor_id in members),
        [
            _counted(),
            one_of(session, Clip.camera_id, sorted(by_camera)),
            one_of(session, Clip.donor_id, sorted({donor_id for _, donor_id in members})),
        ],
        [Clip.donor_id, Clip.camera_id],
        lambda r: [(r.donor_id, r.camera_id)],
    )
    for camera, users in by_camera.items():
        ring = [
            {"donor_id": donor_id, "clips": clips, "first_clip_id": first_clip}
            for _, donor_id, first_clip, clips in users
        ]
        total = sum(user["clips"] for user in ring)
        for position, user in enumerate(ring):
            others = [f"donor {o['donor_id']} ({o['clips']} clips)" for o in ring if o is not user]
            if position == 0:
                text = f"camera {camera} donated here first ({user['clips']} clips), then under "
            else:
                first = ring[0]
                text = (
                    f"camera {camera} donated here ({user['clips']} clips) after donor "
                    f"{first['donor_id']} first; the camera is also under "
                )
            findings.append(
                Finding(
                    rule.code,
                    user["donor_id"],
                    f"camera:{camera}"[:200],
                    1.0,
                    float(total),
                    (text + ", ".join(others))[:500],
                    {
                        "camera_id": camera,
                        "first_donor_id": ring[0]["donor_id"],
                        "position": position,
                        "clips": user["clips"],
                        "first_clip_id": user["first_clip_id"],
                        "accounts": ring,
                        "total_clips": total,
                    },
                    ids[(user["donor_id"], camera)],
                )
            )
    return findings


# --- backfill dumps and staged shares ------------------------------------------------------------


def backfill_dump(session: Session, rule: RuleConfig, scope: Scope, _: HashIndex) -> list[Finding]:
    """Many clips in one call recorded long before they were donated."""
    age = rule.param("min_age_days") * 86_400
    minimum = int(rule.param("min_clips"))
    old = seconds_between(session, Clip.created_at, Clip.recorded_at) > age
    where: list[Any] = [Clip.status != "duplicate", old]
    if not scope.full:
        where.append(scope.new())
    rows = session.execute(
        select(
            Clip.batch_id,
            Clip.donor_id,
            func.count(),
            func.min(Clip.recorded_at),
            func.max(Clip.created_at),
        )
        .where(*where)
        .group_by(Clip.batch_id, Clip.donor_id)
        .having(func.count() >= minimum)
    ).all()
    ids = _clip_ids(
        session,
        (batch_id for batch_id, *_ in rows),
        [
            one_of(session, Clip.donor_id, sorted({r[1] for r in rows})),
            one_of(session, Clip.batch_id, sorted({r[0] for r in rows})),
            old,
        ],
        [Clip.batch_id],
        lambda r: [r.batch_id],
    )
    return [
        Finding(
            rule.code,
            donor_id,
            f"batch:{batch_id}",
            round(clips / minimum, 2),
            float(clips),
            f"{clips} clips in one call recorded more than {age / 86_400:g} days before; the "
            f"oldest on {_utc(oldest).date()}",
            {
                "batch_id": batch_id,
                "clips": clips,
                "oldest_recorded_at": _utc(oldest).isoformat(),
                "donated_at": _utc(donated).isoformat(),
            },
            ids[batch_id],
        )
        for batch_id, donor_id, clips, oldest, donated in rows
    ]


def staged_share(session: Session, rule: RuleConfig, scope: Scope, _: HashIndex) -> list[Finding]:
    """A donor's share of staged clips (over the campaign), or clips per camera per day
    (over the rule's window), far above the campaign's donors'. It compares whole
    campaigns, so it runs in full scans only.

    The rate is the donor's clips recorded in the window over their cameras in the
    window and the window's days (the last ``window_days`` of the campaign up to the
    scan, fewer if the campaign is younger): a one-camera donor with 150 clips in two
    months films 2.5 a day, a camera "filming" an incident every hour 24.
    """
    if not scope.full:
        return []
    minimum, max_z = rule.param("min_clips"), rule.param("max_z")
    staged = func.sum(case((Clip.staged.is_(True), 1), else_=0))
    rows = session.execute(
        select(Clip.campaign_id, Clip.donor_id, func.count(), staged)
        .where(_counted())
        .group_by(Clip.campaign_id, Clip.donor_id)
        .having(func.count() >= minimum)
    ).all()
    findings = []
    floor = rule.param("min_share")
    for campaign, members in _by_campaign(rows).items():
        values = [r[3] / r[2] for r in members]
        findings += _outliers(
            rule, campaign, "staged", members, values, floor, max_z,
            lambda r, v: f"share of staged clips {v:.2f} ({r[3]} of {r[2]})",
            lambda r: {"clips": r[2], "staged": r[3]},
        )  # fmt: skip
    findings += _camera_rates(session, rule, scope)
    return findings


def _by_campaign(rows: Sequence[Any]) -> dict[str, list[Any]]:
    by_campaign: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        by_campaign[row[0]].append(row)
    return by_campaign


def _camera_rates(session: Session, rule: RuleConfig, scope: Scope) -> list[Finding]:
    """Clips per camera per day over each campaign's window (see :func:`staged_share`)."""
    minimum, max_z = rule.param("min_clips"), rule.param("max_z")
    floor, window = rule.param("min_clips_per_camera_day"), rule.param("window_days")
    if window <= 0:
        return []
    now = _utc(scope.now or datetime.now(UTC))
    findings = []
    for campaign, starts_at, ends_at in session.execute(
        select(Campaign.id, Campaign.starts_at, Campaign.ends_at)
    ).all():
        end = min(now, _utc(ends_at)) if ends_at is not None else now
        start = max(end - timedelta(days=window), _utc(starts_at))
        days = max((end - start).total_seconds() / 86_400, 1.0)
        rows = session.execute(
            select(
                Clip.campaign_id, Clip.donor_id, func.count(), func.count(distinct(Clip.camera_id))
            )
            .where(
                _counted(),
                Clip.campaign_id == campaign,
                Clip.recorded_at >= start,
                Clip.recorded_at <= end,
            )
            .group_by(Clip.campaign_id, Clip.donor_id)
            .having(func.count() >= minimum)
        ).all()
        if not rows:
            continue
        values = [r[2] / r[3] / days for r in rows]
        findings += _outliers(
            rule, campaign, "per_camera_day", rows, values, floor, max_z,
            lambda r, v, days=days, end=end: (
                f"{v:.2f} clips per camera per day ({r[2]} clips on {r[3]} camera(s) in the "
                f"{days:g} days to {end.date()})"
            ),
            lambda r, days=days, start=start, end=end: {
                "clips": r[2], "cameras": r[3], "days": round(days, 2),
                "from": start.isoformat(), "to": end.isoformat(),
            },
        )  # fmt: skip
    return findings


def _outliers(
    rule: RuleConfig,
    campaign: str,
    measure: str,
    members: Sequence[Any],
    values: Sequence[float],
    floor: float,
    max_z: float,
    describe: Callable[[Any, float], str],
    figures: Callable[[Any], dict[str, Any]],
) -> list[Finding]:
    """Donors whose measure is at least ``floor`` and a modified z-score above ``max_z``.
    The magnitude is the measure in multiples of its floor, so a dismissal's cover means
    the same for both measures (1.5 times the floor is 1.5 whichever it is)."""
    if not members:
        return []
    median = float(np.median(values))
    findings = []
    for row, value, z in zip(members, values, modified_z_scores(values), strict=True):
        if value < floor or z <= max_z:
            continue
        findings.append(
            Finding(
                rule.code,
                row[1],
                f"{campaign}:{measure}",
                round(z, 2),
                round(value / floor, 3) if floor > 0 else round(value, 3),
                f"{describe(row, value)} in {campaign} against a median of {median:.2f} "
                f"({len(members)} donors), modified z {z:.1f}",
                {
                    "campaign_id": campaign,
                    "measure": measure,
                    "value": round(value, 3),
                    "floor": floor,
                    "cohort_median": median,
                    "cohort_size": len(members),
                    "z": round(z, 2),
                    **figures(row),
                },
            )
        )
    return findings


SIGNALS: dict[str, Signal] = {
    "velocity": velocity,
    "cohort_outlier": cohort_outlier,
    "exact_duplicate": exact_duplicate,
    "near_duplicate": near_duplicate,
    "staging_fanout": staging_fanout,
    "shared_identity": shared_identity,
    "backfill_dump": backfill_dump,
    "staged_share": staged_share,
}
