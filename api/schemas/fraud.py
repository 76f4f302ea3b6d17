from __future__ import annotations

from typing import Any

import marshmallow as ma

from api.schemas.common import REASON, PageArgs, StrictFloat, StrictSchema, in_int32
from rewards_engine.domain.fraud import RULE_PARAMETERS

RULES = sorted(RULE_PARAMETERS)
SEVERITIES = ["low", "medium", "high"]
POSITIVE = ma.validate.Range(min=0, min_inclusive=False)


class FlagQuerySchema(PageArgs):
    status = ma.fields.String(validate=ma.validate.OneOf(["open", "confirmed", "dismissed"]))
    rule = ma.fields.String(validate=ma.validate.OneOf(RULES))
    donor = ma.fields.Integer(data_key="donor", attribute="donor_id", validate=in_int32(1))
    sort = ma.fields.String(
        load_default="score",
        validate=ma.validate.OneOf(["score", "newest"]),
        metadata={"description": "score: highest first (default); newest: newest first"},
    )


class FraudFlagSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    donor_id = ma.fields.Integer(required=True)
    rule = ma.fields.String(required=True, metadata={"enum": RULES})
    rule_version = ma.fields.Integer(required=True)
    severity = ma.fields.String(required=True, metadata={"enum": SEVERITIES})
    score = ma.fields.Float(required=True)
    status = ma.fields.String(required=True)
    summary = ma.fields.String(required=True)
    evidence_count = ma.fields.Integer(required=True)
    created_at = ma.fields.AwareDateTime(required=True)
    updated_at = ma.fields.AwareDateTime(required=True)
    resolved_at = ma.fields.AwareDateTime(allow_none=True, required=True)
    resolved_by = ma.fields.String(allow_none=True, required=True)
    resolution = ma.fields.String(allow_none=True, required=True)


class EvidenceSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    key = ma.fields.String(required=True)
    score = ma.fields.Float(required=True)
    magnitude = ma.fields.Float(required=True)
    details = ma.fields.Dict(required=True, metadata={"description": "Ids and figures"})
    clip_ids = ma.fields.List(
        ma.fields.Integer(),
        required=True,
        metadata={"description": "The clips a confirmation reverses"},
    )
    created_at = ma.fields.AwareDateTime(required=True)


class FlagDetailSchema(FraudFlagSchema):
    evidence = ma.fields.List(ma.fields.Nested(EvidenceSchema), required=True)

    @ma.pre_dump
    def flatten(self, detail: Any, **_: Any) -> dict[str, Any]:
        return {**vars(detail.flag), "evidence": detail.evidence}


class ResolveSchema(StrictSchema):
    decision = ma.fields.String(required=True, validate=ma.validate.OneOf(["confirm", "dismiss"]))
    reason = REASON
    ban = ma.fields.Boolean(
        load_default=False, metadata={"description": "confirm only: also ban the donor"}
    )
    keep_hold = ma.fields.Boolean(
        load_default=True,
        metadata={"description": "confirm only: keep (or put) the donor on hold"},
    )


class ResolutionSchema(ma.Schema):
    flag = ma.fields.Nested(FraudFlagSchema, required=True)
    clips_reversed = ma.fields.Integer(required=True)
    on_hold = ma.fields.Boolean(required=True)
    banned = ma.fields.Boolean(required=True)


class FraudRuleSchema(ma.Schema):
    code = ma.fields.String(required=True)
    version = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)
    description = ma.fields.String(required=True)
    enabled = ma.fields.Boolean(required=True)
    severity = ma.fields.String(required=True, metadata={"enum": SEVERITIES})
    high_at = ma.fields.Float(allow_none=True, required=True)
    dismissal_covers = ma.fields.Float(allow_none=True, required=True)
    params = ma.fields.Dict(required=True)
    updated_by = ma.fields.String(required=True)
    updated_at = ma.fields.AwareDateTime(required=True)


class RuleChangeSchema(StrictSchema):
    enabled = ma.fields.Boolean()
    severity = ma.fields.String(validate=ma.validate.OneOf(SEVERITIES))
    high_at = StrictFloat(allow_none=True, validate=ma.validate.Range(min=0, min_inclusive=False))
    dismissal_covers = StrictFloat(
        allow_none=True, validate=ma.validate.Range(min=0, min_inclusive=False)
    )
    params = ma.fields.Dict(keys=ma.fields.String(), values=StrictFloat())
    reason = REASON
