"""Structured logs: one JSON object per line, with secrets scrubbed on the way out.

Call sites pass their figures as ``extra={"fields": {...}}``. A last-line filter
masks what must never reach a log (bearer tokens, e-mail addresses, card codes),
whatever code wrote it, the SDKs included.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

# (markers, pattern, replacement): a pattern runs only if one of its markers is in the
# lower-cased line, so that most lines pay for a few substring tests, not five regexes.
_REDACTIONS = (
    (("bearer", "basic"), re.compile(r"(?i)(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"),
     r"\1 [redacted]"),
    (("eyj",), re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
     "[redacted-jwt]"),
    (("@",), re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), "[redacted-email]"),
    (("access_token", "client_secret", "api_key", "password"),
     re.compile(r"(?i)(access_token|client_secret|api_key|password)([\\\"'=:\s]+)[^\s,\\\"'&]+"),
     r"\1\2[redacted]"),
    (("sk_", "rk_", "whsec_"), re.compile(r"\b(sk|rk|whsec)_(test|live)?_?[A-Za-z0-9]{6,}"),
     "[redacted-key]"),
)  # fmt: skip


def redact(text: str) -> str:
    lowered = text.lower()
    for markers, pattern, replacement in _REDACTIONS:
        if any(marker in lowered for marker in markers):
            text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            payload.update(fields)
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(payload, default=str, ensure_ascii=False))


def configure_logging(level: str = "INFO") -> None:
    """Send every logger's records through the JSON formatter on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Third-party loggers that echo request bodies or tokens at DEBUG stay quieter.
    for noisy in ("paypalrestsdk", "urllib3", "stripe"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, logging.getLevelName(level)))
    # APScheduler says "running job" and "job executed" for every tick at INFO; the
    # engine logs what each job did instead (rewards_engine.scheduler.run_job).
    if logging.getLevelName(level) > logging.DEBUG:
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
