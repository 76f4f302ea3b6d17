"""The scheduled jobs of the engine. Each is also ``rewards-engine jobs run NAME``.

Every job is idempotent: running it twice, or on two schedulers after a failover,
changes nothing the first run did not.
"""

from __future__ import annotations

from rewards_engine.scheduler import JobSpec

JOBS: list[JobSpec] = []


def find_job(name: str) -> JobSpec | None:
    return next((spec for spec in JOBS if spec.name == name), None)
