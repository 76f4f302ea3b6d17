"""Rate limits on API routes: the counting is ``services.rate_limits``; here a request
over its limit becomes a 429 with ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import request
from flask_smorest import abort

from api import context
from rewards_engine.services import rate_limits
from rewards_engine.services.rate_limits import TooMany

__all__ = ["TooMany", "caller_address", "count", "per_donor", "refuse", "settings_limit"]

F = TypeVar("F", bound=Callable[..., Any])


def count(action: str, caller: str, limit: int) -> None:
    """Count one request of this app's runtime (see :func:`rate_limits.count`)."""
    rate_limits.count(context.runtime(), action, caller, limit)


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

        return wrapper  # type: ignore[return-value]  # functools.wraps keeps the view's signature

    return decorator


def settings_limit(name: str) -> Callable[[], int]:
    return lambda: int(getattr(context.runtime().settings.rate_limits, name))
