"""Alerts: a structured log event and a Prometheus counter, together (issue 24, part 6).

An alert is something a person should look at soon (an approval refused, an agent past
a daily limit, the audit chain failing to verify). Each is one WARNING log line whose
message is the event name, with its fields, and one increment of
``rewards_alerts_total{event=...}``, which /metrics serves (api/metrics.py) and an
alerting rule can watch: ``increase(rewards_alerts_total{event="approval.refused"}[1h]) > 0``.

The counter lives in a registry of its own so that a process without a web server (the
scheduler, the CLI) can count too; under gunicorn's PROMETHEUS_MULTIPROC_DIR the value
is written to the shared directory like every other metric and summed at scrape time.
"""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import CollectorRegistry, Counter

REGISTRY = CollectorRegistry()
ALERTS = Counter(
    "rewards_alerts",
    "Alerts raised, by event (approval.refused, staff.daily_limit_exceeded, ...)",
    ("event",),
    registry=REGISTRY,
)


def alert(logger: logging.Logger, event: str, fields: dict[str, Any]) -> None:
    """Log ``event`` at WARNING with its fields and count it. Fields are what a person
    needs to act (who, what); never secrets (the log filter masks them anyway)."""
    logger.warning(event, extra={"fields": {"alert": event, **fields}})
    ALERTS.labels(event).inc()


def count(event: str) -> float:
    """How many ``event`` alerts this process raised (tests read it)."""
    value = REGISTRY.get_sample_value("rewards_alerts_total", {"event": event})
    return value or 0.0
