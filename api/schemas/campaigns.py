from __future__ import annotations

from typing import Any

import marshmallow as ma

from api.schemas.common import REASON, StrictSchema, UtcDateTime, in_int32, translations_field
from rewards_engine.domain.campaigns import PAYOUT_PROVIDERS, UNREGISTERED_CAMERA_RULES


class IncidentProgressSchema(ma.Schema):
    incident_type = ma.fields.String(required=True)
    accepted = ma.fields.Integer(required=True)
    target = ma.fields.Integer(allow_none=True, required=True)
    percent = ma.fields.Float(allow_none=True, required=True)


class CampaignRulesSchema(ma.Schema):
    bounty_cents = ma.fields.Integer(required=True)
    currency = ma.fields.String(required=True)
    points_per_clip = ma.fields.Integer(required=True)
    cap_per_camera_per_incident_type = ma.fields.Integer(allow_none=True, required=True)
    cap_paid_per_event = ma.fields.Integer(allow_none=True, required=True)
    daily_cap_per_donor = ma.fields.Integer(allow_none=True, required=True)
    staged_allowed = ma.fields.Boolean(required=True)
    min_duration_s = ma.fields.Integer(required=True)
    max_duration_s = ma.fields.Integer(required=True)
    review_window_days = ma.fields.Integer(required=True)
    retention_days = ma.fields.Integer(required=True)
    stop_at_target = ma.fields.Boolean(required=True)
    payout_provider = ma.fields.String(allow_none=True, required=True)
    requires_upload = ma.fields.Boolean(
        required=True,
        metadata={"description": "Clips earn only once their video is uploaded and verified"},
    )
    unregistered_cameras = ma.fields.String(
        required=True,
        validate=ma.validate.OneOf(UNREGISTERED_CAMERA_RULES),
        metadata={
            "description": "Clips from a camera not registered to you (POST /v1/me/cameras): "
            "allow (paid as any), review (pending review, support decides) or reject"
        },
    )


class CampaignSchema(ma.Schema):
    id = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    description = ma.fields.String(required=True)
    starts_at = UtcDateTime(required=True)
    ends_at = UtcDateTime(allow_none=True, required=True)
    incident_types = ma.fields.List(ma.fields.String(), required=True)
    targets = ma.fields.Dict(
        keys=ma.fields.String(), values=ma.fields.Integer(), allow_none=True, required=True
    )
    rules = ma.fields.Nested(CampaignRulesSchema, required=True)

    @ma.pre_dump
    def with_rules(self, campaign: Any, **_: Any) -> dict[str, Any]:
        """Group the paying rules under ``rules``; a detail also brings its progress."""
        progress = getattr(campaign, "progress", None)
        campaign = getattr(campaign, "campaign", campaign)
        fields = ("id", "name", "description", "starts_at", "ends_at", "incident_types", "targets")
        data = {name: getattr(campaign, name) for name in fields}
        data["rules"] = campaign
        if progress is not None:
            data["progress"] = progress
        return data


class CampaignDetailSchema(CampaignSchema):
    progress = ma.fields.List(ma.fields.Nested(IncidentProgressSchema), required=True)


def _cap() -> ma.fields.Integer:
    return ma.fields.Integer(allow_none=True, strict=True, validate=in_int32(1))


class CampaignInputSchema(StrictSchema):
    """A campaign's fields; on a change only those sent are changed."""

    name = ma.fields.String(validate=ma.validate.Length(min=1, max=120))
    description = ma.fields.String(validate=ma.validate.Length(max=5000))
    starts_at = ma.fields.AwareDateTime()
    ends_at = ma.fields.AwareDateTime(allow_none=True)
    incident_types = ma.fields.List(
        ma.fields.String(validate=ma.validate.Regexp(r"^[a-z][a-z0-9_]{0,31}$")),
        validate=ma.validate.Length(min=1, max=32),
    )
    targets = ma.fields.Dict(
        keys=ma.fields.String(validate=ma.validate.Length(max=32)),
        values=ma.fields.Integer(strict=True, validate=in_int32(1)),
        allow_none=True,
    )
    stop_at_target = ma.fields.Boolean()
    bounty_cents = ma.fields.Integer(strict=True, validate=ma.validate.Range(min=0, max=1_000_000))
    currency = ma.fields.String(validate=ma.validate.Regexp(r"^[A-Z]{3}$"))
    points_per_clip = ma.fields.Integer(
        strict=True, validate=ma.validate.Range(min=0, max=1_000_000)
    )
    cap_per_camera_per_incident_type = _cap()
    cap_paid_per_event = _cap()
    daily_cap_per_donor = _cap()
    staged_allowed = ma.fields.Boolean()
    min_duration_s = ma.fields.Integer(strict=True, validate=ma.validate.Range(min=1, max=86_400))
    max_duration_s = ma.fields.Integer(strict=True, validate=ma.validate.Range(min=1, max=86_400))
    review_window_days = ma.fields.Integer(strict=True, validate=ma.validate.Range(min=0, max=365))
    review_if_older_than_days = ma.fields.Integer(
        allow_none=True, strict=True, validate=ma.validate.Range(min=1, max=3650)
    )
    retention_days = ma.fields.Integer(strict=True, validate=ma.validate.Range(min=1, max=36_500))
    payout_provider = ma.fields.String(
        allow_none=True, validate=ma.validate.OneOf(PAYOUT_PROVIDERS)
    )
    requires_upload = ma.fields.Boolean(
        metadata={"description": "Pay only for clips whose video arrived (default: true)"}
    )
    translations = translations_field("name", "description")
    unregistered_cameras = ma.fields.String(
        validate=ma.validate.OneOf(UNREGISTERED_CAMERA_RULES),
        metadata={"description": "allow (default), review or reject clips from cameras "
                  "not registered to their donor"},
    )  # fmt: skip
    reason = REASON


class NewCampaignSchema(CampaignInputSchema):
    id = ma.fields.String(required=True, validate=ma.validate.Regexp(r"^[a-z0-9][a-z0-9-]{0,63}$"))
