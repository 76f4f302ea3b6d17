from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import marshmallow as ma

from api.schemas.common import StrictFloat, StrictSchema, UtcDateTime
from rewards_engine.domain.privacy import Usage
from rewards_engine.domain.submissions import MAX_CLIPS_PER_CALL, ClipStatus

HEX64 = ma.validate.Regexp(r"^[0-9a-fA-F]{64}$", error="64 hexadecimal characters (SHA-256)")
HEX16 = ma.validate.Regexp(r"^[0-9a-fA-F]{16}$", error="16 hexadecimal characters (64 bits)")
IDENT = ma.validate.Regexp(r"^[\x21-\x7e]+$", error="printable ASCII without spaces")
STATUSES = [status.value for status in ClipStatus]
USAGES = [usage.value for usage in Usage]


def unsigned_hex_to_signed(value: str) -> int:
    """A 64-bit hash as the signed BIGINT both databases store."""
    number = int(value, 16)
    return number - (1 << 64) if number >= 1 << 63 else number


def signed_to_hex(value: int | None) -> str | None:
    return None if value is None else format(value & ((1 << 64) - 1), "016x")


class ClipInputSchema(StrictSchema):
    video_sha256 = ma.fields.String(required=True, validate=HEX64)
    event_id = ma.fields.String(
        required=True,
        validate=[ma.validate.Length(min=1, max=128), IDENT],
        metadata={"description": "Your id for one real-world event; several cameras may film it"},
    )
    incident_type = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=32),
        metadata={"description": "One of the campaign's incident types"},
    )
    camera_id = ma.fields.String(
        required=True,
        validate=[ma.validate.Length(min=1, max=128), IDENT],
        metadata={"description": "The camera's serial number"},
    )
    recorded_at = UtcDateTime(
        required=True, metadata={"description": "With a UTC offset; not in the future"}
    )
    duration_s = StrictFloat(
        required=True, validate=ma.validate.Range(min=0, min_inclusive=False, max=86_400)
    )
    staged = ma.fields.Boolean(
        required=True, metadata={"description": "True for a re-enacted incident"}
    )
    perceptual_hash = ma.fields.String(
        load_default=None,
        validate=HEX16,
        metadata={"description": "Optional 64-bit perceptual hash, 16 hex characters"},
    )

    @ma.post_load
    def normalise(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        data["video_sha256"] = data["video_sha256"].lower()
        if data.get("perceptual_hash") is not None:
            data["perceptual_hash"] = unsigned_hex_to_signed(data["perceptual_hash"])
        return data


class SubmissionRequestSchema(StrictSchema):
    campaign_id = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    consent_version = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=32),
        metadata={"description": "The consent version the donor granted (must be current)"},
    )
    clips = ma.fields.List(
        ma.fields.Nested(ClipInputSchema),
        required=True,
        validate=ma.validate.Length(min=1, max=MAX_CLIPS_PER_CALL),
    )


class ClipOutcomeSchema(ma.Schema):
    index = ma.fields.Integer(required=True, metadata={"description": "Position in the request"})
    clip_id = ma.fields.Integer(required=True)
    status = ma.fields.String(required=True, metadata={"enum": STATUSES[:4]})
    reason = ma.fields.String(
        allow_none=True,
        required=True,
        metadata={
            "description": "already_received, target_reached, camera_cap_reached, "
            "event_cap_reached, daily_cap_reached, old_footage_review"
        },
    )
    earned = ma.fields.Function(
        lambda o: {"points": o.points, "cash_cents": o.cash_cents},
        metadata={"type": "object"},
    )


class SubmissionResultSchema(ma.Schema):
    batch_id = ma.fields.Integer(required=True)
    campaign_id = ma.fields.String(required=True)
    currency = ma.fields.String(required=True)
    replayed = ma.fields.Boolean(
        required=True, metadata={"description": "True when an Idempotency-Key replayed it"}
    )
    counts = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(), required=True)
    earned = ma.fields.Function(
        lambda r: {"points": r.points, "cash_cents": r.cash_cents},
        metadata={"type": "object"},
    )
    clips = ma.fields.List(ma.fields.Nested(ClipOutcomeSchema), attribute="outcomes")


class ClipSchema(ma.Schema):
    """A donated clip as its donor sees it."""

    id = ma.fields.Integer(required=True)
    batch_id = ma.fields.Integer(required=True)
    campaign_id = ma.fields.String(required=True)
    video_sha256 = ma.fields.String(required=True)
    perceptual_hash = ma.fields.Function(lambda c: signed_to_hex(c.perceptual_hash))
    event_id = ma.fields.String(required=True)
    incident_type = ma.fields.String(required=True)
    camera_id = ma.fields.String(required=True)
    recorded_at = ma.fields.AwareDateTime(required=True)
    duration_s = ma.fields.Float(required=True)
    staged = ma.fields.Boolean(required=True)
    status = ma.fields.String(required=True, metadata={"enum": STATUSES})
    reason = ma.fields.String(allow_none=True, required=True)
    earned = ma.fields.Function(
        lambda c: {"points": c.points, "cash_cents": c.cash_cents, "currency": c.currency},
        metadata={"type": "object"},
    )
    received_at = ma.fields.AwareDateTime(attribute="created_at", required=True)
    vests_at = ma.fields.AwareDateTime(
        allow_none=True,
        metadata={"description": "When its earnings become available (end of review window)"},
    )
    vested = ma.fields.Function(lambda c: c.vested_at is not None)
    reversed_at = ma.fields.AwareDateTime(allow_none=True)
    usage = ma.fields.String(
        metadata={
            "enum": USAGES,
            "description": "What the clip is used for now: pending_review, in_training_set, "
            "excluded, withdrawn (you withdrew consent) or deleted (its metadata is gone)",
        }
    )
    usage_reason = ma.fields.String(
        allow_none=True, metadata={"description": "Why it is not used, when it is not"}
    )
    delete_after = ma.fields.AwareDateTime(
        allow_none=True,
        metadata={"description": "When its metadata is deleted under the retention policy"},
    )
    metadata_deleted_at = ma.fields.AwareDateTime(allow_none=True)

    @ma.pre_dump
    def with_usage(self, item: Any, **_: Any) -> Any:
        """A ``ClipView`` (the donor's own clips) carries its usage; a bare record does not."""
        if not hasattr(item, "usage"):
            return item
        fields = {**vars(item.clip), **vars(item.usage), "usage": item.usage.usage.value}
        return SimpleNamespace(**fields)


class ClipFilterArgs(StrictSchema):
    limit = ma.fields.Integer(load_default=25, validate=ma.validate.Range(min=1, max=100))
    cursor = ma.fields.String(load_default=None, validate=ma.validate.Length(max=512))
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(STATUSES))
    campaign_id = ma.fields.String(load_default=None, validate=ma.validate.Length(max=64))
