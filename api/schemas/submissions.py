from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import marshmallow as ma

from api.schemas.common import Itself, StrictFloat, StrictSchema, UtcDateTime
from rewards_engine.domain.privacy import Usage
from rewards_engine.domain.submissions import MAX_CLIPS_PER_CALL, CameraRule, ClipStatus
from rewards_engine.domain.uploads import CONTENT_TYPES, ClaimStatus

HEX64 = ma.validate.Regexp(r"^[0-9a-fA-F]{64}$", error="64 hexadecimal characters (SHA-256)")
HEX16 = ma.validate.Regexp(r"^[0-9a-fA-F]{16}$", error="16 hexadecimal characters (64 bits)")
IDENT = ma.validate.Regexp(r"^[\x21-\x7e]+$", error="printable ASCII without spaces")
STATUSES = [status.value for status in ClipStatus]
CLAIM_STATUSES = [status.value for status in ClaimStatus]
USAGES = [usage.value for usage in Usage]


def camera_rule_field() -> ma.fields.String:
    return ma.fields.String(
        allow_none=True,
        required=True,
        metadata={
            "enum": [rule.value for rule in CameraRule],
            "description": "What the camera registry said of the clip's camera: registered "
            "(to you), or the campaign's rule for a camera not registered to you: allow, "
            "review or reject. Null while undecided, and for clips decided before the registry",
        },
    )


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
        metadata={
            "description": "Optional 64-bit perceptual hash, 16 hex characters; recorded as "
            "the app's claim, never trusted (the engine computes its own from the video)"
        },
    )
    size_bytes = ma.fields.Integer(
        load_default=None,
        strict=True,
        validate=ma.validate.Range(min=1, max=2**53),
        metadata={"description": "The video's size: required where the campaign takes uploads"},
    )
    content_type = ma.fields.String(
        load_default=None,
        validate=ma.validate.OneOf(CONTENT_TYPES),
        metadata={"description": "The video's type (default video/mp4), signed into its URL"},
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


class UploadPartSchema(ma.Schema):
    number = ma.fields.Integer(required=True)
    url = ma.fields.String(required=True)
    size = ma.fields.Integer(required=True, metadata={"description": "Exact bytes of this part"})


class UploadTargetSchema(ma.Schema):
    """Where and how to send one video: PUT the whole file to ``url``, or, for a large
    one, each part to its own URL, then ``POST /v1/uploads/{id}/complete``."""

    method = ma.fields.String(required=True, metadata={"enum": ["PUT"]})
    url = ma.fields.String(allow_none=True, required=True, metadata={"description": "One PUT"})
    headers = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.String(),
        required=True,
        metadata={"description": "Send these with every PUT (they are signed)"},
    )
    expires_at = ma.fields.AwareDateTime(required=True)
    multipart = ma.fields.Function(lambda t: t.upload_id is not None, metadata={"type": "boolean"})
    parts = ma.fields.List(ma.fields.Nested(UploadPartSchema), required=True)


class EarnedSchema(ma.Schema):
    """What a clip (or a whole donation) earned, in the campaign's currency."""

    points = ma.fields.Integer(required=True)
    cash_cents = ma.fields.Integer(required=True)


class ClipEarnedSchema(EarnedSchema):
    currency = ma.fields.String(required=True, metadata={"description": "ISO 4217"})


class ClipOutcomeSchema(ma.Schema):
    index = ma.fields.Integer(required=True, metadata={"description": "Position in the request"})
    clip_id = ma.fields.Integer(
        allow_none=True,
        required=True,
        metadata={"description": "Null while the clip waits for its video (see claim_id)"},
    )
    claim_id = ma.fields.Integer(
        allow_none=True,
        required=True,
        metadata={"description": "Campaigns that take uploads: follow it at /v1/uploads/{id}"},
    )
    status = ma.fields.String(
        required=True, metadata={"enum": [*STATUSES[:4], ClaimStatus.AWAITING_UPLOAD.value]}
    )
    upload = ma.fields.Nested(
        UploadTargetSchema,
        allow_none=True,
        metadata={"description": "Where to send the video while the claim waits for it"},
    )
    reason = ma.fields.String(
        allow_none=True,
        required=True,
        metadata={
            "description": "already_received, target_reached, camera_cap_reached, "
            "event_cap_reached, daily_cap_reached, old_footage_review, camera_not_registered"
        },
    )
    camera_rule = camera_rule_field()
    earned = Itself(EarnedSchema, required=True)


class SubmissionResultSchema(ma.Schema):
    batch_id = ma.fields.Integer(required=True)
    campaign_id = ma.fields.String(required=True)
    currency = ma.fields.String(required=True)
    replayed = ma.fields.Boolean(
        required=True, metadata={"description": "True when an Idempotency-Key replayed it"}
    )
    counts = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(), required=True)
    earned = Itself(EarnedSchema, required=True)
    clips = ma.fields.List(ma.fields.Nested(ClipOutcomeSchema), attribute="outcomes")

    @ma.pre_dump
    def with_uploads(self, result: Any, **_: Any) -> Any:
        """Each waiting claim carries where to upload its video."""
        if not result.uploads:
            return result
        outcomes = [
            SimpleNamespace(**vars(outcome), upload=result.uploads.get(outcome.claim_id))
            for outcome in result.outcomes
        ]
        fields = {name: getattr(result, name) for name in ("batch_id", "campaign_id", "currency")}
        return SimpleNamespace(
            **fields,
            replayed=result.replayed,
            counts=result.counts,
            points=result.points,
            cash_cents=result.cash_cents,
            outcomes=outcomes,
        )


