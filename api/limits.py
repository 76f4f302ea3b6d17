"""Rate limits on API routes: the counting is ``services.rate_limits``; here a request
over its limit becomes a 429 with ``Retry-After``, and every counted answer says where
the caller stands in the IETF draft's headers (draft-ietf-httpapi-ratelimit-headers):
``RateLimit-Policy: "redemptions";q=10;w=60`` and ``RateLimit: "redemptions";r=3;t=42``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Response, g, request
from flask_smorest import abort

from api import context
from rewards_engine.services import rate_limits
from rewards_engine.services.rate_limits import WINDOW_S, Quota, TooMany

__all__ = [
    "TooMany",
    "add_headers",
    "caller_address",
    "count",
    "per_donor",
    "refuse",
    "settings_limit",
]

F = TypeVar("F", bound=Callable[..., Any])


def count(action: str, caller: str, limit: int) -> None:
    """Count one request of this app's runtime (see :func:`rate_limits.count`); the
    answer will carry the caller's quota."""
    quota = rate_limits.count(context.runtime(), action, caller, limit)
    if quota is not None:
        g.quota = quota


def headers(quota: Quota) -> dict[str, str]:
    name = f'"{quota.action}"'
    return {
        "RateLimit-Policy": f"{name};q={quota.limit};w={WINDOW_S}",
        "RateLimit": f"{name};r={quota.remaining};t={quota.reset_s}",
    }


def refuse(error: TooMany) -> None:
    abort(429, message=str(error),
          headers={"Retry-After": str(error.retry_after), **headers(error.quota)})  # fmt: skip


def add_headers(response: Response) -> Response:
    """The caller's quota on an answer that counted against one (after_request)."""
    quota = g.get("quota")
    if quota is not None and "RateLimit" not in response.headers:
        response.headers.update(headers(quota))
    return response


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
