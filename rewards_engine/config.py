"""Settings read from the environment, once, by whoever starts a process.

Nothing reads ``os.environ`` at import time: the app factory, the CLI and the tests
each build a :class:`Settings` and pass it down, so a test can run two differently
configured apps in one process.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

ENVIRONMENTS = ("development", "test", "production")
EMBEDDED = "embedded"


class ConfigError(RuntimeError):
    """The configuration is unusable; the message says which variable to set."""


API_NEEDS = frozenset({"tokens", "encryption", "hashing"})  # what serving the API needs
NO_ENCRYPTION_KEY = (
    "ENCRYPTION_KEYS is not set: give one Fernet key (python -c 'from "
    "cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
)


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def secret(env: Mapping[str, str], name: str) -> str | None:
    """A secret from ``NAME`` or from the file ``NAME_FILE`` names (the Docker and
    Kubernetes secrets convention: the value never sits in the process environment).
    Both set is refused, naming the variable, rather than one silently winning; the
    file's trailing newline is dropped. The value never appears in a message."""
    value = env.get(name) or None
    path = env.get(f"{name}_FILE") or None
    if value is not None and path is not None:
        raise ConfigError(f"{name} and {name}_FILE are both set: set one of them")
    if path is None:
        return value
    try:
        text = Path(path).read_text().strip()
    except OSError as exc:
        raise ConfigError(f"{name}_FILE names a file that cannot be read: {exc.strerror}") from exc
    if not text:
        raise ConfigError(f"{name}_FILE names an empty file ({path})")
    return text


def secret_list(env: Mapping[str, str], name: str, single: str | None = None) -> tuple[str, ...]:
    """Comma-separated secrets, newest first (``ERASURE_SALTS``, ``FINGERPRINT_KEYS``,
    ``ENCRYPTION_KEYS``), each from the environment or a file; ``single`` is the
    singular spelling (``ERASURE_SALT``), accepted when the plural is unset."""
    raw = secret(env, name)
    if single is not None:
        one = secret(env, single)
        if raw is not None and one is not None:
            raise ConfigError(f"{name} and {single} are both set: set one of them")
        raw = raw if raw is not None else one
    return tuple(part.strip() for part in (raw or "").split(",") if part.strip())


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whichever spelling the operator used."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@dataclass(frozen=True)
class PayPalSettings:
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    mode: str = "sandbox"
    endpoint: str | None = None
    webhook_id: str | None = None
    timeout_s: float = 30.0  # the SDK sets none: a hung call would hang the job

    @property
    def configured(self) -> bool:
        return bool(self.client_id and self.client_secret)


@dataclass(frozen=True)
class TremendousSettings:
    """Gift cards ordered from Tremendous (docs/rewards.md). Unset: the code inventory
    is the only source and items with ``provider = "tremendous"`` are not offered."""

    api_key: str | None = field(default=None, repr=False)
    base_url: str = "https://testflight.tremendous.com/api/v2"  # the sandbox
    funding_source_id: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    timeout_s: float = 30.0
    retry_after_s: int = 600  # an unanswered order is ordered again (same id) after this
    max_attempts: int = 5  # order calls for one redemption before it is left to support

    @property
    def configured(self) -> bool:
        return bool(self.api_key and self.funding_source_id)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TremendousSettings:
        """The ``TREMENDOUS_*`` variables. The API key and the funding source go
        together: one without the other is refused at start, naming the missing one,
        rather than the provider's items silently not offered."""
        api_key = secret(env, "TREMENDOUS_API_KEY")
        funding = env.get("TREMENDOUS_FUNDING_SOURCE_ID") or None
        if bool(api_key) != bool(funding):
            missing = "TREMENDOUS_FUNDING_SOURCE_ID" if api_key else "TREMENDOUS_API_KEY"
            raise ConfigError(f"{missing} is not set: Tremendous needs both it and the other")
        return cls(
            api_key=api_key,
            base_url=(env.get("TREMENDOUS_BASE_URL") or cls.base_url).rstrip("/"),
            funding_source_id=funding,
            webhook_secret=secret(env, "TREMENDOUS_WEBHOOK_SECRET"),
            timeout_s=float(_int(env, "TREMENDOUS_TIMEOUT_S", 30)),
            retry_after_s=max(_int(env, "TREMENDOUS_RETRY_AFTER_S", 600), 60),
            max_attempts=max(_int(env, "TREMENDOUS_MAX_ATTEMPTS", 5), 1),
        )


@dataclass(frozen=True)
class UploadSettings:
    """Where donated videos go and how long a claim waits for its video."""

    storage_url: str = ""  # empty: a folder in the instance directory (docs/storage.md)
    public_url: str = ""  # how apps reach this server; empty: http://HOST:PORT
    claim_expiry_hours: int = 24
    max_bytes: int = 1024**3  # one video
    verify_batch: int = 20  # claims one verification run takes
    verify_lease_s: int = 600  # a killed verification frees its claims after this


