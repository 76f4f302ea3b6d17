"""Deciding clips and storing the decisions: the campaign's rules applied to clips whose
facts are known (claimed by the app in campaigns without uploads; measured by the engine
once a video is verified), in one transaction with the donor locked.

Shared by a submission call and the verification of uploads, so that caps, duplicates
and targets are decided the same way, and exactly, whichever way a clip arrives.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any, TypeVar

from sqlalchemy import Select, bindparam, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.db import (
    UnitOfWork,
    allocate_ids,
    dialect_of,
    insert_rows,
    lock_keys,
    one_of,
    one_of_bound,
    one_of_words,
    point_lookups,
    table_of,
    upsert_adding,
    words,
)
from rewards_engine.domain import submissions as rules_of_clips
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.ledger import TransferKind, earnings
from rewards_engine.domain.privacy import camera_ids, salted_all
from rewards_engine.domain.submissions import (
    PAID_STATUSES,
    CameraRule,
    ClipInput,
    ClipStatus,
    Decision,
    PriorCounts,
    Rules,
)
from rewards_engine.models import Camera, Campaign, CampaignCounter, Clip
from rewards_engine.services import ledger, medals, wall
from rewards_engine.services.installation import erasure_salts

log = logging.getLogger(__name__)
HASH_RACE_RETRIES = 3
T = TypeVar("T")


def retrying_hash_races(attempt: Callable[[], T]) -> T:
    """Run ``attempt`` (one whole transaction) again when it lost a race on the clips'
    hash index: two donors storing the same new video at once collide there, and the
    loser's next try sees the winner's clip (a duplicate)."""
    for tries in range(1, HASH_RACE_RETRIES + 1):
        try:
            return attempt()
        except IntegrityError as exc:
            said = str(exc.orig)
            if "uq_clips_campaign_hash_owner" not in said and "video_sha256" not in said:
                raise
            if tries == HASH_RACE_RETRIES:
                raise
            log.info("clip hash race; retrying", extra={"fields": {"attempt": tries}})
    raise AssertionError("unreachable")


# Written as a literal, as in the partial unique index, so that the planner can use
# that index even with a generic (prepared) plan.
HOLDS_ITS_HASH = text("clips.status <> 'duplicate'")
_PAID = [status.value for status in PAID_STATUSES]


def rules_of(campaign: Campaign) -> Rules:
    return Rules(
        campaign_id=campaign.id,
        starts_at=campaign.starts_at,
        ends_at=campaign.ends_at,
        incident_types=tuple(campaign.incident_types),
        targets=dict(campaign.targets or {}),
        stop_at_target=campaign.stop_at_target,
        bounty_cents=campaign.bounty_cents,
        currency=campaign.currency,
        points_per_clip=campaign.points_per_clip,
        cap_per_camera_per_incident_type=campaign.cap_per_camera_per_incident_type,
        cap_paid_per_event=campaign.cap_paid_per_event,
        daily_cap_per_donor=campaign.daily_cap_per_donor,
        staged_allowed=campaign.staged_allowed,
        min_duration_s=campaign.min_duration_s,
        max_duration_s=campaign.max_duration_s,
        review_window_days=campaign.review_window_days,
        review_if_older_than_days=campaign.review_if_older_than_days,
        unregistered_cameras=CameraRule(campaign.unregistered_cameras),
    )


def lock_shared_caps(session: Session, rules: Rules, clips: Sequence[ClipInput]) -> None:
    """Lock what caps shared by every donor count, before counting it.

    The donor's own row (locked first) makes the donor's caps exact; a camera's cap and
    a campaign's targets are shared across donors, so each call also locks the
    (camera, incident type) pairs it sends and the target counters it may fill. Every
    writer takes its locks in one order (donor, then cameras in hash order, then
    counters by incident type), so no two calls wait on each other in a cycle.
    """
    if rules.cap_per_camera_per_incident_type is not None:
        lock_keys(
            session,
            f"camera-cap:{rules.campaign_id}",
            {f"{clip.camera_id}\0{clip.incident_type}" for clip in clips},
        )
    if rules.stop_at_target:
        kinds = sorted({clip.incident_type for clip in clips} & set(rules.targets))
        if kinds:
            add_to_counters(session, rules.campaign_id, Counter(dict.fromkeys(kinds, 0)), lock=True)


@dataclass(frozen=True)
class _Probes:
    """``prior_counts``' lookups every call sends, built once per dialect (Core: they do
    not autoflush; the tables they read are written with Core statements)."""

    hashes: Select[str, int, str]  # bound: hashes (db.words)
    cameras: Select[str]  # bound: donor, serials


@functools.cache
def _probes(dialect: str) -> _Probes:
    clips, cameras = table_of(Clip), table_of(Camera)
    return _Probes(
        hashes=select(clips.c.video_sha256, clips.c.id, clips.c.campaign_id).where(
            one_of_words(dialect, clips.c.video_sha256, "hashes"), HOLDS_ITS_HASH
        ),
        cameras=select(cameras.c.serial).where(
            cameras.c.donor_id == bindparam("donor"),
            one_of_bound(dialect, cameras.c.serial, "serials"),
        ),
    )


def prior_counts(
    session: Session, donor_id: int, rules: Rules, clips: Sequence[ClipInput], now: datetime
) -> PriorCounts:
    prior = PriorCounts()
    campaign = rules.campaign_id
    # A clip whose metadata was deleted (erasure, retention) keeps a salted hash of its
    # content instead: the same video sent again is still recognised, and not paid twice,
    # under each configured salt (a rotated salt keeps the hashes made before it).
    peppers = erasure_salts(session)
    hashes = {clip.video_sha256: clip.video_sha256 for clip in clips}
    for clip in clips:
        hashes.update(dict.fromkeys(salted_all(peppers, clip.video_sha256), clip.video_sha256))
    # A probe of the hashes' unique index. The campaign is compared here rather than
    # in SQL, where it would tempt a planner without statistics to walk the campaign.
    point_lookups(session)
    dialect = dialect_of(session)
    probes = _probes(dialect)
    holders = session.execute(probes.hashes, {"hashes": words(dialect, hashes)})
    prior.owners = {
        hashes[digest]: clip_id for digest, clip_id, where in holders if where == campaign
    }
    serials = {clip.camera_id for clip in clips}
    prior.registered_cameras = frozenset(
        session.scalars(probes.cameras, {"donor": donor_id, "serials": list(serials)})
    )
    if rules.cap_per_camera_per_incident_type is not None:
        # A camera's clips whose metadata was deleted keep a salted serial: counted too.
        cameras = camera_ids(peppers, serials)
        per_camera = session.execute(
            select(col(Clip.camera_id), col(Clip.incident_type), func.count())
            .where(
                col(Clip.campaign_id) == campaign,
                one_of(session, col(Clip.camera_id), list(cameras)),
                col(Clip.status).in_(_PAID),
            )
            .group_by(col(Clip.camera_id), col(Clip.incident_type))
        )
        prior.per_camera = Counter()
        for camera, kind, n in per_camera:
            prior.per_camera[(cameras[camera], kind)] += n
    if rules.cap_paid_per_event is not None:
        per_event = session.execute(
            select(col(Clip.event_id), func.count())
            .where(
                col(Clip.donor_id) == donor_id,
                col(Clip.campaign_id) == campaign,
                one_of(session, col(Clip.event_id), {clip.event_id for clip in clips}),
                col(Clip.status).in_(_PAID),
            )
            .group_by(col(Clip.event_id))
        )
        prior.per_event = Counter(dict(per_event.all()))
    if rules.daily_cap_per_donor is not None:
        day_start = datetime.combine(now.date(), time.min, tzinfo=now.tzinfo)
        prior.today = session.execute(
            select(func.count()).where(
                col(Clip.donor_id) == donor_id,
                col(Clip.created_at) >= day_start,
                col(Clip.campaign_id) == campaign,
                col(Clip.status).in_(_PAID),
            )
        ).scalar_one()
    if rules.stop_at_target and rules.targets:
        counters = session.execute(  # locked by lock_shared_caps for the types sent
            select(col(CampaignCounter.incident_type), col(CampaignCounter.accepted)).where(
                col(CampaignCounter.campaign_id) == campaign
            )
        )
        prior.accepted_per_type = Counter(dict(counters.all()))
    return prior


@dataclass(frozen=True)
class ClipOutcome:
    """What became of one clip of a call: decided (``clip_id``), or, in a campaign that
    takes uploads, a claim waiting for its video (``claim_id``)."""

    index: int
    clip_id: int | None
    status: str
    reason: str | None
    points: int
    cash_cents: int
    claim_id: int | None = None
    camera_rule: str | None = None  # None for a claim not yet decided


@dataclass(frozen=True)
class Stored:
    """What one decision stored: each clip's outcome and what they earned together."""

    outcomes: list[ClipOutcome]
    accepted: int
    points: int
    cash_cents: int


