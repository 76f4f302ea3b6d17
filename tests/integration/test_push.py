"""Push to phones (docs/push.md) against local FCM and APNs servers
(tests/support/push_servers.py, each behaviour citing the provider's documentation),
reached by the engine's real clients: google-auth and httpx for FCM's HTTP v1 API and
its OAuth token endpoint, httpx over HTTP/2 for APNs. Nothing of ours is mocked."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from rewards_engine.bootstrap import build_runtime
from rewards_engine.clock import FixedClock
from rewards_engine.config import PushSettings, Settings
from rewards_engine.domain.notifications import Kind
from rewards_engine.models import PushDelivery, PushDevice
from rewards_engine.runtime import Runtime
from rewards_engine.services import donors, notifications, push
from tests.support.push_servers import (
    APNS_KEY_ID,
    APNS_TEAM,
    APNS_TOPIC,
    ApnsServer,
    FcmServer,
    Reply,
    fcm_error,
    fcm_server,
)
from tests.support.push_servers import apns_server as start_apns

FCM_TOKEN = "fcm:APA91b" + "q" * 140
APNS_TOKEN = "0f" * 32
_keys = iter(range(1, 10_000))


@pytest.fixture
def fcm(tmp_path: Path) -> Iterator[tuple[FcmServer, Path]]:
    with fcm_server(tmp_path) as started:
        yield started


@pytest.fixture
def apns(tmp_path: Path) -> Iterator[tuple[ApnsServer, Path]]:
    with start_apns(tmp_path) as started:
        yield started


def push_settings(
    fcm: tuple[FcmServer, Path] | None = None,
    apns: tuple[ApnsServer, Path] | None = None,
    **overrides: Any,
) -> PushSettings:
    values: dict[str, Any] = {"quiet_hours": "off", "timeout_s": 5.0}
    if fcm:
        values.update(fcm_service_account_file=str(fcm[1]), fcm_endpoint=fcm[0].base)
    if apns:
        values.update(
            apns_key_file=str(apns[1]), apns_key_id=APNS_KEY_ID, apns_team_id=APNS_TEAM,
            apns_topic=APNS_TOPIC, apns_endpoint=apns[0].url,
        )  # fmt: skip
    values.update(overrides)
    return PushSettings(**values)


@pytest.fixture
def pushing(
    settings: Settings, clock: FixedClock, fcm: tuple[FcmServer, Path]
) -> Iterator[Runtime]:
    runtime = build_runtime(replace(settings, push=push_settings(fcm)), clock=clock)
    yield runtime
    runtime.close()


def donor_with_device(runtime: Runtime, account: str, platform: str = "fcm",
                      token: str = FCM_TOKEN, locale: str | None = None) -> int:  # fmt: skip
    donor = donors.ensure_donor(runtime.db, runtime.clock, account)
    push.register_device(
        runtime.db, runtime.clock, donor.id, platform=platform, token=token, locale=locale
    )
    return donor.id


def notify(runtime: Runtime, donor_id: int, kind: Kind = Kind.PAYOUT_SENT, **data: Any) -> None:
    data = data or {"payout_item_id": 7, "amount_cents": 1250, "currency": "EUR"}
    with runtime.db.transaction() as uow:
        notifications.notify(
            uow.session, runtime.clock.now(), donor_id, kind, f"k{next(_keys)}", data
        )


def deliveries(runtime: Runtime) -> list[PushDelivery]:
    with runtime.db.read() as session:
        return list(session.scalars(select(PushDelivery).order_by(PushDelivery.id)))


def devices(runtime: Runtime) -> list[PushDevice]:
    with runtime.db.read() as session:
        return list(session.scalars(select(PushDevice)))


def test_a_notification_reaches_the_phone_once_in_its_language_with_only_ids(
    pushing: Runtime, fcm: tuple[FcmServer, Path], clock: FixedClock, caplog: Any
) -> None:
    """FCM: success is 200 with the message's name (messages.send reference)."""
    caplog.set_level(logging.DEBUG)
    server = fcm[0]
    ada = donor_with_device(pushing, "ada", locale="fr-CA")
    clock.advance(timedelta(seconds=1))
    notify(pushing, ada, Kind.REDEMPTION_SHIPPED, redemption_id=42, reward="Camera S2",
           carrier="UPS", tracking="1Z999", address="1 Main St")  # fmt: skip
    report = push.run(pushing)
    assert report.outcomes["sent"] == 1, report
    [received] = server.to(FCM_TOKEN)
    assert received.title == "Votre récompense est en route"  # the phone's language
    assert received.body == "Camera S2 a été expédiée par UPS (suivi 1Z999)."
    assert received.collapse_key == "rewards-redemption_shipped"
    assert received.data == {
        "redemption_id": "42", "notification_id": received.data["notification_id"],
        "kind": "redemption_shipped",
    }  # fmt: skip
    [delivery] = deliveries(pushing)
    assert delivery.status == "sent" and delivery.attempts == 1
    assert delivery.message_id and delivery.message_id.startswith("projects/rewards-push-test/")
    assert server.tokens_minted == 1  # the OAuth token endpoint, through google-auth

    again = push.run(pushing)  # nothing new: nothing resent
    assert again.taken == 0 and len(server.to(FCM_TOKEN)) == 1
    assert FCM_TOKEN not in caplog.text


