"""One submission of 25 clips (the mobile mix's average call, see ``load_mix``) and one of
500 (a leader's call) on an empty database, in process: how long the call takes, how
many statements it sends, which parts of it cost, and the physical limit beside it: the
raw insert of the same clip rows in a transaction of its own (issue 23: a 25-clip
call within 10 ms on PostgreSQL, a 500-clip one within 40 ms).

``submissions.submit`` is called with the Honor Wall drain to Redis after each commit,
as the API runs it. A few donors each make one call first (their ledger accounts and
wall entries are created then), then ``--calls`` calls go round the same donors, each
timed whole and with the time spent inside:

- the Honor Wall: the outbox row in the transaction (``wall.record_accepted``), the
  placements read before the commit (the runtime's commit preparer) and their write to
  Redis after it (the runtime's commit handler);
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

from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine

from benchmarks.common import fresh_database, open_campaign, report, settings_for
from rewards_engine.bootstrap import build_runtime
from rewards_engine.clock import SystemClock
from rewards_engine.db import insert_rows, table_of
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.submissions import ClipInput
from rewards_engine.models import Clip, SubmissionBatch
from rewards_engine.runtime import Runtime
from rewards_engine.services import consents, deciding, donors, submissions

REDIS = "redis://127.0.0.1:6379/0"
CAMPAIGN = "submission-call-benchmark"
KINDS = ("package_theft", "car_door", "break_in", "vandalism", "loitering", "other")
CLIPS_PER_CALL = 25
LARGE_CALL = 500
DONORS = 10
CALLS = 50
LARGE_CALLS = 20


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


def clips(donor_id: int, runtime: Runtime, count: int = CLIPS_PER_CALL) -> list[ClipInput]:
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
        for i in range(count)
    ]


class Statements:
    """Statements sent on an engine while counting."""

    def __init__(self, engine: Engine) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *_: Any) -> None:
        self.count += 1


def raw_insert_ms(runtime: Runtime, donor_id: int, count: int, calls: int) -> float:
    """The median time of inserting ``count`` clip rows like a call's, alone in a
    transaction, the way the service inserts them (``db.insert_rows``: a COPY on
    PostgreSQL, an executemany on SQLite): what a call cannot go below."""
    table = table_of(Clip)
    now = runtime.clock.now()
    with runtime.db.engine.connect() as connection:  # the clips' batch: any real one
        batch_id = connection.execute(select(func.max(table_of(SubmissionBatch).c.id))).scalar()
    took = []
    for _ in range(calls):
        rows = [
            {
                "batch_id": batch_id, "donor_id": donor_id, "campaign_id": CAMPAIGN,
                "video_sha256": clip.video_sha256,
                "perceptual_hash": clip.perceptual_hash, "event_id": clip.event_id,
                "incident_type": clip.incident_type, "camera_id": clip.camera_id,
                "recorded_at": clip.recorded_at, "duration_s": clip.duration_s,
                "staged": clip.staged, "status": "accepted", "camera_rule": "allow",
                "points": 10, "cash_cents": 5, "currency": "USD", "created_at": now,
                "accepted_at": now,
            }
            for clip in clips(donor_id, runtime, count)
        ]  # fmt: skip
        started = time.perf_counter()
        with runtime.db.transaction() as uow:
            insert_rows(uow.session, table, rows)
        took.append(time.perf_counter() - started)
    return 1000 * statistics.median(took)


def bench(backend: str, calls: int) -> dict[str, Any]:
    meter = Meter()
    with fresh_database(backend) as url, tempfile.TemporaryDirectory() as instance:
        runtime = build_runtime(settings_for(url, REDIS, Path(instance)), clock=SystemClock())
        # The drain after the commit, timed: set before the database is first used.
        runtime.commit_handlers = [meter.wrap("wall_drain", h) for h in runtime.commit_handlers]
        runtime.commit_preparers = [meter.wrap("wall_prepare", p) for p in runtime.commit_preparers]
        open_campaign(runtime, CAMPAIGN, "Submission call benchmark", list(KINDS), days=30)
        ids = []
        for n in range(DONORS):
            donor = donors.ensure_donor(runtime.db, runtime.clock, f"bench-{n}")
            consents.grant(runtime.db, runtime.clock, donor.id, "2024-12-01")
            ids.append(donor.id)
        statements = Statements(runtime.db.engine)

        def call(donor_id: int, count: int = CLIPS_PER_CALL) -> float:
            request = submissions.SubmissionRequest(
                CAMPAIGN, "2024-12-01", clips(donor_id, runtime, count)
            )
            actor = Actor(id=f"donor:{donor_id}", role="donor")
            started = time.perf_counter()
            submissions.submit(runtime.db, runtime.clock, actor, donor_id, request)
            return time.perf_counter() - started

        for donor_id in ids:  # first calls: accounts and wall entries created
            call(donor_id)
        meter.seconds = {"wall_prepare": 0.0, "wall_drain": 0.0}
        parts = {
            "wall_outbox": (deciding.wall, "record_accepted"),
            "ledger": (deciding.ledger, "post"),
            "medals": (deciding.medals, "evaluate_donor"),
        }
        originals = {part: getattr(module, name) for part, (module, name) in parts.items()}
        for part, (module, name) in parts.items():
            setattr(module, name, meter.wrap(part, originals[part]))
        try:
            statements.count = 0
            took = [call(ids[n % len(ids)]) for n in range(calls)]
            sent = statements.count
        finally:
            for part, (module, name) in parts.items():
                setattr(module, name, originals[part])
        statements.count = 0
        large_calls = max(1, calls * LARGE_CALLS // CALLS)
        large = [call(ids[n % len(ids)], LARGE_CALL) for n in range(large_calls)]
        large_sent = statements.count
        unseen = 1 if runtime.db.is_postgres else 0  # the clips' COPY: no cursor event
        raw = raw_insert_ms(runtime, ids[0], CLIPS_PER_CALL, calls)
        large_raw = raw_insert_ms(runtime, ids[0], LARGE_CALL, large_calls)
        runtime.close()
    total = sum(took)
    small_ms = 1000 * statistics.median(took)
    large_ms = 1000 * statistics.median(large)
    return {
        "calls": calls,
        "clips_per_call": CLIPS_PER_CALL,
        "donors": DONORS,
        "ms_median": round(small_ms, 1),
        "ms_mean": round(1000 * total / calls, 1),
        "statements_per_call": round(sent / calls + unseen, 1),
        "raw_insert_ms_median": round(raw, 2),
        "times_raw_insert": round(small_ms / raw, 1),
        "share_of_call": {part: round(s / total, 3) for part, s in meter.seconds.items()},
        "large": {
            "calls": large_calls,
            "clips_per_call": LARGE_CALL,
            "ms_median": round(large_ms, 1),
            "statements_per_call": round(large_sent / large_calls + unseen, 1),
            "raw_insert_ms_median": round(large_raw, 2),
            "times_raw_insert": round(large_ms / large_raw, 1),
        },
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
        "wall_prepare": "the runtime's commit preparer: the row's placements read before "
        "the commit",
        "wall_drain": "the runtime's commit handler: the placements written to Redis",
        "ledger": "ledger.post: the earning transfer",
        "medals": "medals.evaluate_donor",
    }
    report("submission_call", figures, save=args.calls == CALLS and len(backends) == 2)


if __name__ == "__main__":
    main()
