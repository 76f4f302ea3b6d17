"""Opaque keyset cursors: a page ends where the next one starts, even under inserts."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import Select, literal, tuple_
from sqlalchemy.orm import InstrumentedAttribute, Mapped, Session

from rewards_engine.domain.errors import InvalidInput
from rewards_engine.domain.ids import INT64_MAX

T = TypeVar("T")
U = TypeVar("U")
DEFAULT_LIMIT = 25
MAX_LIMIT = 100
MAX_CURSOR_LENGTH = 512


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    next_cursor: str | None

    def map(self, convert: Callable[[T], U]) -> Page[U]:
        """The same page with each item converted (a row into its use case's view)."""
        return Page([convert(item) for item in self.items], self.next_cursor)


def encode_cursor(kind: str, position: Sequence[Any]) -> str:
    values = [v.isoformat() if isinstance(v, datetime) else v for v in position]
    raw = json.dumps([kind, values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, kind: str, types: Sequence[type]) -> list[Any] | None:
    """The position a cursor names, typed as ``types``; None for the first page.

    A cursor from another list, or one that was tampered with, is bad input (422
    naming ``cursor``), never a server error.
    """
    if cursor is None:
        return None
    try:
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise ValueError("cursor too long")
        padded = cursor + "=" * (-len(cursor) % 4)
        found_kind, values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if found_kind != kind or len(values) != len(types):
            raise ValueError(kind)
        return [_typed(value, wanted) for value, wanted in zip(values, types, strict=True)]
    except (ValueError, binascii.Error, TypeError) as exc:
        raise InvalidInput(
            "the cursor is not valid for this list",
            code="invalid_cursor",
            field="cursor",
            location="query",
        ) from exc


def _typed(value: Any, wanted: type) -> Any:
    if wanted is datetime:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError("naive time in cursor")
        return parsed
    if wanted is int and isinstance(value, bool):
        raise TypeError("bool is not an int here")
    if not isinstance(value, wanted):
        raise TypeError(f"expected {wanted.__name__}")
    if isinstance(value, int) and not -INT64_MAX <= value <= INT64_MAX:
        raise ValueError("out of range")
    return value


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(
            f"limit must be between 1 and {MAX_LIMIT}", field="limit", location="query"
        )
    return limit


def fetch_page(
    session: Session,
    query: Select[Any],
    *,
    kind: str,
    columns: Sequence[Mapped[Any]],
    types: Sequence[type],
    limit: int,
    cursor: str | None,
    descending: bool = True,
) -> Page[Any]:
    """Run ``query`` for one page ordered by ``columns`` (the last one unique).

    The cursor is the position of the last row shown; the next page starts strictly
    after it (a row-value comparison, which both SQLite and PostgreSQL index well).
    """
    limit = check_limit(limit)
    # sqlmodel.col() types model attributes as Mapped; at run time they are instrumented.
    attributes = [cast(InstrumentedAttribute[Any], column) for column in columns]
    position = decode_cursor(cursor, kind, types)
    if position is not None:
        row_value = tuple_(*attributes)
        last = tuple_(*(literal(v, c.type) for v, c in zip(position, attributes, strict=True)))
        query = query.where(row_value < last if descending else row_value > last)
    order = [c.desc() if descending else c.asc() for c in attributes]
    rows = list(session.scalars(query.order_by(*order).limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(kind, [getattr(rows[-1], c.key) for c in attributes])
    return Page(rows, next_cursor)
