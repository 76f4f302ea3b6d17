"""DEVICE_ATTESTATION_KEYS that PyJWT cannot use are refused without quoting the key:
the message reaches the log (at start, or as a 503's reason inside a request)."""

from __future__ import annotations

import json

import pytest

from rewards_engine.attestations import AttestationVerifier
from rewards_engine.config import ConfigError

PRIVATE = "PRIVATE-PART-NOT-FOR-LOGS"


@pytest.mark.parametrize(
    "key",
    [
        {"kty": "EC", "crv": "P-256", "x": "a", "y": "b", "d": PRIVATE, "alg": "HS999"},
        {"kty": "oct", "k": PRIVATE, "alg": "XX"},
        {"kty": "EC", "crv": "P-256", "x": "a", "y": "b", "d": PRIVATE, "alg": "ES256"},
        {"kty": "XX", "k": PRIVATE},
    ],
    ids=["unknown alg", "symmetric, unknown alg", "malformed EC", "unknown kty"],
)
def test_an_unusable_key_is_refused_without_its_private_parts(key: dict[str, str]) -> None:
    jwks = json.dumps({"keys": [{**key, "kid": "k1"}]})
    with pytest.raises(ConfigError, match="not a usable JWKS") as refused:
        AttestationVerifier(jwks, audience="rewards")
    assert PRIVATE not in str(refused.value)
    assert refused.value.__cause__ is None and refused.value.__suppress_context__