def test_a_device_registered_after_a_notification_does_not_get_it(
    pushing: Runtime, fcm: tuple[FcmServer, Path], clock: FixedClock
) -> None:
    ada = donors.ensure_donor(pushing.db, clock, "ada").id
    notify(pushing, ada)
    clock.advance(timedelta(seconds=1))
    donor_with_device(pushing, "ada")
    assert push.run(pushing).queued == 0 and fcm[0].received == []


@pytest.mark.parametrize(
    "reply",
    [
        fcm_error(404, "UNREGISTERED", "Requested entity was not found."),
        fcm_error(
            400, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token"
        ),
    ],
    ids=["unregistered", "invalid-token"],
)
def test_a_token_fcm_calls_unregistered_or_invalid_removes_the_device(
    pushing: Runtime, fcm: tuple[FcmServer, Path], clock: FixedClock, reply: Reply
) -> None:
    """FCM ErrorCode: UNREGISTERED (404) "the app instance was unregistered"; a bad
    token is INVALID_ARGUMENT (400) naming the registration token."""
    fcm[0].script(FCM_TOKEN, reply)
    ada = donor_with_device(pushing, "ada")
    notify(pushing, ada)
    assert push.run(pushing).outcomes["gone"] == 1
    assert devices(pushing) == []
    [delivery] = deliveries(pushing)
    assert delivery.status == "failed" and delivery.device_id is None
    assert (
        delivery.error
        and reply.body
        and reply.body["error"]["details"][0]["errorCode"] in delivery.error
    )
    notify(pushing, ada)
    assert push.run(pushing).queued == 0  # no device: nothing more for it


def test_quota_exceeded_is_retried_after_retry_after_and_not_before(
    pushing: Runtime, fcm: tuple[FcmServer, Path], clock: FixedClock
) -> None:
    """FCM: QUOTA_EXCEEDED is 429; "the Retry-After header ... must be honoured"
    (scale-fcm, "Handling retries")."""
    server = fcm[0]
    server.script(
        FCM_TOKEN, fcm_error(429, "QUOTA_EXCEEDED", "Quota exceeded.", **{"Retry-After": "600"})
    )
    ada = donor_with_device(pushing, "ada")
    notify(pushing, ada)
    assert push.run(pushing).outcomes["retry"] == 1
    [delivery] = deliveries(pushing)
    assert delivery.status == "pending"
    assert delivery.next_attempt_at >= clock.now() + timedelta(seconds=600)
    clock.advance(timedelta(seconds=599))  # far beyond the backoff, short of Retry-After
    assert push.run(pushing).taken == 0 and len(server.to(FCM_TOKEN)) == 1
    clock.advance(timedelta(seconds=2))
    assert push.run(pushing).outcomes["sent"] == 1
    assert len(server.to(FCM_TOKEN)) == 2
    [delivery] = deliveries(pushing)
    assert delivery.status == "sent" and delivery.attempts == 2


