from __future__ import annotations

import marshmallow as ma


class LedgerEntrySchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    created_at = ma.fields.AwareDateTime(required=True)
    account = ma.fields.String(
        required=True,
        metadata={
            "enum": [
                "points_pending",
                "points_available",
                "cash_pending",
                "cash_available",
                "cash_in_flight",
            ]
        },
    )
    currency = ma.fields.String(required=True, metadata={"description": "PTS for points"})
    amount = ma.fields.Integer(required=True, metadata={"description": "Signed; cents for cash"})
    kind = ma.fields.String(required=True)
    reference_type = ma.fields.String(required=True)
    reference_id = ma.fields.String(required=True)
    reason = ma.fields.String(allow_none=True, required=True)
    actor_kind = ma.fields.String(
        required=True, metadata={"description": "system, donor, support or admin"}
    )
