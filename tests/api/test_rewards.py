"""The catalog and redemptions: no overspend, no oversell, codes kept secret."""

import logging
import threading

import pytest
from sqlalchemy import func, select, text

from rewards_engine.domain.actors import Actor
from rewards_engine.models import GiftCardCode, Redemption, RewardItem
from rewards_engine.services import holds, rewards, support
from tests.support.factories import ADDRESS, consenting_donor, load_program

GIFT = "gift-card-amazon-10-usd"  # 1,000 points; 5 demo codes
CAMERA = "camera-outdoor-s2"  # 9,000 points; 40 units; US, CA; 2 per donor
AGENT = Actor(id="support:agent", role="support")
SEED = Actor.system("test-seed")
DEMO_CODES = [
    "DEMO-AMZN-10-0001-QX7P",
    "DEMO-AMZN-10-0002-LM3R",
    "DEMO-AMZN-10-0003-ZT9K",
    "DEMO-AMZN-10-0004-HB2W",
    "DEMO-AMZN-10-0005-NC6Y",
]


@pytest.fixture
def program(runtime) -> None:
    load_program(runtime)


def rich_donor(runtime, auth, name: str, points: int):  # type: ignore[no-untyped-def]
    donor_id = consenting_donor(runtime, name)
    if points:
        support.adjust(
            runtime.db,
            runtime.clock,
            SEED,  # test funds, as a job credits them: no staff limit or four-eyes approval
            donor_id,
            asset="points",
            amount=points,
            reason="test funds",
        )
    return donor_id, auth(name)


def available(client, headers) -> int:  # type: ignore[no-untyped-def]
    return client.get("/v1/me", headers=headers).get_json()["balances"]["points"]["available"]


def redeem(client, headers, reward, address=None, key=None):  # type: ignore[no-untyped-def]
    extra = {"Idempotency-Key": key} if key else {}
    payload = {"reward_id": reward} | ({"shipping_address": address} if address else {})
    return client.post("/v1/redemptions", json=payload, headers={**headers, **extra})


def stock(client, reward: str) -> int:  # type: ignore[no-untyped-def]
    return {r["id"]: r["in_stock"] for r in client.get("/v1/rewards").get_json()}[reward]


@pytest.mark.usefixtures("program")
def test_the_catalog_shows_costs_and_stock(client) -> None:
    catalog = {r["id"]: r for r in client.get("/v1/rewards").get_json()}
    assert catalog[GIFT]["in_stock"] == 5 and catalog[GIFT]["point_cost"] == 1000
    assert catalog[CAMERA]["in_stock"] == 40 and catalog[CAMERA]["shipping_countries"] == [
        "US",
        "CA",
    ]
    assert catalog["camera-doorbell-d1-guardian"]["requires_medal"] == "watch-1000"


@pytest.mark.usefixtures("program")
def test_a_gift_card_is_paid_in_points_and_its_code_shown_to_its_donor_only(
    client, runtime, auth
) -> None:
    _, ada = rich_donor(runtime, auth, "ada", 1500)
    response = redeem(client, ada, GIFT)
    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "fulfilled" and body["code"] in DEMO_CODES
    assert [e["to_status"] for e in body["events"]] == ["requested", "fulfilled"]
    assert available(client, ada) == 500
    assert stock(client, GIFT) == 4
    mine = client.get("/v1/redemptions", headers=ada).get_json()["items"]
    assert mine[0]["code"] == body["code"]
    queue = client.get("/v1/admin/redemptions", headers=auth("agent", "support")).get_json()
    assert queue["items"][0]["code"] == "••••" + body["code"][-4:]
    _, bruno = rich_donor(runtime, auth, "bruno", 0)
    assert client.get(f"/v1/redemptions/{body['id']}", headers=bruno).status_code == 404
    with runtime.db.engine.connect() as connection:  # nowhere in plain text
        for table in ("gift_card_codes", "redemptions", "audit_log", "ledger_transfers"):
            dump = str(connection.execute(text(f"SELECT * FROM {table}")).all())
            assert body["code"] not in dump


@pytest.mark.usefixtures("program")
def test_not_enough_points_writes_nothing(client, runtime, auth) -> None:
    _, ada = rich_donor(runtime, auth, "ada", 999)
    response = redeem(client, ada, GIFT)
    assert response.status_code == 409 and response.get_json()["error"] == "insufficient_balance"
    assert available(client, ada) == 999 and stock(client, GIFT) == 5
    with runtime.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Redemption)) == 0


