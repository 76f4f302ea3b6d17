"""A staff role as admins read and change it (docs/staff-roles.md)."""

from __future__ import annotations

import marshmallow as ma

from api.schemas.common import REASON, StrictSchema
from rewards_engine.domain.staff_policy import ACTIONS, MAX_LIMIT, MEASURED

_ACTIONS = sorted(ACTIONS)
_BOUND = ma.fields.Integer(strict=True, validate=ma.validate.Range(min=1, max=MAX_LIMIT))


class LimitSchema(StrictSchema):
    per_action = _BOUND
    per_day = _BOUND


class StaffRoleSchema(ma.Schema):
    role = ma.fields.String(required=True)
    version = ma.fields.Integer(
        required=True, metadata={"description": "0 until the roles fixture is loaded"}
    )
    description = ma.fields.String(required=True)
    may = ma.fields.List(ma.fields.String(metadata={"enum": _ACTIONS}), required=True)
    limits = ma.fields.Dict(
        keys=ma.fields.String(metadata={"enum": sorted(MEASURED)}),
        values=ma.fields.Nested(LimitSchema),
        required=True,
        metadata={"description": "per action: points, cents or clips; per_day per agent (UTC)"},
    )
    updated_by = ma.fields.String(required=True)
    updated_at = ma.fields.AwareDateTime(required=True, allow_none=True)


class StaffRoleChangeSchema(StrictSchema):
    """The role's whole new policy (what it may do, and its limits), replacing the old."""

    may = ma.fields.List(ma.fields.String(), required=True)
    limits = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Dict(), load_default=dict)
    description = ma.fields.String(validate=ma.validate.Length(max=500), load_default="")
    reason = REASON
