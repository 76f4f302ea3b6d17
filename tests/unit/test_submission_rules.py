"""The campaign's rules applied to one call's clips (pure, no I/O)."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from rewards_engine.domain.errors import Conflict, InvalidInput
from rewards_engine.domain.submissions import (
    CameraRule,
    ClipInput,
    ClipStatus,
    PriorCounts,
    Reason,
    Rules,
    decide,
    validate,
)

NOW = datetime(2025, 1, 15, 12, tzinfo=UTC)


def rules(**changes) -> Rules:  # type: ignore[no-untyped-def]
    values = {
        "campaign_id": "c",
        "starts_at": datetime(2024, 12, 18, tzinfo=UTC),
        "ends_at": datetime(2025, 2, 25, 23, 59, 59, tzinfo=UTC),
        "incident_types": ("package_theft", "car_door"),
        "targets": {},
        "stop_at_target": False,
        "bounty_cents": 200,
        "currency": "USD",
        "points_per_clip": 10,
        "cap_per_camera_per_incident_type": None,
        "cap_paid_per_event": None,
        "daily_cap_per_donor": None,
        "staged_allowed": True,
        "min_duration_s": 2,
        "max_duration_s": 600,
        "review_window_days": 14,
        "review_if_older_than_days": None,
    }
    values.update(changes)
    return Rules(**values)


def clip(n: int, **changes) -> ClipInput:  # type: ignore[no-untyped-def]
    values = {
        "video_sha256": f"{n:064x}",
        "event_id": f"e{n}",
        "incident_type": "package_theft",
        "camera_id": "cam-1",
        "recorded_at": NOW - timedelta(hours=1),
        "duration_s": 30.0,
        "staged": False,
    }
    values.update(changes)
    return ClipInput(**values)


def statuses(decisions) -> list[tuple[str, str | None]]:  # type: ignore[no-untyped-def]
    return [(d.status.value, d.reason.value if d.reason else None) for d in decisions]


def test_accepted_clips_earn_the_campaign_bounty_and_points() -> None:
    [decision] = decide(rules(), [clip(1)], PriorCounts(), NOW)
    assert (decision.status, decision.points, decision.cash_cents) == (ClipStatus.ACCEPTED, 10, 200)


def test_the_first_campaign_cap_pays_at_most_10_clips_per_camera_and_type() -> None:
    clips = [clip(n) for n in range(12)] + [clip(100, incident_type="car_door")]
    decisions = decide(rules(cap_per_camera_per_incident_type=10), clips, PriorCounts(), NOW)
    assert [d.status for d in decisions[:10]] == [ClipStatus.ACCEPTED] * 10
    assert statuses(decisions[10:12]) == [("rejected", "camera_cap_reached")] * 2
    assert decisions[12].status == ClipStatus.ACCEPTED  # another incident type has its own cap
    assert all(d.cash_cents == 0 for d in decisions[10:12])


def test_caps_count_what_the_campaign_already_holds() -> None:
    prior = PriorCounts(per_camera=Counter({("cam-1", "package_theft"): 9}))
    decisions = decide(rules(cap_per_camera_per_incident_type=10), [clip(1), clip(2)], prior, NOW)
    assert statuses(decisions) == [("accepted", None), ("rejected", "camera_cap_reached")]


def test_two_cameras_filming_both_kinds_earn_at_most_80_dollars() -> None:
    clips = [
        clip(n * 100 + k, camera_id=camera, incident_type=kind)
        for n, (camera, kind) in enumerate(
            (c, k) for c in ("a", "b") for k in ("package_theft", "car_door")
        )
        for k in range(15)
    ]
    decisions = decide(rules(cap_per_camera_per_incident_type=10), clips, PriorCounts(), NOW)
    assert sum(d.cash_cents for d in decisions) == 8000


def test_event_cap_limits_paid_clips_of_one_event() -> None:
    clips = [clip(n, event_id="same", camera_id=f"cam-{n}") for n in range(4)]
    decisions = decide(rules(cap_paid_per_event=3), clips, PriorCounts(), NOW)
    assert statuses(decisions)[-1] == ("rejected", "event_cap_reached")
    assert [d.status for d in decisions[:3]] == [ClipStatus.ACCEPTED] * 3


def test_daily_cap_counts_the_day_so_far() -> None:
    prior = PriorCounts(today=4)
    decisions = decide(rules(daily_cap_per_donor=5), [clip(1), clip(2)], prior, NOW)
    assert statuses(decisions) == [("accepted", None), ("rejected", "daily_cap_reached")]


def test_stop_at_target_rejects_once_the_type_is_full() -> None:
    prior = PriorCounts(accepted_per_type=Counter({"package_theft": 19_999}))
    campaign = rules(targets={"package_theft": 20_000}, stop_at_target=True)
    decisions = decide(campaign, [clip(1), clip(2), clip(3, incident_type="car_door")], prior, NOW)
    assert statuses(decisions) == [
        ("accepted", None),
        ("rejected", "target_reached"),
        ("accepted", None),
    ]
    open_ended = decide(rules(targets={"package_theft": 1}), [clip(4)], prior, NOW)
    assert open_ended[0].status == ClipStatus.ACCEPTED  # a target that does not stop pay


def test_a_known_hash_is_a_duplicate_of_its_holder() -> None:
    prior = PriorCounts(owners={f"{1:064x}": 77})
    decisions = decide(rules(), [clip(1), clip(2), clip(2)], prior, NOW)
    assert decisions[0].status == ClipStatus.DUPLICATE and decisions[0].duplicate_of_id == 77
    assert decisions[1].status == ClipStatus.ACCEPTED
    assert decisions[2].status == ClipStatus.DUPLICATE and decisions[2].duplicate_of_index == 1
    assert decisions[0].reason == Reason.ALREADY_RECEIVED


def test_duplicates_and_rejected_clips_do_not_use_up_caps() -> None:
    prior = PriorCounts(owners={f"{1:064x}": 5})
    clips = [clip(1), clip(2), clip(3), clip(4)]
    decisions = decide(rules(cap_per_camera_per_incident_type=2), clips, prior, NOW)
    assert [d.status.value for d in decisions] == ["duplicate", "accepted", "accepted", "rejected"]


def test_old_footage_waits_for_review_and_counts_against_caps() -> None:
    old = clip(1, recorded_at=NOW - timedelta(days=31))
    fresh = [clip(2), clip(3)]
    campaign = rules(
        starts_at=NOW - timedelta(days=90),
        review_if_older_than_days=30,
        cap_per_camera_per_incident_type=2,
    )
    decisions = decide(campaign, [old, *fresh], PriorCounts(), NOW)
    assert statuses(decisions) == [
        ("pending_review", "old_footage_review"),
        ("accepted", None),
        ("rejected", "camera_cap_reached"),
    ]
    assert decisions[0].cash_cents == 0


def test_the_camera_rule_decides_clips_from_cameras_not_registered_to_the_donor() -> None:
    """registered cameras pass; reject refuses before any cap counts them; review waits
    after the caps (a full cap still rejects) and counts against them; a duplicate
    stays a duplicate; every decision names the rule."""
    mine = PriorCounts(registered_cameras=frozenset({"cam-1"}), owners={f"{9:064x}": 77})
    sent = [
        clip(1),
        clip(2, camera_id="cam-x"),
        clip(3, camera_id="cam-x"),
        clip(9, camera_id="cam-x"),
    ]
    capped = {"cap_per_camera_per_incident_type": 1}
    reject = decide(rules(unregistered_cameras=CameraRule.REJECT, **capped), sent, mine, NOW)
    assert statuses(reject) == [
        ("accepted", None),
        ("rejected", "camera_not_registered"),
        ("rejected", "camera_not_registered"),
        ("duplicate", "already_received"),
    ]
    review = decide(rules(unregistered_cameras=CameraRule.REVIEW, **capped), sent, mine, NOW)
    assert statuses(review) == [
        ("accepted", None),
        ("pending_review", "camera_not_registered"),
        ("rejected", "camera_cap_reached"),  # the review clip used the camera's cap
        ("duplicate", "already_received"),
    ]
    assert review[1].points == 0
    allow = decide(rules(**capped), sent, mine, NOW)
    assert statuses(allow)[:2] == [("accepted", None), ("accepted", None)]
    assert [d.camera_rule for d in allow] == [CameraRule.REGISTERED] + [CameraRule.ALLOW] * 3
    assert [d.camera_rule for d in reject][1] == CameraRule.REJECT


def test_prior_counts_are_not_changed() -> None:
    prior = PriorCounts(per_camera=Counter({("cam-1", "package_theft"): 1}))
    decide(rules(cap_per_camera_per_incident_type=5), [clip(1), clip(2)], prior, NOW)
    assert prior.per_camera == Counter({("cam-1", "package_theft"): 1})


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"incident_type": "vandalism"}, "incident_type", "invalid_clip"),
        ({"recorded_at": NOW + timedelta(minutes=10)}, "recorded_at", "invalid_clip"),
        ({"recorded_at": datetime(2024, 12, 17, tzinfo=UTC)}, "recorded_at", "invalid_clip"),
        ({"duration_s": 1.5}, "duration_s", "invalid_clip"),
        ({"duration_s": 601}, "duration_s", "invalid_clip"),
        ({"staged": True}, "staged", "staged_not_allowed"),
    ],
)
def test_validation_names_the_clip_and_field(change, field, code) -> None:  # type: ignore[no-untyped-def]
    clips = [clip(1), clip(2), clip(3, **change)]
    with pytest.raises(InvalidInput) as caught:
        validate(rules(staged_allowed=False), clips, NOW)
    assert caught.value.field == f"clips.2.{field}"
    assert caught.value.code == code


def test_a_little_camera_clock_drift_is_tolerated() -> None:
    validate(rules(), [clip(1, recorded_at=NOW + timedelta(minutes=4))], NOW)


def test_open_and_closed_campaigns() -> None:
    campaign = rules()
    campaign.check_open(NOW)
    with pytest.raises(Conflict) as caught:
        campaign.check_open(datetime(2025, 3, 1, tzinfo=UTC))
    assert caught.value.code == "campaign_closed"
    with pytest.raises(Conflict) as caught:
        campaign.check_open(datetime(2024, 12, 1, tzinfo=UTC))
    assert caught.value.code == "campaign_not_open"
