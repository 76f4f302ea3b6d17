"""What must never reach a log line is masked by the formatter."""

import json
import logging

import pytest

from rewards_engine.logs import JsonFormatter, redact


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("Authorization: Bearer A21AAabc.def-ghi", "A21AAabc"),
        ("Basic cGF5cGFsLWNsaWVudDpzZWNyZXQ=", "cGF5cGFsLWNsaWVudDpzZWNyZXQ="),
        ('{"access_token": "A21AAtoken", "token_type": "Bearer"}', "A21AAtoken"),
        ('b\'{\\"access_token\\": \\"A21AAtoken\\"}\'', "A21AAtoken"),  # a body, JSON-escaped
        ("grant_type=client_credentials&client_secret=s3cr3t&x=1", "s3cr3t"),
        ("receiver: ana.b+pay@example.co.uk", "ana.b+pay@example.co.uk"),
        ("key sk_live_51Habcdefghijkl used", "sk_live_51Habcdefghijkl"),
        ("whsec_abcdefgh1234", "whsec_abcdefgh1234"),
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbmEifQ.c2lnbmF0dXJl", "eyJzdWIiOiJhbmEifQ"),
    ],
)
def test_secrets_are_masked(line: str, secret: str) -> None:
    assert secret not in redact(line)


def test_the_formatter_masks_fields_and_messages_after_encoding() -> None:
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "paid %s", ("ana@example.com",), None
    )
    record.fields = {"body": '{"access_token": "tok123456"}'}
    line = JsonFormatter().format(record)
    assert "ana@example.com" not in line and "tok123456" not in line
    assert json.loads(line)["event"] == "paid [redacted-email]"


def test_ordinary_lines_are_left_alone() -> None:
    line = "payout batch 7 submitted: 15000 items, 30000.00 USD"
    assert redact(line) == line