@pytest.mark.usefixtures("program")
def test_a_camera_ships_through_its_states(client, runtime, auth) -> None:
    _, ada = rich_donor(runtime, auth, "ada", 20_000)
    agent = auth("agent", "support")
    created = redeem(client, ada, CAMERA, ADDRESS).get_json()
    assert created["status"] == "requested" and stock(client, CAMERA) == 39
    url = f"/v1/admin/redemptions/{created['id']}/transition"
    early = client.post(
        url, json={"to": "shipped", "carrier": "UPS", "tracking_number": "1Z"}, headers=agent
    )
    assert early.status_code == 409
    assert early.get_json()["details"]["current"] == "requested"
    assert client.post(url, json={"to": "approved"}, headers=agent).status_code == 200
    missing = client.post(url, json={"to": "shipped", "carrier": "UPS"}, headers=agent)
    assert missing.status_code == 422 and "tracking_number" in missing.get_json()["errors"]["json"]
    shipped = client.post(
        url,
        json={"to": "shipped", "carrier": "UPS", "tracking_number": "1Z999AA10123456784"},
        headers=agent,
    )
    assert shipped.get_json()["tracking_number"] == "1Z999AA10123456784"
    delivered = client.post(url, json={"to": "delivered"}, headers=agent).get_json()
    assert [e["to_status"] for e in delivered["events"]] == [
        "requested",
        "approved",
        "shipped",
        "delivered",
    ]
    final = client.post(url, json={"to": "cancelled", "reason": "too late"}, headers=agent)
    assert final.status_code == 409
    log = client.get(
        f"/v1/admin/audit-log?target_type=redemption&target_id={created['id']}",
        headers=auth("boss", "admin"),
    ).get_json()["items"]
    assert [e["action"] for e in log] == [
        "redemption.delivered",
        "redemption.shipped",
        "redemption.approved",
    ]
    assert log[1]["after"]["carrier"] == "UPS" and log[0]["actor_id"] == "support:agent"


@pytest.mark.usefixtures("program")
def test_cancelling_gives_points_and_stock_back(client, runtime, auth) -> None:
    _, ada = rich_donor(runtime, auth, "ada", 10_000)
    agent = auth("agent", "support")
    camera = redeem(client, ada, CAMERA, ADDRESS).get_json()
    assert available(client, ada) == 1000
    no_reason = client.post(
        f"/v1/admin/redemptions/{camera['id']}/transition", json={"to": "cancelled"}, headers=agent
    )
    assert no_reason.status_code == 422
    client.post(
        f"/v1/admin/redemptions/{camera['id']}/transition",
        json={"to": "cancelled", "reason": "address undeliverable"},
        headers=agent,
    )
    assert available(client, ada) == 10_000 and stock(client, CAMERA) == 40
    entries = client.get("/v1/me/ledger", headers=ada).get_json()["items"]
    assert [(e["kind"], e["amount"]) for e in entries[:2]] == [
        ("refund", 9000),
        ("redemption", -9000),
    ]


@pytest.mark.parametrize(
    ("address", "field", "code"),
    [
        (None, "shipping_address", "address_required"),
        ({**ADDRESS, "country": "FR"}, "shipping_address.country", "country_not_served"),
        ({**ADDRESS, "country": "USA"}, "shipping_address.country", "invalid_address"),
        (
            {k: v for k, v in ADDRESS.items() if k != "city"},
            "shipping_address.city",
            "invalid_address",
        ),
        ({**ADDRESS, "postal_code": "!!"}, "shipping_address.postal_code", "invalid_address"),
        ({**ADDRESS, "phone": "call me"}, "shipping_address.phone", "invalid_address"),
        ({**ADDRESS, "floor": "3"}, "shipping_address.floor", "invalid_address"),
    ],
)
@pytest.mark.usefixtures("program")
def test_camera_addresses_are_validated(client, runtime, auth, address, field, code) -> None:
    _, ada = rich_donor(runtime, auth, "ada", 10_000)
    response = client.post(
        "/v1/redemptions", json={"reward_id": CAMERA, "shipping_address": address}, headers=ada
    )
    assert response.status_code == 422 and response.get_json()["error"] == code
    top, _, rest = field.partition(".")
    errors = response.get_json()["errors"]["json"][top]
    assert rest in errors if rest else errors
    assert available(client, ada) == 10_000 and stock(client, CAMERA) == 40


