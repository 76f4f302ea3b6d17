"""Rate limits in Redis: submissions and redemptions per donor, refused tokens and
console sign-ins per address; 429 with Retry-After; a Redis outage lets requests through."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from rewards_engine.config import RateLimits
from rewards_engine.models import Clip
from rewards_engine.redis_client import connect_redis
from tests.support.console import csrf_of
from tests.support.factories import BOUNTY, body, clip, consenting_donor, load_program


@pytest.fixture
def limited(runtime):  # type: ignore[no-untyped-def]
    load_program(runtime)

    def set_limits(**limits: int) -> None:
        chosen = replace(RateLimits(0, 0, 0, 0), **limits)
        runtime.settings = replace(runtime.settings, rate_limits=chosen)

    return set_limits


def clips_of(runtime, donor_id: int) -> int:  # type: ignore[no-untyped-def]
    with runtime.db.read() as session:
        return session.scalar(select(func.count(Clip.id)).where(Clip.donor_id == donor_id))


def test_a_donor_past_the_submission_limit_gets_429_and_nothing_is_written(
    client, runtime, clock, auth, limited
) -> None:
    limited(submissions_per_donor=3)
    ada = consenting_donor(runtime, "ada")
    consenting_donor(runtime, "bob")
    for _ in range(3):
        sent = client.post("/v1/submissions", json=body(BOUNTY, [clip()]), headers=auth("ada"))
        assert sent.status_code == 201
    refused = client.post("/v1/submissions", json=body(BOUNTY, [clip()]), headers=auth("ada"))
    assert refused.status_code == 429 and refused.get_json()["error"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 61
    assert "at most 3 a minute" in refused.get_json()["message"]
    assert clips_of(runtime, ada) == 3
    other = client.post("/v1/submissions", json=body(BOUNTY, [clip()]), headers=auth("bob"))
    assert other.status_code == 201  # the limit is per donor
    clock.advance(timedelta(seconds=61))  # a new window
    again = client.post("/v1/submissions", json=body(BOUNTY, [clip()]), headers=auth("ada"))
    assert again.status_code == 201


def test_redemptions_are_limited_per_donor(client, runtime, auth, limited) -> None:
    limited(redemptions_per_donor=2)
    consenting_donor(runtime, "ada")
    answers = [
        client.post("/v1/redemptions", json={"reward_id": "a-yacht"}, headers=auth("ada"))
        for _ in range(3)
    ]
    assert [a.status_code == 429 for a in answers] == [False, False, True]
    assert answers[-1].headers["Retry-After"]


def test_guessing_tokens_from_one_address_ends_in_429(client, runtime, auth, limited) -> None:
    limited(bad_tokens_per_address=3)
    consenting_donor(runtime, "ada")
    statuses = [
        client.get("/v1/me", headers={"Authorization": f"Bearer guess.{n}.x"}).status_code
        for n in range(5)
    ]
    assert statuses == [401, 401, 401, 429, 429]
    assert client.get("/v1/me", headers=auth("ada")).status_code == 200  # a real token works


def test_console_sign_in_attempts_are_limited_per_address(client, limited) -> None:
    limited(sign_ins_per_address=2)
    csrf = csrf_of(client.get("/console/sign-in").text)
    statuses = [
        client.post("/console/sign-in", data={"token": "guess", "csrf_token": csrf}).status_code
        for _ in range(3)
    ]
    assert statuses == [401, 401, 429]
    last = client.post("/console/sign-in", data={"token": "guess", "csrf_token": csrf})
    assert last.status_code == 429 and "Too many sign-in attempts" in last.text
    assert int(last.headers["Retry-After"]) >= 1


def test_without_redis_the_limiter_lets_donations_through(
    client, runtime, auth, limited, caplog
) -> None:
    limited(submissions_per_donor=1)
    ada = consenting_donor(runtime, "ada")
    # The engine's own client, as a worker has it: no one listens on port 1, so every
    # call is refused at once (and the breaker opens) instead of waiting out retries.
    runtime.__dict__["redis"] = connect_redis("redis://127.0.0.1:1/0", runtime.redis_breaker)
    for _ in range(2):
        sent = client.post("/v1/submissions", json=body(BOUNTY, [clip()]), headers=auth("ada"))
        assert sent.status_code == 201
    assert clips_of(runtime, ada) == 2
    assert "rate limit not checked" in caplog.text
