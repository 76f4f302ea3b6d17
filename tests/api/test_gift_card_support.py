"""Support and provider gift cards (issue 25, part 4): the order's provider state on the
console's redemption pages, resending a delivery, cancelling an order the provider holds
for approval; each authorized by the staff policy and audited. After each: points
debited once, refunded at most once, ``ledger verify`` exits 0."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from rewards_engine.clock import FixedClock
from rewards_engine.config import Settings
from rewards_engine.models import AuditRecord
from tests.conftest import app_for, make_token
from tests.support.console import csrf_of, sign_in
from tests.support.gift_card_world import (
    World,
    assert_money_sound,
    funded_donor,
    order_of,
    redeem,
    tremendous_world,
)


@pytest.fixture
def world(settings: Settings, clock: FixedClock, cli_env: Settings) -> Iterator[World]:
    with tremendous_world(settings, clock) as made:
        yield made


def audited(world: World, action: str) -> list[AuditRecord]:
    with world.runtime.db.read() as session:
        rows = list(session.scalars(select(AuditRecord).where(AuditRecord.action == action)))
        for row in rows:
            session.expunge(row)
        return rows


def points(world: World, headers: dict[str, str]) -> int:
    me = world.client.get("/v1/me", headers=headers).get_json()
    return int(me["balances"]["points"]["available"])


def failed_delivery(world: World, auth) -> tuple[int, dict[str, str]]:  # type: ignore[no-untyped-def]
    funded_donor(world, "ada")
    ada = auth("ada")
    world.fake.delivery_outcome = "FAILED"  # e.g. the recipient's e-mail bounced
    created = redeem(world, ada)
    assert created["status"] == "ordered" and created["code"] is None
    return created["id"], ada


def held(world: World, auth) -> tuple[int, dict[str, str]]:  # type: ignore[no-untyped-def]
    funded_donor(world, "ada", 10_000)
    ada = auth("ada")
    world.fake.approval_required = True
    created = redeem(world, ada)
    assert created["status"] == "pending_approval"
    return created["id"], ada


def test_support_resends_a_failed_delivery_and_the_card_is_delivered(world: World, auth) -> None:
    redemption_id, ada = failed_delivery(world, auth)
    answer = world.client.post(
        f"/v1/admin/redemptions/{redemption_id}/resend",
        json={"reason": "donor asked"},
        headers=auth("agent", "support"),
    )
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json() == {
        "redemption_id": redemption_id,
        "status": "delivered",
        "order_status": "EXECUTED",
        "delivery_status": "SUCCEEDED",
    }
    order = order_of(world, redemption_id)
    assert ("POST", f"/api/v2/rewards/{order.reward_id}/resend") in world.fake.calls
    mine = world.client.get(f"/v1/redemptions/{redemption_id}", headers=ada).get_json()
    assert mine["status"] == "delivered" and mine["code"]  # the link, to its donor
    [record] = audited(world, "redemption.resend")
    assert record.actor_id == "support:agent" and record.after == {
        "resent": "yes",
        "delivery_status": "SUCCEEDED",
    }
    assert mine["code"] not in str(record.after)  # the link is never in the audit log
    delivered = world.client.post(
        f"/v1/admin/redemptions/{redemption_id}/resend", json={}, headers=auth("a", "support")
    )
    assert delivered.status_code == 409 and delivered.get_json()["error"] == "not_resendable"
    assert_money_sound(world, redemption_id, refunded=False)


def test_resend_needs_the_policys_action_and_an_executed_order(world: World, auth) -> None:
    redemption_id, _ = held(world, auth)
    finance = world.client.post(
        f"/v1/admin/redemptions/{redemption_id}/resend", json={}, headers=auth("f", "finance")
    )
    assert finance.status_code == 403  # finance may not redemption.resend
    early = world.client.post(
        f"/v1/admin/redemptions/{redemption_id}/resend", json={}, headers=auth("a", "support")
    )
    assert early.status_code == 409 and early.get_json()["error"] == "not_resendable"
    assert audited(world, "redemption.resend") == []
    assert_money_sound(world, redemption_id, refunded=False)


def test_a_support_lead_cancels_a_held_order_and_the_points_come_back_once(
    world: World, auth
) -> None:
    redemption_id, ada = held(world, auth)
    assert points(world, ada) == 10_000 - 2500
    url = f"/v1/admin/redemptions/{redemption_id}/cancel-order"
    tier1 = world.client.post(url, json={"reason": "dup"}, headers=auth("a", "support"))
    assert tier1.status_code == 403  # redemption.cancel: support lead and admin only
    no_reason = world.client.post(url, json={}, headers=auth("lead", "support_lead"))
    assert no_reason.status_code == 422 and "reason" in no_reason.get_json()["errors"]["json"]
    answer = world.client.post(url, json={"reason": "duplicate request"},
                               headers=auth("lead", "support_lead"))  # fmt: skip
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["status"] == "cancelled"
    assert answer.get_json()["order_status"] == "CANCELED"
    again = world.client.post(url, json={"reason": "again"}, headers=auth("lead", "support_lead"))
    assert again.status_code == 409 and again.get_json()["error"] == "not_cancellable"
    assert points(world, ada) == 10_000  # back once
    [record] = audited(world, "redemption.cancel")
    assert record.before == {"status": "pending_approval"}
    assert record.after is not None and record.after["status"] == "cancelled"
    assert_money_sound(world, redemption_id, refunded=True)


def test_an_executed_order_cannot_be_cancelled_at_the_provider(world: World, auth) -> None:
    redemption_id, ada = failed_delivery(world, auth)
    answer = world.client.post(
        f"/v1/admin/redemptions/{redemption_id}/cancel-order",
        json={"reason": "donor changed their mind"},
        headers=auth("boss", "admin"),
    )
    assert answer.status_code == 409 and answer.get_json()["error"] == "not_cancellable"
    assert not any(path.startswith("/api/v2/order_approvals") for _, path in world.fake.calls)
    assert points(world, ada) == 10_000 - 2500
    assert_money_sound(world, redemption_id, refunded=False)


def test_an_order_approved_meanwhile_is_not_cancelled_and_moves_on(world: World, auth) -> None:
    redemption_id, ada = held(world, auth)
    order = order_of(world, redemption_id)
    world.fake.decide(order.order_id or "", "approve")  # approved in the dashboard first
    answer = world.client.post(
        f"/v1/admin/redemptions/{redemption_id}/cancel-order",
        json={"reason": "too late"},
        headers=auth("boss", "admin"),
    )
    assert answer.status_code == 409 and answer.get_json()["error"] == "not_cancelled"
    assert answer.get_json()["details"]["current"] == "delivered"
    assert points(world, ada) == 10_000 - 2500
    assert_money_sound(world, redemption_id, refunded=False)


def test_the_console_shows_the_provider_state_and_offers_what_the_role_may(
    world: World, auth, settings: Settings
) -> None:
    redemption_id, _ = held(world, auth)
    order = order_of(world, redemption_id)
    lead = sign_in(app_for(world.runtime).test_client(),
                   make_token(world.runtime.settings, "lead", "support_lead"))  # fmt: skip
    page = lead.get("/console/redemptions?status=pending_approval")
    assert page.status_code == 200
    assert f"order {order.order_id}, pending approval" in page.text
    assert f"/console/redemptions/{redemption_id}/cancel-order" in page.text
    [queued] = world.client.get(
        "/v1/admin/redemptions?status=pending_approval", headers=auth("boss", "admin")
    ).get_json()["items"]
    donor_page = lead.get(f"/console/donors/{queued['donor_id']}")
    assert "tremendous: pending approval" in donor_page.text  # the provider state there too
    tier1 = sign_in(app_for(world.runtime).test_client(),
                    make_token(world.runtime.settings, "agent", "support"))  # fmt: skip
    assert "cancel-order" not in tier1.get("/console/redemptions?status=pending_approval").text

    cancelled = lead.post(
        f"/console/redemptions/{redemption_id}/cancel-order",
        data={"reason": "duplicate", "view": "pending_approval", "csrf_token": csrf_of(page.text)},
    )
    assert cancelled.status_code == 303
    assert (
        lead.get("/console/redemptions?status=cancelled").text.count(
            f'data-redemption="{redemption_id}"'
        )
        == 1
    )
    forbidden = tier1.post(
        f"/console/redemptions/{redemption_id}/cancel-order",
        data={"reason": "x", "csrf_token": csrf_of(tier1.get("/console/redemptions").text)},
    )
    assert forbidden.status_code == 403
    assert len(audited(world, "redemption.cancel")) == 1
    assert_money_sound(world, redemption_id, refunded=True)


def test_the_console_resends_a_failed_delivery(world: World, auth) -> None:
    redemption_id, _ = failed_delivery(world, auth)
    agent = sign_in(app_for(world.runtime).test_client(),
                    make_token(world.runtime.settings, "agent", "support"))  # fmt: skip
    page = agent.get("/console/redemptions?status=ordered")
    assert "delivery failed" in page.text and "Resend" in page.text
    answer = agent.post(
        f"/console/redemptions/{redemption_id}/resend",
        data={"view": "ordered", "csrf_token": csrf_of(page.text)},
    )
    assert answer.status_code == 303
    assert "delivery succeeded" in agent.get("/console/redemptions?status=delivered").text
    assert len(audited(world, "redemption.resend")) == 1
    assert_money_sound(world, redemption_id, refunded=False)