@pytest.mark.usefixtures("program")
def test_limits_eligibility_and_unknown_items(client, runtime, auth) -> None:
    _, ada = rich_donor(runtime, auth, "ada", 40_000)
    for _ in range(2):
        assert redeem(client, ada, CAMERA, ADDRESS).status_code == 201
    third = redeem(client, ada, CAMERA, ADDRESS)
    assert third.status_code == 409 and third.get_json()["error"] == "limit_reached"
    guardian = redeem(client, ada, "camera-doorbell-d1-guardian", ADDRESS)
    assert guardian.status_code == 409 and guardian.get_json()["error"] == "not_eligible"
    unknown = redeem(client, ada, "a-yacht")
    assert unknown.status_code == 422 and "reward_id" in unknown.get_json()["errors"]["json"]


@pytest.mark.usefixtures("program")
def test_a_donor_under_review_waits_for_a_person(client, runtime, auth) -> None:
    ada_id, ada = rich_donor(runtime, auth, "ada", 2000)
    holds.set_hold(runtime.db, runtime.clock, AGENT, ada_id, True, "velocity check")
    waiting = redeem(client, ada, GIFT).get_json()
    assert waiting["status"] == "requested" and waiting["code"] is None
    assert stock(client, GIFT) == 4  # the code is set aside, not shown
    fulfilled = client.post(
        f"/v1/admin/redemptions/{waiting['id']}/transition",
        json={"to": "fulfilled"},
        headers=auth("agent", "support"),
    )
    assert fulfilled.get_json()["code"].startswith("••••")
    assert (
        client.get(f"/v1/redemptions/{waiting['id']}", headers=ada).get_json()["code"] in DEMO_CODES
    )


@pytest.mark.usefixtures("program")
def test_running_out_of_codes(client, runtime, auth) -> None:
    _, ada = rich_donor(runtime, auth, "ada", 10_000)
    codes = {redeem(client, ada, GIFT).get_json()["code"] for _ in range(5)}
    assert codes == set(DEMO_CODES)
    out = redeem(client, ada, GIFT)
    assert out.status_code == 409 and out.get_json()["error"] == "out_of_stock"
    assert available(client, ada) == 5000


@pytest.mark.usefixtures("program")
def test_idempotent_redemption(client, runtime, auth) -> None:
    _, ada = rich_donor(runtime, auth, "ada", 5000)
    first = redeem(client, ada, GIFT, key="r-1").get_json()
    again = redeem(client, ada, GIFT, key="r-1").get_json()
    assert again["id"] == first["id"] and again["code"] == first["code"]
    assert available(client, ada) == 4000
    other = redeem(client, ada, "gift-card-starbucks-5-usd", key="r-1")
    assert other.status_code == 422 and other.get_json()["error"] == "idempotency_key_reused"


def at_once(count: int, action):  # type: ignore[no-untyped-def]
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def worker(index: int) -> None:
        barrier.wait()
        results[index] = action(index)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


@pytest.mark.usefixtures("program")
def test_fifty_donors_racing_for_five_cameras(app, runtime, auth) -> None:
    with runtime.db.transaction() as uow:
        uow.session.get(RewardItem, CAMERA).stock = 5
    racers = [rich_donor(runtime, auth, f"racer-{n}", 9000)[1] for n in range(50)]

    def attempt(index: int):  # type: ignore[no-untyped-def]
        response = redeem(app.test_client(), racers[index], CAMERA, ADDRESS)
        return response.status_code, response.get_json().get("error")

    results = at_once(50, attempt)
    assert sorted(results, key=str).count((201, None)) == 5
    assert results.count((409, "out_of_stock")) == 45
    with runtime.db.read() as session:
        assert session.get(RewardItem, CAMERA).stock == 0
        assert session.scalar(select(func.count()).select_from(Redemption)) == 5
    spent = [available(app.test_client(), headers) for headers in racers]
    assert sorted(spent) == [0] * 5 + [9000] * 45


@pytest.mark.usefixtures("program")
def test_concurrent_redemptions_never_overspend(app, runtime, auth) -> None:
    _, ada = rich_donor(runtime, auth, "ada", 2500)

    def attempt(_: int):  # type: ignore[no-untyped-def]
        response = redeem(app.test_client(), ada, GIFT)
        return response.status_code, response.get_json().get("error")

    results = at_once(10, attempt)
    assert results.count((201, None)) == 2
    assert results.count((409, "insufficient_balance")) == 8
    assert available(app.test_client(), ada) == 500


