from __future__ import annotations

from typing import Any

import marshmallow as ma

from api.schemas.common import REASON, StrictSchema, in_column, translations_field

EVIDENCE = {
    "description": "Why it was granted; the fields depend on the medal's rule kind (count: "
    "count, threshold, scope; period: count, threshold, period; streak: first_day, "
    "last_day, days, timezone; placement: period, rank, clips, snapshot_hash; "
    "campaign_goal: campaign, clips). Other fields may be added",
    "properties": {
        "count": {"type": "integer", "description": "Clips counted"},
        "threshold": {"type": "integer", "description": "Clips the rule needs"},
        "scope": {"type": "string", "description": "What was counted (an incident type...)"},
        "period": {"type": "string", "description": "The week, month or board"},
        "first_day": {"type": "string", "format": "date"},
        "last_day": {"type": "string", "format": "date"},
        "days": {"type": "integer", "description": "Days in a row the rule needs"},
        "timezone": {"type": "string"},
        "rank": {"type": "integer"},
        "clips": {"type": "integer"},
        "snapshot_hash": {"type": "string"},
        "campaign": {"type": "string"},
    },
    "additionalProperties": True,
}


class AwardSchema(ma.Schema):
    awarded_at = ma.fields.AwareDateTime(required=True)
    version = ma.fields.Integer(required=True, metadata={"description": "Definition version"})
    period = ma.fields.String(
        attribute="period_key",
        allow_none=True,
        required=True,
        metadata={"description": "The week or month it was earned for; empty otherwise"},
    )
    evidence = ma.fields.Dict(keys=ma.fields.String(), required=True, metadata=EVIDENCE)
    provisional = ma.fields.Function(
        lambda a: a.provisional_until is not None,
        metadata={"type": "boolean", "description": "May still be revoked by late reviews"},
    )
    provisional_until = ma.fields.AwareDateTime(allow_none=True, required=True)
    revoked = ma.fields.Function(lambda a: a.revoked_at is not None, metadata={"type": "boolean"})
    revoked_at = ma.fields.AwareDateTime(allow_none=True, required=True)
    revoke_reason = ma.fields.String(allow_none=True, required=True)


class ProgressSchema(ma.Schema):
    current = ma.fields.Integer(required=True)
    target = ma.fields.Integer(required=True)
    percent = ma.fields.Float(required=True)
    current_run = ma.fields.Integer(
        allow_none=True, required=True, metadata={"description": "Streaks: days in a row now"}
    )
    period = ma.fields.String(allow_none=True, required=True)


class MedalSchema(ma.Schema):
    code = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    description = ma.fields.String(required=True)
    icon_key = ma.fields.String(required=True)
    tier = ma.fields.String(required=True)
    bonus_points = ma.fields.Integer(required=True)
    kind = ma.fields.String(required=True)
    version = ma.fields.Integer(required=True)
    held = ma.fields.Boolean(required=True, metadata={"description": "An award not revoked"})
    awards = ma.fields.List(ma.fields.Nested(AwardSchema), required=True)
    progress = ma.fields.Nested(ProgressSchema, allow_none=True, required=True)
    category = ma.fields.String(required=True, metadata={"description": "Groups the screen"})
    sort_order = ma.fields.Integer(required=True, metadata={"description": "Display order"})
    icon_url = ma.fields.String(required=True, metadata={"description": "The earned art (SVG)"})
    icon_locked_url = ma.fields.String(
        required=True, metadata={"description": "The art while not earned"}
    )
    rarity = ma.fields.Float(
        allow_none=True,
        required=True,
        metadata={"description": "Share of active donors holding it (0 to 1); null before "
                  "the medal-rarity job has counted"},
    )  # fmt: skip
    secret = ma.fields.Boolean(
        required=True,
        metadata={"description": "A secret medal not earned yet: a placeholder (its name, "
                  "description and rule are revealed once earned)"},
    )  # fmt: skip

    @ma.pre_dump
    def flatten(self, view: Any, **_: Any) -> dict[str, Any]:
        d = view.definition
        return {
            "code": d.code,
            "name": d.name,
            "description": d.description,
            "icon_key": d.icon_key,
            "tier": d.tier,
            "bonus_points": d.bonus_points,
            "kind": "secret" if view.hidden else d.rule.kind,
            "version": d.version,
            "awards": view.awards,
            "held": view.held,
            "progress": view.progress,
            "category": d.category,
            "sort_order": d.sort_order,
            "icon_url": view.icon_url,
            "icon_locked_url": view.icon_locked_url,
            "rarity": view.rarity,
            "secret": view.hidden,
        }


class NotificationSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    codes = ma.fields.List(ma.fields.String(), required=True)
    created_at = ma.fields.AwareDateTime(required=True)
    read = ma.fields.Function(lambda n: n.read_at is not None, metadata={"type": "boolean"})


class MedalScreenSchema(ma.Schema):
    medals = ma.fields.List(ma.fields.Nested(MedalSchema), required=True)
    notifications = ma.fields.List(ma.fields.Nested(NotificationSchema), required=True)


class DefinitionSchema(ma.Schema):
    code = ma.fields.String(required=True)
    version = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)
    description = ma.fields.String(required=True)
    icon_key = ma.fields.String(required=True)
    tier = ma.fields.String(required=True)
    bonus_points = ma.fields.Integer(required=True)
    sort_order = ma.fields.Integer(required=True)
    category = ma.fields.String(required=True)
    secret = ma.fields.Boolean(required=True)
    translations = ma.fields.Dict(allow_none=True, required=True)
    rule = ma.fields.Dict(required=True)
    active = ma.fields.Boolean(required=True)
    created_at = ma.fields.AwareDateTime(required=True)
    created_by = ma.fields.String(required=True)


class DefinitionInputSchema(StrictSchema):
    """A medal's fields; English in name and description, other languages in
    translations."""

    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=80))
    description = ma.fields.String(load_default="", validate=ma.validate.Length(max=2000))
    icon_key = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    tier = ma.fields.String(
        required=True, metadata={"description": "bronze, silver, gold, platinum or level-N"}
    )
    bonus_points = ma.fields.Integer(load_default=0, strict=True, validate=in_column())
    sort_order = ma.fields.Integer(load_default=0, strict=True, validate=in_column())
    category = ma.fields.String(
        load_default="clips",
        validate=ma.validate.Regexp(r"^[a-z][a-z0-9_-]{0,31}$"),
        metadata={"description": "Groups the medal screen"},
    )
    secret = ma.fields.Boolean(
        load_default=False, metadata={"description": "A locked placeholder until earned"}
    )
    translations = translations_field("name", "description")
    rule = ma.fields.Dict(
        required=True,
        metadata={
            "description": "{kind: count, threshold, incident_type?|campaign?} | "
            "{kind: streak, days} | {kind: period, period: week|month, threshold} | "
            "{kind: placement, period, top} | {kind: campaign_goal, campaign}"
        },
    )


class NewDefinitionSchema(DefinitionInputSchema):
    code = ma.fields.String(required=True, validate=ma.validate.Length(min=2, max=48))


class RetireSchema(StrictSchema):
    reason = REASON


class BackfillRequestSchema(StrictSchema):
    medal = ma.fields.String(load_default=None, validate=ma.validate.Length(max=48))
    dry_run = ma.fields.Boolean(load_default=True)


class ChangeSchema(ma.Schema):
    donor_id = ma.fields.Integer(required=True)
    code = ma.fields.String(required=True)
    period_key = ma.fields.String(required=True)


class BackfillSchema(ma.Schema):
    applied = ma.fields.Boolean(required=True)
    donors_evaluated = ma.fields.Integer(required=True)
    by_medal = ma.fields.Dict(required=True)
    gains = ma.fields.Integer(required=True)
    losses = ma.fields.Integer(required=True)
    gain_sample = ma.fields.List(ma.fields.Nested(ChangeSchema), required=True)
    loss_sample = ma.fields.List(ma.fields.Nested(ChangeSchema), required=True)

    @ma.pre_dump
    def summarise(self, report: Any, **_: Any) -> dict[str, Any]:
        return {
            **report.summary(),
            "gain_sample": report.gains[:100],
            "loss_sample": report.losses[:100],
        }
