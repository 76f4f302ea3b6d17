from __future__ import annotations

from typing import Any

import marshmallow as ma

from api.schemas.common import BalancesSchema, StrictSchema
from rewards_engine.domain.profiles import DISPLAY_NAME_MAX, Visibility

VISIBILITIES = [v.value for v in Visibility]


class ProfileSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    account_id = ma.fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "The token's subject; null once the donor is erased"},
    )
    display_name = ma.fields.String(allow_none=True, required=True)
    alias = ma.fields.String(
        allow_none=True, required=True, metadata={"description": "Shown when visibility is alias"}
    )
    visibility = ma.fields.String(required=True, metadata={"enum": VISIBILITIES})
    status = ma.fields.String(required=True, metadata={"enum": ["active", "banned", "erased"]})
    timezone = ma.fields.String(allow_none=True, required=True)
    locale = ma.fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "The language texts are written in for you (en, fr); null: "
                  "the app's Accept-Language decides"},
    )  # fmt: skip
    consent_version = ma.fields.String(
        allow_none=True, required=True, metadata={"description": "The consent version held"}
    )
    consent_withdrawn_at = ma.fields.AwareDateTime(
        allow_none=True, metadata={"description": "When consent was withdrawn, if it was"}
    )
    created_at = ma.fields.AwareDateTime(required=True)


class PayoutDestinationSchema(StrictSchema):
    kind = ma.fields.String(
        required=True,
        validate=ma.validate.OneOf(["paypal_email", "paypal_id", "stripe_account"]),
    )
    value = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=254),
        load_only=True,
        metadata={"description": "The e-mail, PayPal payer id or acct_... id (never shown back)"},
    )


class PayoutSummarySchema(ma.Schema):
    """Where cash is paid, as the donor may see it (never the full destination)."""

    kind = ma.fields.String(
        required=True, metadata={"enum": ["paypal_email", "paypal_id", "stripe_account"]}
    )
    destination = ma.fields.String(
        required=True, metadata={"description": "Masked: j***@example.com, acct_***1234"}
    )


class MeSchema(ProfileSchema):
    balances = ma.fields.Nested(BalancesSchema, required=True)
    payout = ma.fields.Nested(
        PayoutSummarySchema,
        allow_none=True,
        required=True,
        metadata={"description": "Where cash is paid, or null"},
    )
    under_review = ma.fields.Boolean(
        required=True,
        metadata={
            "description": "Your account is being reviewed: earnings stay pending, payouts "
            "and the Honor Wall wait until a person has looked"
        },
    )
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
        data["under_review"] = profile.donor.on_hold
        donor = profile.donor
        data["payout"] = (
            None
            if donor.payout_kind is None
            else {"kind": donor.payout_kind, "destination": donor.payout_masked}
        )
        return data


class ProfilePatchSchema(StrictSchema):
    """Only the fields sent change; a patch that sends none is refused (422
    ``nothing_to_change``, by the route)."""

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
    locale = ma.fields.String(
        allow_none=True,
        validate=ma.validate.Length(max=16),
        metadata={"description": "en or fr (a tag such as fr-CA counts as fr); null clears it"},
    )
    payout = ma.fields.Nested(
        PayoutDestinationSchema,
        allow_none=True,
        metadata={"description": "Where cash is paid; null removes it"},
    )


class ConsentGrantSchema(StrictSchema):
    version = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=32))


class ConsentTextSchema(ma.Schema):
    version = ma.fields.String(required=True)
    title = ma.fields.String(required=True)
    summary = ma.fields.String(required=True)
    body = ma.fields.String(required=True)
    published_at = ma.fields.AwareDateTime(required=True)
