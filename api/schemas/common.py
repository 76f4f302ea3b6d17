from __future__ import annotations

from typing import Any

import marshmallow as ma

from rewards_engine.domain.ids import INT32_MAX
from rewards_engine.pagination import DEFAULT_LIMIT, MAX_LIMIT
from rewards_engine.services.support import REASON_MAX, REASON_MIN

REASON = ma.fields.String(
    required=True,
    validate=ma.validate.Length(min=REASON_MIN, max=REASON_MAX),
    metadata={"description": "Why: kept in the audit log and shown in the ledger"},
)


def in_int32(minimum: int = 0) -> ma.validate.Range:
    """A whole number that fits a 32-bit column (ids, counts, limits)."""
    return ma.validate.Range(min=minimum, max=INT32_MAX)


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_holds_nul(v) for v in value)
    return False


class StrictSchema(ma.Schema):
    """Unknown fields are an error, so a typo in a field name never passes silently;
    text with a NUL character is refused by name (no database would store it)."""

    class Meta:
        unknown = ma.RAISE

    @ma.pre_load
    def refuse_nul(self, data: Any, **_: Any) -> Any:
        if hasattr(data, "items"):
            bad = sorted(str(key) for key, value in data.items() if _holds_nul(value))
            if bad:
                raise ma.ValidationError(
                    {key: ["must not contain a NUL (\\u0000) character"] for key in bad}
                )
        return data


class PageArgs(StrictSchema):
    limit = ma.fields.Integer(
        load_default=DEFAULT_LIMIT,
        validate=ma.validate.Range(min=1, max=MAX_LIMIT),
        metadata={"description": f"Items per page, 1 to {MAX_LIMIT}"},
    )
    cursor = ma.fields.String(
        load_default=None,
        validate=ma.validate.Length(max=512),
        metadata={"description": "The next_cursor of the previous page"},
    )


_PAGE_SCHEMAS: dict[str, type[ma.Schema]] = {}


def page_of(item_schema: type[ma.Schema]) -> type[ma.Schema]:
    """A ``{items: [...], next_cursor}`` envelope around ``item_schema``."""
    name = item_schema.__name__.removesuffix("Schema") + "Page"
    if name not in _PAGE_SCHEMAS:
        fields: dict[str, Any] = {
            "items": ma.fields.List(ma.fields.Nested(item_schema), required=True),
            "next_cursor": ma.fields.String(
                allow_none=True,
                required=True,
                metadata={"description": "Pass as cursor for the next page; null at the end"},
            ),
        }
        _PAGE_SCHEMAS[name] = ma.Schema.from_dict(fields, name=name)
    return _PAGE_SCHEMAS[name]


class IdempotencyHeader(ma.Schema):
    """The ``Idempotency-Key`` header: a retry with the same key replays the first answer."""

    class Meta:
        unknown = ma.EXCLUDE

    idempotency_key = ma.fields.String(
        data_key="Idempotency-Key",
        load_default=None,
        validate=ma.validate.Length(min=1, max=255),
        metadata={
            "description": "Any unique string (a UUID). The same key with the same body "
            "replays the first answer; with another body it is refused (422)."
        },
    )


class CashBalanceSchema(ma.Schema):
    currency = ma.fields.String(required=True)
    pending_cents = ma.fields.Integer(required=True)
    available_cents = ma.fields.Integer(required=True)
    in_flight_cents = ma.fields.Integer(required=True)


class PointsBalanceSchema(ma.Schema):
    pending = ma.fields.Integer(required=True, attribute="points_pending")
    available = ma.fields.Integer(required=True, attribute="points_available")
    total = ma.fields.Integer(required=True, attribute="points")


class BalancesSchema(ma.Schema):
    """Points (pending until the review window passes, then available to spend) and
    cash per currency (pending, available to pay out, in flight in a payout batch)."""

    points = ma.fields.Nested(PointsBalanceSchema, required=True)
    cash = ma.fields.List(ma.fields.Nested(CashBalanceSchema), required=True)

    @ma.pre_dump
    def split(self, balances: Any, **_: Any) -> dict[str, Any]:
        return {"points": balances, "cash": balances.cash}
