"""The camera registry under attack (docs/cameras.md): attestations a hostile client or
a careless device cloud could send (alg confusion, keys of its own, times that are not
times or out of order, one jti for two cameras), the same attestation twice at once,
donors erased while their cameras are registered or moved, and what reaches the logs.
Every case ends with a 4xx naming the field and nothing written, or one winner.

Runs on SQLite and on PostgreSQL (TEST_DATABASE_URL), where the races are real."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from flask.testing import FlaskClient
from sqlalchemy import select

from rewards_engine.attestations import DEVELOPMENT_KID, _development_private_key
from rewards_engine.bootstrap import build_runtime
from rewards_engine.logs import JsonFormatter
from rewards_engine.models import AuditRecord, Camera, CameraRegistration
from rewards_engine.runtime import Runtime
from rewards_engine.services import cameras, donors
from rewards_engine.services.privacy import erasure
from tests.conftest import app_for
from tests.support.cameras import DeviceCloudKey, jwks
from tests.support.factories import consenting_donor, load_program


@pytest.fixture(autouse=True)
def program(runtime: Runtime) -> None:
    load_program(runtime)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed(runtime: Runtime, header: dict[str, Any] | None = None, **claims: Any) -> str:
    """An attestation signed with the development device-cloud key, its claims as given
    (None removes one), written by hand so that any header and any claim type goes."""
    now = int(runtime.clock.now().timestamp())
    payload = {"account_id": "ada", "serial": "SN-1", "model": "Cam 2", "iat": now,
               "exp": now + 3600, "jti": "jti-1", "aud": "rewards-engine", **claims}  # fmt: skip
    payload = {k: v for k, v in payload.items() if v is not None}
    head = {"alg": "ES256", "typ": "JWT", "kid": DEVELOPMENT_KID, **(header or {})}
    return raw(runtime, json.dumps(head).encode(), json.dumps(payload).encode())


def raw(runtime: Runtime, header: bytes, payload: bytes) -> str:
    signing_input = f"{b64(header)}.{b64(payload)}".encode()
    key = _development_private_key(runtime.settings)
    signature = jwt.get_algorithm_by_name("ES256").sign(signing_input, key)
    return f"{signing_input.decode()}.{b64(signature)}"


def post(client: FlaskClient, auth: Any, token: str, account: str = "ada") -> Any:
    return client.post("/v1/me/cameras", json={"attestation": token}, headers=auth(account))


def registrations(runtime: Runtime) -> list[tuple[str, int | None, str, str | None]]:
    with runtime.db.read() as session:
        rows = session.execute(
            select(Camera.serial, CameraRegistration.donor_id, CameraRegistration.token_id,
                   CameraRegistration.ended_by)
            .join(Camera, Camera.id == CameraRegistration.camera_id)
            .order_by(CameraRegistration.id)
        )  # fmt: skip
        return [tuple(row) for row in rows.all()]  # type: ignore[misc]


def refused(answer: Any, status: int, code: str) -> None:
    body = answer.get_json()
    assert (answer.status_code, body.get("error")) == (status, code), body
    if status == 422:
        assert list(body["errors"]["json"]) == ["attestation"]


# --- one jti, one attestation ---------------------------------------------------


@pytest.mark.parametrize("other_serial_held_by", [None, "bob"])
def test_an_attestation_id_used_for_one_camera_registers_no_other(
    client, runtime, auth, clock, other_serial_held_by
) -> None:
    """A jti is one attestation: the same jti for another camera (or with other claims)
    is a replay, never "unchanged" with someone else's camera, never a 500."""
    ada, bob = consenting_donor(runtime, "ada"), consenting_donor(runtime, "bob")
    assert post(client, auth, signed(runtime, jti="J")).status_code == 201
    if other_serial_held_by:
        token = signed(runtime, account_id="bob", serial="SN-2", jti="J-bob")
        assert post(client, auth, token, "bob").status_code == 201
    clock.advance(timedelta(minutes=1))
    before = registrations(runtime)

    again = post(client, auth, signed(runtime, serial="SN-2", jti="J"))
    refused(again, 409, "attestation_replayed")
    renamed = post(client, auth, signed(runtime, jti="J", model="Cam 3"))  # same camera
    refused(renamed, 409, "attestation_replayed")
    later = post(client, auth, signed(runtime, jti="J", iat=int(clock.now().timestamp())))
    refused(later, 409, "attestation_replayed")
    assert registrations(runtime) == before
    mine = client.get("/v1/me/cameras", headers=auth("ada")).get_json()["items"]
    assert [(c["serial"], c["model"]) for c in mine] == [("SN-1", "Cam 2")]
    with runtime.db.read() as session:
        holders = dict(session.execute(select(Camera.serial, Camera.donor_id)).all())
    assert holders == ({"SN-1": ada, "SN-2": bob} if other_serial_held_by else {"SN-1": ada})


