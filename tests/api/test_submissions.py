"""Donating clips through the API: validation, rules, earnings, idempotency, privacy."""

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from rewards_engine.models import Clip, LedgerTransfer, SubmissionBatch
from tests.support.factories import (
    BOUNTY,
    PROGRAM,
    add_campaign,
    body,
    clip,
    consenting_donor,
    load_program,
    sha,
)


@pytest.fixture
def program(runtime) -> None:
    load_program(runtime)


@pytest.fixture
def ada(runtime, program, auth) -> dict[str, str]:
    consenting_donor(runtime, "ada")
    return auth("ada")


def count(runtime, model) -> int:  # type: ignore[no-untyped-def]
    with runtime.db.read() as session:
        return session.scalar(select(func.count()).select_from(model))


def submit(client, headers, campaign, clips, **extra):  # type: ignore[no-untyped-def]
    return client.post("/v1/submissions", json=body(campaign, clips), headers=headers, **extra)


def test_accepted_clips_earn_and_show_up_everywhere(client, ada) -> None:
    response = submit(client, ada, BOUNTY, [clip(), clip(incident_type="car_door", staged=True)])
    assert response.status_code == 201
    result = response.get_json()
    assert result["counts"]["accepted"] == 2
    assert result["earned"] == {"points": 0, "cash_cents": 400}
    assert [c["status"] for c in result["clips"]] == ["accepted", "accepted"]
    assert all(c["earned"] == {"points": 0, "cash_cents": 200} for c in result["clips"])

    me = client.get("/v1/me", headers=ada).get_json()
    assert me["balances"]["cash"] == [
        {"currency": "USD", "pending_cents": 400, "available_cents": 0, "in_flight_cents": 0}
    ]
    clips = client.get("/v1/submissions", headers=ada).get_json()["items"]
    assert {c["id"] for c in clips} == {c["clip_id"] for c in result["clips"]}
    assert clips[0]["vests_at"].startswith("2025-01-29")  # 14-day review window
    entries = client.get("/v1/me/ledger", headers=ada).get_json()["items"]
    assert [(e["account"], e["amount"], e["kind"]) for e in entries] == [
        ("points_pending", 10, "bonus"),  # the Apprentice medal, granted in the same call
        ("cash_pending", 400, "earning"),
    ]
    progress = client.get(f"/v1/campaigns/{BOUNTY}").get_json()["progress"]
    assert {p["incident_type"]: p["accepted"] for p in progress} == {
        "package_theft": 1,
        "car_door": 1,
    }


def test_points_campaign_pays_points(client, runtime, ada) -> None:
    campaign = add_campaign(runtime, points_per_clip=25)
    result = submit(client, ada, campaign.id, [clip()] * 1).get_json()
    assert result["earned"] == {"points": 25, "cash_cents": 0}
    points = client.get("/v1/me", headers=ada).get_json()["balances"]["points"]
    assert points == {"pending": 35, "available": 0, "total": 35}  # + the Apprentice bonus


BAD_CLIPS = [
    ({"video_sha256": "abc"}, "video_sha256"),
    ({"video_sha256": "g" * 64}, "video_sha256"),
    ({"event_id": ""}, "event_id"),
    ({"event_id": "has space"}, "event_id"),
    ({"camera_id": "x" * 129}, "camera_id"),
    ({"incident_type": "vandalism"}, "incident_type"),
    ({"recorded_at": "2025-01-15T11:00:00"}, "recorded_at"),  # no offset
    ({"recorded_at": "2030-01-01T00:00:00+00:00"}, "recorded_at"),  # future
    ({"recorded_at": "2024-11-01T00:00:00+00:00"}, "recorded_at"),  # before the campaign
    ({"duration_s": 0}, "duration_s"),
    ({"duration_s": 1}, "duration_s"),  # under the campaign's minimum
    ({"duration_s": 9000}, "duration_s"),
    ({"duration_s": "NaN"}, "duration_s"),
    ({"staged": "maybe"}, "staged"),
    ({"perceptual_hash": "xyz"}, "perceptual_hash"),
    ({"colour": "red"}, "colour"),
]