def test_server_errors_are_retried_with_growing_backoff_then_given_up(
    settings: Settings, clock: FixedClock, fcm: tuple[FcmServer, Path]
) -> None:
    """FCM: UNAVAILABLE (503) and INTERNAL (500) "retry using exponential backoff"
    (ErrorCode reference)."""
    runtime = build_runtime(replace(settings, push=push_settings(fcm, max_attempts=3)), clock=clock)
    try:
        server = fcm[0]
        server.script(
            FCM_TOKEN,
            fcm_error(503, "UNAVAILABLE", "The service is currently unavailable."),
            fcm_error(500, "INTERNAL", "Internal error."),
            fcm_error(503, "UNAVAILABLE", "The service is currently unavailable."),
        )
        ada = donor_with_device(runtime, "ada")
        notify(runtime, ada)
        waits = []
        for attempt in (1, 2):
            before = clock.now()
            assert push.run(runtime).outcomes["retry"] == 1
            [delivery] = deliveries(runtime)
            wait = delivery.next_attempt_at - before
            ceiling = timedelta(seconds=30 * 2 ** (attempt - 1))
            assert ceiling / 2 <= wait <= ceiling, (attempt, wait)  # jittered, upper half
            clock.advance(wait - timedelta(seconds=1))
            assert push.run(runtime).taken == 0  # not before its time
            clock.advance(timedelta(seconds=1))
            waits.append(wait)
        assert push.run(runtime).outcomes["failed"] == 1  # the third of three attempts
        [delivery] = deliveries(runtime)
        assert delivery.status == "failed" and delivery.attempts == 3
        assert "UNAVAILABLE" in (delivery.error or "")
        assert len(server.to(FCM_TOKEN)) == 3 and len(devices(runtime)) == 1
        clock.advance(timedelta(hours=1))
        assert push.run(runtime).taken == 0
    finally:
        runtime.close()


def test_another_refusal_fails_the_delivery_without_retry_and_keeps_the_device(
    pushing: Runtime, fcm: tuple[FcmServer, Path], clock: FixedClock
) -> None:
    """FCM: SENDER_ID_MISMATCH (403) is not retried (ErrorCode reference)."""
    fcm[0].script(FCM_TOKEN, fcm_error(403, "SENDER_ID_MISMATCH", "SenderId mismatch"))
    ada = donor_with_device(pushing, "ada")
    notify(pushing, ada)
    assert push.run(pushing).outcomes["failed"] == 1
    [delivery] = deliveries(pushing)
    assert delivery.status == "failed" and "SENDER_ID_MISMATCH" in (delivery.error or "")
    clock.advance(timedelta(hours=2))
    assert push.run(pushing).taken == 0 and len(fcm[0].received) == 1
    assert len(devices(pushing)) == 1


def test_several_of_a_kind_make_one_push_and_other_kinds_go_too(
    pushing: Runtime, fcm: tuple[FcmServer, Path]
) -> None:
    """FCM: messages with one collapse_key replace each other (concept-options,
    "Non-collapsible and collapsible messages"); we send only the newest at all."""
    ada = donor_with_device(pushing, "ada")
    for count in (1, 2, 3):
        notify(pushing, ada, Kind.MEDAL_AWARDED, medals=["Apprentice"], codes=["a"], count=count)
    notify(pushing, ada)  # a payout: another kind
    report = push.run(pushing)
    assert report.outcomes["collapsed"] == 2 and report.outcomes["sent"] == 2, report
    received = fcm[0].to(FCM_TOKEN)
    assert sorted(r.collapse_key or "" for r in received) == [
        "rewards-medal_awarded", "rewards-payout_sent",
    ]  # fmt: skip
    [medal] = [r for r in received if r.collapse_key == "rewards-medal_awarded"]
    assert medal.body == "You earned 3 medals. See them on your medal screen."


def test_with_no_provider_configured_push_is_off_and_the_inbox_works(
    runtime: Runtime, client: Any, auth: Any
) -> None:
    ada = donor_with_device(runtime, "ada")
    notify(runtime, ada)
    report = push.run(runtime)
    assert report.off and report.queued == 0
    assert deliveries(runtime) == []
    assert len(client.get("/v1/me/notifications", headers=auth("ada")).get_json()["items"]) == 1
