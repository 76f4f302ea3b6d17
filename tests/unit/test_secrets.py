"""Secrets from configuration (issue 24, part 5): each from its variable or a file, both
refused, production refusing to start without the erasure salt and the fingerprint key,
development generating them; fingerprints independent of the encryption keys, and
matching across a rotation of either."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from rewards_engine.config import ConfigError, Settings
from rewards_engine.crypto import LEGACY, Vault, generate_key
from rewards_engine.domain.privacy import camera_ids, salted_camera

ENCRYPTION_KEY = "Gs0QyzZ2nQbK9eRrS1y5d5iY3hX8pQk0c7rN2wB4vLc="  # fixed: test ids must not vary
PRODUCTION = {
    "JWT_SECRET": "j" * 40,
    "ENCRYPTION_KEYS": ENCRYPTION_KEY,
    "ERASURE_SALTS": "e" * 64,
    "FINGERPRINT_KEYS": "f" * 64,
}


def _read(settings: Settings, name: str) -> object:
    return {
        "JWT_SECRET": settings.jwt_secret,
        "JWT_PRIVATE_KEY": settings.jwt_private_key,
        "ENCRYPTION_KEYS": settings.encryption_keys,
        "CONSOLE_SECRET": settings.console_secret,
        "ERASURE_SALTS": settings.erasure_salts,
        "FINGERPRINT_KEYS": settings.fingerprint_keys,
        "PAYPAL_CLIENT_ID": settings.paypal.client_id,
        "PAYPAL_CLIENT_SECRET": settings.paypal.client_secret,
        "STRIPE_API_KEY": settings.stripe.api_key,
        "STRIPE_WEBHOOK_SECRET": settings.stripe.webhook_secret,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
    }[name]


SECRETS = [
    ("JWT_SECRET", "js-" + "1" * 40, "js-" + "1" * 40),
    ("JWT_PRIVATE_KEY", "-----BEGIN PRIVATE KEY-----x", "-----BEGIN PRIVATE KEY-----x"),
    ("ENCRYPTION_KEYS", f"{ENCRYPTION_KEY},old", (ENCRYPTION_KEY, "old")),
    ("CONSOLE_SECRET", "cs-" + "2" * 40, "cs-" + "2" * 40),
    ("ERASURE_SALTS", "new-salt,old-salt", ("new-salt", "old-salt")),
    ("FINGERPRINT_KEYS", "new-key,legacy", ("new-key", "legacy")),
    ("PAYPAL_CLIENT_ID", "pp-id", "pp-id"),
    ("PAYPAL_CLIENT_SECRET", "pp-secret", "pp-secret"),
    ("STRIPE_API_KEY", "sk_test_123", "sk_test_123"),
    ("STRIPE_WEBHOOK_SECRET", "whsec_123", "whsec_123"),
    ("DATABASE_URL", "postgresql://app:pw@db/rewards", "postgresql+psycopg://app:pw@db/rewards"),
    ("REDIS_URL", "redis://:pw@cache:6379/0", "redis://:pw@cache:6379/0"),
]


@pytest.mark.parametrize(("name", "raw", "expected"), SECRETS, ids=[s[0] for s in SECRETS])
def test_each_secret_is_read_from_its_variable_or_from_a_file(
    tmp_path: Path, name: str, raw: str, expected: object
) -> None:
    base = {**PRODUCTION, "INSTANCE_DIR": str(tmp_path)}
    base.pop(name, None)
    from_env = Settings.from_env({**base, name: raw})
    assert _read(from_env, name) == expected
    file = tmp_path / f"{name.lower()}.secret"
    file.write_text(raw + "\n")  # as `echo` and most secret stores write it
    from_file = Settings.from_env({**base, f"{name}_FILE": str(file)})
    assert _read(from_file, name) == expected


@pytest.mark.parametrize("name", [name for name, _, _ in SECRETS])
def test_a_secret_given_twice_is_refused_naming_it(tmp_path: Path, name: str) -> None:
    file = tmp_path / "secret"
    file.write_text("from-the-file")
    env = {**PRODUCTION, "INSTANCE_DIR": str(tmp_path), name: "x", f"{name}_FILE": str(file)}
    with pytest.raises(ConfigError, match=f"{name} and {name}_FILE are both set") as refused:
        Settings.from_env(env)
    assert "from-the-file" not in str(refused.value)


def test_the_singular_and_plural_spellings_together_are_refused(tmp_path: Path) -> None:
    env = {**PRODUCTION, "INSTANCE_DIR": str(tmp_path), "ERASURE_SALT": "one"}
    with pytest.raises(ConfigError, match="ERASURE_SALTS and ERASURE_SALT"):
        Settings.from_env(env)
    alone = {**env}
    del alone["ERASURE_SALTS"]
    assert Settings.from_env(alone).erasure_salts == ("one",)


def test_a_missing_or_empty_secret_file_is_refused_without_its_content(tmp_path: Path) -> None:
    env = {**PRODUCTION, "INSTANCE_DIR": str(tmp_path)}
    del env["JWT_SECRET"]
    with pytest.raises(ConfigError, match="JWT_SECRET_FILE names a file that cannot be read"):
        Settings.from_env({**env, "JWT_SECRET_FILE": str(tmp_path / "absent")})
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError, match="JWT_SECRET_FILE names an empty file"):
        Settings.from_env({**env, "JWT_SECRET_FILE": str(tmp_path / "empty")})


@pytest.mark.parametrize(
    ("removed", "named"),
    [
        (("ERASURE_SALTS",), "ERASURE_SALTS not set"),
        (("FINGERPRINT_KEYS",), "FINGERPRINT_KEYS not set"),
        (("ERASURE_SALTS", "FINGERPRINT_KEYS"), "ERASURE_SALTS and FINGERPRINT_KEYS not set"),
    ],
)
def test_production_refuses_to_start_without_the_salt_or_the_fingerprint_key(
    tmp_path: Path, removed: tuple[str, ...], named: str
) -> None:
    env = {**PRODUCTION, "INSTANCE_DIR": str(tmp_path)}
    for name in removed:
        del env[name]
    with pytest.raises(ConfigError, match=named):
        Settings.from_env(env)
    assert not list(tmp_path.iterdir())  # nothing generated in production


def test_development_generates_the_salt_and_the_fingerprint_key_once(tmp_path: Path) -> None:
    env = {"APP_ENV": "development", "INSTANCE_DIR": str(tmp_path)}
    first, second = Settings.from_env(env), Settings.from_env(env)
    assert len(first.erasure_salts) == 1 and len(first.erasure_salts[0]) == 64
    assert first.erasure_salts == second.erasure_salts
    assert first.fingerprint_keys == second.fingerprint_keys
    assert first.fingerprint_keys != first.erasure_salts
    for name in ("dev-erasure-salt", "dev-fingerprint-key"):
        assert (tmp_path / name).stat().st_mode & 0o077 == 0
    other = Settings.from_env({"APP_ENV": "development", "INSTANCE_DIR": str(tmp_path / "b")})
    assert other.erasure_salts != first.erasure_salts
    given = Settings.from_env({**env, "ERASURE_SALTS": "mine"})
    assert given.erasure_salts == ("mine",)  # configuration wins over the generated one
    assert "mine" not in repr(given) and first.fingerprint_keys[0] not in repr(first)


def test_fingerprints_do_not_depend_on_the_encryption_keys() -> None:
    old, new = generate_key(), generate_key()
    before = Vault((old,), ("fp-key",))
    after = Vault((new, old), ("fp-key",))
    assert before.fingerprint("GIFT-1") == after.fingerprint("GIFT-1")
    assert after.decrypt(before.encrypt("GIFT-1")) == "GIFT-1"


def test_the_legacy_fingerprint_is_matched_across_an_encryption_key_rotation() -> None:
    old, new = generate_key(), generate_key()
    stored = Vault((old,)).fingerprint("GIFT-1")  # no FINGERPRINT_KEYS: the legacy key
    rotated = Vault((new, old))
    assert rotated.fingerprint("GIFT-1") != stored  # written under the new first key ...
    assert stored in rotated.fingerprints("GIFT-1")  # ... matched under the old one
    assert Vault((old,), (LEGACY,)).fingerprint("GIFT-1") == stored
    moving = Vault((new, old), ("fp-key", LEGACY))  # the documented migration
    assert moving.fingerprint("GIFT-1") == Vault((new,), ("fp-key",)).fingerprint("GIFT-1")
    assert stored in moving.fingerprints("GIFT-1")
    assert stored not in Vault((new, old), ("fp-key",)).fingerprints("GIFT-1")


def test_a_fingerprint_key_rotation_keeps_matching_until_the_old_key_is_dropped() -> None:
    key = generate_key()
    stored = Vault((key,), ("k-old",)).fingerprint("GIFT-1")
    rotated = Vault((key,), ("k-new", "k-old"))
    assert rotated.fingerprint("GIFT-1") != stored
    assert rotated.fingerprints("GIFT-1")[1:] == (stored,)
    assert stored not in Vault((key,), ("k-new",)).fingerprints("GIFT-1")


def test_the_legacy_fingerprint_warns_once_and_names_no_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    key = generate_key()
    vault = Vault((key,))
    with caplog.at_level(logging.DEBUG):
        vault.fingerprint("GIFT-1")
        vault.fingerprints("GIFT-2")
        Vault((key,), ("fp-key",)).fingerprint("GIFT-3")
    warnings = [r for r in caplog.records if "FINGERPRINT_KEYS" in r.getMessage()]
    assert len(warnings) == 1
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert key not in text and "fp-key" not in text and "GIFT" not in text


def test_a_camera_is_recognised_under_every_configured_salt() -> None:
    ids = camera_ids(["new", "old"], ["CAM-1"])
    assert ids == {
        "CAM-1": "CAM-1",
        salted_camera("new", "CAM-1"): "CAM-1",
        salted_camera("old", "CAM-1"): "CAM-1",
    }
