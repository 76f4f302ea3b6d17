"""Bearer tokens: JWTs carrying ``sub`` (the account id), ``role``, ``exp``, and from
issue 24 ``iat`` and a random ``jti`` so that one token can be revoked.

HS256 with ``JWT_SECRET``, or RS256 when a public key is configured (then only
tokens signed with the matching private key verify, and ``issue-token`` needs that
private key). ``exp`` is mandatory: a token that never expires is refused. A token
that verifies is still refused when it was revoked (its ``jti`` is
denied, or its subject was revoked after its ``iat``): ``api/auth.py:verify_token`` asks
``services/revocations.py:RevocationCache``.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import jwt

from rewards_engine.config import Settings
from rewards_engine.domain.roles import Role

MAX_SUBJECT_LENGTH = 128
MAX_JTI_LENGTH = 128  # longer ids (none of ours) cannot be revoked by id, only by subject
LEEWAY_S = 30  # clock skew tolerated on exp


class InvalidToken(Exception):
    """The token cannot be trusted; ``reason`` is safe to show (it holds no secret)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    expires_at: float | None = field(default=None, compare=False)  # the token's exp
    issued_at: float | None = field(default=None, compare=False)  # iat, when it has one
    jti: str | None = field(default=None, compare=False)  # an external IdP's may lack it

    @property
    def actor_id(self) -> str:
        """How the audit log names this caller."""
        return f"{self.role.value}:{self.subject}"


def issue_token(settings: Settings, subject: str, role: Role, ttl: timedelta, now: datetime) -> str:
    if not subject or len(subject) > MAX_SUBJECT_LENGTH:
        raise ValueError(f"subject must have 1 to {MAX_SUBJECT_LENGTH} characters")
    claims: dict[str, object] = {
        "sub": subject,
        "role": role.value,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
        "jti": secrets.token_urlsafe(16),  # 128 random bits: what a revocation names
    }
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    if settings.jwt_algorithm == "RS256":
        if not settings.jwt_private_key:
            raise ValueError("JWT_PRIVATE_KEY is needed to issue RS256 tokens")
        return jwt.encode(claims, settings.jwt_private_key, algorithm="RS256")
    assert settings.jwt_secret is not None
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


class TokenVerifier:
    """Verifies tokens, remembering each good one for up to a minute.

    A mobile app sends the same token on every call; checking its signature once a
    minute instead of on each call is safe, because the same bytes verify the same
    way and the expiry is still checked every time. Revocation is checked on every
    call too, after this (``api/auth.py:verify_token``), so a remembered token is
    refused at its next call.
    """

    REMEMBER_S = 60
    MAX_REMEMBERED = 50_000

    def __init__(self, settings: Settings) -> None:
        self._algorithm = settings.jwt_algorithm
        self._key = settings.jwt_public_key if self._algorithm == "RS256" else settings.jwt_secret
        self._audience = settings.jwt_audience
        self._verified: dict[str, tuple[float, float, Principal]] = {}

    def verify(self, token: str) -> Principal:
        now = time.time()
        known = self._verified.get(token)
        if known is not None:
            remember_until, expires, principal = known
            if now < remember_until and now < expires + LEEWAY_S:
                return principal
            del self._verified[token]
        principal, expires = self._verify(token)
        if len(self._verified) >= self.MAX_REMEMBERED:
            self._verified.clear()
        self._verified[token] = (now + self.REMEMBER_S, expires, principal)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            claims = jwt.decode(
                token,
                self._key,  # type: ignore[arg-type]  # PyJWT accepts the key object; its stub says str
                algorithms=[self._algorithm],  # never trust the token's own "alg"
                audience=self._audience,
                options={"require": ["exp", "sub", "role"]},
                leeway=LEEWAY_S,
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("the token has expired") from exc
        except jwt.InvalidSignatureError as exc:
            raise InvalidToken("the token's signature does not verify") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidToken(f"the token lacks the {exc.claim!r} claim") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken("the token is malformed or not for this service") from exc
        subject, role = claims.get("sub"), claims.get("role")
        if not isinstance(subject, str) or not 0 < len(subject) <= MAX_SUBJECT_LENGTH:
            raise InvalidToken("the token's subject is not a valid account id")
        try:
            expires = float(claims["exp"])
            issued = claims.get("iat")
            jti = claims.get("jti")
            principal = Principal(
                subject=subject,
                role=Role(str(role)),
                expires_at=expires,
                issued_at=float(issued) if isinstance(issued, int | float) else None,
                jti=jti if isinstance(jti, str) and 0 < len(jti) <= MAX_JTI_LENGTH else None,
            )
            return principal, expires
        except ValueError as exc:
            roles = ", ".join(role.value for role in Role)
            raise InvalidToken(f"the token's role is not one of {roles}") from exc
