"""Push to phones (docs/push.md) against local FCM and APNs servers
(tests/support/push_servers.py, each behaviour citing the provider's documentation),
reached by the engine's real clients: google-auth and httpx for FCM's HTTP v1 API and
its OAuth token endpoint, httpx over HTTP/2 for APNs. Nothing of ours is mocked."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from rewards_engine.bootstrap import build_runtime
from rewards_engine.clock import FixedClock
from rewards_engine.config import PushSettings, Settings
from rewards_engine.domain.notifications import Kind
from rewards_engine.models import Donor, PushDelivery, PushDevice
from rewards_engine.runtime import Runtime
from rewards_engine.services import donors, notifications, push
from tests.support.processes import engine_process, stop_process
from tests.support.push_servers import (
    APNS_KEY_ID,
    APNS_TEAM,
    APNS_TOPIC,
    ApnsServer,
    FcmServer,
    Reply,
    apns_error,
    fcm_error,
    fcm_server,
)
from tests.support.push_servers import apns_server as start_apns
from tests.support.waiting import wait_until

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


@pytest.fixture
def apns_pushing(
    settings: Settings, clock: FixedClock, apns: tuple[ApnsServer, Path]
) -> Iterator[Runtime]:
    runtime = build_runtime(replace(settings, push=push_settings(apns=apns)), clock=clock)
    yield runtime
    runtime.close()


def test_apns_gets_an_http2_request_with_its_headers_and_a_signed_provider_token(
    apns_pushing: Runtime, apns: tuple[ApnsServer, Path], clock: FixedClock, caplog: Any
) -> None:
    """APNs: POST /3/device/{token} over HTTP/2 with apns-topic, apns-push-type,
    apns-collapse-id, apns-expiration and an ES256 provider token (kid, iss, iat); 200
    with apns-id ("Sending notification requests to APNs"). The server speaks HTTP/2
    only, so an answer at all shows the client spoke it."""
    caplog.set_level(logging.DEBUG)
    server = apns[0]
    ada = donor_with_device(apns_pushing, "ada", platform="apns", token=APNS_TOKEN)
    clock.advance(timedelta(seconds=1))
    notify(apns_pushing, ada)
    notify(apns_pushing, ada, Kind.CONSENT_CHANGED, version="2025-02")
    assert push.run(apns_pushing).outcomes["sent"] == 2
    first, second = server.to(APNS_TOKEN)
    assert first.title == "Payment sent" and first.body == "We sent you €12.50."
    assert first.data == {"payout_item_id": "7", "notification_id": first.data["notification_id"],
                          "kind": "payout_sent"}  # fmt: skip
    assert first.headers["apns-collapse-id"] == "rewards-payout_sent"
    assert first.headers["apns-push-type"] == "alert"
    assert first.headers["apns-topic"] == APNS_TOPIC
    expires = int(first.headers["apns-expiration"])
    assert expires == int((clock.now() + timedelta(hours=12)).timestamp())
    assert second.collapse_key == "rewards-consent_changed"
    assert len(server.provider_tokens) == 1 and server.connections == 1  # reused, not per push
    sent = {d.message_id for d in deliveries(apns_pushing)}
    assert len(sent) == 2 and None not in sent  # each its apns-id
    assert APNS_TOKEN not in caplog.text  # httpx logs URLs; the token is in the path
    assert not any(bearer in caplog.text for bearer in server.provider_tokens)


@pytest.mark.parametrize(
    "reply", [apns_error(410, "Unregistered"), apns_error(400, "BadDeviceToken")],
    ids=["unregistered", "bad-device-token"],
)  # fmt: skip
def test_a_token_apns_calls_unregistered_or_bad_removes_the_device(
    apns_pushing: Runtime, apns: tuple[ApnsServer, Path], reply: Reply
) -> None:
    """APNs: 410 Unregistered "the device token is no longer active for the topic";
    400 BadDeviceToken "the specified device token is invalid" (error codes table)."""
    apns[0].script(APNS_TOKEN, reply)
    ada = donor_with_device(apns_pushing, "ada", platform="apns", token=APNS_TOKEN)
    notify(apns_pushing, ada)
    assert push.run(apns_pushing).outcomes["gone"] == 1
    assert devices(apns_pushing) == []
    [delivery] = deliveries(apns_pushing)
    assert (
        delivery.status == "failed"
        and reply.body
        and reply.body["reason"] in (delivery.error or "")
    )


def test_apns_throttling_and_server_errors_are_retried_later(
    apns_pushing: Runtime, apns: tuple[ApnsServer, Path], clock: FixedClock
) -> None:
    """APNs: 429 TooManyRequests "too many requests to the same device token", 500
    InternalServerError and 503 ServiceUnavailable: try again later (error codes table);
    a Retry-After, if the answer has one, is honoured."""
    server = apns[0]
    server.script(
        APNS_TOKEN,
        apns_error(429, "TooManyRequests", **{"retry-after": "300"}),
        apns_error(500, "InternalServerError"),
    )
    ada = donor_with_device(apns_pushing, "ada", platform="apns", token=APNS_TOKEN)
    notify(apns_pushing, ada)
    assert push.run(apns_pushing).outcomes["retry"] == 1
    [delivery] = deliveries(apns_pushing)
    assert delivery.next_attempt_at >= clock.now() + timedelta(seconds=300)
    clock.advance(timedelta(seconds=299))
    assert push.run(apns_pushing).taken == 0
    clock.advance(timedelta(seconds=2))
    assert push.run(apns_pushing).outcomes["retry"] == 1  # the 500
    [delivery] = deliveries(apns_pushing)
    wait = delivery.next_attempt_at - clock.now()
    assert timedelta(seconds=30) <= wait <= timedelta(seconds=60)  # second attempt's backoff
    clock.advance(wait)
    assert push.run(apns_pushing).outcomes["sent"] == 1
    assert len(server.to(APNS_TOKEN)) == 3 and len(devices(apns_pushing)) == 1


def test_an_expired_provider_token_is_replaced_and_the_push_sent(
    apns_pushing: Runtime, apns: tuple[ApnsServer, Path]
) -> None:
    """APNs: 403 ExpiredProviderToken "the provider token is stale and a new token
    should be generated" (error codes table)."""
    apns[0].script(APNS_TOKEN, apns_error(403, "ExpiredProviderToken"))
    ada = donor_with_device(apns_pushing, "ada", platform="apns", token=APNS_TOKEN)
    notify(apns_pushing, ada)
    assert push.run(apns_pushing).outcomes["sent"] == 1
    assert len(apns[0].to(APNS_TOKEN)) == 2


