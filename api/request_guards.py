"""Checks every request passes before any route parses it (docs/api-conventions.md).

- A JSON body nested deeper than :data:`MAX_JSON_DEPTH` is refused (400
  ``json_too_deep``) by a linear scan of the raw bytes, before any parser recurses
  into it: Python's ``json`` module raises ``RecursionError`` near 1,000 levels, and
  marshmallow recurses too. This covers the webhooks, whose bodies are parsed before
  their signatures can be checked (PayPal's verification API needs the event).
- A body over ``MAX_CONTENT_LENGTH`` is a 413, whether it declared its length or was
  chunked (the read is what finds out, here, before a parser could call it "invalid").
- A query parameter a ``/v1`` operation does not document is refused (422, named
  under ``errors.query``), as unknown fields of a JSON body are.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import marshmallow as ma
from flask import Flask, abort, current_app, request

from api.errors import error_body

MAX_JSON_DEPTH = 32
# Below gunicorn's own limits (api/gunicorn_conf.py: request line 8190, 100 header
# fields of 8190 bytes), so that the app, not gunicorn's HTML page, answers the usual
# oversized request in the error shape. Past gunicorn's limits gunicorn answers.
MAX_TARGET_BYTES = 4096  # path and query string: 414
MAX_HEADER_BYTES = 4096  # one "Name: value" field: 431
MAX_HEADER_FIELDS = 64  # 431
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Forms are the console's: werkzeug parses them flat, under its own limits.
_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
# Videos streamed to the embedded store, which reads at most their signed size itself.
STREAMED_BODIES = frozenset({"storage.Upload"})
_OPENERS, _CLOSERS = frozenset(b"[{"), frozenset(b"]}")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b'[]{}"\\')


def json_depth_exceeds(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when ``raw``, read as JSON, nests arrays and objects more than ``limit``
    deep. Brackets inside strings do not count. Linear in the body; no recursion."""
    kept = raw.translate(None, _NOT_BRACKETS)  # brackets, quotes and backslashes only
    if kept.count(b"[") + kept.count(b"{") <= limit:
        return False  # cannot nest deeper than it opens
    depth, in_string, escaped = 0, False, False
    for byte in kept:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # closing quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in _OPENERS:
            depth += 1
            if depth > limit:
                return True
        elif byte in _CLOSERS:
            depth -= 1
    return False


def _guard_head() -> tuple[dict[str, Any], int] | None:
    target = len(request.full_path.encode("utf-8", "surrogateescape"))
    if target > MAX_TARGET_BYTES:
        message = f"the request target (path and query) is over {MAX_TARGET_BYTES} bytes"
        return error_body(414, "uri_too_long", message), 414
    fields = list(request.headers.items())
    too_long = sorted(
        {name for name, value in fields if len(name) + 2 + len(value) > MAX_HEADER_BYTES}
    )
    if len(fields) > MAX_HEADER_FIELDS or too_long:
        message = (
            f"header fields over {MAX_HEADER_BYTES} bytes: {', '.join(too_long)}"
            if too_long
            else f"too many header fields (at most {MAX_HEADER_FIELDS})"
        )
        errors = {"headers": {name: [f"over {MAX_HEADER_BYTES} bytes"] for name in too_long}}
        return error_body(431, "headers_too_large", message, errors if too_long else None), 431
    return None


def _guard_body() -> tuple[dict[str, Any], int] | None:
    if request.method not in _BODY_METHODS or request.endpoint in STREAMED_BODIES:
        return None
    sent = (request.content_length or 0) > 0
    if request.path.startswith("/v1/") and sent and request.mimetype != "application/json":
        message = f"send the body as application/json (Content-Type: {request.mimetype or 'none'})"
        errors = {"headers": {"Content-Type": [message]}}
        return error_body(415, "unsupported_media_type", message, errors), 415
    if request.mimetype in _FORM_TYPES:
        return None
    raw = request.get_data(cache=True)
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(raw) >= limit:
        # Chunked (no Content-Length): werkzeug's read stops at the limit and hands
        # back the truncated start, which a parser would then call invalid (400).
        abort(413)
    if raw and json_depth_exceeds(raw):
        message = f"the JSON body nests arrays or objects more than {MAX_JSON_DEPTH} deep"
        return error_body(400, "json_too_deep", message, {"json": [message]}), 400
    return None


@cache
def _documented_query(view: Any, method: str) -> frozenset[str] | None:
    """The query parameters an operation documents; None where it is not one of ours."""
    function = getattr(getattr(view, "view_class", None), method, None) or view
    parameters = getattr(function, "_apidoc", {}).get("arguments", {}).get("parameters", [])
    names: set[str] = set()
    for parameter in parameters:
        if parameter.get("in") != "query":
            continue
        schema = parameter["schema"]
        schema = schema() if isinstance(schema, type) else schema
        names.update(field.data_key or name for name, field in schema.fields.items())
    return frozenset(names)


def _guard_query() -> None:
    if not request.args or not request.path.startswith("/v1/") or request.url_rule is None:
        return
    view = current_app.view_functions.get(request.endpoint or "")
    allowed = _documented_query(view, request.method.lower())
    unknown = sorted(set(request.args) - (allowed or frozenset()))
    if unknown:
        errors = {name: ["Unknown field."] for name in unknown}
        raise ma.ValidationError(errors)


def register_request_guards(app: Flask) -> None:
    @app.before_request
    def guard() -> Any:
        refused = _guard_head() or _guard_body()
        if refused:
            return refused
        try:
            _guard_query()
        except ma.ValidationError as error:
            body = error_body(
                422,
                "unknown_query_parameter",
                "the request has query parameters this operation does not take; see errors",
                {"query": error.messages},
            )
            return body, 422
        return None
