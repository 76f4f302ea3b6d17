"""The wiring of one process: settings, database, Redis and clock, built once.

The app factory, the CLI, the scheduler and the tests each get a :class:`Runtime` from
``bootstrap.build_runtime`` and hand it to the services; nothing is created at import
time.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, TypeVar, cast

import redis

from rewards_engine.attestations import AttestationVerifier, verifier_for
from rewards_engine.clock import Clock, SystemClock
from rewards_engine.config import Settings
from rewards_engine.crypto import Vault
from rewards_engine.db import Database, UnitOfWork
from rewards_engine.providers.manual import ManualProvider
from rewards_engine.providers.payouts import PayoutProvider
from rewards_engine.redis_client import CircuitBreaker, connect_redis
from rewards_engine.redis_server import EmbeddedRedis

if TYPE_CHECKING:
    from rewards_engine.providers.gift_cards import GiftCardOrders
    from rewards_engine.providers.push import PushSender
    from rewards_engine.providers.storage import VideoStore

log = logging.getLogger(__name__)
T = TypeVar("T")
CommitHandler = Callable[["Runtime", list[object]], None]
CommitPreparer = Callable[["Runtime", UnitOfWork], None]


def manual_rail_only(_settings: Settings) -> Mapping[str, PayoutProvider]:
    return {"manual": ManualProvider()}


def no_push_platform(_settings: Settings) -> Mapping[str, PushSender]:
    """Push is off unless the bootstrap names the configured platforms."""
    return {}


def no_gift_card_provider(_settings: Settings) -> Mapping[str, GiftCardOrders]:
    """Gift cards come from the code inventory unless the bootstrap names a provider."""
    return {}


def redis_url_for(settings: Settings) -> str:
    """The URL to connect to, starting the embedded server when that is the default."""
    if settings.redis_is_embedded:
        embedded = EmbeddedRedis(settings.instance_dir)
        embedded.ensure_running()
        return embedded.url
    return settings.redis_url


@dataclass
class Runtime:
    """What a process shares between requests and jobs: settings, clock, database,
    Redis, vault. Built by ``bootstrap.build_runtime``, which says who hears committed
    events (``commit_handlers``, with ``commit_preparers`` reading what they need in the
    transaction before its commit), which payout rails exist (``payout_rails``), where
    videos are kept (``video_stores``) and which phone platforms are pushed to
    (``push_platforms``)."""

    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    commit_handlers: Sequence[CommitHandler] = ()
    commit_preparers: Sequence[CommitPreparer] = ()
    payout_rails: Callable[[Settings], Mapping[str, PayoutProvider]] = manual_rail_only
    video_stores: Callable[[Settings, Clock], VideoStore] | None = None
    push_platforms: Callable[[Settings], Mapping[str, PushSender]] = no_push_platform
    gift_card_providers: Callable[[Settings], Mapping[str, GiftCardOrders]] = no_gift_card_provider
    _extensions: dict[str, object] = field(default_factory=dict, repr=False)

    @cached_property
    def db(self) -> Database:
        database = Database(
            self.settings.database_url,
            echo=self.settings.sql_echo,
            lock_timeout_ms=self.settings.database_lock_timeout_ms,
            # every session carries the erasure salts (services.installation), where
            # the data files are (services.approvals reads approvals.toml there) and the
            # process's ledger account ids (services.ledger_accounts), one shared dict
            session_info={
                "erasure_salts": self.hashing_secrets.erasure_salts,
                "fixtures_dir": self.settings.fixtures_dir,
                "ledger_account_ids": {},
            },
        )
        for preparer in self.commit_preparers:
            database.before_commit(functools.partial(preparer, self))
        for handler in self.commit_handlers:
            database.subscribe(functools.partial(handler, self))
        return database

    @cached_property
    def redis_url(self) -> str:
        return redis_url_for(self.settings)

    @cached_property
    def redis_breaker(self) -> CircuitBreaker:
        """This process's circuit breaker in front of Redis (see ``redis_client``)."""
        return CircuitBreaker(
            self.settings.redis_breaker_failures, self.settings.redis_breaker_open_s
        )

    @cached_property
    def redis(self) -> redis.Redis:
        return connect_redis(self.redis_url, self.redis_breaker)

    @cached_property
    def payout_providers(self) -> Mapping[str, PayoutProvider]:
        """The payout rails by name, built once per process."""
        return self.payout_rails(self.settings)

    @cached_property
    def gift_card_orders(self) -> Mapping[str, GiftCardOrders]:
        """The gift-card providers that order cards on demand, by name (Tremendous
        where TREMENDOUS_API_KEY and TREMENDOUS_FUNDING_SOURCE_ID are set)."""
        return self.gift_card_providers(self.settings)

    @cached_property
    def video_store(self) -> VideoStore:
        """Where donated videos are uploaded and kept (``STORAGE_URL``)."""
        if self.video_stores is None:
            raise RuntimeError("no video store: build the runtime with bootstrap.build_runtime")
        return self.video_stores(self.settings, self.clock)

    @cached_property
    def push_senders(self) -> Mapping[str, PushSender]:
        """The push providers by platform (``fcm``, ``apns``), built once per process:
        each keeps its connection and its access token between runs."""
        return self.push_platforms(self.settings)

    @cached_property
    def attestations(self) -> AttestationVerifier | None:
        """Verifies the device cloud's camera attestations (DEVICE_ATTESTATION_KEYS);
        None where none is configured."""
        return verifier_for(self.settings)

    @cached_property
    def hashing_secrets(self) -> Settings:
        """The settings with the erasure salts and fingerprint keys: as configured, or
        (development, test) generated in the instance folder as ``Settings.from_env``
        does, so that a runtime built from hand-made settings agrees with the commands.
        Production settings without them fail where they are used, naming the variable."""
        settings = self.settings
        if settings.is_development and not (settings.erasure_salts and settings.fingerprint_keys):
            return settings.with_hashing_secrets()
        return settings

    @cached_property
    def vault(self) -> Vault:
        """Encrypts gift-card codes and payout destinations (ENCRYPTION_KEYS) and
        fingerprints them (FINGERPRINT_KEYS)."""
        return Vault(self.settings.encryption_keys, self.hashing_secrets.fingerprint_keys)

    def key(self, tag: str, *parts: str) -> str:
        """A Redis key ``{namespace:tag}:part:...``.

        The braces are a Redis Cluster hash tag: keys that must be used together in
        one command or transaction share a tag and so land in one slot.
        """
        return ":".join((f"{{{self.settings.redis_namespace}:{tag}}}", *parts))

    def extension(self, name: str, build: Callable[[], T]) -> T:
        """A per-process object built once on first use (e.g. a client with a cache)."""
        if name not in self._extensions:
            self._extensions[name] = build()
        return cast(T, self._extensions[name])

    def close(self) -> None:
        if "redis" in self.__dict__:
            self.redis.close()
        if "db" in self.__dict__:
            self.db.dispose()
