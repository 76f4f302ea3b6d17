"""Push to phones: the donor's devices and push preferences (docs/push.md)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from api import context
from api.auth import auth_required
from api.conventions import Blueprint
from api.schemas.common import PageArgs, page_of
from api.schemas.devices import (
    DeviceRegistrationSchema,
    DeviceSchema,
    PushPreferencesAnswerSchema,
    PushPreferencesSchema,
    RegisteredDeviceSchema,
)
from rewards_engine.domain.roles import Role
from rewards_engine.services import push

blp = Blueprint("devices", __name__, description="Your phones, for push notifications")


@blp.route("/me/devices")
class MyDevices(MethodView):
    @auth_required(Role.DONOR)
    @blp.arguments(PageArgs(), location="query")
    @blp.response(200, page_of(DeviceSchema))
    def get(self, args: dict[str, Any]) -> Any:
        """Your registered phones, newest first (their tokens are never shown)"""
        return push.list_devices(context.runtime().db, context.donor().id, **args)

    @auth_required(Role.DONOR)
    @blp.arguments(DeviceRegistrationSchema())
    @blp.response(201, RegisteredDeviceSchema)
    @blp.alt_response(200, schema=RegisteredDeviceSchema, description="The token was "
                      "registered already: its record is updated (and moves to you)")  # fmt: skip
    @blp.alt_response(422, description="The token is not one of its platform's (invalid_token)")
    def post(self, body: dict[str, Any]) -> Any:
        """Register this phone's push token (at every app start: safe to repeat)"""
        runtime = context.runtime()
        registered = push.register_device(runtime.db, runtime.clock, context.donor().id, **body)
        return registered, 201 if registered.created else 200


@blp.route("/me/devices/<int:device_id>")
class OneDevice(MethodView):
    @auth_required(Role.DONOR)
    @blp.response(204)
    @blp.alt_response(404, description="Not one of yours, or already removed")
    def delete(self, device_id: int) -> Any:
        """Remove a phone: it gets no more pushes (at sign-out)"""
        runtime = context.runtime()
        push.delete_device(runtime.db, runtime.clock, context.donor().id, device_id)


@blp.route("/me/push-preferences")
class MyPushPreferences(MethodView):
    @auth_required(Role.DONOR)
    @blp.response(200, PushPreferencesAnswerSchema)
    def get(self) -> Any:
        """Which kinds you get no push for, and your quiet hours"""
        runtime = context.runtime()
        return push.get_preferences(runtime.db, runtime.settings.push, context.donor().id)

    @auth_required(Role.DONOR)
    @blp.arguments(PushPreferencesSchema())
    @blp.response(200, PushPreferencesAnswerSchema)
    def put(self, body: dict[str, Any]) -> Any:
        """Replace your push preferences; safe to repeat"""
        runtime = context.runtime()
        quiet = body["quiet_hours"]
        return push.set_preferences(
            runtime.db,
            runtime.clock,
            runtime.settings.push,
            context.donor().id,
            muted_kinds=body["muted_kinds"],
            quiet_hours=(quiet["start"], quiet["end"]) if quiet else None,
        )
