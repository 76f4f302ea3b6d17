"""The staff sessions page: admins see who is signed in and end an agent's sessions.

Each row shows the agent, role, since and last seen, never the session's id. Ending is
per agent (all of their sessions, ``sessions.end``), audited, and may also void the
agent's tokens (a subject not-before, ``tokens.revoke`` as well): what to do when an
agent leaves or a cookie was stolen.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import abort, flash, g, redirect, render_template, url_for

from api import auth, context
from api.console import forms
from api.console.blueprint import bp
from api.console.session import may, staff_required
from rewards_engine.domain import staff_policy as policy
from rewards_engine.domain.errors import DomainError
from rewards_engine.services import revocations, staff_sessions


@bp.get("/sessions")
@staff_required(policy.SESSIONS_END)
def staff_sessions_page() -> Any:
    runtime = context.runtime()
    idle = timedelta(minutes=runtime.settings.console_idle_minutes)
    active = staff_sessions.list_active(runtime.db, runtime.clock, idle=idle)
    return render_template("console/sessions.html", sessions=active)


@bp.post("/sessions/end")
@staff_required(policy.SESSIONS_END)
def end_staff_sessions() -> Any:
    runtime = context.runtime()
    if forms.checked("revoke_tokens") and not may(policy.TOKENS_REVOKE):
        abort(403, f"The {g.staff.role.value} role may not do {policy.TOKENS_REVOKE}.")
    try:
        subject = forms.text("subject") or ""
        reason = forms.text("reason") or ""
        if forms.checked("revoke_tokens"):
            revocations.revoke_subject(
                runtime.db, runtime.clock, g.staff.actor(), subject, reason=reason
            )
            auth.revocations().invalidate()
            flash(f"{subject}'s sessions ended and tokens issued until now voided.", "ok")
        else:
            ended = staff_sessions.end_all(
                runtime.db, runtime.clock, g.staff.actor(), subject, reason=reason
            )
            flash(f"{subject}: {ended} session(s) ended.", "ok")
    except DomainError as error:
        forms.report_failure(error)
    return redirect(url_for("console.staff_sessions_page"), 303)
