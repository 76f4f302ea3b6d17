"""The HTTP layer: ``create_app`` builds a Flask app around one :class:`Runtime`.

Thin by design: views parse and validate (marshmallow), call one service function
and serialise its answer. No view opens a transaction or talks to Redis.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, request
from flask_smorest import Api
from werkzeug.middleware.proxy_fix import ProxyFix

from api import conventions, redis_budget
from api.context import EXTENSION, TOKENS
from api.converters import Int32Converter, Int64Converter, TextConverter
from api.errors import ErrorSchema, http_exception_body, register_error_handlers
from api.json_provider import OrjsonProvider
from api.metrics import RequestMetrics
from api.openapi import install as refine_openapi
from api.request_guards import register_request_guards
from rewards_engine.bootstrap import build_runtime
from rewards_engine.clock import Clock
from rewards_engine.config import Settings
from rewards_engine.logs import configure_logging
from rewards_engine.services.medals.art import ART_FOLDER
from rewards_engine.tokens import TokenVerifier

log = logging.getLogger("api.requests")

API_VERSION = "1.0.0"
DOCS_ASSETS = "/docs/assets/"
ART_MAX_AGE = 365 * 24 * 3600  # a year: the URLs change with the art
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RewardsApi(Api):  # type: ignore[misc]  # flask-smorest ships no types: Api is Any
    """flask-smorest's Api, answering every HTTP error in the engine's error shape."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error):  # type: ignore[no-untyped-def]  # overrides untyped flask-smorest
        return http_exception_body(error)


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> Flask:
    """Build the app. Settings default to the environment's, read here and only here."""
    settings = settings or Settings.from_env()
    if settings.environment != "test":
        configure_logging(settings.log_level)
    runtime = build_runtime(settings, clock)

    app = Flask(__name__)
    app.json = OrjsonProvider(app)
    app.url_map.converters.update(
        int=Int32Converter, id64=Int64Converter, default=TextConverter, string=TextConverter
    )  # before any route is added
    app.config.update(
        API_TITLE="Rewards engine",
        API_VERSION=API_VERSION,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL=DOCS_ASSETS,
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
        API_SPEC_OPTIONS={
            "info": {
                "description": (
                    "Points, medals, rewards, cash bounties and the Honor Wall of the video "
                    "donation program. Authenticate with `Authorization: Bearer <JWT>`."
                )
            }
        },
    )
    app.extensions[EXTENSION] = runtime
    app.extensions[TOKENS] = TokenVerifier(settings)
    if settings.trusted_proxies:  # the client's address and host, as the proxies saw them
        hops = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]  # Flask's documented way to wrap WSGI

    api = RewardsApi(app)
    refine_openapi(api, settings.public_url)  # operation ids, security, headers: issue 22
    for converter in (Int32Converter, Int64Converter):
        api.register_converter(
            converter, lambda c: {"type": "integer", "minimum": 0, "maximum": c.max}
        )
    api.register_converter(TextConverter, lambda _: {"type": "string"})
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    register_error_handlers(app)
    conventions.register(app, settings.cors_origins)  # before the hooks it must run after
    RequestMetrics().init_app(app)
    _serve_docs_assets(app)
    _serve_medal_art(app, settings.fixtures_dir / ART_FOLDER)
    _track_requests(app)
    register_request_guards(app)  # after the request id is set, before any route parses
    app.before_request(redis_budget.open_budget)
    app.teardown_request(redis_budget.close_budget)

    from api import console
    from api.resources import register_blueprints

    register_blueprints(api)
    console.register(app, runtime.settings)
    return app


def _serve_medal_art(app: Flask, folder: Path) -> None:
    """The medal art (fixtures/medal-art), cached by clients for a year: its URLs carry
    the art's hash (``?v=``), so new art is a new URL."""
    from flask import send_from_directory

    def art(name: str) -> Any:
        response = send_from_directory(folder, name, max_age=ART_MAX_AGE)
        response.headers["Cache-Control"] = f"public, max-age={ART_MAX_AGE}, immutable"
        return response

    app.add_url_rule("/static/medals/<name>", "medal_art", art)


def _serve_docs_assets(app: Flask) -> None:
    """Swagger UI's files from the installed package, so the docs work offline."""
    import swagger_ui_bundle
    from flask import send_from_directory

    def asset(filename: str) -> Any:
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename, max_age=86400)

    app.add_url_rule(f"{DOCS_ASSETS}<path:filename>", "docs_assets", asset)


def _track_requests(app: Flask) -> None:
    """A request id on every request and response, and one structured log line each."""

    @app.before_request
    def start() -> None:
        given = request.headers.get("X-Request-Id", "")
        g.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    @app.after_request
    def finish(response: Response) -> Response:
        response.headers["X-Request-Id"] = g.get("request_id", "")
        if "content_language" in g:  # the answer holds texts written in it
            response.headers["Content-Language"] = g.content_language
            response.vary.add("Accept-Language")
        started = g.get("request_started")
        if started is not None:
            log.info(
                "request",
                extra={
                    "fields": {
                        "method": request.method,
                        "route": request.url_rule.rule if request.url_rule else None,
                        "status": response.status_code,
                        "ms": round((time.perf_counter() - started) * 1000, 2),
                        "request_id": g.get("request_id"),
                    }
                },
            )
        return response
