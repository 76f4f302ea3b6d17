from pathlib import Path

import pytest

from rewards_engine.config import EMBEDDED, ConfigError, Settings


def test_defaults_are_sqlite_in_the_instance_folder_and_embedded_redis(tmp_path: Path) -> None:
    settings = Settings.from_env({"APP_ENV": "development", "INSTANCE_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'rewards.db'}"
    assert settings.redis_url == EMBEDDED
    assert settings.redis_is_embedded
    assert settings.port == 8000
    assert settings.jwt_algorithm == "HS256"


def test_production_refuses_to_start_without_a_signing_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="JWT_SECRET"):
        Settings.from_env({"INSTANCE_DIR": str(tmp_path)})  # APP_ENV defaults to production


GIFT_KEY = "Gs0QyzZ2nQbK9eRrS1y5d5iY3hX8pQk0c7rN2wB4vLc="


def test_production_refuses_to_start_without_an_encryption_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ENCRYPTION_KEYS"):
        Settings.from_env({"INSTANCE_DIR": str(tmp_path), "JWT_SECRET": "s" * 40})


def test_development_makes_its_own_encryption_key(tmp_path: Path) -> None:
    env = {"APP_ENV": "development", "INSTANCE_DIR": str(tmp_path)}
    first, second = Settings.from_env(env), Settings.from_env(env)
    assert len(first.encryption_keys) == 1 and first.encryption_keys == second.encryption_keys
    keys = Settings.from_env({**env, "ENCRYPTION_KEYS": f"{GIFT_KEY}, old-key "}).encryption_keys
    assert keys == (GIFT_KEY, "old-key")


HASHING = {"ERASURE_SALTS": "e" * 64, "FINGERPRINT_KEYS": "f" * 64}  # required in production


def test_production_starts_with_a_secret(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "INSTANCE_DIR": str(tmp_path),
            "JWT_SECRET": "s" * 40,
            "ENCRYPTION_KEYS": GIFT_KEY,
            **HASHING,
        }
    )
    assert settings.environment == "production"
    assert settings.jwt_secret == "s" * 40
    assert "s" * 40 not in repr(settings)  # secrets never show in a repr (or a log)
    assert GIFT_KEY not in repr(settings)
    assert "e" * 64 not in repr(settings) and "f" * 64 not in repr(settings)


def test_development_secret_is_random_and_shared_by_every_process(tmp_path: Path) -> None:
    env = {"APP_ENV": "development", "INSTANCE_DIR": str(tmp_path)}
    first, second = Settings.from_env(env), Settings.from_env(env)
    assert first.jwt_secret and len(first.jwt_secret) >= 40
    assert first.jwt_secret == second.jwt_secret
    other = Settings.from_env({"APP_ENV": "development", "INSTANCE_DIR": str(tmp_path / "b")})
    assert other.jwt_secret != first.jwt_secret
    assert (tmp_path / "dev-jwt-secret").stat().st_mode & 0o077 == 0


def test_rs256_is_chosen_by_a_public_key(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "INSTANCE_DIR": str(tmp_path),
            "JWT_PUBLIC_KEY": "pem",
            "ENCRYPTION_KEYS": GIFT_KEY,
            **HASHING,
        }
    )
    assert settings.jwt_algorithm == "RS256"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql://u@h:5432/db", "postgresql+psycopg://u@h:5432/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_database_urls_use_psycopg3(tmp_path: Path, given: str, expected: str) -> None:
    env = {"APP_ENV": "test", "INSTANCE_DIR": str(tmp_path), "DATABASE_URL": given}
    assert Settings.from_env(env).database_url == expected


@pytest.mark.parametrize(
    ("name", "value"),
    [("APP_ENV", "staging"), ("PORT", "eighty"), ("SQL_ECHO", "maybe")],
)
def test_unusable_values_name_the_variable(tmp_path: Path, name: str, value: str) -> None:
    env = {"APP_ENV": "development", "INSTANCE_DIR": str(tmp_path), name: value}
    with pytest.raises(ConfigError, match=name):
        Settings.from_env(env)


def test_settings_are_read_from_the_given_mapping_not_import_time(tmp_path: Path) -> None:
    env = {
        "APP_ENV": "test",
        "INSTANCE_DIR": str(tmp_path),
        "REDIS_URL": "redis://example:6379/3",
        "PORT": "9001",
        "WEB_CONCURRENCY": "3",
    }
    settings = Settings.from_env(env)
    assert settings.redis_url == "redis://example:6379/3"
    assert not settings.redis_is_embedded
    assert settings.port == 9001
    assert settings.web_worker_count() == 3
