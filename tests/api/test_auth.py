"""Every 401 and 403 case, and donor records created on the first call."""

import threading
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from sqlalchemy import func, select

from rewards_engine.models import Donor
from tests.conftest import TEST_JWT_SECRET


def encode(claims: dict, key: str = TEST_JWT_SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def later() -> int:
    return int((datetime.now(UTC) + timedelta(minutes=5)).timestamp())


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Token abc",
        "Bearer not-a-jwt",
        "Bearer a.b.c",
    ],
)
def test_missing_or_malformed_tokens_get_401(client, header) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = client.get("/v1/me", headers=headers)
    assert response.status_code == 401
    body = response.get_json()
    assert body["error"] == "unauthorized" and body["code"] == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("claims", "key"),
    [
        ({"sub": "d1", "role": "donor", "exp": 1000}, TEST_JWT_SECRET),  # expired
        ({"sub": "d1", "role": "donor"}, TEST_JWT_SECRET),  # no exp
        ({"sub": "d1", "role": "donor", "exp": "later"}, TEST_JWT_SECRET),
        ({"sub": "d1", "role": "donor", "exp": 4102444800}, "another-secret-" + "z" * 30),
        ({"sub": "d1", "role": "superuser", "exp": 4102444800}, TEST_JWT_SECRET),
        ({"role": "donor", "exp": 4102444800}, TEST_JWT_SECRET),
    ],
    ids=["expired", "no-exp", "bad-exp", "wrong-signature", "unknown-role", "no-sub"],
)
def test_untrustworthy_tokens_get_401(client, claims, key) -> None:
    response = client.get("/v1/me", headers={"Authorization": f"Bearer {encode(claims, key)}"})
    assert response.status_code == 401
    assert response.get_json()["message"]


def test_an_unsigned_token_gets_401(client) -> None:
    token = jwt.encode({"sub": "d1", "role": "donor", "exp": later()}, None, algorithm="none")
    assert client.get("/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


@pytest.mark.parametrize("role", ["support", "admin"])
def test_staff_tokens_get_403_on_donor_routes(client, auth, role) -> None:
    response = client.get("/v1/me", headers=auth("agent-7", role))
    assert response.status_code == 403
    assert response.get_json()["error"] == "forbidden"


def test_a_bad_token_is_401_before_the_body_is_read(client) -> None:
    response = client.patch("/v1/me", json={"visibility": "nonsense"})
    assert response.status_code == 401


def test_first_call_creates_the_donor_and_later_calls_reuse_it(client, auth, runtime) -> None:
    first = client.get("/v1/me", headers=auth("new-donor"))
    assert first.status_code == 200
    body = first.get_json()
    assert body["account_id"] == "new-donor"
    assert body["visibility"] == "hidden"  # opt-in: nobody is on the public wall by default
    assert body["alias"]
    again = client.get("/v1/me", headers=auth("new-donor")).get_json()
    assert again["id"] == body["id"] and again["alias"] == body["alias"]


def test_concurrent_first_calls_create_one_donor(app, auth, runtime) -> None:
    headers = auth("racer")
    barrier = threading.Barrier(8)
    statuses: list[int] = []

    def call() -> None:
        client = app.test_client()
        barrier.wait()
        statuses.append(client.get("/v1/me", headers=headers).status_code)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 8
    with runtime.db.read() as session:
        count = session.scalar(
            select(func.count()).select_from(Donor).where(Donor.account_id == "racer")
        )
    assert count == 1
