"""The scheduled jobs of the engine. Each is also ``rewards-engine jobs run NAME``.

Every job is idempotent: running it twice, or on two schedulers after a failover,
changes nothing the first run did not.
"""

from __future__ import annotations

from rewards_engine.runtime import Runtime
from rewards_engine.scheduler import JobResult, JobSpec
from rewards_engine.services import idempotency, vesting


def vest_earnings(runtime: Runtime) -> JobResult:
    return vesting.vest_due(runtime.db, runtime.clock).as_dict()


def purge_idempotency_keys(runtime: Runtime) -> JobResult:
    return {"deleted": idempotency.purge_expired(runtime.db, runtime.clock.now())}


JOBS: list[JobSpec] = [
    JobSpec(
        "vest-earnings",
        vest_earnings,
        {"trigger": "interval", "minutes": 10},
        "move earnings past their review window from pending to available",
    ),
    JobSpec(
        "purge-idempotency-keys",
        purge_idempotency_keys,
        {"trigger": "cron", "hour": 3, "minute": 17},
        "forget idempotency keys older than 7 days",
    ),
]


def find_job(name: str) -> JobSpec | None:
    return next((spec for spec in JOBS if spec.name == name), None)
