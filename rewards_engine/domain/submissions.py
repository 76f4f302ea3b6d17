"""What a donated clip earns: the campaign's rules applied to one call's clips.

Pure functions over the campaign's rules, the clips, and counts of what came before
(``PriorCounts``); the service loads the counts and stores the decisions.

Order of the checks for each clip, in the order the clips were sent:

1. a hash this campaign already holds (from anyone, or earlier in this call) is a
   ``duplicate``; the first holder keeps the clip;
2. a camera not registered to the donor (the camera registry), in a campaign whose
   ``unregistered_cameras`` rule is ``reject``: ``rejected: camera_not_registered``;
3. once an incident type has reached its target in a campaign that stops there,
   ``rejected: target_reached``;
4. the cap per camera per incident type (the physical camera, whoever owned it), the
   cap of paid clips per event (the donor's event id) and the donor's daily cap (UTC
   day of receipt): ``rejected`` with the cap's reason, earning nothing;
5. a camera not registered to the donor under the rule ``review``, then footage
   recorded long before it is donated (if the campaign says so), wait for a person:
   ``pending_review``; it counts against the caps but earns only if accepted;
6. otherwise ``accepted``, earning the campaign's points and bounty.

Every decision says which camera rule applied (``camera_rule``): ``registered``, or the
campaign's rule for a camera that is not registered to the donor.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial

from rewards_engine.domain.errors import Conflict, InvalidInput

MAX_CLIPS_PER_CALL = 500
FUTURE_TOLERANCE = timedelta(minutes=5)  # camera clocks drift


class ClipStatus(StrEnum):
    ACCEPTED = "accepted"
    PENDING_REVIEW = "pending_review"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    REVERSED = "reversed"


PAID_STATUSES = (ClipStatus.ACCEPTED, ClipStatus.PENDING_REVIEW)  # what caps count


class Reason(StrEnum):
    ALREADY_RECEIVED = "already_received"
    TARGET_REACHED = "target_reached"
    CAMERA_CAP = "camera_cap_reached"
    EVENT_CAP = "event_cap_reached"
    DAILY_CAP = "daily_cap_reached"
    OLD_FOOTAGE = "old_footage_review"
    CAMERA_NOT_REGISTERED = "camera_not_registered"


class CameraRule(StrEnum):
    """What the camera registry said of a clip's camera, and so what applied."""

    REGISTERED = "registered"  # registered to the donor: no rule needed
    ALLOW = "allow"  # not registered to the donor; the campaign pays it anyway
    REVIEW = "review"  # not registered to the donor; pending review
    REJECT = "reject"  # not registered to the donor; refused


@dataclass(frozen=True)
class Rules:
    """The campaign rules that decide a clip's fate (a view of the campaign row)."""

    campaign_id: str
    starts_at: datetime
    ends_at: datetime | None
    incident_types: Sequence[str]
    targets: Mapping[str, int]
    stop_at_target: bool
    bounty_cents: int
    currency: str
    points_per_clip: int
    cap_per_camera_per_incident_type: int | None
    cap_paid_per_event: int | None
    daily_cap_per_donor: int | None
    staged_allowed: bool
    min_duration_s: float
    max_duration_s: float
    review_window_days: int
    review_if_older_than_days: int | None
    unregistered_cameras: CameraRule = CameraRule.ALLOW

    def check_open(self, now: datetime) -> None:
        if now < self.starts_at:
            raise Conflict(
                f"campaign {self.campaign_id} opens at {self.starts_at.isoformat()}",
                code="campaign_not_open",
            )
        if self.ends_at is not None and now > self.ends_at:
            raise Conflict(
                f"campaign {self.campaign_id} closed at {self.ends_at.isoformat()}",
                code="campaign_closed",
            )


@dataclass(frozen=True)
class ClipInput:
    video_sha256: str
    event_id: str
    incident_type: str
    camera_id: str
    recorded_at: datetime
    duration_s: float
    staged: bool
    perceptual_hash: int | None = None
    size_bytes: int | None = None  # required where the campaign takes uploads
    content_type: str | None = None


def _clip_error(index: int, name: str, message: str, code: str = "invalid_clip") -> InvalidInput:
    return InvalidInput(f"clip {index}: {message}", code=code, field=f"clips.{index}.{name}")


