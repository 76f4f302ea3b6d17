"""Staff sign-in, the session cookie, CSRF tokens and role checks for the console.

Staff sign in with a token of the same JWT roles as the API (a staff role). The session
is kept server side (services/staff_sessions.py): the cookie carries only a random id,
so signing out ends the session for every copy of the cookie, an agent can sign out
everywhere, an admin can end an agent's sessions, a session unused for
CONSOLE_IDLE_MINUTES ends, and a subject revoked upstream (a not-before, see
services/revocations.py) or the token a session was opened with revoked by its ``jti``
ends the session at its next request. A session lasts at
most eight hours, never longer than the token it was opened with. Every POST
must carry the session's CSRF token, and a browser's Origin header, when sent, must
name this host: a page elsewhere cannot make a signed-in agent's browser act.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import (
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from api import auth, context, limits
from api.console.blueprint import bp
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.roles import STAFF_ROLES, Role
from rewards_engine.domain.staff_policy import Policy
from rewards_engine.services import staff_policy, staff_sessions
from rewards_engine.tokens import InvalidToken, Principal

log = logging.getLogger("api.console")

SESSION_TTL = staff_sessions.MAX_LIFETIME
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Staff:
    subject: str
    role: Role
    expires_at: datetime  # the session's absolute end

    def actor(self) -> Actor:
        """Named as the API names the same person: ``support:<sub>`` or ``admin:<sub>``."""
        name = Principal(self.subject, self.role).actor_id
        return Actor(id=name, role=self.role.value, request_id=g.get("request_id"))


def current_staff() -> Staff | None:
    """The agent of this request: the cookie's id must name a session the server still
    holds open (not signed out or ended, not expired, not idle too long, not older than
    its subject's revocation nor opened with a token since revoked). One read by key; a
    write at most once a minute."""
    session_id = session.get("sid")
    if not isinstance(session_id, str) or not session_id:
        return None
    runtime = context.runtime()
    view = staff_sessions.resume(
        runtime.db,
        runtime.clock,
        session_id,
        idle=timedelta(minutes=runtime.settings.console_idle_minutes),
        not_before=auth.revocations().subject_not_before,
        jti_revoked=auth.revocations().jti_revoked,
    )
    if view is None:
        return None
    try:
        role = Role(view.role)
    except ValueError:
        return None
    return Staff(view.subject, role, view.expires_at) if role in STAFF_ROLES else None


def csrf_token() -> str:
    token = session.get("csrf")
    if not isinstance(token, str):
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def request_policy() -> Policy:
    """The staff policy, read once per request: a page asks ``may`` for every link and
    form it shows."""
    if "staff_policy" not in g:
        g.staff_policy = staff_policy.current(context.runtime().db)
    policy: Policy = g.staff_policy
    return policy


def may(action: str) -> bool:
    """Whether the signed-in agent's role may do ``action`` (pages show only what works)."""
    staff: Staff | None = g.get("staff")
    if staff is None:
        return False
    return request_policy().allows(staff.role.value, action)


@bp.app_context_processor
def template_helpers() -> dict[str, Any]:
    return {"csrf_token": csrf_token, "staff": g.get("staff"), "may": may}


@bp.before_request
def load_staff_and_check_forms() -> None:
    g.staff = current_staff()
    if request.method == "POST":
        _check_csrf()


def _check_csrf() -> None:
    expected = session.get("csrf")
    sent = request.form.get("csrf_token", "")
    if not isinstance(expected, str) or not hmac.compare_digest(sent, expected):
        abort(403, "This form has expired or did not come from the console; reload the page.")
    origin = request.headers.get("Origin")
    if origin is not None and urlsplit(origin).netloc != request.host:
        abort(403, "This form was sent from another site.")


def staff_required(*actions: str) -> Callable[[F], F]:
    """Sign-in first (back here afterwards); then the staff policy, as the API checks
    it: the role must be allowed one of ``actions`` (read at each request)."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            staff: Staff | None = g.get("staff")
            if staff is None:
                back = request.full_path.rstrip("?") if request.method == "GET" else None
                return redirect(url_for("console.sign_in", next=back), 303)
            if not request_policy().allows_any(staff.role.value, actions):
                abort(403, f"The {staff.role.value} role may not do {' or '.join(actions)}.")
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]  # functools.wraps keeps the view's signature

    return decorator


def _safe_next(target: str | None) -> str:
    """Only a path of the console: never another site, never a header-breaking byte."""
    if target and target.isprintable() and target.isascii():
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and parts.path.startswith("/console/"):
            return target
    return url_for("console.search")


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> Any:
    if request.method == "GET":
        if g.staff is not None:
            return redirect(_safe_next(request.args.get("next")))
        return render_template("console/sign_in.html", next=request.args.get("next", ""))
    token = request.form.get("token", "").strip()
    try:
        limits.count(
            "sign-ins",
            limits.caller_address(),
            context.runtime().settings.rate_limits.sign_ins_per_address,
        )
    except limits.TooMany as error:
        page, status = _refuse(429, f"Too many sign-in attempts: retry in {error.retry_after} s.")
        return page, status, {"Retry-After": str(error.retry_after)}
    try:
        principal = auth.verify_token(token)  # a revoked token cannot open a session
    except InvalidToken as exc:
        return _refuse(401, f"That token cannot be used: {exc.reason}.")
    if principal.role not in STAFF_ROLES:
        return _refuse(403, "The console is for support staff; that token is a donor's.")
    runtime = context.runtime()
    session_id, _ = staff_sessions.open_session(runtime.db, runtime.clock, principal)
    session.clear()  # a fresh session and CSRF token: nothing carries over from before
    session.permanent = True
    session["sid"] = session_id
    csrf_token()
    log.info("console sign-in", extra={"fields": {"actor": principal.actor_id}})
    flash(f"Signed in as {principal.subject} ({principal.role.value}).", "ok")
    return redirect(_safe_next(request.form.get("next")), 303)


def _refuse(status: int, message: str) -> tuple[str, int]:
    page = render_template("console/sign_in.html", next=request.form.get("next", ""), error=message)
    return page, status


@bp.post("/sign-out")
def sign_out() -> Any:
    """Ends the session on the server: a copy of this cookie stops working too."""
    staff = g.staff
    session_id = session.get("sid")
    if isinstance(session_id, str) and session_id:
        runtime = context.runtime()
        staff_sessions.end_session(runtime.db, runtime.clock, session_id)
    session.clear()
    if staff is not None:
        log.info("console sign-out", extra={"fields": {"actor": staff.actor().id}})
    flash("Signed out.", "ok")
    return redirect(url_for("console.sign_in"), 303)


@bp.post("/sign-out-everywhere")
def sign_out_everywhere() -> Any:
    """Ends every session of the signed-in agent (other browsers, a cookie left on a
    shared machine), audited as ``staff_sessions.ended`` by the agent themselves."""
    staff: Staff | None = g.staff
    if staff is not None:
        runtime = context.runtime()
        ended = staff_sessions.end_all(
            runtime.db,
            runtime.clock,
            staff.actor(),
            staff.subject,
            reason="signed out everywhere by the agent",
        )
        flash(f"Signed out everywhere: {ended} session(s) ended.", "ok")
    session.clear()
    return redirect(url_for("console.sign_in"), 303)
