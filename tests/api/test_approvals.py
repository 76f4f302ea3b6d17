"""Four-eyes approval (issue 24, part 2): each gated action below and above its
threshold, who may approve, expiry, refusal and its alert, idempotent requests, an
apply that fails writing nothing, and the console's queue. The thresholds are the
shipped fixtures/approvals.toml's."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from rewards_engine import alerts
from rewards_engine.domain.actors import Actor
from rewards_engine.models import ApprovalRequest, Campaign, FraudFlag
from rewards_engine.services import approvals, support
from tests.conftest import make_token
from tests.support.console import csrf_of, sign_in
from tests.support.factories import add_campaign, clip, consenting_donor, load_program
from tests.support.factories import donate_ids as donate


@pytest.fixture
def donor(runtime, auth) -> tuple[int, dict[str, str]]:
    load_program(runtime)
    return consenting_donor(runtime, "ada"), auth("ada")


@pytest.fixture
def staff(auth) -> dict[str, dict[str, str]]:
    return {
        "agent": auth("agent-1", "support"),
        "lead": auth("lead-1", "support_lead"),
        "lead2": auth("lead-2", "support_lead"),
        "finance": auth("fin-1", "finance"),
        "admin": auth("boss", "admin"),
        "admin2": auth("boss-2", "admin"),
    }


def points(client, headers) -> int:  # type: ignore[no-untyped-def]
    return int(client.get("/v1/me", headers=headers).get_json()["balances"]["points"]["available"])


def adjust(client, donor_id, headers, amount, asset="points", key=None):  # type: ignore[no-untyped-def]
    body: dict[str, Any] = {"asset": asset, "amount": amount, "reason": "goodwill credit"}
    if asset == "cash":
        body["currency"] = "USD"
    extra = {"Idempotency-Key": key} if key else {}
    return client.post(
        f"/v1/admin/donors/{donor_id}/adjustments", json=body, headers={**headers, **extra}
    )


def approve(client, approval_id, headers, key=None):  # type: ignore[no-untyped-def]
    extra = {"Idempotency-Key": key} if key else {}
    return client.post(
        f"/v1/admin/approvals/{approval_id}/approve", json={}, headers={**headers, **extra}
    )


def audit_actions(client, headers, approval_id) -> list[str]:  # type: ignore[no-untyped-def]
    log = client.get(
        f"/v1/admin/audit-log?target_type=approval&target_id={approval_id}", headers=headers
    ).get_json()["items"]
    return sorted(entry["action"] for entry in log)


def test_an_adjustment_at_the_threshold_applies_above_it_waits_for_a_second_person(
    client, donor, staff
) -> None:
    donor_id, ada = donor
    assert adjust(client, donor_id, staff["agent"], 10_000).status_code == 201
    assert points(client, ada) == 10_000
    asked = adjust(client, donor_id, staff["agent"], 15_000)
    assert asked.status_code == 202, asked.get_json()
    request = asked.get_json()
    assert request["status"] == "pending" and request["action"] == "points.adjust"
    assert request["expires_at"] and asked.headers["Location"].endswith(f"/{request['id']}")
    assert request["evidence"]["balances_before"]["points_available"] == 10_000
    assert points(client, ada) == 10_000  # nothing applied yet

    done = approve(client, request["id"], staff["lead"])
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["status"] == "applied"
    assert done.get_json()["decided_by"] == "support_lead:lead-1"
    assert done.get_json()["result"]["balance_after"] == 25_000
    assert points(client, ada) == 25_000
    assert audit_actions(client, staff["admin"], request["id"]) == [
        "approval.applied",
        "approval.approved",
        "approval.requested",
    ]
    # The ledger entry is the requester's, as if they had done it with the approval.
    log = client.get("/v1/admin/audit-log?action=ledger.adjust", headers=staff["admin"])
    assert log.get_json()["items"][0]["actor_id"] == "support:agent-1"
    again = approve(client, request["id"], staff["lead"])  # a retry applies nothing more
    assert again.status_code == 200 and again.get_json()["status"] == "applied"
    assert points(client, ada) == 25_000


def test_cash_above_its_threshold_needs_finance_or_an_admin(client, donor, staff) -> None:
    donor_id, ada = donor
    small = adjust(client, donor_id, staff["agent"], 5_000, asset="cash")
    assert small.status_code == 201
    asked = adjust(client, donor_id, staff["lead"], 20_000, asset="cash").get_json()
    assert asked["status"] == "pending" and asked["action"] == "cash.adjust"
    wrong_role = approve(client, asked["id"], staff["lead2"])
    assert wrong_role.status_code == 403
    assert wrong_role.get_json()["error"] == "not_an_approver"
    assert "finance" in wrong_role.get_json()["message"]
    done = approve(client, asked["id"], staff["finance"])
    assert done.status_code == 200 and done.get_json()["status"] == "applied"
    cash = client.get("/v1/me", headers=ada).get_json()["balances"]["cash"][0]
    assert cash["available_cents"] == 25_000


def test_the_requester_cannot_approve_their_own_request_under_any_role(
    client, runtime, donor, staff, auth
) -> None:
    donor_id, _ = donor
    asked = adjust(client, donor_id, staff["lead"], 50_000).get_json()
    own = approve(client, asked["id"], staff["lead"])
    assert own.status_code == 403 and own.get_json()["error"] == "own_request"
    assert "another staff member" in own.get_json()["message"]
    as_admin = approve(client, asked["id"], auth("lead-1", "admin"))  # the same person
    assert as_admin.status_code == 403 and as_admin.get_json()["error"] == "own_request"
    refused = client.post(
        f"/v1/admin/approvals/{asked['id']}/refuse",
        json={"reason": "changed my mind"},
        headers=staff["lead"],
    )
    assert refused.status_code == 403
    tier_one = approve(client, asked["id"], staff["agent"])  # may not decide at all
    assert tier_one.status_code == 403
    assert approvals.get_request(runtime.db, asked["id"]).status == "pending"


def test_a_refusal_applies_nothing_and_raises_the_alert(client, donor, staff, caplog) -> None:
    donor_id, ada = donor
    asked = adjust(client, donor_id, staff["agent"], 15_000).get_json()
    before = alerts.count("approval.refused")
    no_reason = client.post(
        f"/v1/admin/approvals/{asked['id']}/refuse", json={}, headers=staff["lead"]
    )
    assert no_reason.status_code == 422
    with caplog.at_level(logging.WARNING):
        refused = client.post(
            f"/v1/admin/approvals/{asked['id']}/refuse",
            json={"reason": "no ticket for this"},
            headers=staff["lead"],
        )
    assert refused.status_code == 200
    assert refused.get_json()["status"] == "refused"
    retried = client.post(
        f"/v1/admin/approvals/{asked['id']}/refuse",
        json={"reason": "no ticket for this"},
        headers=staff["lead"],
    )
    assert retried.status_code == 200 and retried.get_json()["status"] == "refused"
    assert refused.get_json()["decision_reason"] == "no ticket for this"
    assert points(client, ada) == 0
    assert alerts.count("approval.refused") == before + 1
    metrics = client.get("/metrics").text
    assert f'rewards_alerts_total{{event="approval.refused"}} {before + 1}' in metrics
    events = [r for r in caplog.records if r.getMessage() == "approval.refused"]
    assert events and events[0].fields["action"] == "points.adjust"  # type: ignore[attr-defined]
    assert events[0].fields["requester"] == "support:agent-1"  # type: ignore[attr-defined]
    assert events[0].fields["decider"] == "support_lead:lead-1"  # type: ignore[attr-defined]
    late = approve(client, asked["id"], staff["admin"])
    assert late.status_code == 409 and late.get_json()["error"] == "approval_already_decided"
    assert points(client, ada) == 0
    assert "approval.refused" in audit_actions(client, staff["admin"], asked["id"])


def test_an_expired_request_cannot_be_approved_and_the_job_closes_the_rest(
    client, runtime, clock, donor, staff
) -> None:
    donor_id, ada = donor
    first = adjust(client, donor_id, staff["agent"], 15_000).get_json()
    second = adjust(client, donor_id, staff["agent"], 16_000).get_json()
    clock.advance(timedelta(hours=48))
    late = approve(client, first["id"], staff["lead"])
    assert late.status_code == 409 and late.get_json()["error"] == "approval_expired"
    assert approvals.get_request(runtime.db, first["id"]).status == "expired"
    assert approvals.expire_pending(runtime.db, runtime.clock) == 1
    assert approvals.get_request(runtime.db, second["id"]).status == "expired"
    assert points(client, ada) == 0
    assert "approval.expired" in audit_actions(client, staff["admin"], second["id"])


def test_a_retried_request_with_its_idempotency_key_makes_one_request(
    client, runtime, donor, staff
) -> None:
    donor_id, _ = donor
    one = adjust(client, donor_id, staff["agent"], 15_000, key="k-1")
    two = adjust(client, donor_id, staff["agent"], 15_000, key="k-1")
    assert one.status_code == two.status_code == 202
    assert one.get_json()["id"] == two.get_json()["id"]
    other = adjust(client, donor_id, staff["agent"], 16_000, key="k-1")
    assert other.status_code == 422 and other.get_json()["error"] == "idempotency_key_reused"
    with runtime.db.read() as session:
        assert session.scalar(select(func.count()).select_from(ApprovalRequest)) == 1


def test_an_apply_that_fails_records_why_and_writes_nothing(client, donor, staff) -> None:
    donor_id, ada = donor
    for _ in range(3):
        assert adjust(client, donor_id, staff["agent"], 10_000).status_code == 201
    asked = adjust(client, donor_id, staff["lead"], -25_000).get_json()
    assert adjust(client, donor_id, staff["agent"], -10_000).status_code == 201
    failed = approve(client, asked["id"], staff["lead2"])
    assert failed.status_code == 409
    assert failed.get_json()["error"] == "approval_apply_failed"
    assert points(client, ada) == 20_000
    shown = client.get(f"/v1/admin/approvals/{asked['id']}", headers=staff["lead"]).get_json()
    assert shown["status"] == "failed" and shown["error"]["code"] == "insufficient_balance"
    actions = audit_actions(client, staff["admin"], asked["id"])
    assert "approval.failed" in actions and "approval.applied" not in actions


def _pending_review_clips(client, runtime, clock, ada, count):  # type: ignore[no-untyped-def]
    campaign = add_campaign(
        runtime, review_if_older_than_days=30, starts_at=clock.now() - timedelta(days=90)
    )
    old = [clip(recorded_at=clock.now() - timedelta(days=40)) for _ in range(count)]
    return donate(client, ada, old, campaign.id)


def test_bulk_review_of_a_few_clips_applies_of_many_waits_for_approval(
    client, runtime, clock, donor, staff
) -> None:
    _, ada = donor
    few = _pending_review_clips(client, runtime, clock, ada, 3)
    many = _pending_review_clips(client, runtime, clock, ada, 21)
    url = "/v1/admin/submissions/review"
    done = client.post(
        url, json={"clip_ids": few, "decision": "reject", "reason": "staged"}, headers=staff["lead"]
    )
    assert done.status_code == 200, done.get_json()
    assert {c["status"] for c in done.get_json()["clips"]} == {"rejected"}
    asked = client.post(
        url,
        json={"clip_ids": many, "decision": "accept", "reason": "verified footage"},
        headers=staff["lead"],
    )
    assert asked.status_code == 202 and asked.get_json()["amount"] == 21
    assert client.get(f"/v1/submissions/{many[0]}", headers=ada).get_json()["status"] == (
        "pending_review"
    )
    applied = approve(client, asked.get_json()["id"], staff["admin"])
    assert applied.status_code == 200 and applied.get_json()["status"] == "applied"
    statuses = {
        client.get(f"/v1/submissions/{clip_id}", headers=ada).get_json()["status"]
        for clip_id in many
    }
    assert statuses == {"accepted"}
    stale = client.post(
        url,
        json={"clip_ids": [few[0]], "decision": "accept", "reason": "again"},
        headers=staff["lead"],
    )
    assert stale.status_code == 409  # none decided twice, all or nothing


def _high_flag(runtime, donor_id: int) -> int:  # type: ignore[no-untyped-def]
    now = runtime.clock.now()
    with runtime.db.transaction() as uow:
        flag = FraudFlag(
            donor_id=donor_id,
            rule="burst",
            rule_version=1,
            severity="high",
            score=9.5,
            status="open",
            summary="40 clips in a minute",
            created_at=now,
            updated_at=now,
        )
        uow.session.add(flag)
        uow.session.flush()
        return int(flag.id)


def test_dismissing_a_high_severity_flag_and_a_ban_need_a_second_person(
    client, runtime, donor, staff
) -> None:
    donor_id, _ = donor
    flag_id = _high_flag(runtime, donor_id)
    url = f"/v1/admin/fraud-flags/{flag_id}/resolve"
    dismiss = {"decision": "dismiss", "reason": "a real burst: a party"}
    asked = client.post(url, json=dismiss, headers=staff["lead"])
    assert asked.status_code == 202, asked.get_json()
    request = asked.get_json()
    assert request["action"] == "fraud.dismiss_high" and request["evidence"]["severity"] == "high"
    assert approve(client, request["id"], staff["admin"]).get_json()["status"] == "applied"
    flag = client.get(f"/v1/admin/fraud-flags/{flag_id}", headers=staff["lead"]).get_json()
    assert flag["status"] == "dismissed"

    other = _high_flag(runtime, donor_id)
    ban = {"decision": "confirm", "reason": "farm", "ban": True}
    banned = client.post(f"/v1/admin/fraud-flags/{other}/resolve", json=ban, headers=staff["lead"])
    assert banned.status_code == 202 and banned.get_json()["action"] == "donor.ban"
    confirm = {"decision": "confirm", "reason": "farm", "ban": False}
    plain = client.post(
        f"/v1/admin/fraud-flags/{other}/resolve", json=confirm, headers=staff["lead"]
    )
    assert plain.status_code == 200  # confirming without a ban applies at once


def points_per_clip(runtime, campaign_id: str) -> int:  # type: ignore[no-untyped-def]
    with runtime.db.read() as session:
        return int(session.get(Campaign, campaign_id).points_per_clip)


def test_a_campaign_rule_change_needs_a_second_admin_a_new_name_does_not(
    client, runtime, donor, staff
) -> None:
    campaign = add_campaign(runtime)
    url = f"/v1/admin/campaigns/{campaign.id}"
    renamed = client.patch(url, json={"name": "Renamed", "reason": "typo"}, headers=staff["admin"])
    assert renamed.status_code == 200
    asked = client.patch(
        url, json={"points_per_clip": 50, "reason": "more points"}, headers=staff["admin"]
    )
    assert asked.status_code == 202 and asked.get_json()["action"] == "campaign.change"
    assert points_per_clip(runtime, campaign.id) == 10
    assert approve(client, asked.get_json()["id"], staff["admin"]).status_code == 403
    assert approve(client, asked.get_json()["id"], staff["admin2"]).status_code == 200
    assert points_per_clip(runtime, campaign.id) == 50


def test_a_payout_run_above_its_total_waits_for_approval(
    client, runtime, clock, donor, staff
) -> None:
    donor_id, ada = donor
    quiet = client.post("/v1/admin/payout-batches", headers=staff["finance"])
    assert quiet.status_code == 201  # nothing due: a total of 0 is below the threshold
    support.adjust(
        runtime.db,
        runtime.clock,
        Actor.system("test"),  # a job's credit: not gated
        donor_id,
        asset="cash",
        currency="USD",
        amount=1_500_000,
        reason="a year of bounties",
    )
    destination = {"kind": "paypal_email", "value": "ada@example.com"}
    assert client.patch("/v1/me", json={"payout": destination}, headers=ada).status_code == 200
    clock.advance(timedelta(hours=runtime.settings.payout_cooling_off_hours + 1))
    asked = client.post("/v1/admin/payout-batches", headers=staff["finance"])
    assert asked.status_code == 202, asked.get_json()
    request = asked.get_json()
    assert request["action"] == "payouts.batch" and request["amount"] == 1_500_000
    assert request["evidence"] == {"donors": 1, "total_cents": 1_500_000}
    cash = client.get("/v1/me", headers=ada).get_json()["balances"]["cash"][0]
    assert cash["available_cents"] == 1_500_000  # nothing reserved while it waits
    done = approve(client, request["id"], staff["admin"])
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["result"]["items"] == 1
    cash = client.get("/v1/me", headers=ada).get_json()["balances"]["cash"][0]
    assert cash["available_cents"] == 0


def test_the_console_queue_shows_the_evidence_and_approves(
    app, client, donor, staff, settings
) -> None:
    donor_id, ada = donor
    asked = adjust(client, donor_id, staff["agent"], 15_000).get_json()
    browser = sign_in(app.test_client(), make_token(settings, "lead-1", "support_lead"))
    page = browser.get("/console/approvals")
    assert page.status_code == 200
    assert f"approval-{asked['id']}" in page.text and "goodwill credit" in page.text
    assert "support:agent-1" in page.text and "points_available" in page.text
    no_token = browser.post(f"/console/approvals/{asked['id']}/approve", data={})
    assert no_token.status_code == 403
    answer = browser.post(
        f"/console/approvals/{asked['id']}/approve", data={"csrf_token": csrf_of(page.text)}
    )
    assert answer.status_code == 303
    assert "approved and applied" in browser.get("/console/approvals?status=applied").text
    assert points(client, ada) == 15_000


def test_a_console_form_above_the_threshold_is_sent_for_approval(
    app, client, donor, settings
) -> None:
    donor_id, ada = donor
    browser = sign_in(app.test_client(), make_token(settings, "agent-1", "support"))
    page = browser.get(f"/console/donors/{donor_id}")
    form = {
        "csrf_token": csrf_of(page.text),
        "asset": "points",
        "amount": "15000",
        "reason": "goodwill credit",
        "idempotency_key": "form-1",
    }
    answer = browser.post(f"/console/donors/{donor_id}/adjustments", data=form)
    assert answer.status_code == 303
    shown = browser.get(f"/console/donors/{donor_id}").text
    assert "Sent for approval: request #" in shown and "points.adjust" in shown
    assert points(client, ada) == 0
    again = browser.post(f"/console/donors/{donor_id}/adjustments", data=form)  # a resent form
    assert again.status_code == 303
    with app.extensions["rewards_engine"].db.read() as session:
        assert session.scalar(select(func.count()).select_from(ApprovalRequest)) == 1


def test_a_removal_past_the_balance_is_refused_at_once_not_sent_for_approval(
    client, runtime, donor, staff
) -> None:
    donor_id, _ = donor
    answer = adjust(client, donor_id, staff["lead"], -50_000)
    assert answer.status_code == 409 and answer.get_json()["error"] == "insufficient_balance"
    with runtime.db.read() as session:
        assert session.scalar(select(func.count()).select_from(ApprovalRequest)) == 0


def test_a_console_approval_with_a_reason_too_long_changes_nothing_and_names_it(
    app, client, runtime, donor, staff, settings
) -> None:
    """The console's approve form is not bounded by the API's schema: a reason past 500
    characters was a 500 on PostgreSQL (the column is bounded) and stored whole on
    SQLite. It is refused naming the field, the request stays pending, nothing applied."""
    donor_id, ada = donor
    asked = adjust(client, donor_id, staff["agent"], 15_000).get_json()
    browser = sign_in(app.test_client(), make_token(settings, "lead-1", "support_lead"))
    page = browser.get("/console/approvals")
    answer = browser.post(
        f"/console/approvals/{asked['id']}/approve",
        data={"csrf_token": csrf_of(page.text), "reason": "y" * 3_000},
    )
    assert answer.status_code == 303
    shown = browser.get("/console/approvals").text
    assert "Nothing was changed (reason)" in shown and "at most 500" in shown
    assert approvals.get_request(runtime.db, asked["id"]).status == "pending"
    assert points(client, ada) == 0


def test_finance_may_not_approve_a_points_adjustment_it_may_not_make(
    client, runtime, donor, staff
) -> None:
    """approvals.toml names finance for cash, not points; and the approver's role must be
    allowed the action itself: finance (no points.adjust) is 403 and nothing changes."""
    donor_id, ada = donor
    asked = adjust(client, donor_id, staff["agent"], 15_000).get_json()
    refused = approve(client, asked["id"], staff["finance"])
    assert refused.status_code == 403 and "points.adjust" in refused.get_json()["message"]
    assert approvals.get_request(runtime.db, asked["id"]).status == "pending"
    assert points(client, ada) == 0


def test_a_request_of_someone_revoked_since_cannot_be_approved(
    client, runtime, clock, donor, staff
) -> None:
    """An offboarded agent's pending request (their subject revoked after they asked)
    is not applied in their name: approving is 409 requester_revoked and nothing moves;
    refusing still works. A request made after the revocation (a new token) is not
    affected."""
    donor_id, ada = donor
    asked = adjust(client, donor_id, staff["agent"], 15_000).get_json()
    revoked = client.post(
        "/v1/admin/subject-revocations",
        json={"subject": "agent-1", "reason": "left the company"},
        headers=staff["admin"],
    )
    assert revoked.status_code == 201
    refused = approve(client, asked["id"], staff["lead"])
    assert refused.status_code == 409 and refused.get_json()["error"] == "requester_revoked"
    assert approvals.get_request(runtime.db, asked["id"]).status == "pending"
    assert points(client, ada) == 0
    closed = client.post(
        f"/v1/admin/approvals/{asked['id']}/refuse",
        json={"reason": "requester offboarded"},
        headers=staff["lead"],
    )
    assert closed.status_code == 200 and closed.get_json()["status"] == "refused"
    clock.advance(timedelta(seconds=1))  # the tokens here are issued on the real clock: newer
    later = adjust(client, donor_id, staff["agent"], 15_000).get_json()
    done = approve(client, later["id"], staff["lead"])
    assert done.status_code == 200 and done.get_json()["status"] == "applied"
    assert points(client, ada) == 15_000


def test_an_applied_request_cannot_be_approved_or_refused_again(client, donor, staff) -> None:
    donor_id, ada = donor
    asked = adjust(client, donor_id, staff["agent"], 15_000).get_json()
    assert approve(client, asked["id"], staff["lead"]).get_json()["status"] == "applied"
    again = approve(client, asked["id"], staff["admin"])
    late_refusal = client.post(
        f"/v1/admin/approvals/{asked['id']}/refuse",
        json={"reason": "too late now"},
        headers=staff["admin"],
    )
    for answer in (again, late_refusal):
        assert answer.status_code == 409
        assert answer.get_json()["error"] == "approval_already_decided"
        assert answer.get_json()["details"]["status"] == "applied"
    assert points(client, ada) == 15_000
