"""The donor's side of the bargain: consent, per-clip usage, export, erasure, retention,
the transparency report, and logs that never hold personal data."""

from __future__ import annotations

import io
import json
import logging
from datetime import datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from rewards_engine.cli import cli
from rewards_engine.domain.actors import Actor
from rewards_engine.jobs import find_job
from rewards_engine.logs import JsonFormatter
from rewards_engine.models import AuditRecord, Clip, Donor, metadata
from rewards_engine.scheduler import run_job
from rewards_engine.services import clip_review, fraud, ledger, support
from tests.support.factories import (
    BOUNTY,
    CONSENT,
    add_campaign,
    body,
    clip,
    consenting_donor,
    donate,
    load_program,
)

AGENT = Actor(id="support:agent", role="support")


@pytest.fixture
def program(runtime) -> None:
    load_program(runtime)


def usages(client, headers) -> dict[int, tuple[str, str | None]]:  # type: ignore[no-untyped-def]
    items = client.get("/v1/submissions", headers=headers).get_json()["items"]
    return {c["id"]: (c["usage"], c["usage_reason"]) for c in items}


# --- consent -----------------------------------------------------------------------------


def test_withdrawing_consent_stops_donations_and_takes_clips_out_of_training(
    client, runtime, auth, program
) -> None:
    consenting_donor(runtime, "ana")
    ana = auth("ana")
    [given] = donate(client, ana, [clip()])
    assert usages(client, ana)[given["clip_id"]] == ("in_training_set", None)

    withdrawn = client.delete("/v1/me/consent", headers=ana)
    assert withdrawn.status_code == 200
    assert withdrawn.get_json()["consent_version"] is None
    assert withdrawn.get_json()["consent_withdrawn_at"] is not None
    refused = client.post("/v1/submissions", json=body(BOUNTY, [clip()]), headers=ana)
    assert refused.status_code == 409 and refused.get_json()["error"] == "consent_withdrawn"
    assert usages(client, ana)[given["clip_id"]] == ("withdrawn", "consent_withdrawn")
    assert client.delete("/v1/me/consent", headers=ana).status_code == 200  # idempotent

    client.post("/v1/me/consent", json={"version": CONSENT}, headers=ana)
    assert usages(client, ana)[given["clip_id"]] == ("in_training_set", None)
    history = client.get("/v1/me/consents", headers=ana).get_json()
    assert [(h["action"], h["version"]) for h in history] == [
        ("grant", CONSENT), ("withdraw", CONSENT), ("grant", CONSENT),
    ]  # fmt: skip
    assert all(h["at"] for h in history)


def test_a_new_consent_version_must_be_granted_again(client, runtime, auth, program) -> None:
    consenting_donor(runtime, "ana")
    ana, admin = auth("ana"), auth("boss", "admin")
    [given] = donate(client, ana, [clip()])
    text = {"version": "2025-01-15", "title": "Consent v2", "body": "We now also ..."}
    assert (
        client.post(
            "/v1/admin/consent-versions", json=text, headers=auth("a", "support")
        ).status_code
        == 403
    )
    bad = client.post("/v1/admin/consent-versions", json={"version": "x"}, headers=admin)
    assert bad.status_code == 422 and {"title", "body"} <= set(bad.get_json()["errors"]["json"])
    published = client.post("/v1/admin/consent-versions", json=text, headers=admin)
    assert published.status_code == 201
    assert client.post("/v1/admin/consent-versions", json=text, headers=admin).status_code == 409
    assert client.get("/v1/consent").get_json()["version"] == "2025-01-15"

    assert usages(client, ana)[given["clip_id"]] == ("excluded", "consent_outdated")
    old = client.post("/v1/submissions", json=body(BOUNTY, [clip()], consent=CONSENT), headers=ana)
    assert old.status_code == 409 and old.get_json()["error"] == "consent_outdated"
    client.post("/v1/me/consent", json={"version": "2025-01-15"}, headers=ana)
    assert usages(client, ana)[given["clip_id"]] == ("in_training_set", None)


# --- per-clip usage and retention ---------------------------------------------------------------


