from __future__ import annotations

import marshmallow as ma

from api.schemas.common import StrictSchema, UtcDateTime


class AttestationSchema(StrictSchema):
    attestation = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=8192),
        metadata={
            "description": "The device cloud's signed attestation (a JWT) that the camera "
            "is registered to the account (docs/cameras.md)"
        },
    )


class CapUseSchema(ma.Schema):
    campaign_id = ma.fields.String(required=True)
    incident_type = ma.fields.String(required=True)
    used = ma.fields.Integer(
        required=True,
        metadata={"description": "Clips from this camera that count, under any owner"},
    )
    cap = ma.fields.Integer(required=True)


class CameraSchema(ma.Schema):
    serial = ma.fields.String(required=True)
    model = ma.fields.String(required=True)
    registered_at = UtcDateTime(required=True, metadata={"description": "Registered to you"})
    clips = ma.fields.Integer(
        required=True, metadata={"description": "Your clips from it that count (any campaign)"}
    )
    caps = ma.fields.List(
        ma.fields.Nested(CapUseSchema),
        required=True,
        metadata={"description": "Its caps in the open campaigns that cap cameras"},
    )


class RegisteredCameraSchema(ma.Schema):
    camera = ma.fields.Nested(CameraSchema, required=True)
    outcome = ma.fields.String(
        required=True,
        metadata={
            "enum": ["registered", "moved", "renewed", "unchanged"],
            "description": "moved: it was registered to another account until now; "
            "unchanged: this attestation was already used for this registration (a retry)",
        },
    )


class RegistrationSchema(ma.Schema):
    donor_id = ma.fields.Integer(allow_none=True, required=True)
    previous_donor_id = ma.fields.Integer(allow_none=True, required=True)
    model = ma.fields.String(required=True)
    via = ma.fields.String(required=True, metadata={"enum": ["app", "device_cloud"]})
    registered_at = UtcDateTime(required=True)
    ended_at = UtcDateTime(allow_none=True, required=True)
    ended_by = ma.fields.String(
        allow_none=True, required=True, metadata={"enum": ["moved", "renewed", "erased"]}
    )
    token_id = ma.fields.String(required=True, metadata={"description": "The attestation's jti"})


class CameraHistorySchema(ma.Schema):
    serial = ma.fields.String(required=True)
    model = ma.fields.String(required=True)
    donor_id = ma.fields.Integer(
        allow_none=True, required=True, metadata={"description": "Registered to now"}
    )
    moves = ma.fields.Integer(required=True)
    registrations = ma.fields.List(ma.fields.Nested(RegistrationSchema), required=True)
