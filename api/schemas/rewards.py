from __future__ import annotations

from typing import Any

import marshmallow as ma

from api.schemas.common import REASON, StrictSchema, in_column, in_int32, translations_field
from rewards_engine.domain.redemptions import Status

STATUSES = [s.value for s in Status]


class RewardSchema(ma.Schema):
    id = ma.fields.String(required=True)
    kind = ma.fields.String(required=True, metadata={"enum": ["gift_card", "camera"]})
    name = ma.fields.String(required=True)
    description = ma.fields.String(required=True)
    point_cost = ma.fields.Integer(required=True)
    in_stock = ma.fields.Integer(
        required=True,
        metadata={"description": "Units or codes left (0 for a card ordered on demand)"},
    )
    ordered_on_demand = ma.fields.Boolean(
        required=True,
        metadata={
            "description": "A gift card ordered from a provider when redeemed: no stock to "
            "count, offered while its product serves the donor"
        },
    )
    brand = ma.fields.String(allow_none=True)
    denomination_cents = ma.fields.Integer(allow_none=True)
    currency = ma.fields.String(allow_none=True)
    model = ma.fields.String(allow_none=True)
    sku = ma.fields.String(allow_none=True)
    shipping_countries = ma.fields.List(ma.fields.String(), allow_none=True)
    per_donor_limit = ma.fields.Integer(allow_none=True)
    requires_campaign = ma.fields.String(allow_none=True)
    requires_medal = ma.fields.String(allow_none=True)
    active = ma.fields.Boolean(required=True)

    @ma.pre_dump
    def flatten(self, entry: Any, **_: Any) -> dict[str, Any]:
        item = entry.item
        data = {name: getattr(item, name) for name in self.fields if hasattr(item, name)}
        data["in_stock"] = entry.in_stock
        data["ordered_on_demand"] = entry.ordered_on_demand
        data.update(entry.texts)
        return data


class RewardInputSchema(StrictSchema):
    kind = ma.fields.String(validate=ma.validate.OneOf(["gift_card", "camera"]))
    name = ma.fields.String(validate=ma.validate.Length(min=1, max=120))
    description = ma.fields.String(validate=ma.validate.Length(max=2000))
    translations = translations_field("name", "description")
    point_cost = ma.fields.Integer(strict=True, validate=ma.validate.Range(min=1, max=10_000_000))
    brand = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=80))
    denomination_cents = ma.fields.Integer(allow_none=True, strict=True, validate=in_int32(1))
    currency = ma.fields.String(allow_none=True, validate=ma.validate.Regexp(r"^[A-Z]{3}$"))
    model = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=80))
    sku = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=64))
    stock = ma.fields.Integer(allow_none=True, strict=True, validate=in_int32())
    shipping_countries = ma.fields.List(
        ma.fields.String(validate=ma.validate.Regexp(r"^[A-Z]{2}$")), allow_none=True
    )
    per_donor_limit = ma.fields.Integer(allow_none=True, strict=True, validate=in_int32(1))
    requires_campaign = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=64))
    requires_medal = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=48))


class NewRewardSchema(RewardInputSchema):
    id = ma.fields.String(required=True, validate=ma.validate.Regexp(r"^[a-z0-9][a-z0-9-]{1,63}$"))


class RestockSchema(StrictSchema):
    delta = ma.fields.Integer(
        required=True,
        strict=True,
        validate=in_column(),
        metadata={"description": "Units to add (negative removes)"},
    )
    reason = REASON


class RetireRewardSchema(StrictSchema):
    reason = REASON


class CodesUploadSchema(StrictSchema):
    csv = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=2_000_000),
        metadata={
            "description": "CSV text: one code per line in the first column; "
            "an optional header `code`"
        },
    )


class CodesReportSchema(ma.Schema):
    added = ma.fields.Integer(required=True)
    duplicates = ma.fields.Integer(required=True)
    invalid = ma.fields.List(
        ma.fields.Integer(),
        required=True,
        metadata={"description": "Line numbers that held no usable code"},
    )


class ShippingAddressSchema(ma.Schema):
    """Where a camera goes (checked by ``rewards_engine.domain.redemptions``)."""

    name = ma.fields.String(required=True, metadata={"maxLength": 100})
    line1 = ma.fields.String(required=True, metadata={"maxLength": 200})
    line2 = ma.fields.String(allow_none=True, metadata={"maxLength": 200})
    city = ma.fields.String(required=True, metadata={"maxLength": 100})
    region = ma.fields.String(allow_none=True, metadata={"maxLength": 100})
    postal_code = ma.fields.String(
        required=True, metadata={"description": "2 to 12 letters, digits, spaces or -"}
    )
    country = ma.fields.String(
        required=True,
        metadata={"description": "ISO 3166 alpha-2, one the item ships to", "maxLength": 2},
    )
    phone = ma.fields.String(
        allow_none=True, metadata={"description": "6 to 20 digits, spaces, ( ) - and a leading +"}
    )


