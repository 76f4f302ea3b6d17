"""The orjson provider says what Flask's default provider says, faster."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from flask import Flask
from flask.json.provider import DefaultJSONProvider

from api.json_provider import OrjsonProvider

SAMPLES = [
    {"b": 1, "a": [1, 2.5, None, True], "c": {"z": "é", "y": "\u2603"}},
    {"when": datetime(2025, 1, 15, 12, 0, tzinfo=UTC), "price": Decimal("1.50")},
    {"big": 2**70, "small": -(2**63)},
    {1: "integer keys", "2": "text keys"},
]


APP = Flask(__name__)


def providers() -> tuple[OrjsonProvider, DefaultJSONProvider]:
    return OrjsonProvider(APP), DefaultJSONProvider(APP)


def test_answers_mean_what_the_default_provider_writes() -> None:
    fast, default = providers()
    for sample in SAMPLES[:3]:
        assert fast.loads(fast.dumps(sample)) == default.loads(default.dumps(sample))
    assert fast.dumps(SAMPLES[0]).index('"a"') < fast.dumps(SAMPLES[0]).index('"b"')
    assert '"Wed, 15 Jan 2025 12:00:00 GMT"' in fast.dumps(SAMPLES[1])  # Flask's HTTP date
    assert fast.loads(fast.dumps(SAMPLES[3])) == {"1": "integer keys", "2": "text keys"}


def test_response_is_compact_json_with_a_newline() -> None:
    app = Flask(__name__)
    app.json = OrjsonProvider(app)
    with app.app_context():
        answer = app.json.response({"b": 1, "a": 2})
    assert answer.mimetype == "application/json"
    assert answer.get_data() == b'{"a":2,"b":1}\n'


def test_parsing_keeps_what_orjson_would_change() -> None:
    fast, _ = providers()
    assert fast.loads('{"n": 123456789012345678901234567890}') == {
        "n": 123456789012345678901234567890
    }
    assert fast.loads('{"name": "\\ud800"}') == {"name": "\ud800"}  # the guard names it
