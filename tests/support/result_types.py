"""A guard the whole suite runs under: the API serialises use cases' result types, never
table rows (docs/architecture.md, "Result types"). A row reaching a response schema
fails the test that made the call, naming the schema and the row's type."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import marshmallow as ma


class RowReachedTheApi(TypeError):
    pass


def check_not_a_row(schema: ma.Schema, obj: Any, many: bool | None) -> None:
    many = schema.many if many is None else many
    items = obj if many and obj is not None and not isinstance(obj, dict) else [obj]
    for item in items:
        if hasattr(type(item), "__table__"):
            raise RowReachedTheApi(
                f"{type(schema).__name__} was handed a {type(item).__name__} table row: "
                "the use case should return its own result type (db.row_view)"
            )


@contextmanager
def rows_refused() -> Iterator[None]:
    """While active, every marshmallow dump refuses table rows."""
    original = ma.Schema.dump

    def dump(self: ma.Schema, obj: Any, *, many: bool | None = None) -> Any:
        check_not_a_row(self, obj, many)
        return original(self, obj, many=many)

    with _patched(ma.Schema, "dump", dump):
        yield


@contextmanager
def _patched(owner: type, name: str, value: Any) -> Iterator[None]:
    previous = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, previous)