def _address_properties() -> dict[str, Any]:
    """The address's fields as the request documents them: the domain checks them (and
    answers 422 invalid_address naming the field), so the request field stays a dict."""
    schema = ShippingAddressSchema()
    properties = {
        name: {"type": "string", "nullable": True} if field.allow_none else {"type": "string"}
        for name, field in schema.fields.items()
    }
    required = [name for name, field in schema.fields.items() if field.required]
    return {"properties": properties, "required": required, "additionalProperties": False}


class CatalogQuery(StrictSchema):
    country = ma.fields.String(
        load_default=None,
        validate=ma.validate.Regexp(r"^[A-Z]{2}$", error="an ISO 3166 two-letter code"),
        metadata={
            "description": "The donor's country: provider gift cards not sent there are left out"
        },
    )
    currency = ma.fields.String(
        load_default=None,
        validate=ma.validate.Regexp(r"^[A-Z]{3}$", error="an ISO 4217 three-letter code"),
        metadata={
            "description": "The donor's currency: gift cards in other currencies are left out"
        },
    )


class RedeemSchema(StrictSchema):
    reward_id = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    country = ma.fields.String(
        load_default=None,
        validate=ma.validate.Regexp(r"^[A-Z]{2}$", error="an ISO 3166 two-letter code"),
        metadata={
            "description": "Provider gift cards: the donor's country (ISO 3166 alpha-2), "
            "one the card's product is sent to; required for them (422 country_required), "
            "ignored for other rewards"
        },
    )
    shipping_address = ma.fields.Dict(
        load_default=None,
        allow_none=True,
        metadata={
            "description": "Cameras only: where to send it (gift cards take none)",
            **_address_properties(),
        },
    )


class RedemptionEventSchema(ma.Schema):
    from_status = ma.fields.String(allow_none=True, required=True)
    to_status = ma.fields.String(required=True)
    actor_kind = ma.fields.String(required=True)
    note = ma.fields.String(allow_none=True, required=True)
    created_at = ma.fields.AwareDateTime(required=True)


class RedemptionSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    donor_id = ma.fields.Integer(required=True)
    reward_id = ma.fields.String(required=True)
    reward_name = ma.fields.String(required=True)
    kind = ma.fields.String(required=True)
    point_cost = ma.fields.Integer(required=True)
    status = ma.fields.String(required=True, metadata={"enum": STATUSES})
    code = ma.fields.String(
        allow_none=True,
        required=True,
        metadata={
            "description": "Gift cards: the code once fulfilled (to its donor only; "
            "support sees the last four characters)"
        },
    )
    shipping_address = ma.fields.Nested(
        ShippingAddressSchema,
        allow_none=True,
        required=True,
        metadata={"description": "Cameras: where it goes; null for gift cards"},
    )
    carrier = ma.fields.String(allow_none=True, required=True)
    tracking_number = ma.fields.String(allow_none=True, required=True)
    note = ma.fields.String(allow_none=True, required=True)
    created_at = ma.fields.AwareDateTime(required=True)
    updated_at = ma.fields.AwareDateTime(required=True)
    events = ma.fields.List(ma.fields.Nested(RedemptionEventSchema), required=True)

    @ma.pre_dump
    def flatten(self, view: Any, **_: Any) -> dict[str, Any]:
        r = view.redemption
        return {
            "id": r.id,
            "donor_id": r.donor_id,
            "reward_id": r.item_id,
            "reward_name": view.item_name,
            "kind": r.kind,
            "point_cost": r.point_cost,
            "status": r.status,
            "code": view.code,
            "shipping_address": r.shipping_address,
            "carrier": r.carrier,
            "tracking_number": r.tracking_number,
            "note": r.note,
            "created_at": r.created_at,
            "updated_at": r.updated_at,
            "events": view.events,
        }


class TransitionSchema(StrictSchema):
    to = ma.fields.String(required=True, validate=ma.validate.OneOf(STATUSES[1:]))
    carrier = ma.fields.String(load_default=None, validate=ma.validate.Length(min=1, max=40))
    tracking_number = ma.fields.String(
        load_default=None, validate=ma.validate.Length(min=1, max=64)
    )
    reason = ma.fields.String(load_default=None, validate=ma.validate.Length(min=3, max=300))


class AdminRedemptionQuery(StrictSchema):
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(STATUSES))
    donor_id = ma.fields.Integer(load_default=None, validate=in_int32(1))
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=100))
    cursor = ma.fields.String(load_default=None, validate=ma.validate.Length(max=512))
