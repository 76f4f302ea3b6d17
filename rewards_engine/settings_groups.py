"""The settings of one concern each (a provider, pushes, rate limits, live streams),
read from the environment; rewards_engine.config gathers them into ``Settings``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from rewards_engine.secret_sources import ConfigError, secret


def env_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


def env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


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
            timeout_s=float(env_int(env, "TREMENDOUS_TIMEOUT_S", 30)),
            retry_after_s=max(env_int(env, "TREMENDOUS_RETRY_AFTER_S", 600), 60),
            max_attempts=max(env_int(env, "TREMENDOUS_MAX_ATTEMPTS", 5), 1),
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
            daily_cap=max(env_int(env, "PUSH_DAILY_CAP", default.daily_cap), 0),
            quiet_hours=env.get("PUSH_QUIET_HOURS", default.quiet_hours),
            stale_hours=max(env_int(env, "PUSH_STALE_HOURS", default.stale_hours), 1),
            max_attempts=max(env_int(env, "PUSH_MAX_ATTEMPTS", default.max_attempts), 1),
            batch=max(env_int(env, "PUSH_BATCH", default.batch), 1),
            lease_s=max(env_int(env, "PUSH_LEASE_S", default.lease_s), 15),
            timeout_s=float(max(env_int(env, "PUSH_TIMEOUT_S", 10), 1)),
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
            submissions_per_donor=env_int(
                env, "RATE_LIMIT_SUBMISSIONS", default.submissions_per_donor
            ),
            redemptions_per_donor=env_int(
                env, "RATE_LIMIT_REDEMPTIONS", default.redemptions_per_donor
            ),
            sign_ins_per_address=env_int(env, "RATE_LIMIT_SIGN_INS", default.sign_ins_per_address),
            bad_tokens_per_address=env_int(
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
            port=max(env_int(env, "STREAM_PORT", default.port), 0),
            heartbeat_s=max(env_int(env, "STREAM_HEARTBEAT_S", default.heartbeat_s), 1),
            per_donor=max(env_int(env, "STREAM_MAX_PER_DONOR", default.per_donor), 1),
            catch_up_s=max(env_int(env, "STREAM_CATCH_UP_S", default.catch_up_s), 1),
            standing_s=max(env_int(env, "STREAM_STANDING_S", default.standing_s), 1),
            max_streams=max(env_int(env, "STREAM_MAX_CONNECTIONS", default.max_streams), 1),
        )
