from __future__ import annotations

from typing import Any

import marshmallow as ma

from rewards_engine.pagination import DEFAULT_LIMIT, MAX_LIMIT


class StrictSchema(ma.Schema):
    """Unknown fields are an error, so a typo in a field name never passes silently."""

    class Meta:
        unknown = ma.RAISE


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
