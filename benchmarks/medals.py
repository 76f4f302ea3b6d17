"""Medals: their cost inside a 500-clip submission, and a backfill over 1,000,000 donors.

1. 500-clip submissions through the service, with the program's medal catalog in
   force; the time spent evaluating medals is measured inside the same calls (in
   ``ingest_leader``'s campaign, which decides clips on their metadata).
2. A new count medal backfilled over 1,000,000 donors (dry run, then applied).

    python -m benchmarks.medals [--donors 1000000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import wall_1m
from benchmarks.common import fresh_database, report, settings_for
from benchmarks.ingest_leader import CAMPAIGN, leader_clips, prepare
from rewards_engine.bootstrap import build_runtime
from rewards_engine.clock import SystemClock
from rewards_engine.domain.actors import Actor
from rewards_engine.runtime import Runtime
from rewards_engine.services import deciding, medals, submissions

REDIS = "redis://127.0.0.1:6379/0"


def bench_submission_share(runtime: Runtime, calls: int) -> dict[str, Any]:
    donor_id = prepare(runtime)  # fixtures: the twelve medals of the program
    spent = [0.0]
    original = medals.evaluate_donor

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - started

    deciding.medals.evaluate_donor = timed  # type: ignore[method-assign]
    actor = Actor(id="donor:leader", role="donor")
    try:
        chunks = list(leader_clips(calls * 500, "medal-bench"))
        started = time.perf_counter()
        for chunk in chunks:
            request = submissions.SubmissionRequest(CAMPAIGN, "2024-12-01", chunk)
            submissions.submit(runtime.db, runtime.clock, actor, donor_id, request)
        total = time.perf_counter() - started
    finally:
        deciding.medals.evaluate_donor = original  # type: ignore[method-assign]
    return {
        "calls": calls,
        "clips_per_call": 500,
        "ms_per_submission": round(1000 * total / calls, 2),
        "ms_medal_evaluation": round(1000 * spent[0] / calls, 2),
        "medal_share_of_submission": round(spent[0] / total, 4),
        "medals_in_force": len(medals.list_definitions(runtime.db)),
    }


def bench_backfill(runtime: Runtime, donors: int) -> dict[str, Any]:
    print("seeding ...", flush=True)
    wall_1m.seed(runtime, wall_1m.clip_counts(donors))
    medals.save_definition(
        runtime.db,
        runtime.clock,
        Actor.system("bench"),
        medals.DefinitionInput(
            code="five-alive",
            name="Five",
            icon_key="five",
            tier="bronze",
            rule={"kind": "count", "threshold": 5},
        ),
        create=True,
    )
    print("backfilling ...", flush=True)
    started = time.perf_counter()
    dry = medals.backfill(runtime.db, runtime.clock, code="five-alive", dry_run=True)
    dry_s = time.perf_counter() - started
    started = time.perf_counter()
    real = medals.backfill(runtime.db, runtime.clock, code="five-alive", dry_run=False)
    real_s = time.perf_counter() - started
    assert real.gains == dry.gains
    return {
        "donors": donors,
        "donors_gaining": len(real.gains),
        "dry_run_seconds": round(dry_s, 2),
        "dry_run_donors_per_s": round(donors / dry_s),
        "apply_seconds": round(real_s, 2),
        "apply_donors_per_s": round(donors / real_s),
        "apply_awards_per_s": round(len(real.gains) / real_s),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--donors", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=100)
    args = parser.parse_args()
    figures: dict[str, Any] = {}
    for backend in ("postgres", "sqlite"):
        with fresh_database(backend) as url, tempfile.TemporaryDirectory() as instance:
            runtime = build_runtime(settings_for(url, REDIS, Path(instance)), clock=SystemClock())
            figures[f"submission_{backend}"] = bench_submission_share(runtime, args.calls)
            runtime.close()
    with fresh_database("postgres") as url, tempfile.TemporaryDirectory() as instance:
        runtime = build_runtime(settings_for(url, REDIS, Path(instance)), clock=SystemClock())
        figures["backfill_postgres"] = bench_backfill(runtime, args.donors)
        runtime.close()
    report("medals", figures, save=args.donors == 1_000_000)


if __name__ == "__main__":
    main()
