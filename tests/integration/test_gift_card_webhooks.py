"""Tremendous webhooks (issue 25, part 3): verified before anything changes, each event
processed once, the order read from the API rather than from the event, and the
redemption only ever moved forward. After each: points debited once, refunded at most
once, ``ledger verify`` exits 0."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from rewards_engine.clock import FixedClock
from rewards_engine.config import Settings
from rewards_engine.domain.errors import InvalidInput
from rewards_engine.domain.tremendous_events import signature_for, verify
from rewards_engine.models import WebhookEvent
from rewards_engine.providers.gift_cards import OrderRequest
from tests.support.gift_card_world import (
    CARD,
    World,
    assert_money_sound,
    funded_donor,
    order_of,
    redeem,
    tremendous_world,
)
from tests.support.tremendous_catalog import webhook

URL = "/v1/webhooks/tremendous"


@pytest.fixture
def world(settings: Settings, clock: FixedClock, cli_env: Settings) -> Iterator[World]:
    with tremendous_world(settings, clock) as made:
        yield made


def events(world: World) -> list[str]:
    with world.runtime.db.read() as session:
        return list(
            session.scalars(
                select(WebhookEvent.event_id).where(WebhookEvent.provider == "tremendous")
            )
        )


def status(world: World, redemption_id: int, headers: dict[str, str]) -> str:
    answer = world.client.get(f"/v1/redemptions/{redemption_id}", headers=headers)
    return str(answer.get_json()["status"])


def post(world: World, body: bytes, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    return world.client.post(URL, data=body, headers=headers)


def ordered(world: World, auth, name: str = "ada") -> tuple[int, dict[str, str]]:  # type: ignore[no-untyped-def]
    """A redemption whose order Tremendous executed but has not delivered yet."""
    funded_donor(world, name)
    headers = auth(name)
    world.fake.delivery_outcome = "PENDING"
    created = redeem(world, headers)
    assert created["status"] == "ordered", created
    return created["id"], headers


def test_a_signed_event_applies_the_order_as_the_api_reads_it(world: World, auth) -> None:
    redemption_id, ada = ordered(world, auth)
    order = order_of(world, redemption_id)
    world.fake.set_delivery(order.order_id or "", "SUCCEEDED")
    body, headers = webhook(world.secret, "REWARDS.DELIVERY.SUCCEEDED", order.reward_id or "",
                            "rewards")  # fmt: skip
    answer = post(world, body, headers)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json() | {"event_id": None} == {
        "event_id": None, "duplicate": False, "redemption_id": redemption_id, "status": "delivered"
    }  # fmt: skip
    assert status(world, redemption_id, ada) == "delivered"
    assert world.client.get(f"/v1/redemptions/{redemption_id}", headers=ada).get_json()["code"]
    assert_money_sound(world, redemption_id, refunded=False)


def test_the_event_body_is_not_trusted_only_the_order_read_from_the_api(world: World, auth) -> None:
    """A genuine event whose name says FAILED, about an order the API says is executed
    and delivering: the redemption follows the API (ordered), nothing is refunded."""
    redemption_id, ada = ordered(world, auth)
    order = order_of(world, redemption_id)
    body, headers = webhook(world.secret, "ORDERS.FAILED", order.order_id or "")
    assert post(world, body, headers).get_json()["status"] == "ordered"
    assert status(world, redemption_id, ada) == "ordered"
    assert_money_sound(world, redemption_id, refunded=False)


@pytest.mark.parametrize("forgery", ["wrong secret", "missing", "tampered body", "bare hex"])
def test_a_forged_event_is_refused_and_changes_nothing(world: World, auth, forgery: str) -> None:
    redemption_id, ada = ordered(world, auth)
    order = order_of(world, redemption_id)
    world.fake.set_delivery(order.order_id or "", "SUCCEEDED")  # a genuine event would deliver
    body, headers = webhook(world.secret, "REWARDS.DELIVERY.SUCCEEDED", order.reward_id or "",
                            "rewards")  # fmt: skip
    if forgery == "wrong secret":
        body, headers = webhook("not-the-secret", "REWARDS.DELIVERY.SUCCEEDED",
                                order.reward_id or "", "rewards")  # fmt: skip
    elif forgery == "missing":
        headers = {"Content-Type": "application/json"}
    elif forgery == "tampered body":
        body = body.replace(b"REWARDS.DELIVERY.SUCCEEDED", b"REWARDS.DELIVERY.SUCCEEDEX")
    else:
        headers = {**headers, "Tremendous-Webhook-Signature": headers[
            "Tremendous-Webhook-Signature"].removeprefix("sha256=")}  # fmt: skip
    reads_before = len(world.fake.calls)
    answer = post(world, body, headers)
    assert answer.status_code == 422
    error = answer.get_json()
    assert error["error"] == "invalid_signature"
    assert "Tremendous-Webhook-Signature" in error["errors"]["headers"]
    assert status(world, redemption_id, ada) == "ordered"  # not delivered
    assert events(world) == [] and len(world.fake.calls) == reads_before  # nothing read
    assert_money_sound(world, redemption_id, refunded=False)


def test_an_event_signed_over_its_compact_json_as_tremendous_s_sample_is_accepted(
    world: World, auth
) -> None:
    """Tremendous's own receiver (tremendous-rewards/tremendous-for-platforms-sample-app,
    controllers/webhooks_controller.rb) checks the HMAC of ``JSON.parse(body).to_json``:
    a body sent with other spacing but signed that way verifies, upper-case hex too; the
    same signature over a changed body does not, and a body nested past the parser's
    depth is a 422, not a 500."""
    redemption_id, ada = ordered(world, auth)
    order = order_of(world, redemption_id)
    world.fake.set_delivery(order.order_id or "", "SUCCEEDED")
    event = {
        "event": "REWARDS.DELIVERY.SUCCEEDED",
        "uuid": "4b7c6a2e-1f0d-4c55-9a51-0f3c2b1d9e77",
        "created_utc": "2026-12-05T15:00:00.000-05:00",
        "payload": {
            "resource": {"id": order.reward_id, "type": "rewards"},
            "meta": {"note": "é/x"},
        },
    }
    ruby_to_json = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
    signed = signature_for(world.secret, ruby_to_json)
    headers = {"Tremendous-Webhook-Signature": "sha256=" + signed[7:].upper(),
               "Content-Type": "application/json"}  # fmt: skip
    spaced = json.dumps(event, indent=2).encode()  # \u00e9 escaped, spaces and newlines
    changed = spaced.replace(b"SUCCEEDED", b"FAILED")
    refused = post(world, changed, headers)
    assert refused.status_code == 422 and refused.get_json()["error"] == "invalid_signature"
    deep = b"[" * 100_000 + b"]" * 100_000  # the API refuses it first (json_too_deep)
    with pytest.raises(InvalidInput) as too_deep:
        verify(world.secret, deep, headers["Tremendous-Webhook-Signature"])
    assert too_deep.value.code == "invalid_signature"
    answer = post(world, spaced, headers)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["status"] == "delivered" and len(events(world)) == 1
    assert status(world, redemption_id, ada) == "delivered"
    assert_money_sound(world, redemption_id, refunded=False)


def test_without_a_secret_every_webhook_is_refused(
    settings: Settings, clock: FixedClock, cli_env: Settings, auth
) -> None:
    with tremendous_world(settings, clock, webhook_secret=None) as world:
        redemption_id, ada = ordered(world, auth)
        order = order_of(world, redemption_id)
        world.fake.set_delivery(order.order_id or "", "SUCCEEDED")
        for secret in ("tremendous-webhook-secret", "", "anything"):
            body, headers = webhook(secret, "ORDERS.APPROVED", order.order_id or "")
            answer = post(world, body, headers)
            assert answer.status_code == 422
            assert "not configured" in answer.get_json()["message"]
        assert status(world, redemption_id, ada) == "ordered" and events(world) == []
        assert_money_sound(world, redemption_id, refunded=False)


def test_a_replayed_cancellation_is_applied_and_refunded_once(world: World, auth) -> None:
    funded_donor(world, "ada", 10_000)
    ada = auth("ada")
    world.fake.approval_required = True
    created = redeem(world, ada)
    assert created["status"] == "pending_approval"
    order = order_of(world, created["id"])
    world.fake.decide(order.order_id or "", "reject")  # rejected in Tremendous's dashboard
    body, headers = webhook(world.secret, "ORDERS.CANCELED", order.order_id or "")
    first = post(world, body, headers).get_json()
    again = post(world, body, headers).get_json()
    assert first["status"] == "cancelled" and not first["duplicate"]
    assert again["duplicate"] and again["status"] is None
    other_id, other_headers = webhook(world.secret, "ORDERS.CANCELED", order.order_id or "")
    assert post(world, other_id, other_headers).get_json()["status"] == "cancelled"  # new uuid
    balance = world.client.get("/v1/me", headers=ada).get_json()["balances"]["points"]
    assert balance["available"] == 10_000  # the points came back, once
    assert len(events(world)) == 2
    assert_money_sound(world, created["id"], refunded=True)


def test_events_out_of_order_never_move_a_redemption_back(world: World, auth) -> None:
    redemption_id, ada = ordered(world, auth)
    order = order_of(world, redemption_id)
    world.fake.set_delivery(order.order_id or "", "SUCCEEDED")
    late = webhook(world.secret, "ORDERS.CREATED", order.order_id or "")  # sent first
    delivered = webhook(world.secret, "REWARDS.DELIVERY.SUCCEEDED", order.reward_id or "",
                        "rewards")  # fmt: skip
    assert post(world, *delivered).get_json()["status"] == "delivered"
    world.fake.set_delivery(order.order_id or "", "FAILED")  # a later bounce, say
    assert post(world, *late).get_json()["status"] == "delivered"  # not back to ordered
    assert status(world, redemption_id, ada) == "delivered"
    assert_money_sound(world, redemption_id, refunded=False)


def test_tremendous_not_answering_the_read_is_a_503_and_the_event_comes_again(
    world: World, auth
) -> None:
    redemption_id, ada = ordered(world, auth)
    order = order_of(world, redemption_id)
    world.fake.set_delivery(order.order_id or "", "SUCCEEDED")
    body, headers = webhook(world.secret, "ORDERS.APPROVED", order.order_id or "")
    world.fake.read_fail_next = [503]
    assert post(world, body, headers).status_code == 503
    assert events(world) == [] and status(world, redemption_id, ada) == "ordered"
    assert post(world, body, headers).get_json()["status"] == "delivered"  # sent again
    assert_money_sound(world, redemption_id, refunded=False)


def test_an_event_about_an_order_not_ours_is_acknowledged_and_changes_nothing(
    world: World,
) -> None:
    """An order made elsewhere (Tremendous's dashboard): read, its external id is none
    of our redemptions', so nothing moves; the event is recorded once."""
    made = world.runtime.gift_card_orders["tremendous"].place(
        OrderRequest(
            external_id="dashboard-7",
            product_id="AMZN-US",
            amount="10",
            currency="USD",
            recipient_name="Someone",
        )
    )
    body, headers = webhook(world.secret, "ORDERS.CREATED", made.order_id)
    answer = post(world, body, headers)
    assert answer.status_code == 200
    assert answer.get_json()["redemption_id"] is None and len(events(world)) == 1


def test_a_signed_event_without_its_uuid_is_refused_naming_the_field(world: World) -> None:
    malformed = b'{"event": "ORDERS.CREATED", "payload": {"resource": {"id": "X"}}}'
    headers = {
        "Tremendous-Webhook-Signature": signature_for(world.secret, malformed),
        "Content-Type": "application/json",
    }
    refused = post(world, malformed, headers)
    assert refused.status_code == 422 and "uuid" in refused.get_json()["errors"]["json"]
    assert events(world) == []


def test_a_products_event_syncs_the_catalog_at_once(world: World, auth) -> None:
    world.fake.unavailable = {"AMZN-US"}  # Tremendous withdrew the product
    assert CARD in {item["id"] for item in world.client.get("/v1/rewards?country=US").get_json()}
    body, headers = webhook(world.secret, "PRODUCTS.REMOVED", "AMZN-US", "products")
    world.fake.read_fail_next = [503]  # the list unreadable: Tremendous must send it again
    assert post(world, body, headers).status_code == 503 and events(world) == []
    assert post(world, body, headers).status_code == 200
    catalog = {item["id"] for item in world.client.get("/v1/rewards?country=US").get_json()}
    assert CARD not in catalog and len(events(world)) == 1
    funded_donor(world, "ada")
    refused = world.client.post(
        "/v1/redemptions", json={"reward_id": CARD, "country": "US"}, headers=auth("ada")
    )
    assert refused.status_code == 422 and "reward_id" in refused.get_json()["errors"]["json"]


def test_an_event_settles_an_order_whose_answer_was_lost(world: World, auth) -> None:
    """The order was made but its answer never came (the client gave up): the
    redemption waits ``ordering``; the event names an order id the engine does not know
    yet, read from the API, whose external id is the redemption's."""
    funded_donor(world, "ada")
    ada = auth("ada")
    world.fake.hang_next, world.fake.hang_s = 1, 3.0  # longer than the client's 2 s
    created = redeem(world, ada)
    assert created["status"] == "ordering" and order_of(world, created["id"]).order_id is None
    [made] = world.fake.orders_for(order_of(world, created["id"]).external_id)
    body, headers = webhook(world.secret, "ORDERS.CREATED", made["id"])
    answer = post(world, body, headers).get_json()
    assert answer["redemption_id"] == created["id"] and answer["status"] == "delivered"
    assert order_of(world, created["id"]).order_id == made["id"]
    ours = order_of(world, created["id"]).external_id
    assert len(world.fake.orders_for(ours)) == 1  # ordered once
    assert_money_sound(world, created["id"], refunded=False)
