"""The console's blueprint: security headers, HTML error pages and template helpers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from api.errors import domain_status
from api.schemas.common import text_problem, without_surrogates
from rewards_engine.domain.errors import DomainError

bp = Blueprint("console", __name__, url_prefix="/console")
NOTHING = "\N{EN DASH}"

# Pages carry no script; styles come from the console's own stylesheet.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",  # donors' data must not stay in a shared browser's cache
}


@bp.before_request
def require_configuration() -> Any:
    if not current_app.secret_key:
        return error_page(
            503, "The support console is not configured: set CONSOLE_SECRET and restart."
        )
    return None


@bp.before_request
def refuse_unstorable_text() -> Any:
    """A NUL (or a lone surrogate) in a query or form value: no database stores it,
    so the page says so (400) instead of failing in the driver. Signing in stores no
    text (its ``next`` is checked and falls back to the search page), so it is left be."""
    if request.endpoint == "console.sign_in":
        return None
    for where, values in (("query", request.args), ("form", request.form)):
        for key, value in values.items(multi=True):
            problem = text_problem(key) or text_problem(value)
            if problem:
                name = key.encode("utf-8", "replace").decode("utf-8")
                return error_page(400, f"The {where} field {name!r} {problem}.")
    return None


@bp.after_request
def secure(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


def error_page(status: int, message: str) -> tuple[str, int]:
    return render_template("console/error.html", status=status, message=message), status


@bp.errorhandler(DomainError)
def domain_error(error: DomainError) -> tuple[str, int]:
    return error_page(domain_status(error), error.message)


@bp.errorhandler(HTTPException)
def http_error(error: HTTPException) -> tuple[str, int]:
    return error_page(error.code or 500, error.description or error.name)


@bp.app_template_global("url_with")
def url_with(**changes: str) -> str:
    """This page's address with some query parameters changed (the next page, say)."""
    query = {k: v for k, v in request.args.items() if not k.startswith("_")}
    args = {**query, **changes, **(request.view_args or {})}  # the path's own ids win
    return url_for(request.endpoint or "console.search", **args)


def printable(value: Any) -> Any:
    """Jinja's ``finalize``: every ``{{ value }}`` is output through it. Stored text that
    UTF-8 cannot encode (a lone surrogate kept by SQLite before the API refused it)
    shows as U+FFFD instead of failing the whole page; autoescape still applies."""
    if isinstance(value, str):
        fixed = without_surrogates(value)
        if fixed != value:
            return type(value)(fixed)  # Markup stays Markup (it was safe), str stays str
    return value


@bp.app_template_filter("number")
def number(value: int | float | None) -> str:
    if value is None:
        return NOTHING
    return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}".rstrip("0").rstrip(".")


@bp.app_template_filter("money")
def money(cents: int | None, currency: str = "") -> str:
    if cents is None:
        return NOTHING
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100:,}.{abs(cents) % 100:02d} {currency}".strip()


@bp.app_template_filter("when")
def when(moment: datetime | None) -> str:
    if moment is None:
        return NOTHING
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
