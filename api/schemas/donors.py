from __future__ import annotations

from typing import Any

import marshmallow as ma

from api.schemas.common import BalancesSchema, StrictSchema
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
    consent_version = ma.fields.String(
        allow_none=True, required=True, metadata={"description": "The consent version held"}
    )
    created_at = ma.fields.AwareDateTime(required=True)


class MeSchema(ProfileSchema):
    balances = ma.fields.Nested(BalancesSchema, required=True)
    all_time_rank = ma.fields.Integer(
        allow_none=True,
        required=True,
        metadata={
            "description": "Rank on the all-time Honor Wall (where you would stand "
            "if hidden); null before your first accepted clip"
        },
    )

    @ma.pre_dump
    def flatten(self, profile: Any, **_: Any) -> dict[str, Any]:
        data = {name: getattr(profile.donor, name) for name in ProfileSchema._declared_fields}
        data["balances"] = profile.balances
        data["all_time_rank"] = profile.all_time_rank
        return data


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


class ConsentGrantSchema(StrictSchema):
    version = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=32))


class ConsentTextSchema(ma.Schema):
    version = ma.fields.String(required=True)
    title = ma.fields.String(required=True)
    summary = ma.fields.String(required=True)
    body = ma.fields.String(required=True)
    published_at = ma.fields.AwareDateTime(required=True)
