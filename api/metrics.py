"""Prometheus metrics: request counts and latencies by route, method and status.

Under gunicorn every worker is a process; ``rewards-engine serve`` sets
``PROMETHEUS_MULTIPROC_DIR`` so that the workers' figures are summed at scrape time.
Without it (tests, a single process) each app keeps its own registry.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

from api import context
from rewards_engine import alerts
from rewards_engine.services.audit import checks as audit_checks
from rewards_engine.services.audit.checks import ChainStatus

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class RequestMetrics:
    def __init__(self) -> None:
        multiproc = _multiprocess_dir() is not None
        # In multiprocess mode values live in per-process files, not in a registry.
        self.registry = None if multiproc else CollectorRegistry()
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests by route, method and status",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency by route and method",
            ("method", "route"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def init_app(self, app: Flask) -> None:
        app.before_request(self._start)
        app.after_request(self._finish)
        app.add_url_rule("/metrics", "metrics", self.expose, methods=["GET"])

    def _start(self) -> None:
        g.metrics_started = time.perf_counter()

    def _finish(self, response: Response) -> Response:
        started = g.pop("metrics_started", None)
        if started is None:
            return response
        route = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
        self.requests.labels(request.method, route, str(response.status_code)).inc()
        self.latency.labels(request.method, route).observe(time.perf_counter() - started)
        return response

    def expose(self) -> Response:
        if self.registry is None:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped in prometheus_client
        else:
            registry = self.registry
        body = generate_latest(registry) + generate_latest(_audit_chain_registry())
        if self.registry is not None:  # multiprocess: the shared files hold the alerts too
            body += generate_latest(alerts.REGISTRY)  # rewards_alerts_total{event}
        return Response(body, mimetype=CONTENT_TYPE_LATEST)


class _AuditChainCollector:
    """The last scheduled verification of the audit chain (the scheduler process serves
    no metrics: the job keeps its outcome in Redis, read here at each scrape)."""

    def __init__(self, status: ChainStatus) -> None:
        self.status = status

    def collect(self) -> Iterator[GaugeMetricFamily]:
        figures = (
            ("audit_chain_intact", "1 if the last verification of the audit chain passed, "
             "0 if it found a broken record", int(self.status.ok)),
            ("audit_chain_verified_timestamp_seconds",
             "When the audit chain was last verified (Unix time)", self.status.checked_at),
            ("audit_chain_records", "Audit records verified by the last verification",
             self.status.records),
            ("audit_chain_broken_record_id", "The first broken audit record's id (0: none)",
             self.status.broken_record_id or 0),
        )  # fmt: skip
        for name, documentation, value in figures:
            yield GaugeMetricFamily(name, documentation, value=value)


def _audit_chain_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    status = audit_checks.last_status(context.runtime())
    if status is not None:
        registry.register(_AuditChainCollector(status))
    return registry
