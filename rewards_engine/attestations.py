"""Camera attestations: the maker's device cloud vouches that a camera (serial, model)
is registered to an account, in a JWT signed with one of its keys.

The engine holds only the public keys, as a JWKS (``DEVICE_ATTESTATION_KEYS``: the JSON,
or the path of a file holding it). Each key has a ``kid``, and a token names the key
that signed it in its header: the device cloud rotates by publishing a new key beside
the old one, signing with the new one, and dropping the old one once the attestations
it signed have expired. Asymmetric algorithms only (ES256, RS256, EdDSA): a shared
secret would let anyone who holds it mint cameras.

Claims: ``account_id``, ``serial``, ``model``, ``iat``, ``exp``, ``jti`` (each
attestation's id: the registry remembers it, so a replayed one is recognised), and
``aud`` (``DEVICE_ATTESTATION_AUDIENCE``); ``iss`` when ``DEVICE_ATTESTATION_ISSUER`` is
set. An attestation lives at most a day: it is a fresh statement, not a credential.
Times (``iat``, ``exp``, and ``nbf`` when present) are JSON numbers, checked against the
engine's clock; ``exp`` comes after ``iat``.

In development, without keys, the engine makes a device-cloud key of its own (kept in
the instance folder) so that ``rewards-engine attest-camera`` can sign attestations for
the demo and the walkthrough.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from rewards_engine.config import ConfigError, Settings
from rewards_engine.secret_sources import development_secret

ALGORITHMS = ("ES256", "RS256", "EdDSA")
LEEWAY = timedelta(seconds=30)  # clock skew between the device cloud and the engine
MAX_LIFETIME = timedelta(days=1)
REQUIRED = ("account_id", "serial", "model", "iat", "exp", "jti", "aud")
DEVELOPMENT_KEY = "dev-device-cloud-key.pem"
DEVELOPMENT_KID = "development"
MAX_FIELD = {"account_id": 128, "serial": 128, "model": 64, "jti": 128}
SERIAL = re.compile(r"[\x21-\x7e]+")


class AttestationRefused(Exception):
    """An attestation the engine will not believe; ``code`` and the message are safe to
    show (they name what is wrong, never a key)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Attestation:
    account_id: str
    serial: str
    model: str
    issued_at: datetime
    expires_at: datetime
    token_id: str  # the jti
    key_id: str


class AttestationVerifier:
    def __init__(self, jwks: str, audience: str, issuer: str | None = None) -> None:
        try:
            document = json.loads(jwks)
            self._keys = {
                key["kid"]: jwt.PyJWK(key)
                for key in document["keys"]
                if key.get("use", "sig") == "sig"
            }
        except jwt.PyJWTError as exc:
            # Not PyJWT's message: some quote the whole key, which may hold private parts.
            raise ConfigError(
                f"DEVICE_ATTESTATION_KEYS is not a usable JWKS: PyJWT cannot use a key "
                f"({type(exc).__name__}; the key is not shown, it may hold private parts)"
            ) from None
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"DEVICE_ATTESTATION_KEYS is not a usable JWKS: {exc}") from None
        symmetric = [kid for kid, key in self._keys.items() if key.algorithm_name not in ALGORITHMS]
        if symmetric or not self._keys:
            raise ConfigError(
                "DEVICE_ATTESTATION_KEYS needs public keys (ES256, RS256 or EdDSA), each with a "
                f"kid; refused: {symmetric or 'an empty set'}"
            )
        self._audience = audience
        self._issuer = issuer

    def verify(self, token: str, now: datetime) -> Attestation:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise AttestationRefused(
                "the attestation is not a JWT", "attestation_malformed"
            ) from None
        key = self._keys.get(str(header.get("kid")))
        if key is None:
            raise AttestationRefused(
                "the attestation is signed with a key the engine does not trust",
                "attestation_unknown_key",
            )
        if header.get("alg") != key.algorithm_name:
            raise AttestationRefused(
                "the attestation's algorithm is not its key's", "attestation_bad_signature"
            )
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm_name],
                audience=self._audience,
                issuer=self._issuer,
                options={
                    "require": list(REQUIRED),
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,  # checked against the engine's clock, below
                },
            )
        except jwt.InvalidSignatureError:
            raise AttestationRefused(
                "the attestation's signature does not verify", "attestation_bad_signature"
            ) from None
        except jwt.InvalidTokenError as exc:
            raise AttestationRefused(
                f"the attestation is not valid: {exc}", "attestation_invalid"
            ) from None
        return _checked(claims, str(header["kid"]), now)


