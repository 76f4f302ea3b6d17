"""Settings read from the environment, once, by whoever starts a process.

Nothing reads ``os.environ`` at import time: the app factory, the CLI and the tests
each build a :class:`Settings` and pass it down, so a test can run two differently
configured apps in one process. The groups of one concern each (providers, pushes,
limits, streams) live in rewards_engine.settings_groups and the secrets' sources in
rewards_engine.secret_sources; both are re-exported here, so settings are imported from
one place.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from rewards_engine.secret_sources import ConfigError as ConfigError
from rewards_engine.secret_sources import (
    development_secret,
    fernet_key,
    hex_secret,
    secret,
    secret_list,
)
from rewards_engine.settings_groups import PayPalSettings as PayPalSettings
from rewards_engine.settings_groups import PushSettings as PushSettings
from rewards_engine.settings_groups import RateLimits as RateLimits
from rewards_engine.settings_groups import StreamSettings as StreamSettings
from rewards_engine.settings_groups import StripeSettings as StripeSettings
from rewards_engine.settings_groups import TremendousSettings as TremendousSettings
from rewards_engine.settings_groups import UploadSettings as UploadSettings
from rewards_engine.settings_groups import env_bool, env_int

PROJECT_ROOT = Path(__file__).resolve().parent.parent

ENVIRONMENTS = ("development", "test", "production")
EMBEDDED = "embedded"


API_NEEDS = frozenset({"tokens", "encryption", "hashing"})  # what serving the API needs
NO_ENCRYPTION_KEY = (
    "ENCRYPTION_KEYS is not set: give one Fernet key (python -c 'from "
    "cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
)


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whichever spelling the operator used."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@dataclass(frozen=True)
class Settings:
    """Everything a process of the engine needs to know about its installation."""

    environment: str = "production"
    instance_dir: Path = PROJECT_ROOT / "instance"
    database_url: str = ""
    redis_url: str = EMBEDDED
    redis_namespace: str = "rewards"
    redis_budget_ms: int = 300  # a request's total Redis time, retries included
    redis_breaker_failures: int = 3  # consecutive Redis timeouts that open the breaker
    redis_breaker_open_s: float = 5.0  # how long an open breaker skips Redis
    jwt_secret: str | None = field(default=None, repr=False)
    jwt_public_key: str | None = field(default=None, repr=False)
    jwt_private_key: str | None = field(default=None, repr=False)
    jwt_audience: str | None = None
    encryption_keys: tuple[str, ...] = field(default=(), repr=False)
    # Newest first: the first salts (and fingerprints) what is written, all are matched.
    erasure_salts: tuple[str, ...] = field(default=(), repr=False)
    fingerprint_keys: tuple[str, ...] = field(default=(), repr=False)  # "legacy": docs
    # The device cloud's public keys (a JWKS, or its file): camera attestations.
    device_attestation_keys: str | None = None
    device_attestation_audience: str = "rewards-engine"
    device_attestation_issuer: str | None = None
    console_secret: str | None = field(default=None, repr=False)  # signs console sessions
    console_idle_minutes: int = 30  # a console session unused this long ends (issue 24)
    gift_cards_auto_fulfil: bool = True
    payout_minimum_cents: int = 1000
    payout_cooling_off_hours: int = 72
    payout_id_prefix: str = "rewards"
    notification_retention_days: int = 90
    medal_art_base_url: str = ""  # a CDN holding fixtures/medal-art; default: served here
    erasure_keeps_hashes: bool = True  # keep salted content hashes: erased clips are not paid twice
    fixtures_dir: Path = PROJECT_ROOT / "fixtures"
    host: str = "127.0.0.1"
    port: int = 8000
    web_workers: int = 0
    log_level: str = "INFO"
    sql_echo: bool = False
    rate_limits: RateLimits = field(default_factory=RateLimits)
    job_lease_s: float = 30.0  # a killed job run blocks the job for at most this long
    database_lock_timeout_ms: int = 5_000  # PostgreSQL: longest wait for a row lock
    trusted_proxies: int = 0  # proxies in front whose X-Forwarded-* headers are believed
    cors_origins: tuple[str, ...] = ()  # web origins that may call the API (none by default)
    streams: StreamSettings = field(default_factory=StreamSettings)
    paypal: PayPalSettings = field(default_factory=PayPalSettings)
    stripe: StripeSettings = field(default_factory=StripeSettings)
    tremendous: TremendousSettings = field(default_factory=TremendousSettings)
    uploads: UploadSettings = field(default_factory=UploadSettings)
    push: PushSettings = field(default_factory=PushSettings)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, needs: Collection[str] = API_NEEDS
    ) -> Settings:
        """Read the settings; raise :class:`ConfigError` for anything unusable.

        ``needs`` names the secrets this process cannot do without (``tokens``,
        ``encryption``, ``hashing``: the erasure salt and the fingerprint key): the API
        needs all three; a command such as ``ledger verify`` needs
        neither and runs without them (whatever later wants a missing one, the vault
        for instance, says which variable to set)."""
        env = os.environ if environ is None else environ
        environment = env.get("APP_ENV", "production").lower()
        if environment not in ENVIRONMENTS:
            raise ConfigError(f"APP_ENV must be one of {', '.join(ENVIRONMENTS)}")
        instance_dir = Path(env.get("INSTANCE_DIR") or PROJECT_ROOT / "instance").resolve()
        # URLs may hold a password: they too can come from a file
        database_url = secret(env, "DATABASE_URL") or f"sqlite:///{instance_dir / 'rewards.db'}"
        payout_timeout = float(env_int(env, "PAYOUT_TIMEOUT_S", 30))
        settings = cls(
            environment=environment,
            instance_dir=instance_dir,
            database_url=normalise_database_url(database_url),
            redis_url=secret(env, "REDIS_URL") or EMBEDDED,
            redis_namespace=env.get("REDIS_NAMESPACE") or "rewards",
            redis_budget_ms=max(env_int(env, "REDIS_BUDGET_MS", 300), 1),
            redis_breaker_failures=max(env_int(env, "REDIS_BREAKER_FAILURES", 3), 1),
            redis_breaker_open_s=float(max(env_int(env, "REDIS_BREAKER_OPEN_S", 5), 0)),
            jwt_secret=secret(env, "JWT_SECRET"),
            jwt_public_key=secret(env, "JWT_PUBLIC_KEY"),
            jwt_private_key=secret(env, "JWT_PRIVATE_KEY"),
            jwt_audience=env.get("JWT_AUDIENCE") or None,
            encryption_keys=secret_list(env, "ENCRYPTION_KEYS"),
            erasure_salts=secret_list(env, "ERASURE_SALTS", "ERASURE_SALT"),
            fingerprint_keys=secret_list(env, "FINGERPRINT_KEYS", "FINGERPRINT_KEY"),
            device_attestation_keys=env.get("DEVICE_ATTESTATION_KEYS") or None,
            device_attestation_audience=env.get("DEVICE_ATTESTATION_AUDIENCE") or "rewards-engine",
            device_attestation_issuer=env.get("DEVICE_ATTESTATION_ISSUER") or None,
            console_secret=secret(env, "CONSOLE_SECRET"),
            console_idle_minutes=max(env_int(env, "CONSOLE_IDLE_MINUTES", 30), 1),
            gift_cards_auto_fulfil=env_bool(env, "GIFT_CARDS_AUTO_FULFIL", True),
            payout_minimum_cents=env_int(env, "PAYOUT_MINIMUM_CENTS", 1000),
            payout_cooling_off_hours=env_int(env, "PAYOUT_COOLING_OFF_HOURS", 72),
            payout_id_prefix=env.get("PAYOUT_ID_PREFIX") or "rewards",
            erasure_keeps_hashes=env_bool(env, "ERASURE_KEEP_HASHES", True),
            notification_retention_days=max(env_int(env, "NOTIFICATION_RETENTION_DAYS", 90), 1),
            medal_art_base_url=env.get("MEDAL_ART_BASE_URL") or "",
            fixtures_dir=Path(env.get("FIXTURES_DIR") or PROJECT_ROOT / "fixtures"),
            host=env.get("HOST") or "127.0.0.1",
            port=env_int(env, "PORT", 8000),
            web_workers=env_int(env, "WEB_CONCURRENCY", 0),
            log_level=(env.get("LOG_LEVEL") or "INFO").upper(),
            sql_echo=env_bool(env, "SQL_ECHO", False),
            rate_limits=RateLimits.from_env(env),
            trusted_proxies=env_int(env, "TRUSTED_PROXIES", 0),
            cors_origins=tuple(
                origin.strip().rstrip("/")
                for origin in (env.get("CORS_ORIGINS") or "").split(",")
                if origin.strip()
            ),
            streams=StreamSettings.from_env(env),
            job_lease_s=float(env_int(env, "JOB_LEASE_S", 30)),
            database_lock_timeout_ms=env_int(env, "DATABASE_LOCK_TIMEOUT_MS", 5_000),
            paypal=PayPalSettings(
                client_id=secret(env, "PAYPAL_CLIENT_ID"),
                client_secret=secret(env, "PAYPAL_CLIENT_SECRET"),
                mode=env.get("PAYPAL_MODE") or "sandbox",
                endpoint=env.get("PAYPAL_ENDPOINT") or None,
                webhook_id=env.get("PAYPAL_WEBHOOK_ID") or None,
                timeout_s=payout_timeout,
            ),
            stripe=StripeSettings(
                api_key=secret(env, "STRIPE_API_KEY"),
                webhook_secret=secret(env, "STRIPE_WEBHOOK_SECRET"),
                api_base=env.get("STRIPE_API_BASE") or None,
                timeout_s=payout_timeout,
            ),
            tremendous=TremendousSettings.from_env(env),
            uploads=UploadSettings(
                storage_url=env.get("STORAGE_URL") or "",
                public_url=(env.get("PUBLIC_URL") or "").rstrip("/"),
                claim_expiry_hours=max(env_int(env, "CLAIM_EXPIRY_HOURS", 24), 1),
                max_bytes=max(env_int(env, "UPLOAD_MAX_BYTES", 1024**3), 1),
                verify_batch=max(env_int(env, "VERIFY_BATCH", 20), 1),
                verify_lease_s=max(env_int(env, "VERIFY_LEASE_S", 600), 30),
            ),
            push=PushSettings.from_env(env),
        )
        if "tokens" in needs or settings.is_development:
            settings = settings.with_jwt_defaults()
        if "encryption" in needs or settings.is_development:
            settings = settings.with_encryption_key()
        if "hashing" in needs or settings.is_development:
            settings = settings.with_hashing_secrets()
        return settings.with_console_secret()

    @property
    def is_development(self) -> bool:
        return self.environment in ("development", "test")

    @property
    def public_url(self) -> str:
        """How apps reach this server (upload URLs of the embedded store, video links)."""
        return self.uploads.public_url or f"http://{self.host}:{self.port}"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def redis_is_embedded(self) -> bool:
        return self.redis_url == EMBEDDED

    @property
    def jwt_algorithm(self) -> str:
        return "RS256" if self.jwt_public_key else "HS256"

    def with_jwt_defaults(self) -> Settings:
        """Refuse to run without a signing key, except in development.

        In development the key is a random secret kept in the instance folder, so
        that every worker, the scheduler and ``issue-token`` agree on it without a
        well-known secret ever being shipped in the code.
        """
        if self.jwt_secret or self.jwt_public_key:
            return self
        if not self.is_development:
            raise ConfigError(
                "JWT_SECRET (or JWT_PUBLIC_KEY) is not set; set one, or set "
                "APP_ENV=development to use a generated development secret"
            )
        return replace(self, jwt_secret=development_secret(self.instance_dir))

    def with_encryption_key(self) -> Settings:
        """Gift-card codes and payout destinations are encrypted; development makes a key,
        production must be given one (losing it loses every code in stock)."""
        if self.encryption_keys:
            return self
        if not self.is_development:
            raise ConfigError(NO_ENCRYPTION_KEY)
        key = development_secret(self.instance_dir, "dev-encryption-key", fernet_key)
        return replace(self, encryption_keys=(key,))

    def with_hashing_secrets(self) -> Settings:
        """The erasure salt and the fingerprint key: production must be given both (a
        salt lost or changed makes every kept hash of erased data unmatchable; a
        fingerprint key changed stops duplicate codes and shared payout destinations
        being found); development generates them in the instance folder."""
        missing = [
            name
            for name, value in (
                ("ERASURE_SALTS", self.erasure_salts),
                ("FINGERPRINT_KEYS", self.fingerprint_keys),
            )
            if not value
        ]
        if missing and not self.is_development:
            raise ConfigError(
                f"{' and '.join(missing)} not set: give each a random value (python -c "
                "'import secrets; print(secrets.token_hex(32))'); an installation "
                "upgraded from before them: see docs/operations.md, Secrets (its "
                "erasure salt is in the database: `rewards-engine secrets "
                "export-erasure-salt`; FINGERPRINT_KEYS=legacy keeps its fingerprints)"
            )
        return replace(
            self,
            erasure_salts=self.erasure_salts
            or (development_secret(self.instance_dir, "dev-erasure-salt", hex_secret),),
            fingerprint_keys=self.fingerprint_keys
            or (development_secret(self.instance_dir, "dev-fingerprint-key", hex_secret),),
        )

    def with_console_secret(self) -> Settings:
        """Development signs console sessions with a generated secret; production must
        set CONSOLE_SECRET, or the support console stays closed (the API is unaffected)."""
        if self.console_secret or not self.is_development:
            return self
        return replace(self, console_secret=development_secret(self.instance_dir, "dev-console"))

    def web_worker_count(self) -> int:
        return self.web_workers or max(2, (os.cpu_count() or 1) * 2)
