from __future__ import annotations

from typing import Any

import marshmallow as ma

from api.schemas.common import StrictSchema, UtcDateTime
from rewards_engine.domain.notifications import Kind
from rewards_engine.domain.push import PLATFORMS, TOKEN_MAX


class DeviceRegistrationSchema(StrictSchema):
    platform = ma.fields.String(
        required=True,
        validate=ma.validate.OneOf(PLATFORMS),
        metadata={"description": "fcm (Firebase Cloud Messaging) or apns (Apple)"},
    )
    token = ma.fields.String(
        required=True,
        load_only=True,
        validate=ma.validate.Length(min=1, max=TOKEN_MAX),
        metadata={
            "description": "The FCM registration token or the APNs device token (hex); "
            "never shown back"
        },
    )
    app_version = ma.fields.String(
        load_default=None, allow_none=True, validate=ma.validate.Length(max=32)
    )
    locale = ma.fields.String(
        load_default=None,
        allow_none=True,
        validate=ma.validate.Length(max=16),
        metadata={"description": "The phone's language (fr-CA): pushes are written in it "
                  "unless you saved one"},
    )  # fmt: skip


class DeviceSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    platform = ma.fields.String(required=True, metadata={"enum": list(PLATFORMS)})
    app_version = ma.fields.String(required=True, allow_none=True)
    locale = ma.fields.String(required=True, allow_none=True)
    created_at = UtcDateTime(required=True)
    registered_at = UtcDateTime(required=True, metadata={"description": "Registered to you"})
    updated_at = UtcDateTime(required=True)


class RegisteredDeviceSchema(DeviceSchema):
    @ma.pre_dump
    def unwrap(self, registered: Any, **_: Any) -> Any:
        return registered.device


class QuietHoursSchema(StrictSchema):
    start = ma.fields.String(
        required=True,
        validate=ma.validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$"),
        metadata={"description": "Local time HH:MM, in your time zone"},
    )
    end = ma.fields.String(required=True, validate=ma.validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$"))


class PushPreferencesSchema(StrictSchema):
    muted_kinds = ma.fields.List(
        ma.fields.String(validate=ma.validate.OneOf([kind.value for kind in Kind])),
        required=True,
        validate=ma.validate.Length(max=len(Kind)),
        metadata={"description": "Kinds of notification you want no push for (they stay "
                  "in your inbox)"},
    )  # fmt: skip
    quiet_hours = ma.fields.Nested(
        QuietHoursSchema,
        required=True,
        allow_none=True,
        metadata={"description": "No push in this window of your time zone (sent when it "
                  "ends); null: none"},
    )  # fmt: skip


class PushPreferencesAnswerSchema(PushPreferencesSchema):
    default = ma.fields.Boolean(
        required=True, metadata={"description": "Never set: the installation's defaults"}
    )

    @ma.pre_dump
    def shape(self, view: Any, **_: Any) -> dict[str, Any]:
        quiet = view.quiet_hours
        return {
            "muted_kinds": view.muted_kinds,
            "quiet_hours": {"start": quiet[0], "end": quiet[1]} if quiet else None,
            "default": view.default,
        }
