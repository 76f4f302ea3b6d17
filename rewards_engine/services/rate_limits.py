"""Rate limits kept in Redis, shared by every worker and node.

A fixed one-minute window per action and caller (a donor, or an address for the paths
where tokens could be guessed): one INCR per request. If Redis cannot be reached the
request goes through: an outage of the limiter must never stop a donation.
"""

from __future__ import annotations

import logging

import redis

from rewards_engine.runtime import Runtime

log = logging.getLogger("rewards_engine.rate_limits")
WINDOW_S = 60


class TooMany(Exception):
    """Past the limit in this window; ``retry_after`` is the seconds until the next one."""

    def __init__(self, action: str, limit: int, retry_after: int) -> None:
        super().__init__(f"too many {action}: at most {limit} a minute; retry in {retry_after} s")
        self.retry_after = retry_after


def count(runtime: Runtime, action: str, caller: str, limit: int) -> None:
    """Count one request; raise :class:`TooMany` past ``limit`` in this window."""
    if limit <= 0:
        return
    now = runtime.clock.now().timestamp()
    window = int(now // WINDOW_S)
    key = runtime.key(f"limit:{action}:{caller}", str(window))  # spread over the slots
    try:
        pipe = runtime.redis.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, WINDOW_S * 2)
        seen, _ = pipe.execute()
    except redis.RedisError as exc:
        log.warning(
            "rate limit not checked", extra={"fields": {"action": action, "error": str(exc)}}
        )
        return
    if seen > limit:
        raise TooMany(action, limit, int(WINDOW_S - now % WINDOW_S) + 1)
