import base64
import json
from datetime import UTC, datetime

import pytest

from rewards_engine.domain.errors import InvalidInput
from rewards_engine.pagination import check_limit, decode_cursor, encode_cursor


def test_cursor_round_trip_keeps_types() -> None:
    at = datetime(2025, 1, 2, 3, 4, 5, 678, tzinfo=UTC)
    cursor = encode_cursor("clips", [at, 42])
    assert decode_cursor(cursor, "clips", (datetime, int)) == [at, 42]
    assert decode_cursor(None, "clips", (datetime, int)) is None


def forged(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "%%%",
        "bm90IGpzb24",  # "not json"
        forged(["ledger", ["2025-01-01T00:00:00+00:00", 1]]),  # another list's cursor
        forged(["clips", ["2025-01-01T00:00:00", 1]]),  # a naive time
        forged(["clips", ["yesterday", 1]]),
        forged(["clips", ["2025-01-01T00:00:00+00:00", "1"]]),
        forged(["clips", ["2025-01-01T00:00:00+00:00", True]]),
        forged(["clips", ["2025-01-01T00:00:00+00:00"]]),
        forged({"clips": 1}),
    ],
)
def test_tampered_cursors_are_bad_input_naming_cursor(cursor: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        decode_cursor(cursor, "clips", (datetime, int))
    assert caught.value.field == "cursor"
    assert caught.value.location == "query"


def test_limits_are_bounded() -> None:
    assert check_limit(1) == 1
    assert check_limit(100) == 100
    for bad in (0, 101, -5):
        with pytest.raises(InvalidInput):
            check_limit(bad)