@pytest.mark.usefixtures("program")
def test_one_key_sent_ten_times_at_once_redeems_once(app, runtime, auth) -> None:
    _, ada = rich_donor(runtime, auth, "ada", 5000)
    results = at_once(
        10, lambda _: redeem(app.test_client(), ada, GIFT, key="same").get_json()["id"]
    )
    assert len(set(results)) == 1
    assert available(app.test_client(), ada) == 4000


@pytest.mark.usefixtures("program")
def test_catalog_administration_and_code_upload(client, runtime, auth, caplog) -> None:
    admin, agent = auth("boss", "admin"), auth("agent", "support")
    item = {
        "id": "gift-card-test-20",
        "kind": "gift_card",
        "name": "Test $20",
        "point_cost": 2000,
        "brand": "Test",
        "denomination_cents": 2000,
        "currency": "USD",
    }
    assert client.post("/v1/admin/rewards", json=item, headers=agent).status_code == 403
    assert client.post("/v1/admin/rewards", json=item, headers=admin).status_code == 201
    missing = client.post(
        "/v1/admin/rewards", json={**item, "id": "x-camera", "kind": "camera"}, headers=admin
    )
    assert missing.status_code == 422 and "model" in missing.get_json()["errors"]["json"]
    csv = (
        "code\nSECRET-CODE-AAAA-1111\nSECRET-CODE-BBBB-2222\nSECRET-CODE-AAAA-1111\n\n" + "x" * 200
    )
    with caplog.at_level(logging.DEBUG):
        upload = client.post(
            "/v1/admin/rewards/gift-card-test-20/codes", json={"csv": csv}, headers=admin
        )
        again = client.post(
            "/v1/admin/rewards/gift-card-test-20/codes", json={"csv": csv}, headers=admin
        )
    assert upload.status_code == 201
    assert upload.get_json() == {"added": 2, "duplicates": 1, "invalid": [5, 6]}
    assert again.get_json()["added"] == 0 and again.get_json()["duplicates"] == 3
    assert "SECRET-CODE" not in caplog.text
    with runtime.db.read() as session:
        stored = session.scalars(
            select(GiftCardCode.encrypted).where(GiftCardCode.item_id == "gift-card-test-20")
        ).all()
    assert len(stored) == 2 and not any("SECRET" in value for value in stored)
    assert (
        client.post(
            "/v1/admin/rewards/gift-card-test-20/codes", json={"csv": csv}, headers=agent
        ).status_code
        == 403
    )
    changed = client.put(
        "/v1/admin/rewards/gift-card-test-20", json={"point_cost": 1800}, headers=admin
    )
    assert changed.get_json()["point_cost"] == 1800 and changed.get_json()["in_stock"] == 0
    assert stock(client, "gift-card-test-20") == 2
    restock = client.post(
        f"/v1/admin/rewards/{CAMERA}/stock", json={"delta": 10, "reason": "delivery"}, headers=admin
    )
    assert restock.get_json()["in_stock"] == 50
    client.post(
        "/v1/admin/rewards/gift-card-test-20/retire", json={"reason": "brand ended"}, headers=admin
    )
    assert "gift-card-test-20" not in {r["id"] for r in client.get("/v1/rewards").get_json()}


def test_an_upload_larger_than_one_statement_can_bind_is_stored_whole(runtime, program) -> None:
    """9,500 codes bind 66,500 parameters in one INSERT, past PostgreSQL's 65,535 (and
    SQLite's 32,766): the upload goes in statements of a bounded size, in one transaction,
    and a repeated code still counts once."""
    admin = Actor(id="admin:uploader", role="admin")
    codes: list[str | None] = [f"BULK-{n:06d}-CODE" for n in range(9_500)]
    codes += ["BULK-000042-CODE", DEMO_CODES[0]]  # repeated in the upload, already in stock
    report = rewards.import_codes(runtime.db, runtime.clock, admin, runtime.vault, GIFT, codes)

    assert (report.added, report.duplicates, report.invalid) == (9_500, 2, [])
    with runtime.db.read() as session:
        stored = session.scalar(
            select(func.count()).select_from(GiftCardCode).where(GiftCardCode.item_id == GIFT)
        )
    assert stored == 9_500 + len(DEMO_CODES)