def decide(
    session: Session, now: datetime, donor_id: int, rules: Rules, clips: Sequence[ClipInput]
) -> list[Decision]:
    """Each clip's fate against what the campaign already holds. The donor must be
    locked by the caller; this locks what caps shared with other donors count."""
    lock_shared_caps(session, rules, clips)
    prior = prior_counts(session, donor_id, rules, clips, now)
    return rules_of_clips.decide(rules, clips, prior, now)


def earned(decisions: Sequence[Decision]) -> tuple[int, int, int]:
    """Accepted clips, points and cents of a decision."""
    accepted = [d for d in decisions if d.status == ClipStatus.ACCEPTED]
    return len(accepted), sum(d.points for d in accepted), sum(d.cash_cents for d in accepted)


def store(
    uow: UnitOfWork,
    now: datetime,
    actor: Actor,
    donor_id: int,
    rules: Rules,
    batch_id: int,
    clips: Sequence[ClipInput],
    decisions: Sequence[Decision],
    *,
    earning: tuple[str, int],
    positions: Sequence[int] | None = None,
    extras: Sequence[Mapping[str, Any]] | None = None,
) -> Stored:
    """Store decided clips and pay them through the ledger (one transfer, referenced by
    ``earning``). ``positions`` are the clips' indexes in their call (default: their
    order here); ``extras`` adds columns to each clip's row."""
    session = uow.session
    accepted, points, cash = earned(decisions)
    vests_at = rules_of_clips.vests_at(rules, now)

    def row(
        clip_id: int, clip: ClipInput, decision: Decision, duplicate_of: int | None
    ) -> dict[str, Any]:
        return {
            "id": clip_id,
            "batch_id": batch_id,
            "donor_id": donor_id,
            "campaign_id": rules.campaign_id,
            "video_sha256": clip.video_sha256,
            "perceptual_hash": clip.perceptual_hash,
            "event_id": clip.event_id,
            "incident_type": clip.incident_type,
            "camera_id": clip.camera_id,
            "recorded_at": clip.recorded_at,
            "duration_s": clip.duration_s,
            "staged": clip.staged,
            "status": decision.status.value,
            "reason": decision.reason.value if decision.reason else None,
            "duplicate_of_id": duplicate_of,
            "camera_rule": decision.camera_rule.value,
            "points": decision.points,
            "cash_cents": decision.cash_cents,
            "currency": rules.currency,
            "created_at": now,
            "accepted_at": now if decision.status == ClipStatus.ACCEPTED else None,
            "vests_at": vests_at if decision.status == ClipStatus.ACCEPTED else None,
        }

    clips_table = table_of(Clip)
    ids = allocate_ids(session, clips_table, len(decisions))
    rows = []
    for index, (clip, decision) in enumerate(zip(clips, decisions, strict=True)):
        duplicate_of = decision.duplicate_of_id
        if decision.duplicate_of_index is not None:
            duplicate_of = ids[decision.duplicate_of_index]
        rows.append(
            row(ids[index], clip, decision, duplicate_of) | dict(extras[index] if extras else {})
        )
    # In hash order: two calls sending the same new videos wait on the unique index
    # in the same order, and one of them wins instead of both deadlocking.
    rows.sort(key=lambda r: r["video_sha256"])
    insert_rows(session, clips_table, rows)

    legs = earnings(donor_id, points, cash, rules.currency)
    if legs:
        kind, reference = earning
        ledger.post(
            session,
            now=now,
            kind=TransferKind.EARNING,
            reference=earning,
            actor=actor,
            idempotency_key=f"earn:{kind}:{reference}",
            legs=legs,
            reason=f"{accepted} accepted clips in campaign {rules.campaign_id}",
        )
    accepted_types = Counter(
        clips[i].incident_type for i, d in enumerate(decisions) if d.status == ClipStatus.ACCEPTED
    )
    wall.record_accepted(
        uow,
        now,
        donor_id,
        Counter({(rules.campaign_id, kind): n for kind, n in accepted_types.items()}),
    )
    if accepted:
        medals.evaluate_donor(uow, now, donor_id, reference={"batch_id": batch_id})
    # What the commit's subscribers read (the wall's placements), before the counters
    # are held. A change made after this to what a board shows must publish its own
    # event (wall.record_*), which the commit prepares: an unpublished one would be
    # written to Redis stale and listed as applied.
    uow.prepare()
    # Last: every call to the campaign updates these rows, so hold them the least time.
    add_to_counters(session, rules.campaign_id, accepted_types)
    outcomes = [
        ClipOutcome(
            index=positions[i] if positions is not None else i,
            clip_id=ids[i],
            status=d.status.value,
            reason=d.reason.value if d.reason else None,
            points=d.points,
            cash_cents=d.cash_cents,
            camera_rule=d.camera_rule.value,
        )
        for i, d in enumerate(decisions)
    ]
    return Stored(outcomes, accepted, points, cash)


def add_to_counters(
    session: Session, campaign_id: str, accepted: Counter[str], *, lock: bool = False
) -> None:
    """Add (or, negative, remove) accepted clips to the campaign's progress counters.

    Rows are written in incident-type order, the one order every writer uses, so two
    calls touching the same types never deadlock. ``lock`` writes even zero changes:
    the rows then exist and stay locked until the transaction ends.
    """
    changes = sorted((kind, n) for kind, n in accepted.items() if n or lock)
    if not changes:
        return
    session.execute(
        upsert_adding(
            dialect_of(session),
            table_of(CampaignCounter),
            ("campaign_id", "incident_type"),
            "accepted",
        ),
        [{"campaign_id": campaign_id, "incident_type": k, "accepted": n} for k, n in changes],
    )
