from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import marshmallow as ma

from rewards_engine.domain.ids import INT32_MAX, INT64_MAX
from rewards_engine.domain.languages import DEFAULT_LANGUAGE, LANGUAGES, MAX_TEXT
from rewards_engine.pagination import DEFAULT_LIMIT, MAX_LIMIT
from rewards_engine.services.support import REASON_MAX, REASON_MIN

REASON = ma.fields.String(
    required=True,
    validate=ma.validate.Length(min=REASON_MIN, max=REASON_MAX),
    metadata={"description": "Why: kept in the audit log and shown in the ledger"},
)


def translations_field(*fields: str) -> ma.fields.Dict:
    """Other languages' texts: ``{"fr": {"name": "..."}}`` (English is in the fields)."""
    others = [language for language in LANGUAGES if language != DEFAULT_LANGUAGE]
    return ma.fields.Dict(
        keys=ma.fields.String(validate=ma.validate.OneOf(others)),
        values=ma.fields.Dict(
            keys=ma.fields.String(validate=ma.validate.OneOf(fields)),
            values=ma.fields.String(validate=ma.validate.Length(max=MAX_TEXT)),
        ),
        allow_none=True,
        metadata={"description": f"Texts in {', '.join(others)}: "
                  f"{{language: {{{', '.join(fields)}}}}}; a missing one falls back to English"},
    )  # fmt: skip


def in_int32(minimum: int = 0) -> ma.validate.Range:
    """A whole number that fits a 32-bit column (ids, counts, limits)."""
    return ma.validate.Range(min=minimum, max=INT32_MAX)


class StrictFloat(ma.fields.Float):
    """A JSON number, never a string that looks like one (``"30"``): as strict as
    ``Integer(strict=True)``. NaN and infinities are refused too."""

    def _validated(self, value: Any) -> Any:
        if isinstance(value, str):
            raise self.make_error("invalid")
        return super()._validated(value)


def in_column(bits: int = 32, *, signed: bool = True) -> ma.validate.Range:
    """A whole number its column can hold: a signed 32-bit (or 64-bit) integer."""
    top = INT32_MAX if bits == 32 else INT64_MAX
    return ma.validate.Range(min=-top if signed else 0, max=top)


NUL_MESSAGE = "must not contain a NUL (\\u0000) character"
SURROGATE_MESSAGE = "must not contain an unpaired UTF-16 surrogate (\\ud800-\\udfff)"
_SURROGATES = re.compile("[\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """Why no database could store ``value`` as text, or None: a NUL character
    (PostgreSQL refuses it) or a lone UTF-16 surrogate (not encodable as UTF-8)."""
    if "\x00" in value:
        return NUL_MESSAGE
    if _SURROGATES.search(value):
        return SURROGATE_MESSAGE
    return None


def without_surrogates(value: str) -> str:
    """``value`` with each lone surrogate shown as U+FFFD, so it can be encoded."""
    return _SURROGATES.sub("\ufffd", value)


def unstorable_text(value: Any) -> Any:
    """Marshmallow-shaped errors for every unstorable string in ``value``, nested by
    field name and list index (``{"shipping_address": {"name": [...]}}``), or None."""
    if isinstance(value, str):
        problem = text_problem(value)
        return [problem] if problem else None
    if hasattr(value, "items"):
        errors: dict[str, Any] = {}
        for key, inner in value.items():
            found = unstorable_text(inner)
            key_problem = text_problem(key) if isinstance(key, str) else None
            name = str(key).encode("utf-8", "replace").decode("utf-8")
            if key_problem:
                errors[name] = [f"the field name {key_problem}"]
            elif found:
                errors[name] = found
        return errors or None
    if isinstance(value, list | tuple):
        errors = {}
        for index, inner in enumerate(value):
            found = unstorable_text(inner)
            if found:
                errors[str(index)] = found
        return errors or None
    return None


class UtcDateTime(ma.fields.AwareDateTime):
    """An input timestamp with an offset, converted to UTC; one that no UTC timestamp can
    hold (``0001-01-01T00:00:00+14:00``) is refused by name, not a 500 later."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise ma.ValidationError("out of the range of dates a timestamp can hold") from None


class Itself(ma.fields.Nested):
    """A nested object dumped from the object itself (``earned`` gathers a clip's own
    ``points`` and ``cash_cents``), so the document names its shape; output only."""

    def __init__(self, nested: type[ma.Schema], **kwargs: Any) -> None:
        super().__init__(nested, dump_only=True, **kwargs)

    def get_value(
        self, obj: Any, attr: str, accessor: Any = None, default: Any = ma.missing
    ) -> Any:
        return super().get_value({attr: obj}, attr, accessor, default)


class StrictSchema(ma.Schema):
    """Unknown fields are an error, so a typo in a field name never passes silently;
    text no database could store (a NUL character, a lone UTF-16 surrogate) is refused
    by its field name, however deep in the body it is."""

    class Meta:
        unknown = ma.RAISE

    @ma.pre_load
    def refuse_unstorable_text(self, data: Any, **_: Any) -> Any:
        if hasattr(data, "items"):
            errors = unstorable_text(data)
            if errors:
                raise ma.ValidationError(errors)
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
