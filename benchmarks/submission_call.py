"""One submission of 25 clips (the mobile mix's average call, see ``load_mix``) on an
empty database, in process: how long the call takes, and which parts of it cost.

``submissions.submit`` is called with the Honor Wall drain to Redis after each commit,
as the API runs it. A few donors each make one call first (their ledger accounts and
wall entries are created then), then ``--calls`` calls go round the same donors, each
timed whole and with the time spent inside:

- the Honor Wall: the outbox row in the transaction (``wall.record_accepted``) and the
  drain to Redis after the commit (the runtime's commit handler);
- the ledger transfer (``ledger.post``);
- medal evaluation (``medals.evaluate_donor``).

The campaign decides clips on their metadata (``requires_upload`` false,
``common.open_campaign``): the call measured is the decision path, not an upload.

    python -m benchmarks.submission_call [--backend postgres --backend sqlite] [--calls 50]
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import fresh_database, open_campaign, report, settings_for
from rewards_engine.bootstrap import build_runtime
from rewards_engine.clock import SystemClock
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.submissions import ClipInput
from rewards_engine.runtime import Runtime
from rewards_engine.services import consents, deciding, donors, submissions

REDIS = "redis://127.0.0.1:6379/0"
CAMPAIGN = "submission-call-benchmark"
KINDS = ("package_theft", "car_door", "break_in", "vandalism", "loitering", "other")
CLIPS_PER_CALL = 25
DONORS = 10
CALLS = 50


class Meter:
    """Seconds spent inside wrapped functions, by part."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, part: str, function: Callable[..., Any]) -> Callable[..., Any]:
        self.seconds.setdefault(part, 0.0)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[part] += time.perf_counter() - started

        return timed


def clips(donor_id: int, runtime: Runtime) -> list[ClipInput]:
    now = runtime.clock.now()
    return [
        ClipInput(
            video_sha256=secrets.token_hex(32),
            event_id=f"ev-{secrets.token_hex(6)}",
            incident_type=KINDS[i % len(KINDS)],
            camera_id=f"CAM-{donor_id}-{i % 3}",
            recorded_at=now - timedelta(minutes=30 + i),
            duration_s=30.0,
            staged=False,
            perceptual_hash=secrets.randbits(63),
        )
        for i in range(CLIPS_PER_CALL)
    ]


def bench(backend: str, calls: int) -> dict[str, Any]:
    meter = Meter()
    with fresh_database(backend) as url, tempfile.TemporaryDirectory() as instance:
        runtime = build_runtime(settings_for(url, REDIS, Path(instance)), clock=SystemClock())
        # The drain after the commit, timed: set before the database is first used.
        runtime.commit_handlers = [meter.wrap("wall_drain", h) for h in runtime.commit_handlers]
        open_campaign(runtime, CAMPAIGN, "Submission call benchmark", list(KINDS), days=30)
        ids = []
        for n in range(DONORS):
            donor = donors.ensure_donor(runtime.db, runtime.clock, f"bench-{n}")
            consents.grant(runtime.db, runtime.clock, donor.id, "2024-12-01")
            ids.append(donor.id)

        def call(donor_id: int) -> float:
            request = submissions.SubmissionRequest(
                CAMPAIGN, "2024-12-01", clips(donor_id, runtime)
            )
            actor = Actor(id=f"donor:{donor_id}", role="donor")
            started = time.perf_counter()
            submissions.submit(runtime.db, runtime.clock, actor, donor_id, request)
            return time.perf_counter() - started

        for donor_id in ids:  # first calls: accounts and wall entries created
            call(donor_id)
        meter.seconds = {"wall_drain": 0.0}
        parts = {
            "wall_outbox": (deciding.wall, "record_accepted"),
            "ledger": (deciding.ledger, "post"),
            "medals": (deciding.medals, "evaluate_donor"),
        }
        originals = {part: getattr(module, name) for part, (module, name) in parts.items()}
        for part, (module, name) in parts.items():
            setattr(module, name, meter.wrap(part, originals[part]))
        try:
            took = [call(ids[n % len(ids)]) for n in range(calls)]
        finally:
            for part, (module, name) in parts.items():
                setattr(module, name, originals[part])
        runtime.close()
    total = sum(took)
    return {
        "calls": calls,
        "clips_per_call": CLIPS_PER_CALL,
        "donors": DONORS,
        "ms_median": round(1000 * statistics.median(took), 1),
        "ms_mean": round(1000 * total / calls, 1),
        "share_of_call": {part: round(s / total, 3) for part, s in meter.seconds.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", action="append", choices=("postgres", "sqlite"))
    parser.add_argument("--calls", type=int, default=CALLS)
    args = parser.parse_args()
    backends = args.backend or ["postgres", "sqlite"]
    figures = {backend: bench(backend, args.calls) for backend in backends}
    figures["parts"] = {
        "wall_outbox": "wall.record_accepted: the Honor Wall's outbox row, in the transaction",
        "wall_drain": "the runtime's commit handler: the drain of that row to Redis",
        "ledger": "ledger.post: the earning transfer",
        "medals": "medals.evaluate_donor",
    }
    report("submission_call", figures, save=args.calls == CALLS and len(backends) == 2)


if __name__ == "__main__":
    main()