def validate(rules: Rules, clips: Sequence[ClipInput], now: datetime) -> None:
    """Refuse the whole call, naming the clip and field, if a clip breaks a campaign rule."""
    if not 1 <= len(clips) <= MAX_CLIPS_PER_CALL:
        raise InvalidInput(f"send 1 to {MAX_CLIPS_PER_CALL} clips a call", field="clips")
    for index, clip in enumerate(clips):
        bad = partial(_clip_error, index)

        if clip.incident_type not in rules.incident_types:
            allowed = ", ".join(rules.incident_types)
            raise bad("incident_type", f"this campaign takes {allowed}")
        if clip.recorded_at > now + FUTURE_TOLERANCE:
            raise bad("recorded_at", "recorded in the future")
        if clip.recorded_at < rules.starts_at or (
            rules.ends_at is not None and clip.recorded_at > rules.ends_at
        ):
            raise bad("recorded_at", "recorded outside the campaign's dates")
        if not rules.min_duration_s <= clip.duration_s <= rules.max_duration_s:
            raise bad(
                "duration_s",
                f"clips last {rules.min_duration_s:g} to {rules.max_duration_s:g} seconds",
            )
        if clip.staged and not rules.staged_allowed:
            raise bad("staged", "this campaign takes real incidents only", "staged_not_allowed")


@dataclass
class PriorCounts:
    """What the campaign already holds, before this call."""

    owners: dict[str, int] = field(default_factory=dict)  # hash -> clip id holding it
    per_camera: Counter[tuple[str, str]] = field(default_factory=Counter)
    per_event: Counter[str] = field(default_factory=Counter)
    today: int = 0
    accepted_per_type: Counter[str] = field(default_factory=Counter)
    registered_cameras: frozenset[str] = frozenset()  # of the call's, those the donor holds


@dataclass(frozen=True)
class Decision:
    status: ClipStatus
    reason: Reason | None = None
    points: int = 0
    cash_cents: int = 0
    duplicate_of_id: int | None = None
    duplicate_of_index: int | None = None  # an earlier clip of the same call
    camera_rule: CameraRule = CameraRule.REGISTERED


def decide(
    rules: Rules, clips: Sequence[ClipInput], prior: PriorCounts, now: datetime
) -> list[Decision]:
    """The decision for each clip, in order; ``prior`` is not changed."""
    per_camera = Counter(prior.per_camera)
    per_event = Counter(prior.per_event)
    accepted_per_type = Counter(prior.accepted_per_type)
    today = prior.today
    seen_in_call: dict[str, int] = {}
    old_after = (
        timedelta(days=rules.review_if_older_than_days)
        if rules.review_if_older_than_days is not None
        else None
    )
    decisions: list[Decision] = []
    for index, clip in enumerate(clips):
        camera_rule = (
            CameraRule.REGISTERED
            if clip.camera_id in prior.registered_cameras
            else rules.unregistered_cameras
        )
        decided = partial(Decision, camera_rule=camera_rule)
        if clip.video_sha256 in prior.owners:
            decisions.append(
                decided(
                    ClipStatus.DUPLICATE,
                    Reason.ALREADY_RECEIVED,
                    duplicate_of_id=prior.owners[clip.video_sha256],
                )
            )
            continue
        if clip.video_sha256 in seen_in_call:
            decisions.append(
                decided(
                    ClipStatus.DUPLICATE,
                    Reason.ALREADY_RECEIVED,
                    duplicate_of_index=seen_in_call[clip.video_sha256],
                )
            )
            continue
        seen_in_call[clip.video_sha256] = index
        if camera_rule == CameraRule.REJECT:
            decisions.append(decided(ClipStatus.REJECTED, Reason.CAMERA_NOT_REGISTERED))
            continue
        camera_key = (clip.camera_id, clip.incident_type)
        target = rules.targets.get(clip.incident_type) if rules.stop_at_target else None
        camera_cap = rules.cap_per_camera_per_incident_type
        event_cap = rules.cap_paid_per_event
        daily_cap = rules.daily_cap_per_donor
        reason: Reason | None = None
        if target is not None and accepted_per_type[clip.incident_type] >= target:
            reason = Reason.TARGET_REACHED
        elif camera_cap is not None and per_camera[camera_key] >= camera_cap:
            reason = Reason.CAMERA_CAP
        elif event_cap is not None and per_event[clip.event_id] >= event_cap:
            reason = Reason.EVENT_CAP
        elif daily_cap is not None and today >= daily_cap:
            reason = Reason.DAILY_CAP
        if reason is not None:
            decisions.append(decided(ClipStatus.REJECTED, reason))
            continue
        per_camera[camera_key] += 1
        per_event[clip.event_id] += 1
        today += 1
        if camera_rule == CameraRule.REVIEW:
            decisions.append(decided(ClipStatus.PENDING_REVIEW, Reason.CAMERA_NOT_REGISTERED))
            continue
        if old_after is not None and now - clip.recorded_at >= old_after:
            decisions.append(decided(ClipStatus.PENDING_REVIEW, Reason.OLD_FOOTAGE))
            continue
        accepted_per_type[clip.incident_type] += 1
        decisions.append(
            decided(ClipStatus.ACCEPTED, None, rules.points_per_clip, rules.bounty_cents)
        )
    return decisions


def vests_at(rules: Rules, accepted_at: datetime) -> datetime:
    """Earnings become spendable (points) or payable (cash) after the review window."""
    return accepted_at + timedelta(days=rules.review_window_days)
