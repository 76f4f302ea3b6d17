"""The donor's phones for push (docs/push.md): registered idempotently (the same token
updates its record, a token registered by another donor moves), listed a page at a
time without their tokens, removed (another donor's is 404); push preferences; export
lists the phones without tokens, erasure deletes them and their deliveries."""

from __future__ import annotations

import logging

from sqlalchemy import func, select

from rewards_engine.jobs import find_job
from rewards_engine.models import PushDelivery, PushDevice
from rewards_engine.scheduler import run_job
from tests.support.factories import consenting_donor, load_program

APNS_TOKEN = "a1" * 32
FCM_TOKEN = "fcm-token:APA91b" + "x" * 140


def register(client, headers, **fields):  # type: ignore[no-untyped-def]
    body = {"platform": "fcm", "token": FCM_TOKEN, "app_version": "3.2.0", "locale": "fr-CA"}
    return client.post("/v1/me/devices", json={**body, **fields}, headers=headers)


def test_registering_a_token_again_updates_it_and_a_token_moves_between_donors(
    client, auth, runtime, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    first = register(client, auth("ada"))
    assert first.status_code == 201, first.get_json()
    device = first.get_json()
    assert device["platform"] == "fcm" and device["app_version"] == "3.2.0"
    assert "token" not in device

    again = register(client, auth("ada"), app_version="3.3.0")
    assert again.status_code == 200
    assert again.get_json()["id"] == device["id"]
    assert again.get_json()["app_version"] == "3.3.0"

    moved = register(client, auth("bob"))  # the phone now signs in as bob
    assert moved.status_code == 200 and moved.get_json()["id"] == device["id"]
    assert client.get("/v1/me/devices", headers=auth("ada")).get_json()["items"] == []
    [bobs] = client.get("/v1/me/devices", headers=auth("bob")).get_json()["items"]
    assert bobs["id"] == device["id"]
    with runtime.db.read() as session:
        assert session.scalar(select(func.count()).select_from(PushDevice)) == 1
    assert FCM_TOKEN not in caplog.text


def test_devices_are_listed_a_page_at_a_time_and_removed_by_their_donor_only(client, auth) -> None:
    ids = [
        register(client, auth("ada"), token=f"{FCM_TOKEN}-{n}").get_json()["id"] for n in range(3)
    ]
    ids.append(register(client, auth("ada"), platform="apns", token=APNS_TOKEN).get_json()["id"])
    page = client.get("/v1/me/devices?limit=3", headers=auth("ada")).get_json()
    assert [d["id"] for d in page["items"]] == sorted(ids, reverse=True)[:3]
    rest = client.get(
        "/v1/me/devices", query_string={"cursor": page["next_cursor"]}, headers=auth("ada")
    ).get_json()
    assert [d["id"] for d in rest["items"]] == [min(ids)] and rest["next_cursor"] is None

    assert client.delete(f"/v1/me/devices/{ids[0]}", headers=auth("bob")).status_code == 404
    assert client.delete(f"/v1/me/devices/{ids[0]}", headers=auth("ada")).status_code == 204
    assert client.delete(f"/v1/me/devices/{ids[0]}", headers=auth("ada")).status_code == 404
    left = client.get("/v1/me/devices", headers=auth("ada")).get_json()["items"]
    assert ids[0] not in [d["id"] for d in left] and len(left) == 3


def test_tokens_that_no_provider_could_have_issued_are_refused(client, auth) -> None:
    path_in_url = register(client, auth("ada"), platform="apns", token="ab/../../3/device/cd")
    assert path_in_url.status_code == 422
    assert path_in_url.get_json()["error"] == "invalid_token"
    spaced = register(client, auth("ada"), token="two words")
    assert spaced.status_code == 422
    assert register(client, auth("ada"), platform="gcm").status_code == 422
    assert register(client, auth("ada"), token="x" * 5000).status_code == 422


def test_push_preferences_default_then_set_and_refuse_unknown_kinds(client, auth) -> None:
    default = client.get("/v1/me/push-preferences", headers=auth("ada")).get_json()
    assert default == {
        "muted_kinds": [],
        "quiet_hours": {"start": "22:00", "end": "08:00"},
        "default": True,
    }
    wanted = {"muted_kinds": ["campaign_opened"], "quiet_hours": None}
    saved = client.put("/v1/me/push-preferences", json=wanted, headers=auth("ada"))
    assert saved.status_code == 200
    assert saved.get_json() == {**wanted, "default": False}
    again = client.get("/v1/me/push-preferences", headers=auth("ada")).get_json()
    assert again == {**wanted, "default": False}
    bad = {"muted_kinds": ["spam"], "quiet_hours": {"start": "23:00", "end": "07:00"}}
    assert client.put("/v1/me/push-preferences", json=bad, headers=auth("ada")).status_code == 422
    late = {"muted_kinds": [], "quiet_hours": {"start": "24:00", "end": "07:00"}}
    assert client.put("/v1/me/push-preferences", json=late, headers=auth("ada")).status_code == 422


def test_export_lists_devices_without_tokens_and_erasure_deletes_them(
    client, auth, runtime
) -> None:
    load_program(runtime)  # the consent text
    ada = consenting_donor(runtime, "ada")
    register(client, auth("ada"))
    register(client, auth("ada"), platform="apns", token=APNS_TOKEN, app_version=None)
    exported = client.get("/v1/me/export", headers=auth("ada"))
    devices = exported.get_json()["push_devices"]
    assert sorted(d["platform"] for d in devices) == ["apns", "fcm"]
    assert FCM_TOKEN not in exported.text and APNS_TOKEN not in exported.text
    with runtime.db.transaction() as uow:
        device = uow.session.scalars(select(PushDevice).where(PushDevice.donor_id == ada)).first()
        assert device is not None
        uow.session.add(
            PushDelivery(
                notification_id=1, donor_id=ada, device_id=device.id, kind="medal_awarded",
                collapse_key="rewards-medal_awarded",
            )
        )  # fmt: skip
    assert client.delete("/v1/me", headers=auth("ada")).status_code == 202
    report = run_job(runtime, find_job("erase-donors"))
    with runtime.db.read() as session:
        devices_left = session.scalar(select(func.count()).where(PushDevice.donor_id == ada))
        deliveries_left = session.scalar(select(func.count()).where(PushDelivery.donor_id == ada))
    assert (devices_left, deliveries_left) == (0, 0), report