def test_a_donor_with_an_iphone_and_an_android_phone_gets_both(
    settings: Settings,
    clock: FixedClock,
    fcm: tuple[FcmServer, Path],
    apns: tuple[ApnsServer, Path],
) -> None:
    runtime = build_runtime(replace(settings, push=push_settings(fcm, apns)), clock=clock)
    try:
        ada = donor_with_device(runtime, "ada")
        donor_with_device(runtime, "ada", platform="apns", token=APNS_TOKEN)
        notify(runtime, ada)
        assert push.run(runtime).outcomes["sent"] == 2
        assert len(fcm[0].to(FCM_TOKEN)) == 1 and len(apns[0].to(APNS_TOKEN)) == 1
    finally:
        runtime.close()


def set_timezone(runtime: Runtime, donor_id: int, timezone: str) -> None:
    with runtime.db.transaction() as uow:
        donor = uow.session.get(Donor, donor_id)
        assert donor is not None
        donor.timezone = timezone


def test_a_muted_kind_is_not_pushed_and_stays_in_the_inbox(
    pushing: Runtime, fcm: tuple[FcmServer, Path], client: Any, auth: Any
) -> None:
    ada = donor_with_device(pushing, "ada")
    push.set_preferences(
        pushing.db, pushing.clock, pushing.settings.push, ada,
        muted_kinds=["campaign_opened"], quiet_hours=None,
    )  # fmt: skip
    notify(pushing, ada, Kind.CAMPAIGN_OPENED, campaign_id="spring", campaign="Spring")
    notify(pushing, ada)
    report = push.run(pushing)
    assert report.outcomes["skipped_muted"] == 1 and report.outcomes["sent"] == 1
    assert [r.collapse_key for r in fcm[0].received] == ["rewards-payout_sent"]
    statuses = {d.kind: (d.status, d.error) for d in deliveries(pushing)}
    assert statuses["campaign_opened"] == ("skipped", "muted")


def test_quiet_hours_in_the_donors_time_zone_hold_a_push_until_they_end(
    settings: Settings, clock: FixedClock, fcm: tuple[FcmServer, Path]
) -> None:
    runtime = build_runtime(
        replace(settings, push=push_settings(fcm, quiet_hours="22:00-08:00")), clock=clock
    )
    try:
        clock.set(datetime(2025, 1, 15, 22, 30, tzinfo=UTC))  # 23:30 in Paris (UTC+1)
        ada = donor_with_device(runtime, "ada")
        set_timezone(runtime, ada, "Europe/Paris")
        clock.advance(timedelta(seconds=1))
        notify(runtime, ada)
        assert push.run(runtime).deferred == 1 and fcm[0].received == []
        [delivery] = deliveries(runtime)
        morning = datetime(2025, 1, 16, 7, 0, tzinfo=UTC)  # 08:00 in Paris
        assert (delivery.status, delivery.next_attempt_at, delivery.attempts) == (
            "pending", morning, 0,
        )  # fmt: skip
        clock.set(morning - timedelta(minutes=1))
        assert push.run(runtime).taken == 0
        clock.set(morning)
        assert push.run(runtime).outcomes["sent"] == 1 and len(fcm[0].received) == 1
    finally:
        runtime.close()


