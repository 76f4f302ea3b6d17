"""The staff roles: what each may do and up to which amount; admins change them."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from api import context
from api.auth import staff_action
from api.conventions import Blueprint
from api.schemas.staff_roles import StaffRoleChangeSchema, StaffRoleSchema
from rewards_engine.domain import staff_policy as policy
from rewards_engine.services import staff_policy

blp = Blueprint("staff-roles", __name__, description="Staff roles and their limits")


@blp.route("/admin/staff-roles")
class StaffRoles(MethodView):
    @staff_action(policy.ROLES_READ)
    @blp.response(200, StaffRoleSchema(many=True))
    def get(self) -> Any:
        """Every staff role: its actions and limits, version and last change"""
        return staff_policy.list_roles(context.runtime().db)


@blp.route("/admin/staff-roles/<string:role>")
class StaffRole(MethodView):
    @staff_action(policy.ROLES_CHANGE)
    @blp.arguments(StaffRoleChangeSchema())
    @blp.response(200, StaffRoleSchema)
    def put(self, body: dict[str, Any], role: str) -> Any:
        """Replace a role's actions and limits (a new version, audited with before and
        after; applies from the next request in every process)"""
        reason = body.pop("reason")
        runtime = context.runtime()
        return staff_policy.update_role(
            runtime.db, runtime.clock, context.actor(), role, body, reason
        )
