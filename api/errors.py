"""One JSON error shape for every error the API returns.

``{"code": 422, "status": "Unprocessable Entity", "error": "invalid_input",
"message": "...", "errors": {"json": {"field": ["why"]}}}``: ``code`` and ``status``
are the HTTP status (flask-smorest's shape), ``error`` a stable machine-readable
reason the app can switch on, ``errors`` the field-level messages.
"""

from __future__ import annotations

import logging
from typing import Any

import marshmallow as ma
from flask import Flask, g, jsonify
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.http import HTTP_STATUS_CODES

from rewards_engine.config import ConfigError
from rewards_engine.db import database_failure
from rewards_engine.domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Gone,
    InvalidInput,
    NotFound,
    Unavailable,
)

log = logging.getLogger(__name__)

DOMAIN_STATUS: dict[type[DomainError], int] = {
    InvalidInput: 422,
    NotFound: 404,
    Conflict: 409,
    Forbidden: 403,
    Gone: 410,
    Unavailable: 503,
}


def domain_status(error: DomainError) -> int:
    return next((code for kind, code in DOMAIN_STATUS.items() if isinstance(error, kind)), 400)


HTTP_ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    410: "gone",
    412: "precondition_failed",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    422: "validation_error",
    428: "precondition_required",
    429: "rate_limited",
    431: "headers_too_large",
    500: "internal_error",
    503: "unavailable",
}


class ErrorSchema(ma.Schema):
    """The error payload (documentation only): what :func:`error_body` and the domain
    error handler send."""

    code = ma.fields.Integer(required=True, metadata={"description": "HTTP status code"})
    status = ma.fields.String(required=True, metadata={"description": "HTTP status name"})
    error = ma.fields.String(
        required=True,
        metadata={"description": "Machine-readable reason (invalid_currency, not_found...)"},
    )
    message = ma.fields.String(
        required=True, metadata={"description": "What went wrong, for people"}
    )
    errors = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Dict(),
        metadata={
            "description": "Field-level messages by location (json, query, headers, path), "
            'then by field path: {"json": {"clips": {"0": {"duration_s": ["..."]}}}}'
        },
    )
    request_id = ma.fields.String(metadata={"description": "Quote it to support"})
    details = ma.fields.Dict(
        keys=ma.fields.String(),
        metadata={
            "description": "Facts about a conflict (409) a client can act on, "
            "e.g. the balance available; present only where the error has them"
        },
    )


def error_body(
    status: int,
    error: str,
    message: str | None = None,
    errors: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": status,
        "status": HTTP_STATUS_CODES.get(status, "Error"),
        "error": error,
        "message": message or HTTP_STATUS_CODES.get(status, "Error"),
    }
    if errors:
        body["errors"] = errors
    request_id = g.get("request_id") if g else None
    if request_id:
        body["request_id"] = request_id
    return body


def nest_field(path: str, message: str) -> dict[str, Any]:
    """``clips.3.recorded_at`` becomes ``{"clips": {"3": {"recorded_at": [message]}}}``,
    the same shape marshmallow gives for nested validation errors."""
    node: Any = [message]
    for part in reversed(path.split(".")):
        node = {part: node}
    nested: dict[str, Any] = node
    return nested


def http_exception_body(exc: HTTPException) -> tuple[dict[str, Any], int, dict[str, str]]:
    status = exc.code or 500
    data = getattr(exc, "data", None) or {}
    errors = data.get("errors") or data.get("messages")
    message = data.get("message") or exc.description
    if status == 422 and errors and not data.get("message"):
        message = "the request has invalid fields; see errors"
    error = data.get("error") or HTTP_ERROR_CODES.get(status, "error")
    headers = dict(data.get("headers") or {})
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        headers["Allow"] = ", ".join(sorted(exc.valid_methods))  # RFC 9110 15.5.6
    return error_body(status, error, message, errors), status, headers


def database_failure_response(exc: Exception, failure: str) -> Any:
    """A 503 the client can retry: the database was busy or unavailable, not broken."""
    fields = {"error": type(getattr(exc, "orig", exc)).__name__}
    if failure == "busy":
        log.warning("database busy", extra={"fields": fields})
        body = error_body(503, "database_busy", "the database is busy with other requests; retry")
        return jsonify(body), 503, {"Retry-After": "1"}
    log.warning("database unavailable", extra={"fields": fields})
    body = error_body(503, "database_unavailable", "the database is unavailable; retry")
    return jsonify(body), 503, {"Retry-After": "2"}


def misconfigured_response(exc: ConfigError) -> Any:
    """A 503: the process cannot serve this until its operators change its configuration
    (a check made at start that a request met first, e.g. an erasure salt the database
    holds and ERASURE_SALTS does not name). The operator's message goes to the log, not
    to the client."""
    log.error("configuration error", extra={"fields": {"reason": str(exc)}})
    body = error_body(
        503, "service_misconfigured", "the service cannot serve this now; its operators are told"
    )
    return jsonify(body), 503, {"Retry-After": "60"}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def on_domain_error(exc: DomainError):  # type: ignore[no-untyped-def]  # Flask's handler return union is untyped
        status = domain_status(exc)
        errors = None
        if exc.field:
            errors = {exc.location: nest_field(exc.field, exc.message)}
        body = error_body(status, exc.code, exc.message, errors)
        if exc.details:
            body["details"] = exc.details
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Unavailable) else {}
        return jsonify(body), status, headers

    @app.errorhandler(Exception)
    def on_unexpected(exc: Exception):  # type: ignore[no-untyped-def]  # Flask's handler return union is untyped
        if isinstance(exc, HTTPException):
            body, status, headers = http_exception_body(exc)
            return jsonify(body), status, headers
        failure = database_failure(exc)
        if failure is not None:
            return database_failure_response(exc, failure)
        if isinstance(exc, ConfigError):
            return misconfigured_response(exc)
        log.exception("unhandled error")
        return jsonify(error_body(500, "internal_error", "an unexpected error occurred")), 500