def _at_once(
    monkeypatch: pytest.MonkeyPatch, runtime: Runtime, calls: list[Callable[[], Any]]
) -> list[Any]:
    """Run the calls in threads that meet right after the registry took its locks:
    whatever those locks do not serialise runs side by side."""
    meet = threading.Barrier(len(calls))
    original = cameras.lock_keys

    def lock_then_meet(*args: Any, **kwargs: Any) -> None:
        original(*args, **kwargs)
        # a lock that serialises makes the others wait here: the meeting fails
        with contextlib.suppress(threading.BrokenBarrierError):
            meet.wait(timeout=3)

    monkeypatch.setattr(cameras, "lock_keys", lock_then_meet)
    results: list[Any] = [None] * len(calls)

    def run(n: int) -> None:
        try:
            results[n] = calls[n]()
        except Exception as exc:  # reported by the test
            results[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def _warm(app: Any, auth: Any) -> None:
    """A first request, so that neither racer pays the app's first-request costs."""
    assert app.test_client().get("/v1/me/cameras", headers=auth("ada")).status_code == 200


def _answer(app: Any, auth: Any, token: str) -> tuple[int, str]:
    answer = post(app.test_client(), auth, token)
    body = answer.get_json()
    return answer.status_code, body.get("outcome") or body.get("error")


def test_one_jti_for_two_cameras_at_once_registers_one(app, runtime, auth, monkeypatch) -> None:
    """Two attestations sharing a jti, for two serials, at once: the serials' locks do
    not meet, the jti's unique index would make one a 500."""
    consenting_donor(runtime, "ada")
    first, second = (signed(runtime, serial=s, jti="J") for s in ("SN-1", "SN-2"))
    _warm(app, auth)
    results = _at_once(
        monkeypatch,
        runtime,
        [lambda: _answer(app, auth, first), lambda: _answer(app, auth, second)],
    )
    assert sorted(results) == [(201, "registered"), (409, "attestation_replayed")], results
    assert len(registrations(runtime)) == 1


def test_the_same_attestation_twice_at_once_is_one_registration(
    app, runtime, auth, monkeypatch
) -> None:
    ada = consenting_donor(runtime, "ada")
    token = signed(runtime)
    _warm(app, auth)
    results = _at_once(
        monkeypatch, runtime, [lambda: _answer(app, auth, token), lambda: _answer(app, auth, token)]
    )
    assert sorted(results) == [(200, "unchanged"), (201, "registered")], results
    assert registrations(runtime) == [("SN-1", ada, "jti-1", None)]


# --- the claims ----------------------------------------------------------------------


LATER = 2 * 3600


@pytest.mark.parametrize(
    "claims",
    [
        lambda now: {"iat": str(now), "exp": str(now + LATER)},  # numbers written as text
        lambda now: {"exp": True},
        lambda now: {"exp": 1e300},
        lambda now: {"iat": now + 20, "exp": now + 5},  # expires before it is issued
        lambda now: {"exp": now + 20, "iat": now + 20},
        lambda now: {"nbf": now + LATER},  # not valid yet by the engine's clock
        lambda now: {"nbf": "soon"},
    ],
    ids=["text", "bool", "huge", "exp_before_iat", "exp_is_iat", "nbf_later", "nbf_text"],
)
def test_times_that_are_not_numbers_or_out_of_order_are_refused(
    client, runtime, auth, claims
) -> None:
    consenting_donor(runtime, "ada")
    token = signed(runtime, **claims(int(runtime.clock.now().timestamp())))
    refused(post(client, auth, token), 422, "attestation_invalid")
    assert registrations(runtime) == []


def test_keys_and_algorithms_the_attestation_brings_itself_are_not_believed(
    runtime, auth, settings, clock
) -> None:
    consenting_donor(runtime, "ada")
    rsa_key, ec_key = DeviceCloudKey("rsa-1", "RSA"), DeviceCloudKey("ec-1", "EC")
    trusting = build_runtime(
        replace(settings, device_attestation_keys=jwks(rsa_key, ec_key)), clock
    )
    client = app_for(trusting).test_client()
    now = clock.now()
    attacker = DeviceCloudKey("ec-1", "EC")  # the trusted kid, the attacker's key
    claims = {"account_id": "ada", "serial": "SN-1", "model": "m", "jti": "x",
              "iat": int(now.timestamp()), "exp": int(now.timestamp()) + 600,
              "aud": "rewards-engine"}  # fmt: skip
    body = b64(json.dumps(claims).encode())

    # HS256 keyed with the RSA key's public PEM (the classic confusion)
    pem = rsa_key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    head = b64(json.dumps({"alg": "HS256", "kid": "rsa-1"}).encode())
    mac = hmac.new(pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
    confused = f"{head}.{body}.{b64(mac)}"
    unsigned = f"{b64(json.dumps({'alg': 'none', 'kid': 'ec-1'}).encode())}.{body}."
    # the attacker's own public key offered in the header, by value and by URL
    own_key = {"jwk": attacker.jwk(), "jku": "https://evil.example/jwks", "x5u": "https://e/x"}
    embedded = jwt.encode(claims, attacker.private, algorithm="ES256",
                          headers={"kid": "ec-1", **own_key})  # fmt: skip
    other_alg = rsa_key.sign(now, "ada", "SN-1", kid="ec-1")  # RS256 under the EC key's kid
    kid_not_text = raw(runtime, b'{"alg":"ES256","kid":["ec-1"]}', json.dumps(claims).encode())
    nested = b64(b'{"kid":"ec-1","x":' + b"[" * 2000 + b"]" * 2000 + b"}") + f".{body}.AA"
    for token, code in [
        (confused, "attestation_bad_signature"),
        (unsigned, "attestation_bad_signature"),
        (embedded, "attestation_bad_signature"),
        (other_alg, "attestation_bad_signature"),
        (kid_not_text, "attestation_malformed"),
        (nested, "attestation_malformed"),
    ]:
        refused(post(client, auth, token), 422, code)
    assert registrations(runtime) == []
    trusting.close()


def test_the_body_is_checked_before_the_attestation(client, runtime, auth) -> None:
    consenting_donor(runtime, "ada")
    ada = auth("ada")
    token = signed(runtime)
    for answer, field in [
        (client.post("/v1/me/cameras", json={"attestation": token, "serial": "X"},
                     headers=ada), "serial"),
        (client.post("/v1/me/cameras", json={"attestation": token + "A" * 8192},
                     headers=ada), "attestation"),
        (client.post("/v1/me/cameras", json={"attestation": 12}, headers=ada), "attestation"),
    ]:  # fmt: skip
        assert answer.status_code == 422, answer.get_json()
        assert field in answer.get_json()["errors"]["json"]
    form = client.post("/v1/me/cameras", data="attestation=x", headers=ada)
    assert form.status_code == 415 and "Content-Type" in form.get_json()["errors"]["headers"]
    not_json = client.post("/v1/me/cameras", data="{", content_type="application/json", headers=ada)
    assert not_json.status_code == 400
    assert registrations(runtime) == []


# --- donors erased meanwhile ------------------------------------------------------------


def test_a_donor_erased_while_the_camera_is_registered_gets_no_camera(
    client, runtime, auth, monkeypatch
) -> None:
    """The donor is looked up, then erased, then the registration is written: the
    registration must see the erasure (404), not give the camera to no one's account."""
    consenting_donor(runtime, "ada")
    assert client.delete("/v1/me", headers=auth("ada")).status_code == 202
    looked_up = donors.find_by_account

    def then_erased(db: Any, account_id: str) -> Any:
        found = looked_up(db, account_id)
        erasure.run_erasures(runtime)
        return found

    monkeypatch.setattr(donors, "find_by_account", then_erased)
    token = signed(runtime)
    answer = client.post(
        "/v1/intake/cameras", json={"attestation": token}, headers=auth("cloud", "service")
    )
    refused(answer, 404, "donor_not_found")
    with runtime.db.read() as session:
        assert session.scalars(select(Camera)).all() == []


def test_a_camera_moving_while_its_holder_is_erased_keeps_no_trace_of_them(
    client, runtime, auth, clock, monkeypatch
) -> None:
    """Bob's attestation moves ada's camera while ada's erasure runs: whichever commits
    first, no registration and no audit record names ada afterwards."""
    ada = consenting_donor(runtime, "ada")
    bob = consenting_donor(runtime, "bob")
    assert post(client, auth, signed(runtime, jti="ada-1")).status_code == 201
    assert client.delete("/v1/me", headers=auth("ada")).status_code == 202
    clock.advance(timedelta(minutes=1))
    ending = cameras._end_current
    erasing: list[threading.Thread] = []

    def erased_meanwhile(*args: Any) -> None:
        if not erasing:  # the erasure starts while the move is under way
            erasing.append(threading.Thread(target=erasure.run_erasures, args=(runtime,)))
            erasing[0].start()
            erasing[0].join(timeout=1.5)  # it may have to wait for the move: then go on
        ending(*args)

    monkeypatch.setattr(cameras, "_end_current", erased_meanwhile)
    token = signed(runtime, account_id="bob", jti="bob-1", iat=int(clock.now().timestamp()))
    moved = post(client, auth, token, "bob")
    erasing[0].join(timeout=30)
    assert moved.status_code == 201, moved.get_json()
    with runtime.db.read() as session:
        camera = session.scalars(select(Camera)).one()
        rows = session.scalars(select(CameraRegistration)).all()
        audits = session.scalars(select(AuditRecord).where(AuditRecord.target_type == "camera"))
        traces = [a for a in audits if str(ada) in json.dumps([a.before, a.after])]
    assert camera.donor_id == bob
    assert not [r for r in rows if ada in (r.donor_id, r.previous_donor_id)], rows
    assert traces == []


# --- what the other lists and logs show -----------------------------------------------


def test_a_cursor_from_another_donors_list_shows_only_ones_own(client, runtime, auth) -> None:
    for account in ("ada", "bob"):
        consenting_donor(runtime, account)
    for n in range(3):
        for account in ("ada", "bob"):
            token = signed(
                runtime, account_id=account, serial=f"{account}-{n}", jti=f"{account}{n}"
            )
            assert post(client, auth, token, account).status_code == 201
    bobs = client.get("/v1/me/cameras?limit=1", headers=auth("bob")).get_json()
    mine = client.get(f"/v1/me/cameras?cursor={bobs['next_cursor']}", headers=auth("ada"))
    assert mine.status_code == 200
    assert {c["serial"] for c in mine.get_json()["items"]} <= {"ada-0", "ada-1", "ada-2"}
    foreign = client.get(
        f"/v1/admin/donors/1/cameras?cursor={bobs['next_cursor']}",
        headers=auth("agent", "support"),
    )
    refused_cursor = foreign.get_json()
    assert (foreign.status_code, refused_cursor["error"]) == (422, "invalid_cursor")


def test_attestations_never_reach_the_logs(client, runtime, auth, clock, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    consenting_donor(runtime, "ada"), consenting_donor(runtime, "bob")
    good = signed(runtime)
    expired = signed(runtime, jti="old", iat=0, exp=60)
    forged = good[:-8] + ("AAAAAAAA" if not good.endswith("AAAAAAAA") else "BBBBBBBB")
    post(client, auth, good)
    post(client, auth, good)
    post(client, auth, expired)
    post(client, auth, forged)
    post(client, auth, good, "bob")
    client.post("/v1/intake/cameras", json={"attestation": good}, headers=auth("c", "service"))
    assert caplog.records, "the requests were logged"
    formatter = JsonFormatter()
    written = "\n".join(formatter.format(r) + repr(r.__dict__) for r in caplog.records)
    for token in (good, expired, forged):
        signature = token.rsplit(".", 1)[1]
        assert signature not in written
