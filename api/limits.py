"""Rate limits kept in Redis, shared by every worker and node.

A fixed one-minute window per action and caller (a donor, or an address for the paths
where tokens could be guessed): one INCR per request. Over the limit, a 429 with
``Retry-After``. If Redis cannot be reached the request goes through: an outage of the
limiter must never stop a donation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import redis
from flask import request
from flask_smorest import abort

from api import context

log = logging.getLogger("api.limits")
F = TypeVar("F", bound=Callable[..., Any])
WINDOW_S = 60


class TooMany(Exception):
    def __init__(self, action: str, limit: int, retry_after: int) -> None:
        super().__init__(f"too many {action}: at most {limit} a minute; retry in {retry_after} s")
        self.retry_after = retry_after


def count(action: str, caller: str, limit: int) -> None:
    """Count one request; raise :class:`TooMany` past ``limit`` in this window."""
    if limit <= 0:
        return
    runtime = context.runtime()
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


def refuse(error: TooMany) -> None:
    abort(429, message=str(error), headers={"Retry-After": str(error.retry_after)})


def caller_address() -> str:
    return request.remote_addr or "unknown"


def per_donor(action: str, limit: Callable[[], int]) -> Callable[[F], F]:
    """Limit a donor's calls (under ``auth_required(Role.DONOR)``)."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                count(action, f"donor:{context.donor().id}", limit())
            except TooMany as error:
                refuse(error)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def settings_limit(name: str) -> Callable[[], int]:
    return lambda: int(getattr(context.runtime().settings.rate_limits, name))
