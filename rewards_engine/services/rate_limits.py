"""Rate limits kept in Redis, shared by every worker and node.

A fixed one-minute window per action and caller (a donor, or an address for the paths
where tokens could be guessed): one INCR per request. If Redis cannot be reached the
request goes through: an outage of the limiter must never stop a donation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis

from rewards_engine.runtime import Runtime

log = logging.getLogger("rewards_engine.rate_limits")
WINDOW_S = 60


@dataclass(frozen=True)
class Quota:
    """Where a caller stands in this window, for the RateLimit headers."""

    action: str
    limit: int
    remaining: int
    reset_s: int  # seconds until the window ends


class TooMany(Exception):
    """Past the limit in this window; ``retry_after`` is the seconds until the next one."""

    def __init__(self, quota: Quota) -> None:
        super().__init__(
            f"too many {quota.action}: at most {quota.limit} a minute; retry in {quota.reset_s} s"
        )
        self.quota = quota
        self.retry_after = quota.reset_s


def count(runtime: Runtime, action: str, caller: str, limit: int) -> Quota | None:
    """Count one request; raise :class:`TooMany` past ``limit`` in this window. Returns
    the caller's quota (None where there is no limit or Redis could not count)."""
    if limit <= 0:
        return None
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
        return None
    quota = Quota(action, limit, max(limit - seen, 0), int(WINDOW_S - now % WINDOW_S) + 1)
    if seen > limit:
        raise TooMany(quota)
    return quota
