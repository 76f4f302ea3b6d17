"""Input at the edges of what the database can hold, and the client's real address."""

from __future__ import annotations

from dataclasses import replace

import pytest

from rewards_engine.config import RateLimits
from rewards_engine.crypto import Vault, generate_key
from tests.conftest import app_for
from tests.support.factories import consenting_donor, load_program


def test_text_with_a_nul_character_is_refused_by_its_field(client, runtime, auth) -> None:
    load_program(runtime)
    consenting_donor(runtime, "ada")
    answer = client.patch("/v1/me", json={"display_name": "Ada\x00"}, headers=auth("ada"))
    assert answer.status_code == 422
    assert "NUL" in answer.get_json()["errors"]["json"]["display_name"][0]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/admin/donors/2147483648",  # past a 32-bit key
        "/v1/admin/submissions/9223372036854775808/review",  # past a 64-bit key
        "/v1/admin/rewards/a%00b/retire",  # NUL in a path segment
    ],
)
def test_ids_no_column_could_hold_are_not_found(client, auth, path) -> None:
    method = "get" if path.startswith("/v1/admin/donors") else "post"
    answer = getattr(client, method)(path, headers=auth("boss", "admin"), json={"reason": "x"})
    assert answer.status_code in (404, 405) and answer.status_code != 500


def test_a_body_over_two_mebibytes_is_413(client, runtime, auth) -> None:
    load_program(runtime)
    consenting_donor(runtime, "ada")
    body = b'{"clips": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    answer = client.post(
        "/v1/submissions",
        data=body,
        headers={**auth("ada"), "Content-Type": "application/json"},
    )
    assert answer.status_code == 413 and answer.get_json()["error"] == "payload_too_large"


def test_an_older_encryption_key_still_decrypts_after_rotation() -> None:
    old, new = generate_key(), generate_key()
    sealed = Vault((old,)).encrypt("GIFT-1234")
    assert Vault((new, old)).decrypt(sealed) == "GIFT-1234"  # new first: encrypts; old: reads
    with pytest.raises(RuntimeError, match="cannot be decrypted"):
        Vault((new,)).decrypt(sealed)  # the old key removed too early


def test_behind_a_trusted_proxy_limits_key_on_the_client_address(runtime, auth) -> None:
    runtime.settings = replace(  # type: ignore[misc]
        runtime.settings, trusted_proxies=1, rate_limits=RateLimits(0, 0, 0, 2)
    )
    client = app_for(runtime).test_client()

    def guess(address: str) -> int:
        headers = {"Authorization": "Bearer guess.x.y", "X-Forwarded-For": address}
        return client.get("/v1/me", headers=headers).status_code

    assert [guess("203.0.113.7") for _ in range(3)] == [401, 401, 429]
    assert guess("198.51.100.2") == 401  # another client behind the same proxy
