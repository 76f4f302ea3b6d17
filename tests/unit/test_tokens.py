from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from rewards_engine.config import Settings
from rewards_engine.domain.roles import STAFF_ROLES, Role
from rewards_engine.tokens import InvalidToken, TokenVerifier, issue_token

SECRET = "unit-secret-" + "y" * 40


def settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"APP_ENV": "test", "INSTANCE_DIR": str(tmp_path), **env})


def now() -> datetime:
    return datetime.now(UTC)


def test_issued_token_verifies_to_its_subject_and_role(tmp_path: Path) -> None:
    config = settings(tmp_path, JWT_SECRET=SECRET)
    token = issue_token(config, "acct-1", Role.SUPPORT, timedelta(minutes=5), now())
    principal = TokenVerifier(config).verify(token)
    assert principal.subject == "acct-1"
    assert principal.role is Role.SUPPORT
    assert principal.actor_id == "support:acct-1"


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"sub": "a", "role": "donor", "exp": 1}, "expired"),
        ({"sub": "a", "role": "donor"}, "'exp'"),
        ({"role": "donor", "exp": 4102444800}, "'sub'"),
        ({"sub": "a", "exp": 4102444800}, "'role'"),
        ({"sub": "a", "role": "root", "exp": 4102444800}, "role"),
        ({"sub": "", "role": "donor", "exp": 4102444800}, "subject"),
        ({"sub": "a" * 129, "role": "donor", "exp": 4102444800}, "subject"),
        ({"sub": 42, "role": "donor", "exp": 4102444800}, "malformed"),
    ],
)
def test_bad_claims_are_refused(tmp_path: Path, claims: dict, reason: str) -> None:
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    with pytest.raises(InvalidToken, match=reason):
        TokenVerifier(settings(tmp_path, JWT_SECRET=SECRET)).verify(token)


def test_wrong_signature_and_garbage_are_refused(tmp_path: Path) -> None:
    verifier = TokenVerifier(settings(tmp_path, JWT_SECRET=SECRET))
    forged = jwt.encode({"sub": "a", "role": "admin", "exp": 4102444800}, "other-" + SECRET)
    with pytest.raises(InvalidToken, match="signature"):
        verifier.verify(forged)
    for garbage in ("not-a-token", "a.b.c", ""):
        with pytest.raises(InvalidToken):
            verifier.verify(garbage)


def test_alg_none_is_refused(tmp_path: Path) -> None:
    token = jwt.encode({"sub": "a", "role": "admin", "exp": 4102444800}, None, algorithm="none")
    with pytest.raises(InvalidToken):
        TokenVerifier(settings(tmp_path, JWT_SECRET=SECRET)).verify(token)


def rsa_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def test_rs256_tokens_verify_with_the_public_key_only(tmp_path: Path) -> None:
    private, public = rsa_pair()
    config = settings(tmp_path, JWT_PUBLIC_KEY=public, JWT_PRIVATE_KEY=private)
    token = issue_token(config, "acct-2", Role.ADMIN, timedelta(minutes=5), now())
    assert TokenVerifier(config).verify(token).role is Role.ADMIN
    # An HS256 token signed with the public key text (the classic confusion) is refused.
    confused = jwt.encode({"sub": "x", "role": "admin", "exp": 4102444800}, "k" * 40)
    with pytest.raises(InvalidToken):
        TokenVerifier(config).verify(confused)
    other_private, _ = rsa_pair()
    foreign = jwt.encode(
        {"sub": "x", "role": "admin", "exp": 4102444800}, other_private, algorithm="RS256"
    )
    with pytest.raises(InvalidToken, match="signature"):
        TokenVerifier(config).verify(foreign)


def test_audience_is_checked_when_configured(tmp_path: Path) -> None:
    config = settings(tmp_path, JWT_SECRET=SECRET, JWT_AUDIENCE="rewards")
    good = issue_token(config, "a", Role.DONOR, timedelta(minutes=5), now())
    assert TokenVerifier(config).verify(good).subject == "a"
    other = jwt.encode({"sub": "a", "role": "donor", "exp": 4102444800, "aud": "billing"}, SECRET)
    with pytest.raises(InvalidToken):
        TokenVerifier(config).verify(other)


def test_every_role_s_token_carries_it_and_staff_roles_are_the_four(tmp_path: Path) -> None:
    """What a staff role may do is the staff policy's (tests/unit/test_staff_policy_rules.py);
    a token only carries the role, the new ones included."""
    config = settings(tmp_path, JWT_SECRET=SECRET)
    for role in Role:
        token = issue_token(config, "a", role, timedelta(minutes=5), now())
        assert TokenVerifier(config).verify(token).role == role
    assert {r.value for r in STAFF_ROLES} == {"support", "support_lead", "finance", "admin"}


def test_good_tokens_are_remembered_but_never_beyond_their_expiry(
    tmp_path: Path, monkeypatch
) -> None:
    import rewards_engine.tokens as tokens

    config = settings(tmp_path, JWT_SECRET=SECRET)
    verifier = TokenVerifier(config)
    calls: list[str] = []
    real = verifier._verify

    def counting(token: str):  # type: ignore[no-untyped-def]
        calls.append(token)
        return real(token)

    monkeypatch.setattr(verifier, "_verify", counting)
    token = issue_token(config, "acct-9", Role.DONOR, timedelta(minutes=10), now())
    for _ in range(5):
        assert verifier.verify(token).subject == "acct-9"
    assert len(calls) == 1  # the signature was checked once
    start = tokens.time.time()
    monkeypatch.setattr(tokens.time, "time", lambda: start + 61)
    verifier.verify(token)
    assert len(calls) == 2  # remembered for a minute at most

    short = issue_token(config, "acct-9", Role.DONOR, timedelta(seconds=1), now())
    monkeypatch.setattr(tokens.time, "time", lambda: start)
    verifier.verify(short)
    monkeypatch.setattr(tokens.time, "time", lambda: start + 40)  # past exp and its leeway
    verifier.verify(short)
    assert calls[-1] == short and len(calls) == 4  # not answered from memory