def _checked(claims: dict[str, Any], kid: str, now: datetime) -> Attestation:
    """The claims' types, sizes and times, checked against the engine's clock (not
    PyJWT's), so that tests and the scheduler's clock agree."""
    fields = {}
    for name, longest in MAX_FIELD.items():
        value = claims[name]
        if not isinstance(value, str) or not 1 <= len(value) <= longest or not value.isprintable():
            raise AttestationRefused(
                f"the attestation's {name} must be 1 to {longest} printable characters",
                "attestation_invalid",
            )
        fields[name] = value
    if not SERIAL.fullmatch(fields["serial"]):  # as a clip's camera_id must be
        raise AttestationRefused(
            "the attestation's serial must be printable ASCII without spaces",
            "attestation_invalid",
        )
    issued, expires = _time(claims, "iat"), _time(claims, "exp")
    if expires <= now - LEEWAY:
        raise AttestationRefused("the attestation has expired", "attestation_expired")
    if expires <= issued:
        raise AttestationRefused(
            "the attestation expires before it is issued", "attestation_invalid"
        )
    if issued > now + LEEWAY:
        raise AttestationRefused("the attestation is issued in the future", "attestation_invalid")
    if "nbf" in claims and _time(claims, "nbf") > now + LEEWAY:
        raise AttestationRefused("the attestation is not valid yet (nbf)", "attestation_invalid")
    if expires - issued > MAX_LIFETIME:
        raise AttestationRefused("an attestation may live a day at most", "attestation_invalid")
    return Attestation(
        account_id=fields["account_id"],
        serial=fields["serial"],
        model=fields["model"],
        issued_at=issued,
        expires_at=expires,
        token_id=fields["jti"],
        key_id=kid,
    )


def _time(claims: dict[str, Any], name: str) -> datetime:
    """A NumericDate claim: a JSON number of seconds (not text, not true or false)."""
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AttestationRefused(
            f"the attestation's {name} must be a number of seconds", "attestation_invalid"
        )
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (ValueError, OverflowError, OSError):
        raise AttestationRefused(
            f"the attestation's {name} is not a time", "attestation_invalid"
        ) from None


def verifier_for(settings: Settings) -> AttestationVerifier | None:
    """The verifier of this installation, or None where no key is configured (camera
    registration then answers 503; development makes a key of its own)."""
    jwks = settings.device_attestation_keys
    if jwks and not jwks.lstrip().startswith("{"):
        try:
            jwks = Path(jwks).read_text()
        except OSError as exc:
            raise ConfigError(f"DEVICE_ATTESTATION_KEYS: cannot read {jwks}: {exc}") from None
    if not jwks and settings.is_development:
        jwks = json.dumps({"keys": [development_jwk(settings)]})
    if not jwks:
        return None
    return AttestationVerifier(
        jwks, settings.device_attestation_audience, settings.device_attestation_issuer
    )


def _development_private_key(settings: Settings) -> ec.EllipticCurvePrivateKey:
    def make() -> str:
        key = ec.generate_private_key(ec.SECP256R1())
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    pem = development_secret(settings.instance_dir, DEVELOPMENT_KEY, make)
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def development_jwk(settings: Settings) -> dict[str, Any]:
    public = _development_private_key(settings).public_key()
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(public))
    return {**jwk, "kid": DEVELOPMENT_KID, "alg": "ES256", "use": "sig"}


def sign_development_attestation(
    settings: Settings,
    account_id: str,
    serial: str,
    model: str,
    now: datetime,
    ttl: timedelta = timedelta(hours=1),
) -> str:
    """An attestation signed with the development device-cloud key: what the maker's
    device cloud would issue, for the demo, the walkthrough and the tests."""
    if not settings.is_development:
        raise ConfigError("attestations are signed here only in development (APP_ENV)")
    claims = {
        "account_id": account_id,
        "serial": serial,
        "model": model,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
        "jti": str(uuid.uuid4()),
        "aud": settings.device_attestation_audience,
    }
    if settings.device_attestation_issuer:
        claims["iss"] = settings.device_attestation_issuer
    return jwt.encode(
        claims,
        _development_private_key(settings),
        algorithm="ES256",
        headers={"kid": DEVELOPMENT_KID},
    )
