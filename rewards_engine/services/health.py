"""Readiness: can this process reach what it needs to serve (the database and Redis)?"""

from __future__ import annotations

from rewards_engine.redis_client import redis_budget
from rewards_engine.runtime import Runtime


def readiness(runtime: Runtime) -> dict[str, str]:
    """``{"database": "ok", "redis": "unavailable: ConnectionError"}``: each dependency
    asked once; any failure, whatever its kind, means that one is not ready."""
    checks: dict[str, str] = {}
    try:
        runtime.db.ping()
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unavailable: {type(exc).__name__}"
    try:
        # The readiness probe is the breaker's probe too: it always asks Redis, within
        # the budget, so it says "down" quickly and "up" as soon as Redis answers.
        with redis_budget(runtime.settings.redis_budget_ms, bypass_breaker=True):
            runtime.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"unavailable: {type(exc).__name__}"
    return checks