def test_a_push_held_past_its_useful_life_by_quiet_hours_is_skipped(
    settings: Settings, clock: FixedClock, fcm: tuple[FcmServer, Path]
) -> None:
    quiet = push_settings(fcm, quiet_hours="22:00-08:00", stale_hours=6)
    runtime = build_runtime(replace(settings, push=quiet), clock=clock)
    try:
        clock.set(datetime(2025, 1, 15, 22, 30, tzinfo=UTC))  # 22:30 in London
        ada = donor_with_device(runtime, "ada")
        set_timezone(runtime, ada, "Europe/London")
        clock.advance(timedelta(seconds=1))
        notify(runtime, ada)
        assert push.run(runtime).deferred == 1
        clock.set(datetime(2025, 1, 16, 8, 0, tzinfo=UTC))  # 9.5 hours later
        assert push.run(runtime).outcomes["skipped_stale"] == 1
        assert fcm[0].received == []
    finally:
        runtime.close()


def test_a_donor_gets_at_most_the_daily_cap_of_pushes_in_their_day(
    settings: Settings, clock: FixedClock, fcm: tuple[FcmServer, Path]
) -> None:
    runtime = build_runtime(replace(settings, push=push_settings(fcm, daily_cap=2)), clock=clock)
    try:
        clock.set(datetime(2025, 1, 15, 20, 0, tzinfo=UTC))  # 15:00 in New York
        ada = donor_with_device(runtime, "ada")
        set_timezone(runtime, ada, "America/New_York")
        clock.advance(timedelta(seconds=1))
        notify(runtime, ada)
        assert push.run(runtime).outcomes["sent"] == 1
        notify(runtime, ada, Kind.CONSENT_CHANGED, version="v2")
        notify(runtime, ada, Kind.CAMPAIGN_OPENED, campaign_id="c", campaign="C")
        report = push.run(runtime)
        assert report.outcomes["sent"] == 1 and report.outcomes["skipped_daily_cap"] == 1
        clock.set(datetime(2025, 1, 16, 4, 30, tzinfo=UTC))  # 23:30 in New York: same day
        notify(runtime, ada, Kind.MEDAL_AWARDED, medals=["A"], codes=["a"], count=1)
        assert push.run(runtime).outcomes["skipped_daily_cap"] == 1
        clock.set(datetime(2025, 1, 16, 5, 30, tzinfo=UTC))  # 00:30 there: a new day
        notify(runtime, ada, Kind.MEDAL_AWARDED, medals=["B"], codes=["b"], count=1)
        assert push.run(runtime).outcomes["sent"] == 1
        assert len(fcm[0].received) == 3
    finally:
        runtime.close()


def test_a_push_job_killed_while_fcm_holds_its_call_resends_with_the_same_collapse_key(
    live: Runtime, fcm: tuple[FcmServer, Path]
) -> None:
    """The job process SIGKILLed between sending and recording: its deliveries stay
    taken until its lease ends; the next run sends again what it had sent (the phone's
    server sees a resend with the same collapse key, which replaces the first on the
    phone: FCM concept-options, "collapsible messages") and sends the rest; each device
    ends with one delivery, recorded once."""
    server, account_file = fcm
    second_token = FCM_TOKEN + "-2"
    ada = donor_with_device(live, "ada")
    bob = donor_with_device(live, "bob", token=second_token)
    later_registration = live.clock.now() + timedelta(seconds=1)
    wait_until(lambda: live.clock.now() > later_registration, what="a notification after")
    notify(live, ada)
    notify(live, bob)
    server.hold.clear()  # FCM answers nothing until released
    env = {
        "FCM_SERVICE_ACCOUNT_FILE": str(account_file),
        "FCM_ENDPOINT": server.base,
        "PUSH_QUIET_HOURS": "off",
        "PUSH_LEASE_S": "15",
    }
    job = engine_process("jobs", "run", "push", **env)
    try:
        wait_until(
            lambda: server.holding.is_set() or job.poll() is not None,
            timeout=60,
            what="the job's first push to reach FCM",
        )
        assert job.poll() is None, stop_process(job).decode(errors="replace")[-2000:]
        job.kill()  # SIGKILL: FCM took the push, the job never hears of it
    finally:
        stop_process(job)
        server.hold.set()
    assert {d.status for d in deliveries(live)} == {"sending"}
    [held] = server.received
    now = build_runtime_like(live, env)
    try:
        assert push.run(now).taken == 0  # its lease holds them
    finally:
        now.close()

    later = build_runtime_like(
        live, env, clock=FixedClock(live.clock.now() + timedelta(seconds=20))
    )
    try:
        report = push.run(later)
        assert report.taken == 2 and report.outcomes["sent"] == 2, report
        assert push.run(later).taken == 0
    finally:
        later.close()
    rows = deliveries(live)
    assert sorted((d.device_id, d.status) for d in rows) == sorted(
        (d.id, "sent") for d in devices(live)
    )  # one delivery per device, recorded
    first = server.to(held.token)
    assert len(first) == 2 and first[0].collapse_key == first[1].collapse_key  # a resend
    other = second_token if held.token == FCM_TOKEN else FCM_TOKEN
    assert len(server.to(other)) == 1


def build_runtime_like(
    live: Runtime, env: dict[str, str], clock: FixedClock | None = None
) -> Runtime:
    """A runtime on the live database with the job process's push settings."""
    settings = replace(live.settings, push=PushSettings.from_env(env))
    return build_runtime(settings, clock=clock)
