"""Errors the engine raises; the HTTP layer maps each kind to one status code.

Every error carries a machine-readable ``code`` that clients can switch on, a human
``message`` and, for bad input, the ``field`` that was wrong.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of the errors a caller can cause (never a bug of ours)."""

    code = "error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        location: str = "json",
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field = field  # a dotted path for nested input: "clips.3.recorded_at"
        self.location = location  # where the field was: "json", "query", "headers"
        self.details = details or {}


class InvalidInput(DomainError):
    """The request is well-formed but a value breaks a rule (HTTP 422)."""

    code = "invalid_input"


class NotFound(DomainError):
    """Missing, or not the caller's to see (HTTP 404: we never say which)."""

    code = "not_found"


class Conflict(DomainError):
    """The request clashes with the current state (HTTP 409)."""

    code = "conflict"


class Forbidden(DomainError):
    """The caller may not do this (HTTP 403)."""

    code = "forbidden"


class Gone(DomainError):
    """The resource existed and has been erased (HTTP 410)."""

    code = "gone"


class Unavailable(DomainError):
    """Something we depend on (a payout provider, a busy database) did not answer in
    time: retry after ``retry_after`` seconds (HTTP 503 with ``Retry-After``)."""

    code = "unavailable"

    def __init__(self, message: str, *, retry_after: int = 30, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after