@dataclass(frozen=True)
class StripeSettings:
    api_key: str | None = field(default=None, repr=False)
    webhook_secret: str | None = field(default=None, repr=False)
    api_base: str | None = None
    timeout_s: float = 30.0

    @property
    def configured(self) -> bool:
        return bool(self.api_key)


@dataclass(frozen=True)
class PushSettings:
    """Push to phones (docs/push.md): FCM, APNs, or neither (push off; the inbox works)."""

    fcm_service_account_file: str | None = None  # its JSON names the project and token URI
    fcm_endpoint: str = "https://fcm.googleapis.com"
    apns_key_file: str | None = None  # the .p8 signing key (ES256)
    apns_key_id: str | None = None
    apns_team_id: str | None = None
    apns_topic: str | None = None  # the app's bundle id
    apns_endpoint: str = "https://api.push.apple.com"
    daily_cap: int = 10  # pushes a donor gets a day (their local day); 0: no cap
    quiet_hours: str = "22:00-08:00"  # local, for donors who set none; "off": none
    stale_hours: int = 12  # older notifications are not pushed (they stay in the inbox)
    max_attempts: int = 5
    batch: int = 200  # deliveries one run takes
    lease_s: int = 60  # a killed run's deliveries are taken again after this
    timeout_s: float = 10.0

    @property
    def fcm_configured(self) -> bool:
        return bool(self.fcm_service_account_file)

    @property
    def apns_configured(self) -> bool:
        return bool(self.apns_key_file and self.apns_key_id and self.apns_team_id)

    @property
    def configured(self) -> bool:
        return self.fcm_configured or self.apns_configured

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PushSettings:
        from rewards_engine.domain.push import parse_quiet_hours

        default = cls()
        try:
            parse_quiet_hours(env.get("PUSH_QUIET_HOURS", default.quiet_hours))
        except ValueError as exc:
            raise ConfigError(f"PUSH_QUIET_HOURS must be HH:MM-HH:MM or off: {exc}") from exc
        return cls(
            fcm_service_account_file=env.get("FCM_SERVICE_ACCOUNT_FILE") or None,
            fcm_endpoint=(env.get("FCM_ENDPOINT") or default.fcm_endpoint).rstrip("/"),
            apns_key_file=env.get("APNS_KEY_FILE") or None,
            apns_key_id=env.get("APNS_KEY_ID") or None,
            apns_team_id=env.get("APNS_TEAM_ID") or None,
            apns_topic=env.get("APNS_TOPIC") or None,
            apns_endpoint=(env.get("APNS_ENDPOINT") or default.apns_endpoint).rstrip("/"),
            daily_cap=max(_int(env, "PUSH_DAILY_CAP", default.daily_cap), 0),
            quiet_hours=env.get("PUSH_QUIET_HOURS", default.quiet_hours),
            stale_hours=max(_int(env, "PUSH_STALE_HOURS", default.stale_hours), 1),
            max_attempts=max(_int(env, "PUSH_MAX_ATTEMPTS", default.max_attempts), 1),
            batch=max(_int(env, "PUSH_BATCH", default.batch), 1),
            lease_s=max(_int(env, "PUSH_LEASE_S", default.lease_s), 15),
            timeout_s=float(max(_int(env, "PUSH_TIMEOUT_S", 10), 1)),
        )


@dataclass(frozen=True)
class RateLimits:
    """Requests a minute; 0 turns a limit off (``RATE_LIMITS=off`` turns all off)."""

    submissions_per_donor: int = 60  # calls, each of up to 500 clips
    redemptions_per_donor: int = 10
    sign_ins_per_address: int = 10  # console sign-in attempts
    bad_tokens_per_address: int = 30  # refused bearer tokens: guessing stops at 429

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RateLimits:
        if (env.get("RATE_LIMITS") or "").lower() in ("off", "0", "false", "no"):
            return cls(0, 0, 0, 0)
        default = cls()
        return cls(
            submissions_per_donor=_int(
                env, "RATE_LIMIT_SUBMISSIONS", default.submissions_per_donor
            ),
            redemptions_per_donor=_int(
                env, "RATE_LIMIT_REDEMPTIONS", default.redemptions_per_donor
            ),
            sign_ins_per_address=_int(env, "RATE_LIMIT_SIGN_INS", default.sign_ins_per_address),
            bad_tokens_per_address=_int(
                env, "RATE_LIMIT_BAD_TOKENS", default.bad_tokens_per_address
            ),
        )


