"""Connecting to Redis: one server, or a Redis Cluster, behind the same client calls.

Bounded under trouble: inside a :func:`redis_budget` scope (the API opens one per
request) every socket operation on Redis, the retries and their backoff included, draws
on one time budget; the socket's connect and read timeouts are what is left of it, so a
Redis that accepts connections and never answers costs a request the budget, not its
timeouts times its retries. A per-client :class:`CircuitBreaker` counts consecutive
timeouts; once open, budgeted callers skip Redis at once until a probe gets an answer.
Outside a budget (jobs, the CLI) the fixed timeouts below apply, as before.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import redis
from redis.backoff import AbstractBackoff, ExponentialBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.connection import Connection, SSLConnection, UnixDomainSocketConnection
from redis.retry import Retry

REDIS_SOCKET_TIMEOUT_S = 2.0
REDIS_CONNECT_TIMEOUT_S = 1.0
DEFAULT_BUDGET_MS = 300
DEFAULT_BREAKER_FAILURES = 3
DEFAULT_BREAKER_OPEN_S = 5.0

CLUSTER_SCHEME = "redis+cluster://"


class RedisUnavailable(redis.exceptions.ConnectionError):
    """Redis was not tried: its breaker is open, or the caller's budget is spent."""


class CircuitOpen(RedisUnavailable):
    pass


class BudgetSpent(RedisUnavailable, redis.exceptions.TimeoutError):
    pass


class RedisBudget:
    """What is left of one caller's Redis time (seconds), shared by its calls."""

    def __init__(self, seconds: float, *, bypass_breaker: bool = False) -> None:
        self.seconds = seconds
        self.left = seconds
        self.bypass_breaker = bypass_breaker
        self._depth = 0
        self._since = 0.0

    def remaining(self) -> float:
        if self._depth:  # inside an operation: count its time so far
            return self.left - (time.monotonic() - self._since)
        return self.left

    def enter(self) -> None:
        if self._depth == 0:
            self._since = time.monotonic()
        self._depth += 1

    def leave(self) -> None:
        self._depth -= 1
        if self._depth == 0:
            self.left -= time.monotonic() - self._since

    def charge(self, seconds: float) -> None:
        self.left -= seconds


_budget: ContextVar[RedisBudget | None] = ContextVar("redis_budget", default=None)


@contextmanager
def redis_budget(ms: int, *, bypass_breaker: bool = False) -> Iterator[RedisBudget]:
    """Run the block's Redis calls on one budget of ``ms`` milliseconds in total."""
    budget = RedisBudget(ms / 1000, bypass_breaker=bypass_breaker)
    token = _budget.set(budget)
    try:
        yield budget
    finally:
        _budget.reset(token)


def begin_budget(ms: int) -> RedisBudget:
    """Open a budget for the rest of this context (a request); :func:`end_budget` closes it."""
    budget = RedisBudget(ms / 1000)
    _budget.set(budget)
    return budget


def end_budget() -> None:
    _budget.set(None)


