"""Camera attestations as the maker's device cloud would sign them: with the
development key the engine makes in a test's instance folder, or with keys of a test's
own (key rotation, forgeries)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from rewards_engine.attestations import sign_development_attestation
from rewards_engine.domain.actors import Actor
from rewards_engine.runtime import Runtime
from rewards_engine.services import cameras

DEVICE_CLOUD = Actor(id="service:device-cloud", role="service")
ALGORITHM_OF = {"EC": "ES256", "RSA": "RS256", "OKP": "EdDSA"}


def register_camera(runtime: Runtime, account_id: str, serial: str, model: str = "Cam 2") -> str:
    """Register ``serial`` to the donor of ``account_id`` as the device cloud does (the
    donor must exist); returns the outcome (registered, moved, ...)."""
    token = sign_development_attestation(
        runtime.settings, account_id, serial, model, runtime.clock.now()
    )
    return cameras.register(
        runtime.db, runtime.clock, runtime.attestations, DEVICE_CLOUD, token, via="device_cloud"
    ).outcome


@dataclass
class DeviceCloudKey:
    """A signing key of the device cloud's, and its public JWK (with ``kid``)."""

    kid: str
    kind: str = "EC"  # EC (ES256), RSA (RS256) or OKP (Ed25519, EdDSA)
    private: Any = field(init=False)

    def __post_init__(self) -> None:
        if self.kind == "EC":
            self.private = ec.generate_private_key(ec.SECP256R1())
        elif self.kind == "RSA":
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            self.private = ed25519.Ed25519PrivateKey.generate()

    @property
    def algorithm(self) -> str:
        return ALGORITHM_OF[self.kind]

    def jwk(self) -> dict[str, Any]:
        algorithm = jwt.get_algorithm_by_name(self.algorithm)
        public = json.loads(algorithm.to_jwk(self.private.public_key()))
        return {**public, "kid": self.kid, "use": "sig", "alg": self.algorithm}

    def sign(
        self,
        now: datetime,
        account_id: str,
        serial: str,
        *,
        model: str = "Cam 2",
        ttl: timedelta = timedelta(hours=1),
        audience: str = "rewards-engine",
        kid: str | None = None,
        **claims: Any,
    ) -> str:
        payload = {
            "account_id": account_id,
            "serial": serial,
            "model": model,
            "iat": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
            "jti": str(uuid.uuid4()),
            "aud": audience,
            **claims,
        }
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(
            payload, self.private, algorithm=self.algorithm, headers={"kid": kid or self.kid}
        )


def jwks(*keys: DeviceCloudKey) -> str:
    return json.dumps({"keys": [key.jwk() for key in keys]})
