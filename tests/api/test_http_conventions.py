"""The HTTP conventions mobile and web clients expect: replays say so, weak ETags and
304s that carry them, cache headers for personal and public answers, rate-limit
headers, gzip, CORS for configured origins only, and 415 for a body that is not JSON."""

from __future__ import annotations

import gzip
import uuid
from dataclasses import replace

import pytest

from rewards_engine.bootstrap import build_runtime
from rewards_engine.config import RateLimits
from rewards_engine.domain.actors import Actor
from rewards_engine.services import support
from tests.conftest import app_for
from tests.support.factories import consenting_donor, load_program

AGENT = Actor(id="support:agent", role="support")
GIFT = "gift-card-amazon-10-usd"


@pytest.fixture(autouse=True)
def program(runtime) -> None:  # type: ignore[no-untyped-def]
    load_program(runtime)


def test_replayed_redemptions_and_adjustments_say_so(client, runtime, auth) -> None:
    ada = consenting_donor(runtime, "ada")
    support.adjust(runtime.db, runtime.clock, AGENT, ada, asset="points", amount=5_000,
                   reason="test funds")  # fmt: skip
    headers = {**auth("ada"), "Idempotency-Key": str(uuid.uuid4())}
    first = client.post("/v1/redemptions", json={"reward_id": GIFT}, headers=headers)
    again = client.post("/v1/redemptions", json={"reward_id": GIFT}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["id"] == first.get_json()["id"]
    assert first.headers["Cache-Control"] == "no-store"  # it holds a gift card's code

    agent = {**auth("agent", "support"), "Idempotency-Key": str(uuid.uuid4())}
    body = {"asset": "points", "amount": 10, "reason": "a kind word"}
    url = f"/v1/admin/donors/{ada}/adjustments"
    assert "Idempotent-Replayed" not in client.post(url, json=body, headers=agent).headers
    assert client.post(url, json=body, headers=agent).headers["Idempotent-Replayed"] == "true"


def test_etags_are_weak_compared_weakly_and_a_304_carries_them(client, auth) -> None:
    for path in ("/v1/rewards", "/v1/campaigns", "/v1/campaigns/theft-bounty-2024"):
        first = client.get(path)
        etag = first.headers["ETag"]
        assert etag.startswith('W/"'), path
        assert first.headers["Cache-Control"] == "no-cache"
        for sent in (etag, etag[2:], f'"nope", {etag}'):  # weak, strong, in a list
            again = client.get(path, headers={"If-None-Match": sent})
            assert again.status_code == 304, (path, sent)
            assert again.headers["ETag"] == etag and again.data == b""
        assert client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200
        french = client.get(path, headers={"Accept-Language": "fr"})
        assert french.headers["ETag"] != etag  # another language, another version
    me = client.get("/v1/me", headers=auth("ada"))
    assert me.headers["Cache-Control"] == "private, no-cache"
    assert "Authorization" in me.headers["Vary"]
    again = client.get("/v1/me", headers={**auth("ada"), "If-None-Match": me.headers["ETag"]})
    assert again.status_code == 304 and again.headers["Cache-Control"] == "private, no-cache"


def test_rate_limited_answers_say_where_the_caller_stands(runtime, auth, settings) -> None:
    limited = replace(
        settings,
        rate_limits=RateLimits(
            redemptions_per_donor=2,
            submissions_per_donor=0,
            sign_ins_per_address=0,
            bad_tokens_per_address=0,
        ),
    )
    client = app_for(build_runtime(limited, runtime.clock)).test_client()
    ada = consenting_donor(runtime, "ada")
    support.adjust(runtime.db, runtime.clock, AGENT, ada, asset="points", amount=5_000,
                   reason="test funds")  # fmt: skip
    answers = [
        client.post("/v1/redemptions", json={"reward_id": GIFT},
                    headers={**auth("ada"), "Idempotency-Key": str(uuid.uuid4())})
        for _ in range(3)
    ]  # fmt: skip
    policies = {a.headers["RateLimit-Policy"] for a in answers}
    assert policies == {'"redemptions";q=2;w=60'}
    remaining = [a.headers["RateLimit"].split(";")[1] for a in answers]
    assert remaining == ["r=1", "r=0", "r=0"]
    assert answers[2].status_code == 429 and int(answers[2].headers["Retry-After"]) > 0


def test_large_answers_are_gzipped_when_asked(client) -> None:
    plain = client.get("/openapi.json")
    zipped = client.get("/openapi.json", headers={"Accept-Encoding": "gzip, br;q=0.5"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["Vary"]
    assert gzip.decompress(zipped.data) == plain.data
    assert len(zipped.data) < len(plain.data) / 3
    assert "Content-Encoding" not in plain.headers
    small = client.get("/healthz", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in small.headers


def test_cors_only_for_configured_origins(runtime, settings) -> None:
    web = "https://app.example.com"
    client = app_for(runtime, replace(settings, cors_origins=(web,))).test_client()
    allowed = client.get("/v1/campaigns", headers={"Origin": web})
    assert allowed.headers["Access-Control-Allow-Origin"] == web
    assert "ETag" in allowed.headers["Access-Control-Expose-Headers"]
    preflight = client.options(
        "/v1/redemptions",
        headers={"Origin": web, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "Authorization, Idempotency-Key"},
    )  # fmt: skip
    assert preflight.status_code == 200
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Idempotency-Key" in preflight.headers["Access-Control-Allow-Headers"]
    other = client.get("/v1/campaigns", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    default = app_for(runtime).test_client().get("/v1/campaigns", headers={"Origin": web})
    assert "Access-Control-Allow-Origin" not in default.headers  # off unless configured


def test_a_body_that_is_not_json_is_a_415_and_writes_nothing(client, runtime, auth) -> None:
    consenting_donor(runtime, "ada")
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
        answer = client.post(
            "/v1/me/consent", data='{"version": "2024-12-01"}',
            headers={**auth("ada"), "Content-Type": content_type},
        )  # fmt: skip
        assert answer.status_code == 415, content_type
        assert answer.get_json()["error"] == "unsupported_media_type"
        assert "Content-Type" in answer.get_json()["errors"]["headers"]
    me = client.get("/v1/me", headers=auth("ada")).get_json()
    assert me["consent_version"] == "2024-12-01"  # granted by consenting_donor, unchanged
    ok = client.post("/v1/me/consent", json={"version": "2024-12-01"}, headers=auth("ada"))
    assert ok.status_code == 200
    empty = client.post("/v1/me/notifications/read-all", headers=auth("ada"))
    assert empty.status_code != 415  # no body: nothing to refuse
