from __future__ import annotations

from typing import Any

import marshmallow as ma

from api.schemas.common import StrictSchema, UtcDateTime, translations_field


class DataRequestSchema(ma.Schema):
    id = ma.fields.String(
        required=True, metadata={"description": "Random: keep it to follow the request"}
    )
    kind = ma.fields.String(required=True, metadata={"enum": ["erasure"]})
    status = ma.fields.String(required=True, metadata={"enum": ["received", "completed"]})
    received_at = ma.fields.AwareDateTime(required=True)
    completed_at = ma.fields.AwareDateTime(allow_none=True, required=True)
    outcome = ma.fields.Dict(
        allow_none=True,
        required=True,
        metadata={"description": "What was erased, as counts"},
    )


class ConsentPublishSchema(StrictSchema):
    version = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=32))
    title = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    summary = ma.fields.String(load_default="", validate=ma.validate.Length(max=2_000))
    body = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100_000))
    published_at = UtcDateTime(
        load_default=None, metadata={"description": "When it becomes current (default: now)"}
    )
    translations = translations_field("title", "summary", "body")


class ConsentRecordSchema(ma.Schema):
    version = ma.fields.String(required=True)
    action = ma.fields.String(required=True, metadata={"enum": ["grant", "withdraw"]})
    at = ma.fields.AwareDateTime(attribute="created_at", required=True)


class ClipCountsSchema(ma.Schema):
    received = ma.fields.Integer(required=True)
    accepted = ma.fields.Integer(required=True)
    pending_review = ma.fields.Integer(required=True)
    rejected = ma.fields.Integer(required=True)
    duplicates = ma.fields.Integer(required=True)
    reversed = ma.fields.Integer(required=True)
    deleted = ma.fields.Integer(
        required=True, metadata={"description": "Metadata deleted (retention or erasure)"}
    )
    videos_stored = ma.fields.Integer(
        required=True,
        metadata={"description": "Videos the engine received, verified and kept (encrypted)"},
    )
    videos_deleted = ma.fields.Integer(
        required=True, metadata={"description": "Stored videos deleted (retention or erasure)"}
    )


class MoneySchema(ma.Schema):
    currency = ma.fields.String(required=True)
    amount_cents = ma.fields.Integer(required=True)


class ErasureCountsSchema(ma.Schema):
    received = ma.fields.Integer(required=True)
    completed = ma.fields.Integer(required=True)
    median_hours_to_complete = ma.fields.Float(allow_none=True, required=True)


class FlagCountsSchema(ma.Schema):
    opened = ma.fields.Integer(required=True)
    confirmed = ma.fields.Integer(required=True)
    dismissed = ma.fields.Integer(required=True)


class QuarterSchema(ma.Schema):
    quarter = ma.fields.String(required=True, metadata={"example": "2025-Q1"})
    clips = ma.fields.Nested(ClipCountsSchema, required=True)
    donors = ma.fields.Integer(
        required=True, metadata={"description": "Donors who donated in the quarter"}
    )
    paid_out = ma.fields.List(ma.fields.Nested(MoneySchema), required=True)
    erasure_requests = ma.fields.Nested(ErasureCountsSchema, required=True)
    fraud_flags = ma.fields.Nested(FlagCountsSchema, required=True)


class TransparencySchema(ma.Schema):
    generated_at = ma.fields.String(required=True)
    quarters = ma.fields.List(ma.fields.Nested(QuarterSchema), required=True)


def _rows(description: str) -> ma.fields.List[Any]:
    """A list of records as the engine stores them (their columns, which may grow)."""
    return ma.fields.List(
        ma.fields.Dict(keys=ma.fields.String()),
        required=True,
        metadata={"description": description},
    )


class ExportWallSchema(ma.Schema):
    visibility = ma.fields.String(required=True, metadata={"enum": ["public", "alias", "hidden"]})
    display_name = ma.fields.String(allow_none=True, required=True)
    alias = ma.fields.String(allow_none=True, required=True)
    all_time_rank = ma.fields.Integer(allow_none=True, required=True)


class ExportPointsSchema(ma.Schema):
    pending = ma.fields.Integer(required=True)
    available = ma.fields.Integer(required=True)


class ExportCashSchema(ma.Schema):
    currency = ma.fields.String(required=True)
    pending_cents = ma.fields.Integer(required=True)
    available_cents = ma.fields.Integer(required=True)
    in_flight_cents = ma.fields.Integer(required=True)


class ExportBalancesSchema(ma.Schema):
    points = ma.fields.Nested(ExportPointsSchema, required=True)
    cash = ma.fields.List(ma.fields.Nested(ExportCashSchema), required=True)


class ExportMedalsSchema(ma.Schema):
    awards = _rows("Medal awards, revoked ones too")
    notifications = _rows("Medal notifications")


# Built from a dict: its field names are read by clients only (vulture would see no use).
ExportSchema = ma.Schema.from_dict(
    {
        "exported_at": ma.fields.AwareDateTime(required=True),
        "profile": ma.fields.Dict(
            keys=ma.fields.String(),
            required=True,
            metadata={"description": "The donor record, with under_review and payout_destination"},
        ),
        "wall": ma.fields.Nested(ExportWallSchema, required=True),
        "balances": ma.fields.Nested(ExportBalancesSchema, required=True),
        "consents": _rows("Every grant and withdrawal"),
        "cameras": _rows("Cameras registered, with their registrations"),
        "push_devices": _rows("Phones registered for push (never their tokens)"),
        "notifications": _rows("The inbox"),
        "followed_boards": _rows("Boards followed for rank news"),
        "clips": _rows("Every clip, with its usage, delete_after and a week-long video_url"),
        "ledger": _rows("Every ledger entry"),
        "medals": ma.fields.Nested(ExportMedalsSchema, required=True),
        "redemptions": _rows("Redemptions, with their codes and history"),
        "payouts": _rows("Payouts (destinations left out)"),
        "data_requests": _rows("Erasure requests"),
    },
    name="Export",
)
"""``GET /v1/me/export``: everything held about the donor, one JSON document, streamed
(documentation only: ``rewards_engine.services.privacy.exporting`` writes it). Records
are the stored rows, so their fields may grow."""
