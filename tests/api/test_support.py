"""Support tools: adjustments, reversals, reviews, audit log, and who may use them."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from rewards_engine.jobs import find_job
from rewards_engine.models import CampaignCounter
from rewards_engine.scheduler import run_job
from rewards_engine.services import ledger
from tests.support.factories import (
    BOUNTY,
    add_campaign,
    clip,
    consenting_donor,
    load_program,
)
from tests.support.factories import donate_ids as donate


@pytest.fixture
def donor(runtime, auth) -> tuple[int, dict[str, str]]:
    load_program(runtime)
    return consenting_donor(runtime, "ada"), auth("ada")


@pytest.fixture
def agent(auth) -> dict[str, str]:
    return auth("agent-1", "support")


@pytest.fixture
def admin(auth) -> dict[str, str]:
    return auth("boss", "admin")


def cash(client, headers) -> dict:  # type: ignore[no-untyped-def]
    return client.get("/v1/me", headers=headers).get_json()["balances"]["cash"][0]


def test_adjustments_move_available_balances_with_a_reason(client, donor, agent, admin) -> None:
    donor_id, ada = donor
    url = f"/v1/admin/donors/{donor_id}/adjustments"
    given = client.post(
        url, json={"asset": "points", "amount": 150, "reason": "goodwill"}, headers=agent
    )
    assert given.status_code == 201
    assert given.get_json()["balance_after"] == 150
    taken = client.post(
        url, json={"asset": "points", "amount": -50, "reason": "correction"}, headers=agent
    ).get_json()
    assert taken["balance_after"] == 100
    points = client.get("/v1/me", headers=ada).get_json()["balances"]["points"]
    assert points["available"] == 100
    too_much = client.post(
        url, json={"asset": "points", "amount": -101, "reason": "oops"}, headers=agent
    )
    assert too_much.status_code == 409
    assert too_much.get_json()["error"] == "insufficient_balance"
    assert client.get("/v1/me", headers=ada).get_json()["balances"]["points"]["available"] == 100
    cents = client.post(
        url,
        json={"asset": "cash", "currency": "usd", "amount": 250, "reason": "missed bounty"},
        headers=agent,
    )
    assert cents.get_json()["currency"] == "USD"
    assert cash(client, ada)["available_cents"] == 250

    log = client.get("/v1/admin/audit-log?action=ledger.adjust", headers=admin).get_json()["items"]
    assert [entry["reason"] for entry in log] == ["missed bounty", "correction", "goodwill"]
    assert log[-1]["actor_id"] == "support:agent-1"
    assert log[-1]["before"]["points_available"] == 0
    assert log[-1]["after"]["points_available"] == 150
    entries = client.get("/v1/me/ledger", headers=ada).get_json()["items"]
    assert entries[0]["reason"] == "missed bounty" and entries[0]["actor_kind"] == "support"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"asset": "points", "amount": 5}, "reason"),
        ({"asset": "points", "amount": 5, "reason": "  "}, "reason"),
        ({"asset": "points", "amount": 0, "reason": "zero"}, "amount"),
        ({"asset": "points", "amount": 1.5, "reason": "half"}, "amount"),
        ({"asset": "gold", "amount": 5, "reason": "shiny"}, "asset"),
        ({"asset": "cash", "amount": 5, "reason": "no currency"}, "currency"),
        ({"asset": "points", "amount": 10**12, "reason": "huge"}, "amount"),
    ],
)
def test_bad_adjustments_are_422_and_write_nothing(
    client, donor, agent, admin, payload, field
) -> None:
    donor_id, _ = donor
    response = client.post(f"/v1/admin/donors/{donor_id}/adjustments", json=payload, headers=agent)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]["json"]
    log = client.get("/v1/admin/audit-log?action=ledger.adjust", headers=admin).get_json()
    assert log["items"] == []


def test_adjustment_replays_with_its_key(client, donor, agent) -> None:
    donor_id, ada = donor
    headers = {**agent, "Idempotency-Key": "adj-1"}
    payload = {"asset": "points", "amount": 40, "reason": "contest prize"}
    url = f"/v1/admin/donors/{donor_id}/adjustments"
    first, again = (
        client.post(url, json=payload, headers=headers),
        client.post(url, json=payload, headers=headers),
    )
    assert again.get_json()["transfer_id"] == first.get_json()["transfer_id"]
    assert again.get_json()["replayed"] is True
    assert client.get("/v1/me", headers=ada).get_json()["balances"]["points"]["available"] == 40


def test_unknown_donor_is_404(client, agent) -> None:
    assert client.get("/v1/admin/donors/424242", headers=agent).status_code == 404
    response = client.post(
        "/v1/admin/donors/424242/adjustments",
        json={"asset": "points", "amount": 1, "reason": "nobody"},
        headers=agent,
    )
    assert response.status_code == 404


def test_reversal_takes_back_what_a_clip_earned_once(client, runtime, donor, agent, admin) -> None:
    donor_id, ada = donor
    kept, reversed_ = donate(client, ada, [clip(), clip(incident_type="car_door")])
    url = f"/v1/admin/submissions/{reversed_}/reverse"
    first = client.post(url, json={"reason": "staged twice"}, headers=agent)
    assert first.status_code == 200
    assert first.get_json()["clip"]["status"] == "reversed"
    assert first.get_json()["already_reversed"] is False
    assert cash(client, ada)["pending_cents"] == 200
    again = client.post(url, json={"reason": "staged twice"}, headers=agent).get_json()
    assert again["already_reversed"] is True and again["transfer_id"] is None
    assert cash(client, ada)["pending_cents"] == 200
    progress = client.get(f"/v1/campaigns/{BOUNTY}").get_json()["progress"]
    assert {p["incident_type"]: p["accepted"] for p in progress} == {
        "package_theft": 1,
        "car_door": 0,
    }
    log = client.get(f"/v1/admin/audit-log?target_type=clip&target_id={reversed_}", headers=admin)
    assert [e["action"] for e in log.get_json()["items"]] == ["clip.reverse"]
    detail = client.get(f"/v1/admin/donors/{donor_id}", headers=agent).get_json()
    assert {c["id"]: c["status"] for c in detail["recent_clips"]} == {
        kept: "accepted",
        reversed_: "reversed",
    }


def test_reversal_after_vesting_takes_from_available(client, runtime, clock, donor, agent) -> None:
    _, ada = donor
    [clip_id] = donate(client, ada, [clip()])
    clock.advance(timedelta(days=15))
    assert run_job(runtime, find_job("vest-earnings")) == {
        "donors": 1,
        "clips": 1,
        "points": 0,
        "cash_cents": 200,
        "bonuses": 1,  # the Apprentice medal's, after the longest review window (14 days)
        "bonus_points": 10,
    }
    assert cash(client, ada)["available_cents"] == 200
    client.post(f"/v1/admin/submissions/{clip_id}/reverse", json={"reason": "fraud"}, headers=agent)
    assert cash(client, ada) == {
        "currency": "USD",
        "pending_cents": 0,
        "available_cents": 0,
        "in_flight_cents": 0,
    }


def test_a_reversal_may_leave_a_debt_when_the_money_is_gone(
    client, runtime, clock, donor, agent
) -> None:
    donor_id, ada = donor
    [clip_id] = donate(client, ada, [clip()])
    clock.advance(timedelta(days=15))
    run_job(runtime, find_job("vest-earnings"))
    client.post(
        f"/v1/admin/donors/{donor_id}/adjustments",
        json={"asset": "cash", "currency": "USD", "amount": -200, "reason": "paid by cheque"},
        headers=agent,
    )
    client.post(f"/v1/admin/submissions/{clip_id}/reverse", json={"reason": "fraud"}, headers=agent)
    assert cash(client, ada)["available_cents"] == -200


def test_duplicates_cannot_be_reversed(client, runtime, donor, agent, auth) -> None:
    _, ada = donor
    consenting_donor(runtime, "bruno")
    shared = clip()
    donate(client, ada, [shared])
    [copy] = donate(client, auth("bruno"), [dict(shared)])
    response = client.post(
        f"/v1/admin/submissions/{copy}/reverse", json={"reason": "x" * 5}, headers=agent
    )
    assert response.status_code == 409
    assert response.get_json()["error"] == "clip_not_reversible"
    assert (
        client.post(
            "/v1/admin/submissions/99999/reverse", json={"reason": "abc"}, headers=agent
        ).status_code
        == 404
    )


def test_old_footage_waits_for_review_then_earns(client, runtime, clock, donor, agent) -> None:
    _, ada = donor
    campaign = add_campaign(
        runtime, review_if_older_than_days=30, starts_at=clock.now() - timedelta(days=90)
    )
    old = clip(recorded_at=clock.now() - timedelta(days=40))
    waiting, rejected_later = donate(
        client, ada, [old, clip(recorded_at=clock.now() - timedelta(days=45))], campaign.id
    )
    assert (
        client.get(f"/v1/submissions/{waiting}", headers=ada).get_json()["status"]
        == "pending_review"
    )
    assert client.get("/v1/me", headers=ada).get_json()["balances"]["points"]["total"] == 0
    accepted = client.post(
        f"/v1/admin/submissions/{waiting}/review",
        json={"decision": "accept", "reason": "verified footage"},
        headers=agent,
    )
    assert accepted.status_code == 200 and accepted.get_json()["status"] == "accepted"
    # The clip earns now, and the Apprentice medal it brings pays its bonus (pending too).
    assert client.get("/v1/me", headers=ada).get_json()["balances"]["points"]["pending"] == 20
    rejected = client.post(
        f"/v1/admin/submissions/{rejected_later}/review",
        json={"decision": "reject", "reason": "not an incident"},
        headers=agent,
    )
    assert rejected.get_json()["status"] == "rejected"
    twice = client.post(
        f"/v1/admin/submissions/{waiting}/review",
        json={"decision": "reject", "reason": "changed mind"},
        headers=agent,
    )
    assert twice.status_code == 409 and twice.get_json()["error"] == "clip_not_pending_review"


def test_vesting_runs_once(client, runtime, clock, donor) -> None:
    _, ada = donor
    donate(client, ada, [clip(), clip()])
    job = find_job("vest-earnings")
    clock.advance(timedelta(days=13))
    assert run_job(runtime, job)["clips"] == 0  # window not over
    clock.advance(timedelta(days=2))
    assert run_job(runtime, job)["clips"] == 2
    assert run_job(runtime, job)["clips"] == 0
    assert cash(client, ada) == {
        "currency": "USD",
        "pending_cents": 0,
        "available_cents": 400,
        "in_flight_cents": 0,
    }
    kinds = [e["kind"] for e in client.get("/v1/me/ledger", headers=ada).get_json()["items"]]
    # Newest first: the clips' cash and the Apprentice bonus vest (two legs each).
    assert kinds == ["vesting"] * 4 + ["bonus", "earning"]


def test_audit_log_filters_and_pages(client, donor, agent, admin, clock) -> None:
    donor_id, _ = donor
    url = f"/v1/admin/donors/{donor_id}/adjustments"
    for n in range(3):
        clock.advance(timedelta(hours=1))
        client.post(
            url, json={"asset": "points", "amount": n + 1, "reason": f"note {n}"}, headers=agent
        )
    client.post(url, json={"asset": "points", "amount": 9, "reason": "by admin"}, headers=admin)
    by_agent = client.get(
        "/v1/admin/audit-log?actor_id=support:agent-1&limit=2", headers=admin
    ).get_json()
    assert [e["reason"] for e in by_agent["items"]] == ["note 2", "note 1"]
    next_page = (
        f"/v1/admin/audit-log?actor_id=support:agent-1&limit=2&cursor={by_agent['next_cursor']}"
    )
    rest = client.get(next_page, headers=admin).get_json()
    assert [e["reason"] for e in rest["items"]] == ["note 0"] and rest["next_cursor"] is None
    window = client.get(
        "/v1/admin/audit-log",
        query_string={"since": "2025-01-15T12:30:00+00:00", "until": "2025-01-15T14:30:00+00:00"},
        headers=admin,
    ).get_json()
    assert [e["reason"] for e in window["items"]] == ["note 1", "note 0"]
    bad = client.get(
        "/v1/admin/audit-log",
        query_string={"since": "2025-01-02T00:00:00+00:00", "until": "2025-01-01T00:00:00+00:00"},
        headers=admin,
    )
    assert bad.status_code == 422


ADMIN_ROUTES = [
    ("get", "/v1/admin/donors/1", None, "support"),
    (
        "post",
        "/v1/admin/donors/1/adjustments",
        {"asset": "points", "amount": 1, "reason": "abc"},
        "support",
    ),
    ("post", "/v1/admin/submissions/1/reverse", {"reason": "abc"}, "support"),
    ("post", "/v1/admin/submissions/1/review", {"decision": "accept", "reason": "abc"}, "support"),
    ("get", "/v1/admin/audit-log", None, "admin"),
]


@pytest.mark.parametrize(("method", "path", "payload", "needs"), ADMIN_ROUTES)
def test_authorization_of_admin_routes(client, auth, method, path, payload, needs) -> None:
    call = getattr(client, method)
    assert call(path, json=payload).status_code == 401
    assert call(path, json=payload, headers=auth("d-1")).status_code == 403
    support = call(path, json=payload, headers=auth("s-1", "support")).status_code
    admin = call(path, json=payload, headers=auth("a-1", "admin")).status_code
    if needs == "admin":
        assert support == 403
    else:
        assert support not in (401, 403)
    assert admin not in (401, 403)


def test_accepting_old_footage_in_review_never_passes_a_stopping_target(
    client, runtime, clock, donor, agent
) -> None:
    """Old clips wait for review without counting toward the target; once the target is
    reached by other clips, accepting one in review is a rejection (target_reached), so
    a campaign that stops there never goes past it (found by review)."""
    _, ada = donor
    campaign = add_campaign(
        runtime, review_if_older_than_days=30, starts_at=clock.now() - timedelta(days=90),
        targets={"package_theft": 2}, stop_at_target=True,
    )  # fmt: skip
    old = [clip(recorded_at=clock.now() - timedelta(days=40)) for _ in range(2)]
    waiting = donate(client, ada, old, campaign.id)
    fresh = donate(client, ada, [clip(), clip()], campaign.id)  # the target: reached
    assert all(
        client.get(f"/v1/submissions/{c}", headers=ada).get_json()["status"] == "accepted"
        for c in fresh
    )
    decided = client.post(
        f"/v1/admin/submissions/{waiting[0]}/review",
        json={"decision": "accept", "reason": "verified footage"},
        headers=agent,
    )
    assert decided.status_code == 200, decided.get_json()
    assert decided.get_json()["status"] == "rejected"
    assert decided.get_json()["reason"] == "target_reached"
    assert ledger.verify(runtime.db).ok
    with runtime.db.read() as session:
        counted = session.scalar(
            select(CampaignCounter.accepted).where(CampaignCounter.campaign_id == campaign.id)
        )
    assert counted == 2
