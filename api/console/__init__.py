"""The support console: server-rendered pages for support staff.

It runs in the API's Flask app on the same service functions (no second path to the
data). Staff sign in with a token of the same JWT roles; the session is kept server
side (services/staff_sessions.py) and its signed cookie (``Secure``, ``HttpOnly``,
``SameSite=Lax``, path ``/console``) carries only its random id and the CSRF token that
every form carries.
"""

from __future__ import annotations

from flask import Flask

from api.console import (  # noqa: F401  (their routes)
    admin,
    approvals,
    donors,
    gift_cards,
    queues,
    session,
    sessions,
    staff_roles,
)
from api.console.blueprint import bp, printable
from api.console.session import SESSION_TTL
from rewards_engine.config import Settings


def register(app: Flask, settings: Settings) -> None:
    app.secret_key = settings.console_secret  # None: the console answers 503
    app.config.update(
        SESSION_COOKIE_NAME="console_session",
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PATH="/console",
        PERMANENT_SESSION_LIFETIME=SESSION_TTL,
    )
    app.jinja_env.finalize = printable  # any stored text renders (autoescaped as ever)
    app.register_blueprint(bp)
