"""The calling donor's own profile."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from api import context
from api.auth import auth_required
from api.schemas.donors import ProfilePatchSchema, ProfileSchema
from rewards_engine.domain.roles import Role
from rewards_engine.services import donors

blp = Blueprint("me", __name__, description="The calling donor's profile")


@blp.route("/me")
class Me(MethodView):
    @auth_required(Role.DONOR)
    @blp.response(200, ProfileSchema)
    def get(self) -> Any:
        """The donor's profile: display name, visibility and status"""
        return context.donor()

    @auth_required(Role.DONOR)
    @blp.arguments(ProfilePatchSchema)
    @blp.response(200, ProfileSchema)
    def patch(self, changes: dict[str, Any]) -> Any:
        """Change display name, wall visibility or time zone (omitted fields are kept)"""
        runtime = context.runtime()
        return donors.update_profile(
            runtime.db, runtime.clock, context.donor().id, donors.ProfileChanges(**changes)
        )
