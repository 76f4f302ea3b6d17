from __future__ import annotations

import marshmallow as ma

from api.schemas.common import StrictSchema
from rewards_engine.domain.profiles import DISPLAY_NAME_MAX, Visibility

VISIBILITIES = [v.value for v in Visibility]


class ProfileSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    account_id = ma.fields.String(required=True)
    display_name = ma.fields.String(allow_none=True, required=True)
    alias = ma.fields.String(
        allow_none=True, required=True, metadata={"description": "Shown when visibility is alias"}
    )
    visibility = ma.fields.String(required=True, metadata={"enum": VISIBILITIES})
    status = ma.fields.String(required=True, metadata={"enum": ["active", "banned", "erased"]})
    timezone = ma.fields.String(allow_none=True, required=True)
    created_at = ma.fields.AwareDateTime(required=True)


class ProfilePatchSchema(StrictSchema):
    display_name = ma.fields.String(
        allow_none=True,
        validate=ma.validate.Length(max=DISPLAY_NAME_MAX * 4),
        metadata={"description": "2 to 32 letters, digits, spaces and . ' - _; null clears it"},
    )
    visibility = ma.fields.String(validate=ma.validate.OneOf(VISIBILITIES))
    timezone = ma.fields.String(
        allow_none=True,
        validate=ma.validate.Length(max=64),
        metadata={"description": "IANA time zone, e.g. Europe/Berlin; days count in it"},
    )
