"""The Honor Wall: public pages and the donor's own standing."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Api

from api import context
from api.auth import auth_required
from api.conventions import Blueprint
from api.schemas.wall import (
    WallEntrySchema,
    WallMeQuery,
    WallPageSchema,
    WallQuery,
    WallStandingSchema,
)
from rewards_engine.domain.roles import Role
from rewards_engine.services import wall

blp = Blueprint("honor_wall", __name__, description="The Honor Wall: rankings of donors")


def register_schemas(api: Api) -> None:
    """Entries are written without marshmallow (see ``entries_field``); document them."""
    api.spec.components.schema("WallEntry", schema=WallEntrySchema)


@blp.route("/honor-wall")
class HonorWall(MethodView):
    @blp.etag
    @blp.arguments(WallQuery(), location="query")
    @blp.response(200, WallPageSchema)
    @blp.alt_response(422, description="Unknown board, bad limit or cursor")
    @blp.alt_response(503, description="Redis is down or hung: see Retry-After")
    def get(self, args: dict[str, Any]) -> Any:
        """A page of a board, best first (public; names are display names or pseudonyms)"""
        page = wall.read_page(
            context.runtime(), args["board"], limit=args["limit"], cursor=args["cursor"]
        )
        blp.set_etag(page.etag)
        return page


@blp.route("/honor-wall/me")
class MyStanding(MethodView):
    @auth_required(Role.DONOR)
    @blp.etag
    @blp.arguments(WallMeQuery(), location="query")
    @blp.response(200, WallStandingSchema)
    @blp.alt_response(503, description="Redis is down or hung: see Retry-After")
    def get(self, args: dict[str, Any]) -> Any:
        """The donor's rank, count and percentile, and the donors around them"""
        standing = wall.read_standing(
            context.runtime(), args["board"], context.donor(), args["around"]
        )
        blp.set_etag(standing.etag)
        return standing
