"""The HTTP conventions every answer follows (docs/api-conventions.md), applied in one
place after the route has answered:

- ``ETag`` is weak (``W/"..."``: the same data, whatever the encoding), compared weakly
  with ``If-None-Match``; a match is a 304 that carries the ETag (and the headers a
  cache needs);
- ``Cache-Control``: answers to an authenticated call are ``private, no-cache`` (kept by
  the app only, revalidated by ETag), those holding gift-card codes, exports or video
  links ``no-store``, errors ``no-store``, public ones ``no-cache``; ``Vary`` names the
  request headers an answer depends on;
- the caller's rate-limit quota (api/limits.py);
- gzip for large answers the client accepts it for;
- CORS for the origins of ``CORS_ORIGINS`` only (none by default).

Routes keep a ``Cache-Control`` they set themselves (the medal art's year).
"""

from __future__ import annotations

import gzip
from collections.abc import Collection
from typing import Any

import flask_smorest
from flask import Flask, Response, request

from api import limits

NO_STORE_PREFIXES = ("/v1/redemptions", "/v1/admin/redemptions", "/v1/me/export", "/v1/videos/")
COMPRESS_AT = 1024  # bytes: smaller answers gain less than gzip costs
COMPRESSIBLE = frozenset(
    {"application/json", "image/svg+xml", "text/html", "text/css", "text/plain", "text/csv",
     "application/javascript"}
)  # fmt: skip
KEPT_ON_304 = (
    "ETag", "Cache-Control", "Vary", "Content-Language", "X-Request-Id", "RateLimit",
    "RateLimit-Policy", "Access-Control-Allow-Origin", "Access-Control-Expose-Headers",
)  # fmt: skip
CORS_ALLOWED_HEADERS = (
    "Authorization, Content-Type, Idempotency-Key, If-None-Match, Accept-Language, X-Request-Id"
)
CORS_EXPOSED_HEADERS = (
    "ETag, Retry-After, RateLimit, RateLimit-Policy, Idempotent-Replayed, X-Request-Id, "
    "Content-Language, Location"
)
CORS_MAX_AGE = 600


def created(result: Any) -> Any:
    """A retryable write's 201: a replay (the same Idempotency-Key again, answered from
    the first call) says so in ``Idempotent-Replayed``."""
    if getattr(result, "replayed", False):
        return result, 201, {"Idempotent-Replayed": "true"}
    return result


class Blueprint(flask_smorest.Blueprint):  # type: ignore[misc]  # flask-smorest ships no types
    """flask-smorest's blueprint, leaving ``If-None-Match`` to :func:`_not_modified`:
    its own check compares strongly and answers a 304 without the ETag."""

    def _check_not_modified(self, etag: str) -> None:
        return None


def register(app: Flask, cors_origins: Collection[str]) -> None:
    allowed = frozenset(cors_origins)

    @app.after_request
    def follow_conventions(response: Response) -> Response:
        response = limits.add_headers(response)
        _cache_headers(response)
        response = _not_modified(response)
        _compress(response)
        if allowed:
            _cors(response, allowed)
        return response


def _cache_headers(response: Response) -> None:
    etag, weak = response.get_etag()
    if etag and not weak:
        response.set_etag(etag, weak=True)
    personal = "Authorization" in request.headers
    if personal:
        response.vary.add("Authorization")
    if "Cache-Control" in response.headers:
        return
    if response.status_code >= 400 or request.path.startswith(NO_STORE_PREFIXES):
        response.headers["Cache-Control"] = "no-store"
    elif personal:
        response.headers["Cache-Control"] = "private, no-cache"
    elif request.method in ("GET", "HEAD"):
        response.headers["Cache-Control"] = "no-cache"


def _not_modified(response: Response) -> Response:
    """A 304 when the client holds this version (weak comparison, RFC 9110 13.1.2)."""
    etag, _ = response.get_etag()
    if (
        etag is None
        or request.method not in ("GET", "HEAD")
        or response.status_code != 200
        or not request.if_none_match.contains_weak(etag)
    ):
        return response
    not_modified = Response(status=304)
    for name in KEPT_ON_304:
        for value in response.headers.getlist(name):
            not_modified.headers.add(name, value)
    return not_modified


def _compress(response: Response) -> None:
    if (
        response.status_code != 200
        or response.direct_passthrough
        or response.is_streamed
        or "Content-Encoding" in response.headers
        or response.mimetype not in COMPRESSIBLE
    ):
        return
    response.vary.add("Accept-Encoding")
    if request.accept_encodings["gzip"] <= 0:  # the quality it gives gzip: 0 if not named
        return
    body = response.get_data()
    if len(body) < COMPRESS_AT:
        return
    response.set_data(gzip.compress(body, compresslevel=5))
    response.headers["Content-Encoding"] = "gzip"


def _cors(response: Response, allowed: frozenset[str]) -> None:
    origin = request.headers.get("Origin")
    response.vary.add("Origin")
    if origin is None or origin not in allowed:
        return  # no CORS headers: the browser keeps the answer from the page
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Expose-Headers"] = CORS_EXPOSED_HEADERS
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        response.headers["Access-Control-Allow-Methods"] = response.headers.get(
            "Allow", "GET, POST, PUT, PATCH, DELETE"
        )
        response.headers["Access-Control-Allow-Headers"] = CORS_ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = str(CORS_MAX_AGE)
