"""What each request of the mobile mix (``load_mix``) costs the app's processor, in
process: where the app's share of the mix's CPU per request goes.

The same donors, campaign and requests as ``load_mix`` (its ``prepare`` and its request
shapes: submissions of 1 to 50 clips on shared cameras and events), sent one at a time
through Flask's test client to the app configured as the served one (no rate limits,
logs at WARNING), each request's body and headers made before it is timed. For each
kind of request: the app's CPU time (this process's, which holds the app and nothing of
the database server or Redis), the wall time and the statements sent (on PostgreSQL
without the clips' COPY, which the engine's cursor events do not see). Weighted by the
mix's shares, the CPU per request comes near what ``load_mix`` measures for its app
workers (``cpu_ms_per_request.app``): here the test client's work on each request
counts, there gunicorn's.

    python -m benchmarks.mix_costs [--backend postgres --backend sqlite] [--requests 200]
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import secrets
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import event
from werkzeug.test import TestResponse

from api import create_app
from api.context import EXTENSION
from benchmarks.common import report
from benchmarks.load_mix import CAMERAS, CAMPAIGN, CONSENT, KINDS, prepared
from rewards_engine.config import RateLimits
from rewards_engine.runtime import Runtime

WARM_UP = 10  # requests of each kind before the timed ones
# The shares of load_mix's Lua script, in percent.
SHARES = {
    "GET /v1/honor-wall": 30,
    "GET /v1/honor-wall/me": 20,
    "GET /v1/me": 20,
    "POST /v1/submissions": 20,
    "GET /v1/me/ledger": 4,
    "GET /v1/me/medals": 3,
    "GET /v1/redemptions": 3,
}


def submission(recorded: str) -> dict[str, Any]:
    """A body as load_mix's Lua builds it: 1 to 50 clips, shared cameras and events."""
    clips = [
        {
            "video_sha256": secrets.token_hex(32),
            "event_id": f"ev-{random.randint(1, 40)}",
            "incident_type": random.choice(KINDS),
            "camera_id": f"CAM-{random.randint(1, CAMERAS)}",
            "recorded_at": recorded,
            "duration_s": 30,
            "staged": False,
        }
        for _ in range(random.randint(1, 50))
    ]
    return {"campaign_id": CAMPAIGN, "consent_version": CONSENT, "clips": clips}


def measure(backend: str, requests: int) -> dict[str, Any]:
    with prepared(backend) as (settings, tokens):
        # As served: no rate limits (the benchmarks' server_env), logs at WARNING.
        app = create_app(replace(settings, rate_limits=RateLimits(0, 0, 0, 0)))
        logging.disable(logging.INFO)
        client = app.test_client()
        recorded = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        served: Runtime = app.extensions[EXTENSION]
        statements = [0]

        @event.listens_for(served.db.engine, "before_cursor_execute")
        def count(*_: Any) -> None:
            statements[0] += 1

        def call(kind: str) -> Callable[[], TestResponse]:
            """One request of ``kind``, its body and headers made now, not when timed."""
            method, path = kind.split(" ")
            headers = {}
            if kind != "GET /v1/honor-wall":  # the Lua script sends the page without a token
                headers["Authorization"] = "Bearer " + random.choice(tokens)
            if method == "POST":
                headers["Idempotency-Key"] = secrets.token_hex(16)
                data = json.dumps(submission(recorded))
                return partial(client.post, path, data=data, headers=headers,
                               content_type="application/json")  # fmt: skip
            query = {"GET /v1/honor-wall": "?board=all-time&limit=25",
                     "GET /v1/honor-wall/me": "?board=all-time",
                     "GET /v1/me/ledger": "?limit=25"}.get(kind, "")  # fmt: skip
            return partial(client.get, path + query, headers=headers)

        try:
            costs = {
                kind: cost([call(kind) for _ in range(WARM_UP + requests)], statements)
                for kind in SHARES
            }
        finally:
            logging.disable(logging.NOTSET)
            served.close()
    weighted = sum(SHARES[k] * c["cpu_ms_mean"] for k, c in costs.items()) / 100
    return {"requests": costs, "mix_app_cpu_ms_per_request": round(weighted, 2)}


def cost(calls: list[Callable[[], TestResponse]], statements: list[int]) -> dict[str, Any]:
    """The app's CPU and wall time of the calls after the first ``WARM_UP``."""
    for send in calls[:WARM_UP]:
        send()
    timed = calls[WARM_UP:]
    cpu, wall = [], []
    sent = statements[0]
    for send in timed:
        started_cpu, started = time.process_time(), time.perf_counter()
        response = send()
        cpu.append((time.process_time() - started_cpu) * 1000)
        wall.append((time.perf_counter() - started) * 1000)
        if response.status_code >= 300:
            raise RuntimeError(f"{response.status_code}: {response.get_data(as_text=True)}")
    return {
        "cpu_ms_mean": round(statistics.fmean(cpu), 2),
        "wall_ms_median": round(statistics.median(wall), 2),
        "statements_per_request": round((statements[0] - sent) / len(timed), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", action="append", choices=["postgres", "sqlite"])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    random.seed(23)
    figures = {
        backend: measure(backend, args.requests)
        for backend in args.backend or ["postgres", "sqlite"]
    }
    report("mix_costs", {"shares_percent": SHARES, **figures}, save=args.requests >= 200)


if __name__ == "__main__":
    main()
