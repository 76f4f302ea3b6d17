"""The donor's inbox (docs/notifications.md)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from api import context
from api.auth import auth_required
from api.conventions import Blueprint
from api.schemas.common import page_of
from api.schemas.notifications import (
    FollowSchema,
    InboxNotificationSchema,
    MarkedSchema,
    NotificationQuerySchema,
    ReadAllSchema,
    UnreadSchema,
)
from rewards_engine.domain.roles import Role
from rewards_engine.services import notifications

blp = Blueprint("notifications", __name__, description="The donor's notification inbox")


@blp.route("/me/notifications")
class Inbox(MethodView):
    @auth_required(Role.DONOR)
    @blp.arguments(NotificationQuerySchema(), location="query")
    @blp.response(200, page_of(InboxNotificationSchema))
    def get(self, args: dict[str, Any]) -> Any:
        """Your notifications, newest first, in your language (Content-Language says
        which)"""
        runtime = context.runtime()
        return notifications.list_notifications(
            runtime.db,
            context.donor().id,
            context.language(),
            runtime.settings.fixtures_dir,
            **args,
        )


@blp.route("/me/notifications/unread-count")
class UnreadCount(MethodView):
    @auth_required(Role.DONOR)
    @blp.response(200, UnreadSchema)
    def get(self) -> Any:
        """How many are unread (the badge)"""
        return {"unread": notifications.unread_count(context.runtime().db, context.donor().id)}


@blp.route("/me/notifications/read-all")
class ReadAll(MethodView):
    @auth_required(Role.DONOR)
    @blp.arguments(ReadAllSchema())
    @blp.response(200, MarkedSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Mark every unread one read (up to up_to_id if given); safe to retry"""
        runtime = context.runtime()
        marked = notifications.mark_all_read(
            runtime.db, runtime.clock, context.donor().id, body["up_to_id"]
        )
        return {"marked": marked}


@blp.route("/me/notifications/<id64:notification_id>/read")
class ReadOne(MethodView):
    @auth_required(Role.DONOR)
    @blp.response(200, InboxNotificationSchema)
    @blp.alt_response(404, description="Not one of yours")
    def post(self, notification_id: int) -> Any:
        """Mark one read (it keeps its first read time); safe to retry"""
        runtime = context.runtime()
        return notifications.mark_read(
            runtime.db,
            runtime.clock,
            context.donor().id,
            notification_id,
            context.language(),
            runtime.settings.fixtures_dir,
        )


@blp.route("/me/notifications/<id64:notification_id>")
class OneNotification(MethodView):
    @auth_required(Role.DONOR)
    @blp.response(204)
    @blp.alt_response(404, description="Not one of yours, or already deleted")
    def delete(self, notification_id: int) -> Any:
        """Delete one"""
        notifications.delete_notification(context.runtime().db, context.donor().id, notification_id)


@blp.route("/me/follows")
class Follows(MethodView):
    @auth_required(Role.DONOR)
    @blp.response(200, FollowSchema(many=True))
    def get(self) -> Any:
        """The boards you follow (at most 10): you hear when you pass someone there or
        are passed"""
        return notifications.follows(context.runtime().db, context.donor().id)


@blp.route("/me/follows/<string:board>")
class Follow(MethodView):
    @auth_required(Role.DONOR)
    @blp.response(200, FollowSchema)
    @blp.alt_response(409, description="Already following 10 boards")
    @blp.alt_response(422, description="No such board")
    def put(self, board: str) -> Any:
        """Follow a board (all-time, month:YYYY-MM, week:YYYY-Www, campaign:{id}); safe
        to repeat"""
        return notifications.follow(context.runtime(), context.donor().id, board)

    @auth_required(Role.DONOR)
    @blp.response(204)
    @blp.alt_response(404, description="Not following it")
    def delete(self, board: str) -> Any:
        """Stop following a board"""
        notifications.unfollow(context.runtime().db, context.donor().id, board)
