"""Admins end staff sessions and revoke bearer tokens (issue 24, part 3). All audited.

Each has its own action in the staff policy, so a role may be given one without the
other nor the power to change roles: ``sessions.end`` (list and end console sessions:
admins and support leads, as shipped) and ``tokens.revoke`` (list revocations, revoke
a token by ``jti`` or a subject's tokens: admins, as shipped)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask.views import MethodView

from api import auth, context
from api.auth import staff_action
from api.conventions import Blueprint
from api.schemas.sessions import (
    EndedSessionsSchema,
    EndSessionsSchema,
    RevocationListSchema,
    RevocationSchema,
    StaffSessionListSchema,
    SubjectRevocationRequestSchema,
    TokenRevocationRequestSchema,
)
from rewards_engine.domain import staff_policy as policy
from rewards_engine.services import revocations, staff_sessions

blp = Blueprint("sessions", __name__, description="Staff sessions and token revocations")


@blp.route("/admin/staff-sessions")
class StaffSessions(MethodView):
    @staff_action(policy.SESSIONS_END)
    @blp.response(200, StaffSessionListSchema)
    def get(self) -> Any:
        """Open console sessions (agent, role, since, last seen), most recently used first"""
        runtime = context.runtime()
        idle = timedelta(minutes=runtime.settings.console_idle_minutes)
        return {"items": staff_sessions.list_active(runtime.db, runtime.clock, idle=idle)}


@blp.route("/admin/staff-sessions/end")
class EndStaffSessions(MethodView):
    @staff_action(policy.SESSIONS_END)
    @blp.arguments(EndSessionsSchema())
    @blp.response(200, EndedSessionsSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """End every console session of an agent (audited; a retry ends none and says so)"""
        runtime = context.runtime()
        ended = staff_sessions.end_all(
            runtime.db, runtime.clock, context.actor(), body["subject"], reason=body["reason"]
        )
        return {"subject": body["subject"], "ended": ended}


@blp.route("/admin/token-revocations")
class TokenRevocations(MethodView):
    @staff_action(policy.TOKENS_REVOKE)
    @blp.response(200, RevocationListSchema)
    def get(self) -> Any:
        """Revocations in force (revoked token ids until their exp, subjects' not-befores)"""
        runtime = context.runtime()
        return {"items": revocations.list_revocations(runtime.db, runtime.clock)}

    @staff_action(policy.TOKENS_REVOKE)
    @blp.arguments(TokenRevocationRequestSchema())
    @blp.response(201, RevocationSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Revoke one token by its `jti` (401 at its next call; the same jti again answers
        the first revocation)"""
        runtime = context.runtime()
        revoked = revocations.revoke_jti(
            runtime.db, runtime.clock, context.actor(), body.pop("jti"), **body
        )
        auth.revocations().invalidate()
        return revoked


@blp.route("/admin/subject-revocations")
class SubjectRevocations(MethodView):
    @staff_action(policy.TOKENS_REVOKE)
    @blp.arguments(SubjectRevocationRequestSchema())
    @blp.response(201, RevocationSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Void every token of a subject issued before now, and end its console sessions
        (a role removed upstream: the identity provider's offboarding calls this)"""
        runtime = context.runtime()
        revoked = revocations.revoke_subject(
            runtime.db, runtime.clock, context.actor(), body["subject"], reason=body["reason"]
        )
        auth.revocations().invalidate()
        return revoked