@pytest.mark.parametrize(("change", "field"), BAD_CLIPS)
def test_a_bad_clip_is_422_naming_index_and_field_and_nothing_is_written(
    client, runtime, ada, change, field
) -> None:
    clips = [clip(), clip(), clip(**change)]
    response = submit(client, ada, BOUNTY, clips)
    assert response.status_code == 422, response.get_json()
    errors = response.get_json()["errors"]["json"]
    assert field in errors["clips"]["2"]
    assert count(runtime, Clip) == 0
    assert count(runtime, SubmissionBatch) == 0
    assert count(runtime, LedgerTransfer) == 0


def test_a_missing_field_is_named(client, ada) -> None:
    incomplete = clip()
    del incomplete["camera_id"]
    response = submit(client, ada, BOUNTY, [incomplete])
    assert response.get_json()["errors"]["json"]["clips"]["0"]["camera_id"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"campaign_id": BOUNTY, "consent_version": "2024-12-01", "clips": []}, "clips"),
        ({"campaign_id": BOUNTY, "consent_version": "2024-12-01"}, "clips"),
        (
            {"campaign_id": "nope", "consent_version": "2024-12-01", "clips": [clip()]},
            "campaign_id",
        ),
        ({"consent_version": "2024-12-01", "clips": [clip()]}, "campaign_id"),
        ({"campaign_id": BOUNTY, "clips": [clip()]}, "consent_version"),
    ],
)
def test_bad_calls_are_422_naming_the_field(client, runtime, ada, payload, field) -> None:
    response = client.post("/v1/submissions", json=payload, headers=ada)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]["json"]
    assert count(runtime, Clip) == 0


def test_more_than_500_clips_is_422(client, ada) -> None:
    response = submit(client, ada, BOUNTY, [clip() for _ in range(501)])
    assert response.status_code == 422
    assert "clips" in response.get_json()["errors"]["json"]


def test_staged_clips_are_refused_where_the_campaign_wants_real_ones(client, runtime, ada) -> None:
    campaign = add_campaign(runtime, staged_allowed=False)
    response = submit(client, ada, campaign.id, [clip(), clip(staged=True)])
    assert response.status_code == 422
    assert response.get_json()["error"] == "staged_not_allowed"
    assert "staged" in response.get_json()["errors"]["json"]["clips"]["1"]


def test_consent_must_be_current_and_granted(client, runtime, program, auth) -> None:
    headers = auth("no-consent")
    client.get("/v1/me", headers=headers)
    response = submit(client, headers, BOUNTY, [clip()])
    assert response.status_code == 409
    assert response.get_json()["error"] == "consent_required"
    assert client.get("/v1/consent").get_json()["version"] == "2024-12-01"
    granted = client.post("/v1/me/consent", json={"version": "2024-12-01"}, headers=headers)
    assert granted.get_json()["consent_version"] == "2024-12-01"
    stale = client.post(
        "/v1/submissions", json=body(BOUNTY, [clip()], consent="2023-01-01"), headers=headers
    )
    assert stale.status_code == 409
    assert stale.get_json()["error"] == "consent_outdated"
    assert submit(client, headers, BOUNTY, [clip()]).status_code == 201
    assert (
        client.post("/v1/me/consent", json={"version": "old"}, headers=headers).status_code == 422
    )


def test_a_closed_campaign_takes_nothing(client, runtime, clock, ada) -> None:
    clock.advance(timedelta(days=60))  # past 2025-02-25
    response = submit(client, ada, BOUNTY, [clip()])
    assert response.status_code == 409
    assert response.get_json()["error"] == "campaign_closed"
    assert count(runtime, Clip) == 0


def test_camera_cap_of_the_first_campaign(client, ada) -> None:
    camera = {"camera_id": "CAM-1"}
    first = submit(client, ada, BOUNTY, [clip(**camera) for _ in range(8)]).get_json()
    second = submit(client, ada, BOUNTY, [clip(**camera) for _ in range(4)]).get_json()
    assert first["counts"]["accepted"] == 8
    assert [c["status"] for c in second["clips"]] == [
        "accepted",
        "accepted",
        "rejected",
        "rejected",
    ]
    assert second["clips"][3]["reason"] == "camera_cap_reached"
    assert second["earned"]["cash_cents"] == 400
    balance = client.get("/v1/me", headers=ada).get_json()["balances"]["cash"][0]
    assert balance["pending_cents"] == 2000  # $2 x 10