class ClipSchema(ma.Schema):
    """A donated clip as its donor sees it."""

    id = ma.fields.Integer(required=True)
    batch_id = ma.fields.Integer(required=True)
    campaign_id = ma.fields.String(required=True)
    video_sha256 = ma.fields.String(required=True)
    perceptual_hash = ma.fields.Function(
        lambda c: signed_to_hex(c.perceptual_hash),
        allow_none=True,
        required=True,
        metadata={
            "type": "string",
            "pattern": "^[0-9a-f]{16}$",
            "description": "The 64-bit perceptual hash, 16 hex characters; null if none",
        },
    )
    event_id = ma.fields.String(required=True)
    incident_type = ma.fields.String(required=True)
    camera_id = ma.fields.String(required=True)
    recorded_at = ma.fields.AwareDateTime(required=True)
    duration_s = ma.fields.Float(required=True)
    staged = ma.fields.Boolean(required=True)
    intake = ma.fields.String(
        required=True,
        metadata={
            "enum": ["verified", "trusted", "imported"],
            "description": "verified: the engine received and checked the video; trusted: "
            "the camera maker's video pipeline reported it; imported: decided on what the "
            "app said, before uploads existed",
        },
    )
    status = ma.fields.String(required=True, metadata={"enum": STATUSES})
    reason = ma.fields.String(allow_none=True, required=True)
    camera_rule = camera_rule_field()
    earned = Itself(ClipEarnedSchema, required=True)
    received_at = ma.fields.AwareDateTime(attribute="created_at", required=True)
    vests_at = ma.fields.AwareDateTime(
        allow_none=True,
        metadata={"description": "When its earnings become available (end of review window)"},
    )
    vested = ma.fields.Function(
        lambda c: c.vested_at is not None,
        required=True,
        metadata={"type": "boolean", "description": "Its earnings are available"},
    )
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


class ClaimSchema(ma.Schema):
    """A claimed clip and its video's way: awaiting_upload, uploaded (waiting for
    verification), verifying, verified (see clip), rejected (see reason) or expired."""

    id = ma.fields.Integer(required=True)
    batch_id = ma.fields.Integer(required=True)
    position = ma.fields.Integer(required=True, metadata={"description": "Index in its call"})
    campaign_id = ma.fields.String(required=True)
    video_sha256 = ma.fields.String(required=True, metadata={"description": "As claimed"})
    incident_type = ma.fields.String(required=True)
    camera_id = ma.fields.String(required=True)
    event_id = ma.fields.String(required=True)
    size_bytes = ma.fields.Integer(required=True)
    content_type = ma.fields.String(required=True)
    status = ma.fields.String(required=True, metadata={"enum": CLAIM_STATUSES})
    reason = ma.fields.String(
        allow_none=True,
        required=True,
        metadata={
            "description": "Why it was rejected or expired: hash_mismatch, size_mismatch, "
            "not_a_video, undecodable, truncated, bad_resolution, too_few_frames, "
            "duration_mismatch, duration_out_of_bounds, video_missing, unverifiable, "
            "donor_not_active, consent_withdrawn, upload_not_received, donor_erased"
        },
    )
    clip_id = ma.fields.Integer(allow_none=True, required=True)
    expires_at = ma.fields.AwareDateTime(required=True)
    created_at = ma.fields.AwareDateTime(required=True)
    uploaded_at = ma.fields.AwareDateTime(allow_none=True, required=True)
    decided_at = ma.fields.AwareDateTime(allow_none=True, required=True)


class ClaimDetailSchema(ClaimSchema):
    upload = ma.fields.Nested(UploadTargetSchema, allow_none=True, required=True)
    parts_received = ma.fields.List(
        ma.fields.Integer(),
        allow_none=True,
        required=True,
        metadata={"description": "Multipart: parts the store holds (a resumed upload skips them)"},
    )
    clip = ma.fields.Nested(ClipSchema, allow_none=True, required=True)

    @ma.pre_dump
    def flatten(self, view: Any, **_: Any) -> Any:
        return SimpleNamespace(
            **vars(view.claim),
            upload=view.upload,
            parts_received=view.parts_received,
            clip=view.clip,
        )


class ClaimFilterArgs(StrictSchema):
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(CLAIM_STATUSES))
    limit = ma.fields.Integer(load_default=25, validate=ma.validate.Range(min=1, max=100))
    cursor = ma.fields.String(load_default=None, validate=ma.validate.Length(max=512))


class ReportedClipSchema(ClipInputSchema):
    storage_ref = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=255),
        metadata={"description": "Where the maker's cloud keeps the video"},
    )
    pdq = ma.fields.String(
        load_default=None,
        validate=HEX64,
        metadata={"description": "The video's 256-bit PDQ hash, when the pipeline computes it"},
    )


class IntakeRequestSchema(StrictSchema):
    account_id = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=128),
        metadata={"description": "The donor's account (their tokens' subject)"},
    )
    campaign_id = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    clips = ma.fields.List(
        ma.fields.Nested(ReportedClipSchema),
        required=True,
        validate=ma.validate.Length(min=1, max=MAX_CLIPS_PER_CALL),
    )
