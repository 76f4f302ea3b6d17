"""The donor's inbox: notifications written with their events, exactly once, read in the
donor's language (saved, or Accept-Language), marked read, deleted, broadcast to every
donor by a job that resumes, purged when old, exported and erased."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from rewards_engine.domain.actors import Actor
from rewards_engine.domain.notifications import Kind
from rewards_engine.jobs import find_job
from rewards_engine.models import Donor, Notification, NotificationBroadcast
from rewards_engine.scheduler import run_job
from rewards_engine.services import notifications, support
from rewards_engine.services.demo import DemoApp, PlannedClip
from tests.support.cameras import register_camera
from tests.support.factories import ADDRESS, CONSENT, PROGRAM, consenting_donor, load_program

AGENT = Actor(id="support:agent", role="support")
OPENED = Kind.CAMPAIGN_OPENED
CAMERA = "camera-outdoor-s2"


@pytest.fixture(autouse=True)
def program(runtime) -> None:  # type: ignore[no-untyped-def]
    load_program(runtime)


def inbox(client, headers, **query):  # type: ignore[no-untyped-def]
    answer = client.get("/v1/me/notifications", query_string=query, headers=headers)
    assert answer.status_code == 200, answer.get_json()
    return answer


def donate_a_video(runtime, donor_id: int, camera: str = "CAM-1") -> None:  # type: ignore[no-untyped-def]
    """One clip through the whole upload path: claimed, uploaded, verified, decided."""
    moment = runtime.clock.now()
    clip = PlannedClip("ev-1", "package_theft", camera, moment - timedelta(hours=1), 2)
    assert DemoApp(runtime, PROGRAM, CONSENT, seed=5).donate(donor_id, moment, [clip]) == 1


def test_a_verified_clip_and_its_first_medal_reach_the_inbox_in_the_donors_language(
    client, runtime, auth, clock
) -> None:
    clock.set(clock.now().replace(month=3, day=10))  # the program is open
    ada = consenting_donor(runtime, "ada")
    register_camera(runtime, "ada", "CAM-1")
    donate_a_video(runtime, ada)
    headers = auth("ada")

    english = inbox(client, headers)
    assert english.headers["Content-Language"] == "en"
    kinds = {n["kind"]: n for n in english.get_json()["items"]}
    assert set(kinds) == {"clip_verified", "medal_awarded"}
    verified = kinds["clip_verified"]
    assert verified["title"] == "Your clip was received"
    assert verified["body"] == "We checked your video from CAM-1: accepted."
    assert verified["data"]["clip_id"] and verified["read_at"] is None
    assert kinds["medal_awarded"]["body"].startswith("You earned a medal.")
    count = client.get("/v1/me/notifications/unread-count", headers=headers).get_json()
    assert count == {"unread": 2}

    french = inbox(client, {**headers, "Accept-Language": "fr-CA,fr;q=0.9,en;q=0.5"})
    assert french.headers["Content-Language"] == "fr"
    titles = {n["kind"]: n["title"] for n in french.get_json()["items"]}
    assert titles["clip_verified"] == "Votre clip a bien été reçu"
    # A saved language wins over the app's header.
    saved = client.patch("/v1/me", json={"locale": "fr-FR"}, headers=headers)
    assert saved.status_code == 200 and saved.get_json()["locale"] == "fr"
    assert inbox(client, {**headers, "Accept-Language": "en"}).headers["Content-Language"] == "fr"
    refused = client.patch("/v1/me", json={"locale": "tlh"}, headers=headers)
    assert refused.status_code == 422 and "locale" in refused.get_json()["errors"]["json"]


def test_marking_read_deleting_and_someone_elses_are_404(client, runtime, auth) -> None:
    ada, bob = consenting_donor(runtime, "ada"), consenting_donor(runtime, "bob")
    with runtime.db.transaction() as uow:
        for n in range(3):
            notifications.notify(uow.session, runtime.clock.now(), ada,
                                 OPENED, f"test:{n}", {"campaign": f"C{n}"})  # fmt: skip
        notifications.notify(uow.session, runtime.clock.now(), bob, OPENED,
                             "test:0", {"campaign": "B"})  # fmt: skip
    headers = auth("ada")
    first, second, third = sorted(n["id"] for n in inbox(client, headers).get_json()["items"])
    [bobs] = inbox(client, auth("bob")).get_json()["items"]

    read = client.post(f"/v1/me/notifications/{first}/read", headers=headers)
    assert read.status_code == 200 and read.get_json()["read_at"] is not None
    again = client.post(f"/v1/me/notifications/{first}/read", headers=headers).get_json()
    assert again["read_at"] == read.get_json()["read_at"]  # its first read time
    assert (
        client.post(f"/v1/me/notifications/{bobs['id']}/read", headers=headers).status_code == 404
    )
    assert client.delete(f"/v1/me/notifications/{bobs['id']}", headers=headers).status_code == 404
    unread = inbox(client, headers, unread="true").get_json()["items"]
    assert sorted(n["id"] for n in unread) == [second, third]

    marked = client.post(
        "/v1/me/notifications/read-all", json={"up_to_id": second}, headers=headers
    )
    assert marked.get_json() == {"marked": 1}  # the newer one stays unread
    assert [n["id"] for n in inbox(client, headers, unread="true").get_json()["items"]] == [third]
    assert client.post("/v1/me/notifications/read-all", json={}, headers=headers).get_json() == {
        "marked": 1
    }
    assert client.delete(f"/v1/me/notifications/{third}", headers=headers).status_code == 204
    assert client.delete(f"/v1/me/notifications/{third}", headers=headers).status_code == 404
    assert len(inbox(client, headers).get_json()["items"]) == 2
    assert client.get("/v1/me/notifications/unread-count", headers=auth("bob")).get_json() == {
        "unread": 1
    }


def test_a_shipped_camera_notifies_once_with_its_tracking(client, runtime, auth) -> None:
    ada = consenting_donor(runtime, "ada")
    for _ in range(2):  # 10,000 at a time: at the four-eyes threshold, not above it
        support.adjust(runtime.db, runtime.clock, AGENT, ada, asset="points", amount=10_000,
                       reason="test funds")  # fmt: skip
    headers, agent = auth("ada"), auth("agent", "support")
    created = client.post(
        "/v1/redemptions", json={"reward_id": CAMERA, "shipping_address": ADDRESS}, headers=headers
    ).get_json()
    url = f"/v1/admin/redemptions/{created['id']}/transition"
    assert client.post(url, json={"to": "approved"}, headers=agent).status_code == 200
    ship = {"to": "shipped", "carrier": "UPS", "tracking_number": "1Z999AA10123456784"}
    assert client.post(url, json=ship, headers=agent).status_code == 200
    assert client.post(url, json=ship, headers=agent).status_code == 409  # a resent form
    shipped = [n for n in inbox(client, headers).get_json()["items"]
               if n["kind"] == "redemption_shipped"]  # fmt: skip
    assert len(shipped) == 1
    assert "UPS" in shipped[0]["body"] and "1Z999AA10123456784" in shipped[0]["body"]
    assert shipped[0]["data"]["redemption_id"] == created["id"]


def test_a_broadcast_reaches_every_active_donor_once_even_when_rerun(client, runtime, auth) -> None:
    for n in range(5):
        consenting_donor(runtime, f"donor-{n}")
    with runtime.db.read() as session:  # the fixtures' demo donors are donors too
        donors = session.scalars(select(Donor.id).where(Donor.status == "active")).all()
    made = client.post(
        "/v1/admin/campaigns",
        json={"id": "spring-2025", "name": "Spring 2025", "starts_at": "2025-01-01T00:00:00Z",
              "incident_types": ["package_theft"], "reason": "the spring campaign"},
        headers=auth("boss", "admin"),
    )  # fmt: skip
    assert made.status_code == 201, made.get_json()
    assert notifications.fan_out(runtime.db, runtime.clock, chunk=2) == {
        "broadcasts": 1,
        "notified": len(donors),
    }
    # The progress of a run lost (as if killed after its last chunk): a rerun from the
    # start notifies nobody twice.
    with runtime.db.transaction() as uow:
        item = uow.session.scalars(select(NotificationBroadcast)).one()
        item.done_at, item.next_donor_id = None, 0
    assert run_job(runtime, find_job("notifications"))["notified"] == 0
    with runtime.db.read() as session:
        per_donor = dict(
            session.execute(
                select(Notification.donor_id, func.count()).group_by(Notification.donor_id)
            ).all()
        )
    assert per_donor == dict.fromkeys(donors, 1)
    [opened] = inbox(client, auth("donor-0")).get_json()["items"]
    assert opened["title"] == "New campaign: Spring 2025"
    assert opened["data"]["campaign_id"] == "spring-2025"


def test_old_notifications_are_purged_and_erasure_and_export_cover_them(
    client, runtime, auth, clock
) -> None:
    ada = consenting_donor(runtime, "ada")
    with runtime.db.transaction() as uow:
        notifications.notify(uow.session, clock.now(), ada, OPENED, "old", {})
    clock.advance(timedelta(days=60))
    with runtime.db.transaction() as uow:
        notifications.notify(uow.session, clock.now(), ada, OPENED, "new", {})
    exported = client.get("/v1/me/export", headers=auth("ada")).get_json()
    assert [n["kind"] for n in exported["notifications"]] == ["campaign_opened"] * 2
    clock.advance(timedelta(days=31))  # the first is 91 days old, past the default 90
    assert run_job(runtime, find_job("notifications"))["purged"] == 1
    assert len(inbox(client, auth("ada")).get_json()["items"]) == 1
    assert client.delete("/v1/me", headers=auth("ada")).status_code == 202
    report = run_job(runtime, find_job("erase-donors"))
    with runtime.db.read() as session:
        left = session.scalar(select(func.count()).where(Notification.donor_id == ada))
    assert left == 0, report
