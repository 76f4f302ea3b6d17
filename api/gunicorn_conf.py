"""gunicorn settings used by ``rewards-engine serve`` (``--config python:api.gunicorn_conf``)."""

from __future__ import annotations

import os
from typing import Any

worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "4"))
timeout = 60
graceful_timeout = 20
keepalive = 5
accesslog = None  # the app logs one structured line per request
preload_app = False  # each worker opens its own database pool and Redis connections


def child_exit(_server: Any, worker: Any) -> None:
    """Drop a dead worker's live gauges from the shared Prometheus files."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