def test_each_clip_says_what_it_is_used_for_and_when_it_is_deleted(
    client, runtime, auth, clock, program, cli_env
) -> None:
    consenting_donor(runtime, "ana")
    ana = auth("ana")
    reviewed = add_campaign(
        runtime,
        review_if_older_than_days=7,
        retention_days=30,
        ends_at=clock.now() + timedelta(days=365),
    )
    now = clock.now()
    [old] = donate(client, ana, [clip(recorded_at=now - timedelta(days=20))], reviewed.id)
    fresh_clip = clip()
    [fresh] = donate(client, ana, [fresh_clip], reviewed.id)
    same_camera = [clip(camera_id="CAM-CAP") for _ in range(11)]
    capped = donate(client, ana, same_camera)  # the 11th is over the camera's cap
    ben = auth_donor(runtime, auth, "ben")
    [copy] = donate(client, ben, [clip(video_sha256=same_camera[0]["video_sha256"])])
    [reversed_] = donate(client, ana, [clip()])
    clip_review.reverse_clip(runtime.db, runtime.clock, AGENT, reversed_["clip_id"], "test")

    seen = usages(client, ana)
    assert seen[old["clip_id"]] == ("pending_review", None)
    assert seen[fresh["clip_id"]] == ("in_training_set", None)
    assert seen[capped[-1]["clip_id"]] == ("excluded", "rejected")
    assert seen[reversed_["clip_id"]] == ("excluded", "reversed")
    assert copy["status"] == "duplicate"
    one = client.get(f"/v1/submissions/{fresh['clip_id']}", headers=ana).get_json()
    received = datetime.fromisoformat(one["received_at"])
    assert datetime.fromisoformat(one["delete_after"]) == received + timedelta(days=30)
    assert one["earned"] == {"points": 10, "cash_cents": 0, "currency": "USD"}

    exported = CliRunner().invoke(cli, ["clips", "export-training"])
    assert exported.exit_code == 0, exported.output
    # Only clips whose video was checked are training material: these were claimed
    # by the app alone (imported), so none is exported (tests/integration/test_uploads.py
    # exports verified ones).
    assert exported.stdout.strip() == ""

    clock.advance(timedelta(days=31))
    report = run_job(runtime, find_job("retention"))
    assert report["clips"] == 2  # the campaign with a 30-day retention
    seen = usages(client, ana)
    assert seen[fresh["clip_id"]] == ("deleted", "retention_period_over")
    assert seen[capped[0]["clip_id"]][0] != "deleted"  # 730 days for the bounty campaign
    with runtime.db.read() as session:
        gone = session.get(Clip, fresh["clip_id"])
        assert (gone.event_id, gone.perceptual_hash) == ("", None)
        # only salted hashes: the same video is recognised, the camera's caps still count
        assert gone.video_sha256 != fresh_clip["video_sha256"]
        assert gone.camera_id != fresh_clip["camera_id"] and len(gone.camera_id) == 64
        [record] = session.scalars(
            select(AuditRecord).where(AuditRecord.action == "retention.deleted")
        )
    assert record.after == {"clips": 2, "retention_days": 30}
    assert run_job(runtime, find_job("retention"))["clips"] == 0
    # The same video donated again is still recognised: not paid twice.
    [again] = donate(client, ben, [clip(video_sha256=fresh_clip["video_sha256"])], reviewed.id)
    assert again["status"] == "duplicate" and again["earned"]["points"] == 0


