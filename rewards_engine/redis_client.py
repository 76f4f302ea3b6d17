"""Connecting to Redis: one server, or a Redis Cluster, behind the same client calls."""

from __future__ import annotations

from collections.abc import Callable

import redis
from redis.backoff import ExponentialBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry

REDIS_SOCKET_TIMEOUT_S = 2.0
REDIS_CONNECT_TIMEOUT_S = 1.0

CLUSTER_SCHEME = "redis+cluster://"


def connect_redis(url: str) -> redis.Redis:
    """A client for ``redis://``, ``rediss://``, ``unix://`` or, for a Redis Cluster,
    ``redis+cluster://host:port,host:port`` (any reachable nodes; the rest is discovered).
    The engine's keys carry hash tags, so whatever must meet in one command or script
    lands in one slot."""
    options = {
        "decode_responses": True,
        "socket_timeout": REDIS_SOCKET_TIMEOUT_S,
        "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_S,
        # A down Redis must fail fast: requests and jobs fall back to the database.
        "retry": Retry(ExponentialBackoff(cap=0.2, base=0.02), 2),
    }
    if url.startswith(CLUSTER_SCHEME):
        hosts = url.removeprefix(CLUSTER_SCHEME).split("/", 1)[0].split(",")
        nodes = [ClusterNode(host, int(port)) for host, port in (h.rsplit(":", 1) for h in hosts)]
        return RedisCluster(startup_nodes=nodes, **options)  # type: ignore[return-value]
    return redis.Redis.from_url(url, health_check_interval=15, **options)


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