def test_event_and_daily_caps(client, runtime, ada, clock) -> None:
    campaign = add_campaign(runtime, cap_paid_per_event=2, daily_cap_per_donor=3)
    event = [clip(event_id="E1", camera_id=f"C{n}") for n in range(3)]
    result = submit(client, ada, campaign.id, event).get_json()
    assert [c["reason"] for c in result["clips"]] == [None, None, "event_cap_reached"]
    more = submit(client, ada, campaign.id, [clip(), clip()]).get_json()
    assert [c["reason"] for c in more["clips"]] == [None, "daily_cap_reached"]
    clock.advance(timedelta(days=1))
    assert submit(client, ada, campaign.id, [clip()]).get_json()["counts"]["accepted"] == 1


def test_stop_at_target(client, runtime, ada) -> None:
    campaign = add_campaign(runtime, targets={"package_theft": 2}, stop_at_target=True)
    result = submit(client, ada, campaign.id, [clip(), clip(), clip()]).get_json()
    assert [c["reason"] for c in result["clips"]] == [None, None, "target_reached"]
    progress = client.get(f"/v1/campaigns/{campaign.id}").get_json()["progress"]
    assert progress[0] == {
        "incident_type": "package_theft",
        "accepted": 2,
        "target": 2,
        "percent": 100.0,
    }


def test_a_second_donor_sending_the_same_hash_gets_duplicate(client, runtime, ada, auth) -> None:
    consenting_donor(runtime, "bruno")
    bruno = auth("bruno")
    shared = clip()
    first = submit(client, ada, BOUNTY, [shared]).get_json()
    second = submit(client, bruno, BOUNTY, [dict(shared, camera_id="OTHER")]).get_json()
    assert second["clips"][0]["status"] == "duplicate"
    assert second["clips"][0]["reason"] == "already_received"
    assert second["earned"]["cash_cents"] == 0
    assert (
        client.get(f"/v1/submissions/{first['clips'][0]['clip_id']}", headers=ada).get_json()[
            "status"
        ]
        == "accepted"
    )
    with runtime.db.read() as session:
        copy = session.get(Clip, second["clips"][0]["clip_id"])
    assert copy.duplicate_of_id == first["clips"][0]["clip_id"]
    again = submit(client, ada, BOUNTY, [shared]).get_json()  # the holder resending it
    assert again["clips"][0]["status"] == "duplicate"


def test_idempotent_replay_and_conflict(client, runtime, ada) -> None:
    payload = [clip(), clip()]
    headers = {**ada, "Idempotency-Key": "key-1"}
    first = submit(client, headers, BOUNTY, payload)
    replay = submit(client, headers, BOUNTY, payload)
    assert (first.status_code, replay.status_code) == (201, 201)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json()["clips"] == first.get_json()["clips"]
    assert replay.get_json()["replayed"] is True
    assert count(runtime, Clip) == 2
    assert count(runtime, LedgerTransfer) == 2  # the earning and the Apprentice bonus, once
    other = submit(client, headers, BOUNTY, [clip()])
    assert other.status_code == 422
    assert other.get_json()["error"] == "idempotency_key_reused"
    assert "Idempotency-Key" in other.get_json()["errors"]["headers"]
    assert count(runtime, Clip) == 2


def test_a_failed_call_does_not_burn_its_key(client, runtime, ada, auth) -> None:
    headers = {**ada, "Idempotency-Key": "retry-me"}
    bad = submit(client, headers, BOUNTY, [clip(duration_s=1)])
    assert bad.status_code == 422
    assert submit(client, headers, BOUNTY, [clip()]).status_code == 201


def test_keys_belong_to_one_donor(client, runtime, ada, auth) -> None:
    consenting_donor(runtime, "bruno")
    payload = [clip()]
    submit(client, {**ada, "Idempotency-Key": "same"}, BOUNTY, payload)
    other = submit(client, {**auth("bruno"), "Idempotency-Key": "same"}, BOUNTY, [clip()])
    assert other.status_code == 201 and other.get_json()["replayed"] is False