@dataclass(frozen=True)
class StreamSettings:
    """The live event stream (``GET /v1/me/events``, docs/notifications.md): its own
    process beside the API (``rewards-engine streams``, started by ``serve``)."""

    port: int = 0  # 0: the API's PORT + 1
    heartbeat_s: int = 15  # an SSE comment this often keeps proxies from closing a stream
    per_donor: int = 3  # open streams a donor may hold at once (the next one: 429)
    catch_up_s: int = 30  # each stream reads the database this often, signal or not
    standing_s: int = 30  # how often the board's revision is checked: each move, a read a stream
    max_streams: int = 5_000  # streams one stream process holds (the next one: 503)

    def port_for(self, api_port: int) -> int:
        return self.port or api_port + 1

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> StreamSettings:
        default = cls()
        return cls(
            port=max(_int(env, "STREAM_PORT", default.port), 0),
            heartbeat_s=max(_int(env, "STREAM_HEARTBEAT_S", default.heartbeat_s), 1),
            per_donor=max(_int(env, "STREAM_MAX_PER_DONOR", default.per_donor), 1),
            catch_up_s=max(_int(env, "STREAM_CATCH_UP_S", default.catch_up_s), 1),
            standing_s=max(_int(env, "STREAM_STANDING_S", default.standing_s), 1),
            max_streams=max(_int(env, "STREAM_MAX_CONNECTIONS", default.max_streams), 1),
        )


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
        payout_timeout = float(_int(env, "PAYOUT_TIMEOUT_S", 30))
        settings = cls(
            environment=environment,
            instance_dir=instance_dir,
            database_url=normalise_database_url(database_url),
            redis_url=secret(env, "REDIS_URL") or EMBEDDED,
            redis_namespace=env.get("REDIS_NAMESPACE") or "rewards",
            redis_budget_ms=max(_int(env, "REDIS_BUDGET_MS", 300), 1),
            redis_breaker_failures=max(_int(env, "REDIS_BREAKER_FAILURES", 3), 1),
            redis_breaker_open_s=float(max(_int(env, "REDIS_BREAKER_OPEN_S", 5), 0)),
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
            console_idle_minutes=max(_int(env, "CONSOLE_IDLE_MINUTES", 30), 1),
            gift_cards_auto_fulfil=_bool(env, "GIFT_CARDS_AUTO_FULFIL", True),
            payout_minimum_cents=_int(env, "PAYOUT_MINIMUM_CENTS", 1000),
            payout_cooling_off_hours=_int(env, "PAYOUT_COOLING_OFF_HOURS", 72),
            payout_id_prefix=env.get("PAYOUT_ID_PREFIX") or "rewards",
            erasure_keeps_hashes=_bool(env, "ERASURE_KEEP_HASHES", True),
            notification_retention_days=max(_int(env, "NOTIFICATION_RETENTION_DAYS", 90), 1),
            medal_art_base_url=env.get("MEDAL_ART_BASE_URL") or "",
            fixtures_dir=Path(env.get("FIXTURES_DIR") or PROJECT_ROOT / "fixtures"),
            host=env.get("HOST") or "127.0.0.1",
            port=_int(env, "PORT", 8000),
            web_workers=_int(env, "WEB_CONCURRENCY", 0),
            log_level=(env.get("LOG_LEVEL") or "INFO").upper(),
            sql_echo=_bool(env, "SQL_ECHO", False),
            rate_limits=RateLimits.from_env(env),
            trusted_proxies=_int(env, "TRUSTED_PROXIES", 0),
            cors_origins=tuple(
                origin.strip().rstrip("/")
                for origin in (env.get("CORS_ORIGINS") or "").split(",")
                if origin.strip()
            ),
            streams=StreamSettings.from_env(env),
            job_lease_s=float(_int(env, "JOB_LEASE_S", 30)),
            database_lock_timeout_ms=_int(env, "DATABASE_LOCK_TIMEOUT_MS", 5_000),
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
                claim_expiry_hours=max(_int(env, "CLAIM_EXPIRY_HOURS", 24), 1),
                max_bytes=max(_int(env, "UPLOAD_MAX_BYTES", 1024**3), 1),
                verify_batch=max(_int(env, "VERIFY_BATCH", 20), 1),
                verify_lease_s=max(_int(env, "VERIFY_LEASE_S", 600), 30),
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
        key = development_secret(self.instance_dir, "dev-encryption-key", _fernet_key)
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
            or (development_secret(self.instance_dir, "dev-erasure-salt", _hex_secret),),
            fingerprint_keys=self.fingerprint_keys
            or (development_secret(self.instance_dir, "dev-fingerprint-key", _hex_secret),),
        )

    def with_console_secret(self) -> Settings:
        """Development signs console sessions with a generated secret; production must
        set CONSOLE_SECRET, or the support console stays closed (the API is unaffected)."""
        if self.console_secret or not self.is_development:
            return self
        return replace(self, console_secret=development_secret(self.instance_dir, "dev-console"))

    def web_worker_count(self) -> int:
        return self.web_workers or max(2, (os.cpu_count() or 1) * 2)


def _hex_secret() -> str:
    return secrets.token_hex(32)


def _fernet_key() -> str:
    from rewards_engine.crypto import generate_key

    return generate_key()


def development_secret(
    instance_dir: Path,
    name: str = "dev-jwt-secret",
    make: Callable[[], str] = lambda: secrets.token_urlsafe(48),
) -> str:
    """A per-installation random secret, created once and shared by its processes."""
    instance_dir.mkdir(parents=True, exist_ok=True)
    path = instance_dir / name
    if not path.exists():
        draft = instance_dir / f".{name}.{os.getpid()}"
        draft.write_text(make())
        draft.chmod(0o600)
        try:
            os.link(draft, path)  # atomic: the first process to link wins
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()
