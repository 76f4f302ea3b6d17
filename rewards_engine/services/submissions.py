"""Donating clips: one call, one transaction, every clip decided and paid through the ledger."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import astuple, dataclass
from datetime import datetime, time
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.clock import Clock
from rewards_engine.db import (
    Database,
    UnitOfWork,
    allocate_ids,
    insert,
    lock_keys,
    one_of,
    point_lookups,
    retry_on_contention,
    table_of,
)
from rewards_engine.domain import submissions as rules_of_clips
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.errors import Forbidden, InvalidInput, NotFound
from rewards_engine.domain.ledger import TransferKind, earnings
from rewards_engine.domain.privacy import salted
from rewards_engine.domain.submissions import (
    PAID_STATUSES,
    ClipInput,
    ClipStatus,
    Decision,
    PriorCounts,
    Rules,
)
from rewards_engine.models import Campaign, CampaignCounter, Clip, Donor, SubmissionBatch
from rewards_engine.services import consents, idempotency, ledger, medals, wall
from rewards_engine.services.installation import erasure_salt

log = logging.getLogger(__name__)

HASH_RACE_RETRIES = 3
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
    )


@dataclass(frozen=True)
class SubmissionRequest:
    campaign_id: str
    consent_version: str
    clips: Sequence[ClipInput]

    def canonical(self) -> dict[str, Any]:
        """The request as data, for the idempotency fingerprint."""
        return {
            "campaign_id": self.campaign_id,
            "consent_version": self.consent_version,
            "clips": [astuple(clip) for clip in self.clips],
        }


@dataclass(frozen=True)
class ClipOutcome:
    index: int
    clip_id: int
    status: str
    reason: str | None
    points: int
    cash_cents: int


@dataclass(frozen=True)
class SubmissionResult:
    batch_id: int
    campaign_id: str
    currency: str
    outcomes: list[ClipOutcome]
    replayed: bool = False

    @property
    def counts(self) -> dict[str, int]:
        counted = Counter(outcome.status for outcome in self.outcomes)
        return {status.value: counted.get(status.value, 0) for status in ClipStatus}

    @property
    def points(self) -> int:
        return sum(outcome.points for outcome in self.outcomes)

    @property
    def cash_cents(self) -> int:
        return sum(outcome.cash_cents for outcome in self.outcomes)

    def to_json(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "campaign_id": self.campaign_id,
            "currency": self.currency,
            "outcomes": [outcome.__dict__ for outcome in self.outcomes],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], *, replayed: bool) -> SubmissionResult:
        outcomes = [ClipOutcome(**outcome) for outcome in data["outcomes"]]
        return cls(data["batch_id"], data["campaign_id"], data["currency"], outcomes, replayed)


@retry_on_contention
def submit(
    db: Database,
    clock: Clock,
    actor: Actor,
    donor_id: int,
    request: SubmissionRequest,
    idempotency_key: str | None = None,
) -> SubmissionResult:
    """Decide, store and pay one call's clips, all or nothing.

    Two donors sending the same new hash at the same moment collide on the unique
    index; the loser's transaction is retried and then sees the winner's clip. A
    transaction that loses to another (a deadlock) is run again whole; the idempotency
    key makes that safe.
    """
    key = idempotency.Idempotency.for_request(
        f"donor:{donor_id}", idempotency_key, "submit_clips", request.canonical
    )
    for attempt in range(1, HASH_RACE_RETRIES + 1):
        try:
            return _submit_once(db, clock, actor, donor_id, request, key)
        except IntegrityError as exc:
            if "uq_clips_campaign_hash_owner" not in str(exc.orig) and "video_sha256" not in str(
                exc.orig
            ):
                raise
            if attempt == HASH_RACE_RETRIES:
                raise
            log.info("clip hash race; retrying", extra={"fields": {"attempt": attempt}})
    raise AssertionError("unreachable")


def _submit_once(
    db: Database,
    clock: Clock,
    actor: Actor,
    donor_id: int,
    request: SubmissionRequest,
    key: idempotency.Idempotency | None,
) -> SubmissionResult:
    now = clock.now()
    with db.transaction() as uow:
        session = uow.session
        replay = idempotency.claim(session, key, now)
        if replay is not None:
            return SubmissionResult.from_json(replay, replayed=True)
        # One donor's calls run one at a time, so their caps are counted exactly.
        donor = session.get(Donor, donor_id, with_for_update=True)
        if donor is None:
            raise NotFound(f"no donor {donor_id}", code="donor_not_found")
        if donor.status != "active":
            raise Forbidden("this account cannot donate", code=f"donor_{donor.status}")
        campaign = session.get(Campaign, request.campaign_id)
        if campaign is None:
            raise InvalidInput(
                f"no campaign {request.campaign_id!r}",
                code="unknown_campaign",
                field="campaign_id",
            )
        rules = rules_of(campaign)
        rules.check_open(now)
        consents.require_current(session, donor, request.consent_version, now)
        rules_of_clips.validate(rules, request.clips, now)

        _lock_shared_caps(session, rules, request.clips)
        prior = _prior_counts(session, donor_id, rules, request.clips, now)
        decisions = rules_of_clips.decide(rules, request.clips, prior, now)
        result = _store(uow, now, actor, donor_id, rules, request, decisions)
        idempotency.store(session, key, result.to_json())
    log.info(
        "clips submitted",
        extra={"fields": {"donor_id": donor_id, "batch_id": result.batch_id, **result.counts}},
    )
    return result


def _lock_shared_caps(session: Session, rules: Rules, clips: Sequence[ClipInput]) -> None:
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


def _prior_counts(
    session: Session, donor_id: int, rules: Rules, clips: Sequence[ClipInput], now: datetime
) -> PriorCounts:
    prior = PriorCounts()
    campaign = rules.campaign_id
    # A clip whose metadata was deleted (erasure, retention) keeps a salted hash of its
    # content instead: the same video sent again is still recognised, and not paid twice.
    pepper = erasure_salt(session)
    hashes = {clip.video_sha256: clip.video_sha256 for clip in clips}
    hashes.update({salted(pepper, clip.video_sha256): clip.video_sha256 for clip in clips})
    # A probe of the hashes' unique index. The campaign is compared here rather than
    # in SQL, where it would tempt a planner without statistics to walk the campaign.
    with point_lookups(session):
        holders = session.execute(
            select(col(Clip.video_sha256), col(Clip.id), col(Clip.campaign_id)).where(
                one_of(session, col(Clip.video_sha256), list(hashes)), HOLDS_ITS_HASH
            )
        ).all()
    prior.owners = {
        hashes[digest]: clip_id for digest, clip_id, where in holders if where == campaign
    }
    if rules.cap_per_camera_per_incident_type is not None:
        per_camera = session.execute(
            select(col(Clip.camera_id), col(Clip.incident_type), func.count())
            .where(
                col(Clip.campaign_id) == campaign,
                one_of(session, col(Clip.camera_id), {clip.camera_id for clip in clips}),
                col(Clip.status).in_(_PAID),
            )
            .group_by(col(Clip.camera_id), col(Clip.incident_type))
        )
        prior.per_camera = Counter({(camera, kind): n for camera, kind, n in per_camera})
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
        counters = session.execute(  # locked by _lock_shared_caps for the types sent
            select(col(CampaignCounter.incident_type), col(CampaignCounter.accepted)).where(
                col(CampaignCounter.campaign_id) == campaign
            )
        )
        prior.accepted_per_type = Counter(dict(counters.all()))
    return prior


def _store(
    uow: UnitOfWork,
    now: datetime,
    actor: Actor,
    donor_id: int,
    rules: Rules,
    request: SubmissionRequest,
    decisions: list[Decision],
) -> SubmissionResult:
    session = uow.session
    accepted = [d for d in decisions if d.status == ClipStatus.ACCEPTED]
    points = sum(d.points for d in accepted)
    cash = sum(d.cash_cents for d in accepted)
    batches = table_of(SubmissionBatch)
    batch_id = session.execute(
        insert(session, batches)
        .values(
            donor_id=donor_id,
            campaign_id=rules.campaign_id,
            consent_version=request.consent_version,
            clip_count=len(decisions),
            accepted=len(accepted),
            points=points,
            cash_cents=cash,
            currency=rules.currency,
            created_at=now,
        )
        .returning(batches.c.id)
    ).scalar_one()
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
    for index, (clip, decision) in enumerate(zip(request.clips, decisions, strict=True)):
        duplicate_of = decision.duplicate_of_id
        if decision.duplicate_of_index is not None:
            duplicate_of = ids[decision.duplicate_of_index]
        rows.append(row(ids[index], clip, decision, duplicate_of))
    # In hash order: two calls sending the same new videos wait on the unique index
    # in the same order, and one of them wins instead of both deadlocking.
    rows.sort(key=lambda r: r["video_sha256"])
    session.execute(clips_table.insert(), rows)

    legs = earnings(donor_id, points, cash, rules.currency)
    if legs:
        ledger.post(
            session,
            now=now,
            kind=TransferKind.EARNING,
            reference=("batch", batch_id),
            actor=actor,
            idempotency_key=f"earn:batch:{batch_id}",
            legs=legs,
            reason=f"{len(accepted)} accepted clips in campaign {rules.campaign_id}",
        )
    accepted_types = Counter(
        request.clips[i].incident_type
        for i, d in enumerate(decisions)
        if d.status == ClipStatus.ACCEPTED
    )
    wall.record_accepted(
        uow,
        now,
        donor_id,
        Counter({(rules.campaign_id, kind): n for kind, n in accepted_types.items()}),
    )
    if accepted:
        medals.evaluate_donor(uow, now, donor_id, reference={"batch_id": batch_id})
    # Last: every call to the campaign updates these rows, so hold them the least time.
    add_to_counters(session, rules.campaign_id, accepted_types)
    outcomes = [
        ClipOutcome(
            index=i,
            clip_id=ids[i],
            status=d.status.value,
            reason=d.reason.value if d.reason else None,
            points=d.points,
            cash_cents=d.cash_cents,
        )
        for i, d in enumerate(decisions)
    ]
    return SubmissionResult(batch_id, rules.campaign_id, rules.currency, outcomes)


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
    table = table_of(CampaignCounter)
    statement = insert(session, table).values(
        [{"campaign_id": campaign_id, "incident_type": k, "accepted": n} for k, n in changes]
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["campaign_id", "incident_type"],
            set_={"accepted": table.c.accepted + statement.excluded.accepted},
        )
    )