def run_at_once(count_: int, action):  # type: ignore[no-untyped-def]
    barrier = threading.Barrier(count_)
    results: list = [None] * count_

    def worker(index: int) -> None:
        barrier.wait()
        results[index] = action(index)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count_)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_identical_calls_at_the_same_moment_have_one_effect(app, runtime, ada) -> None:
    payload = body(BOUNTY, [clip() for _ in range(20)])
    headers = {**ada, "Idempotency-Key": "concurrent"}

    def call(_: int):  # type: ignore[no-untyped-def]
        response = app.test_client().post("/v1/submissions", json=payload, headers=headers)
        return response.status_code, response.get_json()

    results = run_at_once(6, call)
    assert [status for status, _ in results] == [201] * 6
    assert len({tuple(c["clip_id"] for c in r["clips"]) for _, r in results}) == 1
    assert sum(not r["replayed"] for _, r in results) == 1
    assert count(runtime, Clip) == 20 and count(runtime, SubmissionBatch) == 1


def test_concurrent_donors_racing_for_one_hash_leave_one_holder(
    app, runtime, program, auth
) -> None:
    racers = [f"racer-{n}" for n in range(6)]
    for name in racers:
        consenting_donor(runtime, name)
    shared = sha()

    def call(index: int):  # type: ignore[no-untyped-def]
        payload = body(BOUNTY, [clip(video_sha256=shared), clip()])
        response = app.test_client().post(
            "/v1/submissions", json=payload, headers=auth(racers[index])
        )
        return response.status_code, response.get_json()

    results = run_at_once(len(racers), call)
    assert [status for status, _ in results] == [201] * len(racers)
    first_statuses = sorted(r["clips"][0]["status"] for _, r in results)
    assert first_statuses == ["accepted"] + ["duplicate"] * (len(racers) - 1)
    assert all(r["clips"][1]["status"] == "accepted" for _, r in results)


def test_a_donor_sees_only_their_own_clips(client, runtime, ada, auth) -> None:
    consenting_donor(runtime, "bruno")
    bruno = auth("bruno")
    mine = submit(client, ada, BOUNTY, [clip()]).get_json()["clips"][0]["clip_id"]
    theirs = submit(client, bruno, BOUNTY, [clip()]).get_json()["clips"][0]["clip_id"]
    assert client.get(f"/v1/submissions/{mine}", headers=ada).status_code == 200
    hidden = client.get(f"/v1/submissions/{theirs}", headers=ada)
    assert hidden.status_code == 404
    assert hidden.get_json()["error"] == "clip_not_found"
    assert client.get("/v1/submissions/999999", headers=ada).status_code == 404
    assert [c["id"] for c in client.get("/v1/submissions", headers=ada).get_json()["items"]] == [
        mine
    ]
    ledger_ids = {
        e["reference_id"] for e in client.get("/v1/me/ledger", headers=bruno).get_json()["items"]
    }
    own_batch = client.get(f"/v1/submissions/{theirs}", headers=bruno).get_json()["batch_id"]
    assert ledger_ids == {str(own_batch)}


def test_clip_list_pages_and_filters(client, runtime, ada, clock) -> None:
    camera = {"camera_id": "CAM-P"}
    submit(client, ada, BOUNTY, [clip(**camera) for _ in range(12)])  # 10 accepted, 2 rejected
    clock.advance(timedelta(minutes=1))
    submit(client, ada, BOUNTY, [clip()])
    seen, cursor = [], None
    while True:
        query = "limit=5" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(f"/v1/submissions?{query}", headers=ada).get_json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 13 == len(set(seen))
    assert seen[0] == max(seen)  # the newest call first
    rejected = client.get("/v1/submissions?status=rejected", headers=ada).get_json()["items"]
    assert len(rejected) == 2 and {c["reason"] for c in rejected} == {"camera_cap_reached"}
    other = client.get(f"/v1/submissions?campaign_id={PROGRAM}", headers=ada).get_json()
    assert other["items"] == []
    assert client.get("/v1/submissions?status=lost", headers=ada).status_code == 422
