"""The camera registry through the API: attestations (signature, expiry, replay, key
rotation), a serial claimed by two accounts, moves and the caps that survive them, the
campaign rule for cameras not registered to their donor, the device cloud's push,
support's view, export and erasure."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import jwt
import pytest
from sqlalchemy import select

from rewards_engine.attestations import sign_development_attestation
from rewards_engine.bootstrap import build_runtime
from rewards_engine.jobs import find_job
from rewards_engine.models import AuditRecord, Camera, CameraRegistration, Clip
from rewards_engine.scheduler import run_job
from tests.conftest import app_for
from tests.support.cameras import DeviceCloudKey, jwks, register_camera
from tests.support.factories import add_campaign, clip, consenting_donor, donate, load_program


@pytest.fixture(autouse=True)
def program(runtime) -> None:  # type: ignore[no-untyped-def]
    load_program(runtime)  # the consent text, the campaigns


def attest(runtime, account, serial, *, at=None, **kw) -> str:  # type: ignore[no-untyped-def]
    moment = at or runtime.clock.now()
    return sign_development_attestation(runtime.settings, account, serial, "Cam 2", moment, **kw)


def post_camera(client, headers, attestation):  # type: ignore[no-untyped-def]
    return client.post("/v1/me/cameras", json={"attestation": attestation}, headers=headers)


def test_a_camera_registered_by_attestation_is_listed_with_its_caps(client, runtime, auth) -> None:
    campaign = add_campaign(runtime, cap_per_camera_per_incident_type=3).id
    consenting_donor(runtime, "ada")
    ada = auth("ada")
    answer = post_camera(client, ada, attest(runtime, "ada", "SN-1"))
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["outcome"] == "registered"
    donate(client, ada, 2, campaign=campaign, camera_id="SN-1", incident_type="car_door")

    listed = client.get("/v1/me/cameras", headers=ada).get_json()
    assert listed["next_cursor"] is None
    [camera] = listed["items"]
    assert (camera["serial"], camera["model"], camera["clips"]) == ("SN-1", "Cam 2", 2)
    caps = {(c["campaign_id"], c["incident_type"]): (c["used"], c["cap"]) for c in camera["caps"]}
    # every open campaign that caps cameras: this one, and the first campaign (open at
    # the test clock, 10 a camera)
    assert caps == {
        (campaign, "package_theft"): (0, 3),
        (campaign, "car_door"): (2, 3),
        ("theft-bounty-2024", "package_theft"): (0, 10),
        ("theft-bounty-2024", "car_door"): (0, 10),
    }
    assert client.get("/v1/me/cameras", headers=auth("someone-else")).get_json()["items"] == []


@pytest.mark.parametrize(
    ("forge", "code"),
    [
        ("not a jwt", "attestation_malformed"),
        ("unknown_kid", "attestation_unknown_key"),
        ("forged", "attestation_bad_signature"),
        ("expired", "attestation_expired"),
        ("too_long", "attestation_invalid"),
        ("no_jti", "attestation_invalid"),
        ("wrong_audience", "attestation_invalid"),
        ("spaced_serial", "attestation_invalid"),
        ("issued_later", "attestation_invalid"),
        ("hs256", "attestation_unknown_key"),
        ("other_account", "attestation_for_another_account"),
    ],
)
def test_an_attestation_that_cannot_be_believed_is_a_422_naming_it(
    client, runtime, auth, forge, code
) -> None:
    consenting_donor(runtime, "ada")
    now = runtime.clock.now()
    impostor = DeviceCloudKey("development")  # the right kid, another key
    stranger = DeviceCloudKey("unknown")
    attestation = {
        "not a jwt": lambda: "not a jwt",
        "unknown_kid": lambda: stranger.sign(now, "ada", "SN-1"),
        "forged": lambda: impostor.sign(now, "ada", "SN-1"),
        "expired": lambda: attest(runtime, "ada", "SN-1", at=now - timedelta(hours=2)),
        "too_long": lambda: attest(runtime, "ada", "SN-1", ttl=timedelta(days=30)),
        "no_jti": lambda: _resigned(runtime, jti=None),
        "wrong_audience": lambda: _resigned(runtime, aud="someone-else"),
        "spaced_serial": lambda: _resigned(runtime, serial="SN 1"),
        "issued_later": lambda: attest(runtime, "ada", "SN-1", at=now + timedelta(minutes=10)),
        "hs256": lambda: jwt.encode({"serial": "SN-1"}, "s" * 32, algorithm="HS256"),
        "other_account": lambda: attest(runtime, "bob", "SN-1"),
    }[forge]()
    answer = post_camera(client, auth("ada"), attestation)
    assert answer.status_code == 422, answer.get_json()
    assert answer.get_json()["error"] == code
    assert "attestation" in answer.get_json()["errors"]["json"]
    with runtime.db.read() as session:
        assert session.scalars(select(Camera)).all() == []


def _resigned(runtime, **changes) -> str:  # type: ignore[no-untyped-def]
    """A development attestation with claims changed (None removes one), signed again."""
    from rewards_engine.attestations import DEVELOPMENT_KID, _development_private_key

    claims = jwt.decode(attest(runtime, "ada", "SN-1"), options={"verify_signature": False})
    claims = {k: v for k, v in {**claims, **changes}.items() if v is not None}
    key = _development_private_key(runtime.settings)
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": DEVELOPMENT_KID})


def test_the_same_attestation_again_is_a_retry_then_a_replay_once_the_camera_moved(
    client, runtime, auth, clock
) -> None:
    for account in ("ada", "bob"):
        consenting_donor(runtime, account)
    first = attest(runtime, "ada", "SN-1")
    assert post_camera(client, auth("ada"), first).status_code == 201
    again = post_camera(client, auth("ada"), first)
    assert again.status_code == 200 and again.get_json()["outcome"] == "unchanged"

    clock.advance(timedelta(minutes=5))
    moved = post_camera(client, auth("bob"), attest(runtime, "bob", "SN-1"))
    assert moved.status_code == 201 and moved.get_json()["outcome"] == "moved"
    replayed = post_camera(client, auth("ada"), first)
    assert replayed.status_code == 409 and replayed.get_json()["error"] == "attestation_replayed"
    # An attestation issued before the one in force cannot take the camera back.
    older = attest(runtime, "ada", "SN-1", at=clock.now() - timedelta(minutes=1))
    stale = post_camera(client, auth("ada"), older)
    assert stale.status_code == 409 and stale.get_json()["error"] == "attestation_stale"
    assert client.get("/v1/me/cameras", headers=auth("ada")).get_json()["items"] == []


def test_keys_rotate_old_and_new_verify_together_then_only_the_new(
    runtime, auth, settings, clock
) -> None:
    consenting_donor(runtime, "ada")
    old, new = DeviceCloudKey("2026-01", "RSA"), DeviceCloudKey("2026-07", "EC")
    later = DeviceCloudKey("2027-01", "OKP")

    def client_trusting(*keys: DeviceCloudKey):  # type: ignore[no-untyped-def]
        rotated = build_runtime(replace(settings, device_attestation_keys=jwks(*keys)), clock)
        return app_for(rotated).test_client()

    both = client_trusting(old, new)
    now = clock.now()
    assert post_camera(both, auth("ada"), old.sign(now, "ada", "SN-OLD")).status_code == 201
    assert post_camera(both, auth("ada"), new.sign(now, "ada", "SN-NEW")).status_code == 201
    only_new = client_trusting(new, later)
    refused = post_camera(only_new, auth("ada"), old.sign(now, "ada", "SN-3"))
    assert refused.get_json()["error"] == "attestation_unknown_key"
    assert post_camera(only_new, auth("ada"), later.sign(now, "ada", "SN-4")).status_code == 201
    with runtime.db.read() as session:
        rows = session.execute(select(CameraRegistration.token_id, CameraRegistration.key_id))
        kids = dict(rows.all())
    assert sorted(kids.values()) == ["2026-01", "2026-07", "2027-01"]


def test_a_serial_moves_between_accounts_explicitly_audited_and_shown_to_support(
    client, runtime, auth, clock
) -> None:
    ada, bob = consenting_donor(runtime, "ada"), consenting_donor(runtime, "bob")
    assert post_camera(client, auth("ada"), attest(runtime, "ada", "SN-1")).status_code == 201
    clock.advance(timedelta(days=3))
    assert post_camera(client, auth("bob"), attest(runtime, "bob", "SN-1")).status_code == 201

    assert client.get("/v1/me/cameras", headers=auth("ada")).get_json()["items"] == []
    [bobs] = client.get("/v1/me/cameras", headers=auth("bob")).get_json()["items"]
    assert bobs["serial"] == "SN-1"
    for donor in (ada, bob):  # each sees the camera's whole history
        page = client.get(f"/v1/admin/donors/{donor}/cameras", headers=auth("agent", "support"))
        [history] = page.get_json()["items"]
        assert (history["donor_id"], history["moves"]) == (bob, 1)
        first, second = history["registrations"]
        assert (first["donor_id"], first["ended_by"]) == (ada, "moved")
        assert (second["donor_id"], second["previous_donor_id"], second["ended_at"]) == (
            bob,
            ada,
            None,
        )
    assert client.get(f"/v1/admin/donors/{ada}/cameras", headers=auth("ada")).status_code == 403
    assert (
        client.get("/v1/admin/donors/99999/cameras", headers=auth("a", "support")).status_code
        == 404
    )
    with runtime.db.read() as session:
        audits = session.scalars(
            select(AuditRecord).where(AuditRecord.target_type == "camera").order_by(AuditRecord.id)
        ).all()
    assert [(a.action, a.before, a.after["donor_id"]) for a in audits] == [
        ("camera.registered", {"donor_id": None}, ada),
        ("camera.moved", {"donor_id": ada}, bob),
    ]


def test_caps_count_the_physical_camera_across_a_move(client, runtime, auth, clock) -> None:
    campaign = add_campaign(runtime, cap_per_camera_per_incident_type=2).id
    consenting_donor(runtime, "ada"), consenting_donor(runtime, "bob")
    register_camera(runtime, "ada", "SN-1")
    assert [c["status"] for c in donate(client, auth("ada"), 2, campaign=campaign,
                                        camera_id="SN-1")] == ["accepted"] * 2  # fmt: skip
    clock.advance(timedelta(hours=1))
    assert register_camera(runtime, "bob", "SN-1") == "moved"
    [sold] = donate(client, auth("bob"), 1, campaign=campaign, camera_id="SN-1")
    assert (sold["status"], sold["reason"], sold["camera_rule"]) == (
        "rejected",
        "camera_cap_reached",
        "registered",
    )
    [camera] = client.get("/v1/me/cameras", headers=auth("bob")).get_json()["items"]
    used = {c["incident_type"]: (c["used"], c["cap"]) for c in camera["caps"]}
    assert used["package_theft"] == (2, 2) and camera["clips"] == 0


@pytest.mark.parametrize(
    ("rule", "unregistered"),
    [
        ("allow", ("accepted", None, 10)),
        ("review", ("pending_review", "camera_not_registered", 0)),
        ("reject", ("rejected", "camera_not_registered", 0)),
    ],
)
def test_each_campaign_rule_for_cameras_not_registered_to_the_donor(
    client, runtime, auth, rule, unregistered
) -> None:
    campaign = add_campaign(runtime, unregistered_cameras=rule, cap_per_camera_per_incident_type=1)
    consenting_donor(runtime, "ada"), consenting_donor(runtime, "bob")
    register_camera(runtime, "ada", "SN-ADA")
    register_camera(runtime, "bob", "SN-BOB")
    answers = donate(
        client,
        auth("ada"),
        [clip(camera_id="SN-ADA"), clip(camera_id="SN-BOB"), clip(camera_id="INVENTED")],
        campaign=campaign.id,
    )
    seen = [(a["status"], a["reason"], a["earned"]["points"], a["camera_rule"]) for a in answers]
    assert seen[0] == ("accepted", None, 10, "registered")
    assert seen[1] == (*unregistered, rule)  # bob's camera is not ada's
    assert seen[2] == (*unregistered, rule)
    listed = client.get("/v1/submissions", headers=auth("ada")).get_json()["items"]
    assert sorted(c["camera_rule"] for c in listed) == sorted(["registered", rule, rule])
    details = client.get(f"/v1/campaigns/{campaign.id}").get_json()
    assert details["rules"]["unregistered_cameras"] == rule


def test_a_review_clip_counts_against_the_cap_and_support_decides_it(client, runtime, auth) -> None:
    campaign = add_campaign(
        runtime, unregistered_cameras="review", cap_per_camera_per_incident_type=1
    )
    consenting_donor(runtime, "ada")
    first, second = donate(client, auth("ada"), 2, campaign=campaign.id, camera_id="INVENTED")
    assert (first["status"], second["reason"]) == ("pending_review", "camera_cap_reached")
    review = client.post(
        f"/v1/admin/submissions/{first['clip_id']}/review",
        json={"decision": "accept", "reason": "the receipt shows the camera is hers"},
        headers=auth("agent", "support"),
    )
    assert review.status_code == 200, review.get_json()
    assert review.get_json()["status"] == "accepted"


def test_the_device_cloud_registers_cameras_with_its_service_credential(
    client, runtime, auth
) -> None:
    consenting_donor(runtime, "ada")
    service = auth("device-cloud", "service")
    pushed = client.post(
        "/v1/intake/cameras", json={"attestation": attest(runtime, "ada", "SN-1")}, headers=service
    )
    assert pushed.status_code == 201 and pushed.get_json()["camera"]["serial"] == "SN-1"
    [camera] = client.get("/v1/me/cameras", headers=auth("ada")).get_json()["items"]
    assert camera["serial"] == "SN-1"
    nobody = client.post(
        "/v1/intake/cameras",
        json={"attestation": attest(runtime, "nobody", "SN-2")},
        headers=service,
    )
    assert nobody.status_code == 404 and nobody.get_json()["error"] == "donor_not_found"
    as_donor = client.post(
        "/v1/intake/cameras",
        json={"attestation": attest(runtime, "ada", "SN-3")},
        headers=auth("ada"),
    )
    assert as_donor.status_code == 403
    with runtime.db.read() as session:
        assert session.scalars(select(CameraRegistration.via)).all() == ["device_cloud"]


def test_without_keys_in_production_registration_answers_503(runtime, auth, settings) -> None:
    production = replace(settings, environment="production")
    client = app_for(build_runtime(production, runtime.clock)).test_client()
    consenting_donor(runtime, "ada")
    answer = post_camera(client, auth("ada"), attest(runtime, "ada", "SN-1"))
    assert answer.status_code == 503
    assert answer.get_json()["error"] == "attestations_not_configured"


def test_export_lists_the_cameras_and_erasure_unlinks_them_but_keeps_their_caps(
    client, runtime, auth, clock
) -> None:
    campaign = add_campaign(runtime, cap_per_camera_per_incident_type=2).id
    consenting_donor(runtime, "ada"), consenting_donor(runtime, "bob")
    register_camera(runtime, "ada", "SN-1", model="Doorbell Pro")
    donate(client, auth("ada"), 2, campaign=campaign, camera_id="SN-1")
    exported = client.get("/v1/me/export", headers=auth("ada")).get_json()
    assert [(c["serial"], c["model"], c["ended_at"]) for c in exported["cameras"]] == [
        ("SN-1", "Doorbell Pro", None)
    ]

    assert client.delete("/v1/me", headers=auth("ada")).status_code == 202
    run_job(runtime, find_job("erase-donors"))
    with runtime.db.read() as session:
        camera = session.scalars(select(Camera)).one()
        registration = session.scalars(select(CameraRegistration)).one()
        kept = session.scalars(select(Clip.camera_id).where(Clip.campaign_id == campaign)).all()
        audits = session.scalars(select(AuditRecord).where(AuditRecord.target_type == "camera"))
        assert all(a.before is None and a.after is None for a in audits)
    assert (camera.donor_id, registration.donor_id, registration.ended_by) == (None, None, "erased")
    assert "SN-1" not in kept and all(len(k) == 64 for k in kept)  # salted serials

    clock.advance(timedelta(hours=1))
    assert register_camera(runtime, "bob", "SN-1") == "registered"
    [after] = donate(client, auth("bob"), 1, campaign=campaign, camera_id="SN-1")
    assert after["reason"] == "camera_cap_reached"  # the erasure did not renew the cap