class CircuitBreaker:
    """Per process (one per client): after ``failures`` consecutive timeouts it opens
    for ``open_s`` seconds, in which budgeted callers do not try Redis at all; then one
    caller's call goes through as a probe (the others still skip): an answer closes it,
    a timeout opens it again. A refused connection fails in microseconds, costs no
    budget and neither counts nor resets: a restarted Redis is used at once."""

    def __init__(
        self,
        failures: int = DEFAULT_BREAKER_FAILURES,
        open_s: float = DEFAULT_BREAKER_OPEN_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = max(failures, 1)
        self.open_s = open_s
        self._clock = clock
        self._lock = threading.Lock()
        self._timeouts = 0
        self._open_until: float | None = None
        self._probe: tuple[int, float] | None = None  # (thread, started)
        self.opened = 0  # times it opened (logs, tests)

    @property
    def state(self) -> str:
        with self._lock:
            if self._open_until is None:
                return "closed"
            return "open" if self._clock() < self._open_until else "half-open"

    def allow(self) -> bool:
        with self._lock:
            if self._open_until is None:
                return True
            now = self._clock()
            if now < self._open_until:
                return False
            me = threading.get_ident()
            if self._probe is not None and self._probe[0] == me:
                return True
            if self._probe is None or now - self._probe[1] > self.open_s:
                self._probe = (me, now)  # this caller probes; the others keep skipping
                return True
            return False

    def succeeded(self) -> None:
        with self._lock:
            self._timeouts = 0
            self._open_until = None
            self._probe = None

    def timed_out(self) -> None:
        with self._lock:
            self._timeouts += 1
            probing = self._open_until is not None
            if probing or self._timeouts >= self.threshold:
                if not probing:
                    self.opened += 1
                self._open_until = self._clock() + self.open_s
                self._probe = None


_depth = threading.local()  # nesting of guarded operations (a connect inside a send)


class _Guarded:
    """Mixed into redis-py's connection classes: timeouts from the budget, the breaker
    consulted before and told after each outermost socket operation."""

    breaker: CircuitBreaker  # set on the class made for each client

    if TYPE_CHECKING:  # what the mixin needs of the redis-py connection it is mixed into

        def disconnect(self) -> None: ...

    # redis-py keeps the configured timeouts; these properties hand out what is left.
    @property
    def socket_timeout(self) -> float | None:
        return _bounded(self.__dict__.get("_configured_timeout"))

    @socket_timeout.setter
    def socket_timeout(self, value: float | None) -> None:
        self.__dict__["_configured_timeout"] = value

    @property
    def _socket_timeout(self) -> float | None:
        return _bounded(self.__dict__.get("_configured_timeout"))

    @_socket_timeout.setter
    def _socket_timeout(self, value: float | None) -> None:
        self.__dict__["_configured_timeout"] = value

    @property
    def socket_connect_timeout(self) -> float | None:
        return _bounded(self.__dict__.get("_configured_connect_timeout"))

    @socket_connect_timeout.setter
    def socket_connect_timeout(self, value: float | None) -> None:
        self.__dict__["_configured_connect_timeout"] = value

    def _guarded(self, operation: Callable[[], Any], *, answer: bool = False) -> Any:
        budget = _budget.get()
        outermost = not getattr(_depth, "n", 0)
        if budget is not None and outermost:
            if not budget.bypass_breaker and not self.breaker.allow():
                raise CircuitOpen("Redis skipped: its circuit breaker is open")
            if budget.remaining() <= 0:
                self.disconnect()  # a command may be half sent: start clean next time
                raise BudgetSpent("Redis skipped: this request's Redis time budget is spent")
        _depth.n = getattr(_depth, "n", 0) + 1
        if budget is not None:
            budget.enter()
        try:
            sock = getattr(self, "_sock", None)
            if sock is not None and budget is not None:
                sock.settimeout(max(budget.remaining(), 0.001))
            result = operation()
        except (TimeoutError, redis.exceptions.TimeoutError):
            if outermost:
                self.breaker.timed_out()
            raise
        else:
            if answer and outermost:
                self.breaker.succeeded()
            return result
        finally:
            _depth.n -= 1
            if budget is not None:
                budget.leave()

    def _connect(self) -> Any:
        parent = super()._connect  # type: ignore[misc]  # the redis-py class mixed in
        return self._guarded(parent)

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        parent = super().send_packed_command  # type: ignore[misc]  # the redis-py class mixed in
        self._guarded(lambda: parent(command, check_health))

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        parent = super().read_response  # type: ignore[misc]  # the redis-py class mixed in
        return self._guarded(lambda: parent(*args, **kwargs), answer=True)


def _bounded(configured: float | None) -> float | None:
    budget = _budget.get()
    if budget is None:
        return configured
    left = max(budget.remaining(), 0.001)
    return left if configured is None else min(configured, left)


class _BudgetBackoff(AbstractBackoff):
    """The retry backoff, never longer than what is left of the budget, and charged to it."""

    def __init__(self, inner: AbstractBackoff) -> None:
        self._inner = inner

    def reset(self) -> None:
        self._inner.reset()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated

    def compute(self, failures: int) -> float:
        wait = self._inner.compute(failures)
        budget = _budget.get()
        if budget is None:
            return wait
        wait = max(min(wait, budget.remaining()), 0.0)
        budget.charge(wait)
        return wait


def _retryable(error: Exception) -> bool:
    if isinstance(error, RedisUnavailable):
        return False
    budget = _budget.get()
    return budget is None or budget.remaining() > 0


def _guarded_class(base: type, breaker: CircuitBreaker) -> type:
    return type(f"Guarded{base.__name__}", (_Guarded, base), {"breaker": breaker})


def connect_redis(url: str, breaker: CircuitBreaker | None = None) -> redis.Redis:
    """A client for ``redis://``, ``rediss://``, ``unix://`` or, for a Redis Cluster,
    ``redis+cluster://host:port,host:port`` (any reachable nodes; the rest is discovered).
    The engine's keys carry hash tags, so whatever must meet in one command or script
    lands in one slot. ``breaker`` (one per process) guards budgeted callers."""
    breaker = breaker or CircuitBreaker()
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_timeout": REDIS_SOCKET_TIMEOUT_S,
        "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_S,
        # A down Redis must fail fast: requests and jobs fall back to the database.
        # In a budgeted scope the retries stop when the budget does.
        "retry": Retry(
            _BudgetBackoff(ExponentialBackoff(cap=0.2, base=0.02)), 2, is_retryable=_retryable
        ),
    }
    if url.startswith(CLUSTER_SCHEME):
        hosts = url.removeprefix(CLUSTER_SCHEME).split("/", 1)[0].split(",")
        pairs = (h.rsplit(":", 1) for h in hosts)
        nodes = [
            ClusterNode(host, int(port))  # type: ignore[no-untyped-call]  # redis-py: unannotated
            for host, port in pairs
        ]
        return RedisCluster(  # type: ignore[return-value]  # it serves the same commands
            startup_nodes=nodes, connection_class=_guarded_class(Connection, breaker), **options
        )
    if url.startswith("unix://"):
        base: type = UnixDomainSocketConnection
    elif url.startswith("rediss://"):
        base = SSLConnection
    else:
        base = Connection
    return redis.Redis.from_url(
        url, health_check_interval=15, connection_class=_guarded_class(base, breaker), **options
    )


class ImmediateBatch:
    """The part of a pipeline the engine uses, run command by command: a Redis Cluster
    pipeline refuses scripts (EVALSHA), so on a cluster script calls go one by one."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._results: list[object] = []

    def script_load(self, script: str) -> str:  # a reload after NOSCRIPT: not a result
        return str(self._client.script_load(script))

    def __getattr__(self, name: str) -> Callable[..., object]:
        command = getattr(self._client, name)

        def call(*args: object, **kwargs: object) -> object:
            result = command(*args, **kwargs)
            self._results.append(result)
            return result

        return call

    def execute(self) -> list[object]:
        done, self._results = self._results, []
        return done


def script_batch(client: redis.Redis) -> redis.client.Pipeline | ImmediateBatch:
    """A batch that may hold script calls: a pipeline, or one by one on a cluster."""
    if isinstance(client, RedisCluster):
        return ImmediateBatch(client)
    return client.pipeline(transaction=False)