def auth_donor(runtime, auth, name: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    consenting_donor(runtime, name)
    return auth(name)


# --- export and erasure ---------------------------------------------------------------------

PLANTED = {
    "account": "ana-account-7731",
    "name": "Ana Eraseme",
    "email": "ana.eraseme@example.com",
    "street": "17 Privacy Lane",
    "recipient": "Ana Q. Eraseme",
    "postal": "99887",
    "camera": "CAM-ANA-SECRET-01",
    "event": "ev-ana-secret-event",
    "tracking": "1ZANA999TRACK",
}
ADDRESS = {
    "name": PLANTED["recipient"],
    "line1": PLANTED["street"],
    "city": "Springfield",
    "postal_code": PLANTED["postal"],
    "country": "US",
}


def journey(client, runtime, auth, clock) -> dict:  # type: ignore[no-untyped-def]
    """A donor who did everything: named, public, paid, rewarded, medalled, archived."""
    donor_id = consenting_donor(runtime, PLANTED["account"])
    ana = auth(PLANTED["account"])
    client.patch(
        "/v1/me",
        json={"display_name": PLANTED["name"], "visibility": "public",
              "payout": {"kind": "paypal_email", "value": PLANTED["email"]}},
        headers=ana,
    )  # fmt: skip
    clips = [
        clip(camera_id=PLANTED["camera"], event_id=f"{PLANTED['event']}-{n}",
             recorded_at=clock.now() - timedelta(hours=n + 1))
        for n in range(3)
    ]  # fmt: skip
    donate(client, ana, clips)
    for _ in range(2):  # 10,000 at a time: at the four-eyes threshold, not above it
        support.adjust(runtime.db, runtime.clock, AGENT, donor_id, asset="points",
                       amount=10_000, reason="test points")  # fmt: skip
    support.adjust(runtime.db, runtime.clock, AGENT, donor_id, asset="cash", currency="USD",
                   amount=5_000, reason="bounty")  # fmt: skip
    gift = client.post(
        "/v1/redemptions", json={"reward_id": "gift-card-amazon-10-usd"}, headers=ana
    )
    camera = client.post(
        "/v1/redemptions", json={"reward_id": "camera-outdoor-s2", "shipping_address": ADDRESS},
        headers=ana,
    ).get_json()  # fmt: skip
    staff = auth("agent-1", "support")
    for step in (
        {"to": "approved"},
        {"to": "shipped", "carrier": "UPS", "tracking_number": PLANTED["tracking"]},
    ):
        moved = client.post(
            f"/v1/admin/redemptions/{camera['id']}/transition", json=step, headers=staff
        )
        assert moved.status_code == 200, moved.get_json()
    clock.advance(timedelta(days=4))  # past the destination's cooling-off
    run_job(runtime, find_job("payout-batch"))  # manual: no provider configured
    run_job(runtime, find_job("wall-drain"))
    clock.advance(timedelta(days=8))  # the week closes and is archived
    run_job(runtime, find_job("wall-rollover"))
    return {"id": donor_id, "headers": ana, "clips": clips, "gift": gift.get_json()}


def test_the_export_holds_everything_about_the_donor_and_nothing_else(
    client, runtime, auth, clock, program
) -> None:
    data = journey(client, runtime, auth, clock)
    other = auth_donor(runtime, auth, "ben")
    [copy] = donate(client, other, [clip(video_sha256=data["clips"][0]["video_sha256"])])
    answer = client.get("/v1/me/export", headers=data["headers"])
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    assert "attachment" in answer.headers["Content-Disposition"]
    exported = json.loads(answer.get_data(as_text=True))
    assert exported["profile"]["display_name"] == PLANTED["name"]
    assert exported["profile"]["payout_destination"] == PLANTED["email"]
    assert [c["camera_id"] for c in exported["clips"]] == [PLANTED["camera"]] * 3
    assert {c["usage"] for c in exported["clips"]} == {"in_training_set"}
    assert exported["consents"][0]["action"] == "grant"
    points = [e["amount"] for e in exported["ledger"] if e["account"] == "points_available"]
    assert sum(points) == exported["balances"]["points"]["available"]
    assert exported["medals"]["awards"] and exported["wall"]["visibility"] == "public"
    [camera] = [r for r in exported["redemptions"] if r["kind"] == "camera"]
    assert ADDRESS.items() <= camera["shipping_address"].items()
    assert camera["tracking_number"] == PLANTED["tracking"]
    assert [r["code"] for r in exported["redemptions"] if r["kind"] == "gift_card"] == [
        data["gift"]["code"]
    ]
    assert exported["payouts"][0]["amount_cents"] == 5_000
    text = json.dumps(exported)
    assert str(copy["clip_id"]) not in [str(c["id"]) for c in exported["clips"]]
    assert "duplicate_of_id" not in text and "fraud" not in text and "ben" not in text
    assert (
        client.get("/v1/me/export", headers=other).get_json()["clips"][0]["id"] == copy["clip_id"]
    )


def everything_stored(runtime) -> str:  # type: ignore[no-untyped-def]
    """Every row of every table and every Redis value of this run, as lower-case text."""
    parts = []
    with runtime.db.read() as session:
        for table in metadata.sorted_tables:
            for row in session.execute(select(table)):
                parts.append(json.dumps(dict(row._mapping), default=str))
    redis = runtime.redis
    for key in redis.scan_iter(f"*{runtime.settings.redis_namespace}*", count=1000):
        kind = redis.type(key)
        kind = kind.decode() if isinstance(kind, bytes) else kind
        value = {
            "string": lambda k: redis.get(k),
            "hash": lambda k: redis.hgetall(k),
            "zset": lambda k: redis.zrange(k, 0, -1),
            "set": lambda k: redis.smembers(k),
            "list": lambda k: redis.lrange(k, 0, -1),
        }.get(kind, lambda k: "")(key)
        parts.append(f"{key} {value}")
    return "\n".join(parts).lower()


def test_erasure_leaves_no_personal_data_anywhere(client, runtime, auth, clock, program) -> None:
    data = journey(client, runtime, auth, clock)
    with runtime.db.read() as session:
        alias = session.get(Donor, data["id"]).alias
    before = everything_stored(runtime)
    planted = {**PLANTED, "alias": alias, "sha": data["clips"][0]["video_sha256"]}
    assert all(value.lower() in before for value in planted.values() if value != PLANTED["email"])

    asked = client.delete("/v1/me", headers=data["headers"])
    assert asked.status_code == 202
    request_id = asked.get_json()["id"]
    assert client.delete("/v1/me", headers=data["headers"]).get_json()["id"] == request_id
    state = client.get(f"/v1/me/data-requests/{request_id}", headers=data["headers"]).get_json()
    assert state["status"] == "received"

    report = run_job(runtime, find_job("erase-donors"))
    assert report["donors"] == 1 and report["clips"] == 3
    run_job(runtime, find_job("wall-drain"))
    assert client.get("/v1/me", headers=data["headers"]).status_code == 401
    done = client.get(f"/v1/me/data-requests/{request_id}").get_json()
    assert done["status"] == "completed" and done["outcome"]["clips"] == 3
    assert client.get("/v1/me/data-requests/not-a-request").status_code == 404

    after = everything_stored(runtime)
    left = {name: value for name, value in planted.items() if value.lower() in after}
    where = [
        line[max(0, line.find(v.lower()) - 150) : line.find(v.lower()) + 60]
        for line in after.splitlines()
        for v in left.values()
        if v.lower() in line
    ]
    assert left == {}, (left, where)
    # What the law requires stays, linked to no one: the ledger balances, the payout.
    assert ledger.verify(runtime.db).ok
    assert ledger.donor_balances(runtime.db, data["id"]).points_available > 0
    board = client.get("/v1/honor-wall?board=all-time").get_json()
    assert all(e["name"] != PLANTED["name"] for e in board["entries"])
    archived = client.get("/v1/honor-wall?board=week:2025-W03").get_json()
    assert archived["entries"] == []
    # Nobody brings the donor back, and the same videos are not paid again.
    agent = auth("agent-1", "support")
    undo = client.post(
        f"/v1/admin/donors/{data['id']}/adjustments",
        json={"asset": "points", "amount": 5, "reason": "restore"},
        headers=agent,
    )
    assert undo.status_code == 409 and undo.get_json()["error"] == "donor_erased"
    ben = auth_donor(runtime, auth, "ben")
    [again] = donate(client, ben, [clip(video_sha256=data["clips"][0]["video_sha256"])])
    assert again["status"] == "duplicate"
    assert run_job(runtime, find_job("erase-donors")) == {}


def test_the_transparency_report_counts_the_program_by_quarter(
    client, runtime, auth, clock, program
) -> None:
    for name in ("ana", "ben"):
        consenting_donor(runtime, name)
    donate(client, auth("ana"), [clip(camera_id="CAM-1") for _ in range(11)])  # 1 over the cap
    donate(client, auth("ben"), [clip()])
    clock.advance(timedelta(minutes=1))
    fraud.scan(runtime, full=True)
    client.delete("/v1/me", headers=auth("ben"))
    clock.advance(timedelta(hours=2))
    run_job(runtime, find_job("erase-donors"))

    answer = client.get("/v1/transparency")
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "public, max-age=300"
    [quarter] = answer.get_json()["quarters"]
    assert quarter["quarter"] == "2025-Q1"
    assert quarter["clips"] == {
        "received": 12, "accepted": 11, "pending_review": 0, "rejected": 1,
        "duplicates": 0, "reversed": 0, "deleted": 1,
        "videos_stored": 0, "videos_deleted": 0,  # claimed by the app: no video came
    }  # fmt: skip
    assert quarter["donors"] == 2
    assert quarter["erasure_requests"] == {
        "received": 1, "completed": 1, "median_hours_to_complete": 2.0,
    }  # fmt: skip
    assert quarter["fraud_flags"] == {"opened": 1, "confirmed": 0, "dismissed": 0}  # fan-out
    assert quarter["paid_out"] == []


def test_a_whole_journey_logs_no_personal_data(client, runtime, auth, clock, program) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        data = journey(client, runtime, auth, clock)
        ana = data["headers"]
        client.patch("/v1/me", json={"display_name": PLANTED["email"]}, headers=ana)  # refused
        client.patch(
            "/v1/me", json={"payout": {"kind": "paypal_email", "value": "bad@"}}, headers=ana
        )
        client.post("/v1/redemptions", json={"reward_id": "camera-outdoor-s2",
                    "shipping_address": {**ADDRESS, "country": "ZZ"}}, headers=ana)  # fmt: skip
        client.get("/v1/me/export", headers=ana)
        client.delete("/v1/me", headers=ana)
        run_job(runtime, find_job("erase-donors"))
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
    logged = stream.getvalue()
    assert "clips submitted" in logged  # the journey did log
    token = ana["Authorization"].split()[1]
    secrets = [PLANTED["email"], PLANTED["street"], PLANTED["recipient"], token,
               data["gift"]["code"], PLANTED["tracking"]]  # fmt: skip
    assert [s for s in secrets if s in logged] == []
