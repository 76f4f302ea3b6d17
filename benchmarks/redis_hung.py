"""A hung Redis (SIGSTOPped redis-server: connections accepted, nothing answered): how
long POST /v1/submissions, GET /v1/me, /readyz, a refused token and a wall page take,
in process (Flask test client) on a fresh SQLite database, production rate limits on.

    python -m benchmarks.redis_hung        # figures on stdout and in results/redis_hung.json

On a commit before the Redis time budget (no ``Settings.redis_budget_ms``) the same
script writes results/redis_hung_before.json instead; both record the commit measured.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import tempfile
import time
import uuid
from dataclasses import fields
from pathlib import Path

from api import create_app
from api.context import EXTENSION
from benchmarks.common import commit, machine
from rewards_engine import schema
from rewards_engine.config import RateLimits, Settings
from rewards_engine.db import Database
from tests.conftest import TEST_ENCRYPTION_KEY, TEST_JWT_SECRET, make_token
from tests.support.factories import BOUNTY, body, clip, consenting_donor, load_program
from tests.support.processes import RedisProcess

RESULTS = Path(__file__).resolve().parent / "results"
CALLS = 3  # each call this many times: the first ones meet a closed breaker


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="redis-hung-"))
    server = RedisProcess(work / "redis").start()
    url = f"sqlite:///{work / 'bench.db'}"
    database = Database(url)
    schema.upgrade_to_head(database.engine)
    database.dispose()
    settings = Settings(
        environment="test", instance_dir=work, database_url=url, redis_url=server.url,
        redis_namespace="bench", jwt_secret=TEST_JWT_SECRET,
        encryption_keys=(TEST_ENCRYPTION_KEY,), rate_limits=RateLimits(),
    )  # fmt: skip
    from rewards_engine.clock import FixedClock
    from tests.conftest import DEFAULT_NOW

    app = create_app(settings, clock=FixedClock(DEFAULT_NOW))
    runtime = app.extensions[EXTENSION]
    load_program(runtime)
    consenting_donor(runtime, "ada")
    client = app.test_client()
    donor = {"Authorization": f"Bearer {make_token(settings, 'ada', 'donor')}"}

    def submit():  # type: ignore[no-untyped-def]
        headers = {**donor, "Idempotency-Key": uuid.uuid4().hex}
        return client.post("/v1/submissions", json=body(BOUNTY, [clip()]), headers=headers)

    calls = {
        "POST /v1/submissions": submit,
        "GET /v1/me": lambda: client.get("/v1/me", headers=donor),
        "GET /v1/me, refused token": lambda: client.get(
            "/v1/me", headers={"Authorization": "Bearer nope"}
        ),
        "GET /readyz": lambda: client.get("/readyz"),
        "GET /v1/honor-wall": lambda: client.get(
            f"/v1/honor-wall?limit={uuid.uuid4().int % 90 + 1}"
        ),
    }
    assert submit().status_code == 201
    os.kill(server.process.pid, signal.SIGSTOP)  # type: ignore[union-attr]
    figures: dict[str, dict[str, object]] = {}
    try:
        for _ in range(CALLS):
            for name, call in calls.items():
                started = time.monotonic()
                status = call().status_code
                took = time.monotonic() - started
                entry = figures.setdefault(name, {"seconds": [], "statuses": []})
                entry["seconds"].append(round(took, 3))  # type: ignore[union-attr]
                entry["statuses"].append(status)  # type: ignore[union-attr]
                print(f"{name:28} {status}  {took:7.3f} s", flush=True)
    finally:
        os.kill(server.process.pid, signal.SIGCONT)  # type: ignore[union-attr]
        runtime.close()
        server.stop()
    for entry in figures.values():
        entry["median_s"] = statistics.median(entry["seconds"])  # type: ignore[arg-type]
    has_budget = "redis_budget_ms" in {f.name for f in fields(Settings)}
    report = {
        "benchmark": "redis_hung",
        "machine": machine(),
        "commit": commit(),
        "budget_ms": getattr(settings, "redis_budget_ms", None) if has_budget else None,
        "calls": figures,
    }
    RESULTS.mkdir(exist_ok=True)
    name = "redis_hung.json" if has_budget else "redis_hung_before.json"
    (RESULTS / name).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
