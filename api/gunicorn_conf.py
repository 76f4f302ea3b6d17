"""gunicorn settings used by ``rewards-engine serve`` (``--config python:api.gunicorn_conf``).

Slow clients: a gthread worker hands a connection to a thread once the request's
headers have arrived, and that thread then blocks until the body is in; gunicorn has
no setting that bounds a body's upload time. So production runs behind a buffering
proxy (``serve --behind-proxy``, deploy/nginx-rewards-engine.conf), which hands
gunicorn whole requests only; see docs/resilience.md. The limits below bound what a
client can make a thread hold on to in any case.
"""

from __future__ import annotations

import os
from typing import Any

behind_proxy = os.environ.get("REWARDS_BEHIND_PROXY") == "1"

worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "4"))
timeout = 60  # a worker silent this long is restarted (nginx's proxy_read_timeout is 60 s)
graceful_timeout = 20
# Idle kept-alive connections wait in the worker's poller, not in a thread; the proxy
# opens one connection a request, so a short keep-alive costs nothing behind it.
keepalive = 2 if behind_proxy else 5
# Request line and headers: the sizes nginx itself allows by default.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
accesslog = None  # the app logs one structured line per request
preload_app = False  # each worker opens its own database pool and Redis connections


def child_exit(_server: Any, worker: Any) -> None:
    """Drop a dead worker's live gauges from the shared Prometheus files."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]  # untyped in prometheus_client
