"""Fraud scans on PostgreSQL: a full scan over 1,000,000 clips from 50,000 donors (the
leader at 201,531 clips on 40 cameras), then an incremental scan of 10,000 new clips in
the same process (its hash index kept from the full scan) and in a fresh one (the first
scan after a restart, which reads every hash first), and that read alone; and the
near-duplicate search alone from 100,000 to 1,000,000 hashes.

    python -m benchmarks.fraud_scan [--clips 1000000] [--donors 50000]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import fresh_database, report, settings_for
from benchmarks.wall_1m import copy_rows
from rewards_engine.bootstrap import build_runtime
from rewards_engine.clock import SystemClock
from rewards_engine.domain.fraud import HashSet, near_pairs
from rewards_engine.models import Campaign, FraudScanState
from rewards_engine.runtime import Runtime
from rewards_engine.services import fraud
from rewards_engine.services.fixtures import load_fixtures
from rewards_engine.services.fraud_signals import HashIndex

REDIS = "redis://127.0.0.1:6379/0"
CAMPAIGN = "fraud-bench"
LEADER_CLIPS = 201_531
COLUMNS = [
    "id", "batch_id", "donor_id", "campaign_id", "video_sha256", "perceptual_hash",
    "event_id", "incident_type", "camera_id", "recorded_at", "duration_s", "staged",
    "status", "points", "cash_cents", "currency", "created_at", "accepted_at", "intake",
]  # fmt: skip


def clip_counts(clips: int, donors: int, rng: random.Random) -> list[int]:
    """The leader, then a heavy tail for everyone else, adding up to ``clips``."""
    leader = min(LEADER_CLIPS, clips // 5)  # smaller trial runs keep the shape
    weights = [rng.paretovariate(1.3) for _ in range(donors - 1)]
    total = sum(weights)
    rest = clips - leader
    counts = [max(1, int(rest * w / total)) for w in weights]
    counts[counts.index(max(counts))] += rest - sum(counts)
    return [leader, *counts]


def signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def clip_rows(
    first_id: int, donors: list[tuple[int, int]], start: datetime, span_s: int, rng: random.Random
) -> Any:
    clip_id = first_id
    for donor, count in donors:
        cameras = 40 if donor == 1 else rng.randint(1, 3)
        for _ in range(count):
            recorded = start + timedelta(seconds=rng.randrange(span_s))
            created = recorded + timedelta(minutes=rng.randint(1, 600))
            yield (
                clip_id, donor, donor, CAMPAIGN,
                hashlib.sha256(clip_id.to_bytes(8, "big")).hexdigest(),
                signed(rng.getrandbits(64)), f"e{clip_id}", "package_theft",
                f"cam-{donor}-{rng.randrange(cameras)}", recorded, rng.uniform(15, 60),
                "t" if rng.random() < 0.1 else "f", "accepted", 10, 0, "USD", created, created,
                "verified",
            )  # fmt: skip
            clip_id += 1


def seed(runtime: Runtime, counts: list[int], start: datetime, rng: random.Random) -> None:
    with runtime.db.transaction() as uow:
        uow.session.add(
            Campaign(
                id=CAMPAIGN,
                name="Fraud benchmark",
                starts_at=start - timedelta(days=30),
                incident_types=["package_theft"],
                points_per_clip=10,
            )
        )
    raw = runtime.db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        now = datetime.now(UTC)
        copy_rows(
            cursor, "donors",
            ["id", "account_id", "alias", "visibility", "status", "on_hold", "wall_version",
             "created_at", "updated_at"],
            ((i, f"donor-{i}", f"alias-{i}", "public", "active", "f", 0, now, now)
             for i in range(1, len(counts) + 1)),
        )  # fmt: skip
        cursor.execute("SELECT setval(pg_get_serial_sequence('donors', 'id'), %s)", (len(counts),))
        copy_rows(
            cursor, "submission_batches",
            ["id", "donor_id", "campaign_id", "consent_version", "clip_count", "accepted",
             "points", "cash_cents", "currency", "created_at"],
            ((i, i, CAMPAIGN, "2024-12-01", c, c, 0, 0, "USD", now)
             for i, c in enumerate(counts, start=1)),
        )  # fmt: skip
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('submission_batches', 'id'), %s)", (len(counts),)
        )
        donors = list(enumerate(counts, start=1))
        copy_rows(cursor, "clips", COLUMNS, clip_rows(1, donors, start, 365 * 86_400, rng))
        cursor.execute("SELECT setval(pg_get_serial_sequence('clips', 'id'), %s)", (sum(counts),))
        cursor.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()


def add_new_clips(runtime: Runtime, first_id: int, count: int, rng: random.Random) -> None:
    """``count`` clips donated in the last minutes by a thousand donors (and the leader)."""
    start = datetime.now(UTC) - timedelta(hours=12)
    donors = [(1, count // 10)] + [(d, (count - count // 10) // 1_000) for d in range(2, 1_002)]
    raw = runtime.db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        rows = list(clip_rows(first_id, donors, start, 10 * 3_600, rng))
        created = datetime.now(UTC) - timedelta(minutes=2)
        rows = [(*row[:16], created, created, *row[18:]) for row in rows]
        copy_rows(cursor, "clips", COLUMNS, rows)
        last = first_id + len(rows) - 1
        cursor.execute("SELECT setval(pg_get_serial_sequence('clips', 'id'), %s)", (last,))
        raw.commit()
    finally:
        raw.close()


def near_duplicate_scaling(sizes: list[int]) -> list[dict[str, Any]]:
    rng = np.random.default_rng(3)
    results = []
    for size in sizes:
        hashes = rng.integers(0, np.iinfo(np.int64).max, size=size, dtype=np.int64).astype(
            np.uint64
        ) * np.uint64(2) + rng.integers(0, 2, size=size).astype(np.uint64)
        items = HashSet(hashes, np.arange(size, dtype=np.int64))
        started = time.perf_counter()
        near_pairs(items, 5)
        seconds = time.perf_counter() - started
        results.append(
            {"hashes": size, "seconds": round(seconds, 2), "hashes_per_s": round(size / seconds)}
        )
    base = results[0]
    for row in results:
        growth = row["hashes"] / base["hashes"]
        row["time_ratio_to_smallest"] = round(row["seconds"] / base["seconds"], 1)
        row["quadratic_would_be"] = round(growth**2, 1)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=1_000_000)
    parser.add_argument("--donors", type=int, default=50_000)
    parser.add_argument("--new", type=int, default=10_000)
    args = parser.parse_args()
    rng = random.Random(5)
    results: dict[str, Any] = {"clips": args.clips, "donors": args.donors}
    # The machine may be shared: its load (1 min) before and after says how much.
    results["load_average_before"] = round(os.getloadavg()[0], 2)
    with fresh_database("postgres") as url, tempfile.TemporaryDirectory() as instance:
        settings = settings_for(url, REDIS, Path(instance))
        runtime = build_runtime(settings, clock=SystemClock())
        load_fixtures(runtime.db, runtime.clock, Path("fixtures"))
        start = datetime.now(UTC) - timedelta(days=366)
        began = time.perf_counter()
        seed(runtime, clip_counts(args.clips, args.donors, rng), start, rng)
        results["seed_s"] = round(time.perf_counter() - began, 1)

        began = time.perf_counter()
        full = fraud.scan(runtime, full=True)
        seconds = time.perf_counter() - began
        results["full_scan"] = {
            "seconds": round(seconds, 2),
            "clips_per_s": round(args.clips / seconds),
            "flags_opened": full.flags_opened,
            "seconds_by_rule": full.seconds_by_rule,
        }
        add_new_clips(runtime, args.clips + 1, args.new, rng)
        began = time.perf_counter()
        warm = fraud.scan(runtime, full=False)
        seconds = time.perf_counter() - began
        results["incremental_scan"] = {
            "new_clips": warm.clips_in_scope,
            "seconds": round(seconds, 3),
            "clips_per_s": round(warm.clips_in_scope / seconds),
            "seconds_by_rule": warm.seconds_by_rule,
            "note": "in the scheduler's process, whose hash index the full scan built",
        }
        runtime.close()
        # The same incremental scan in a fresh process: the hash index is read first.
        cold_runtime = build_runtime(settings, clock=SystemClock())
        with cold_runtime.db.transaction() as uow:
            state = uow.session.get(FraudScanState, "clips")
            state.watermark = args.clips  # type: ignore[union-attr]
        began = time.perf_counter()
        cold = fraud.scan(cold_runtime, full=False)
        seconds = time.perf_counter() - began
        results["incremental_scan_cold"] = {
            "new_clips": cold.clips_in_scope,
            "seconds": round(seconds, 3),
            "seconds_by_rule": cold.seconds_by_rule,
        }
        # What the restart adds: every hash read into an empty index, alone.
        index = HashIndex()
        began = time.perf_counter()
        with cold_runtime.db.read() as session:
            index.extend(session, args.clips)
        results["hash_index_load"] = {
            "hashes": len(index.hashes),
            "seconds": round(time.perf_counter() - began, 3),
        }
        cold_runtime.close()
    results["near_duplicate_scaling"] = near_duplicate_scaling(
        [100_000, 250_000, 500_000, 1_000_000]
    )
    results["load_average_after"] = round(os.getloadavg()[0], 2)
    report("fraud_scan", results, save=args.clips >= 1_000_000)


if __name__ == "__main__":
    main()
