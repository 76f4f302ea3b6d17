"""The Honor Wall with 1,000,000 donors on PostgreSQL and Redis (one at 201,531 clips).

Measures, in one run:

1. rebuilding the all-time board from the database (recount + atomic swap) against
   pipelined ZADD of the same members, and the Redis memory per ranked donor;
2. the service's rank-and-neighbours lookup against a raw redis-py pipeline of the
   same Redis commands;
3. ``GET /v1/honor-wall`` and ``GET /v1/honor-wall/me`` over HTTP (gunicorn, wrk)
   against a bare Flask route reading the same sorted-set range in the same server.

    python -m benchmarks.wall_1m [--donors 1000000]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import fresh_database, report, served, settings_for, wrk
from rewards_engine.bootstrap import build_runtime
from rewards_engine.clock import SystemClock
from rewards_engine.domain.roles import Role
from rewards_engine.models import Campaign, Donor
from rewards_engine.runtime import Runtime
from rewards_engine.services import wall
from rewards_engine.tokens import issue_token

LEADER_CLIPS = 201_531
CAMPAIGN = "wall-bench"
REDIS = "redis://127.0.0.1:6379/0"


def clip_counts(donors: int, seed: int = 7) -> list[int]:
    """A heavy tail: most donors give a few clips, a few give thousands; donor 1 leads."""
    rng = random.Random(seed)
    counts = [min(int(rng.paretovariate(1.3)), 50_000) for _ in range(donors)]
    counts[0] = LEADER_CLIPS
    return counts


def copy_rows(cursor: Any, table: str, columns: list[str], rows: Any) -> None:
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join("\\N" if v is None else str(v) for v in row) + "\n")
    buffer.seek(0)
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        while chunk := buffer.read(1 << 20):
            copy.write(chunk)


def seed(runtime: Runtime, counts: list[int]) -> int:
    """Donors, their accepted clips and tallies, by COPY (minutes, not hours)."""
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=365)
    with runtime.db.transaction() as uow:
        uow.session.add(
            Campaign(
                id=CAMPAIGN,
                name="Wall benchmark",
                starts_at=start,
                incident_types=["package_theft"],
                points_per_clip=10,
            )
        )
    raw = runtime.db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        copy_rows(
            cursor,
            "donors",
            [
                "id",
                "account_id",
                "display_name",
                "alias",
                "visibility",
                "status",
                "consent_version",
                "on_hold",
                "wall_version",
                "created_at",
                "updated_at",
            ],
            (
                (
                    i,
                    f"donor-{i}",
                    f"Donor {i}",
                    f"Alias {i}",
                    "public",
                    "active",
                    None,
                    "f",
                    1,
                    now,
                    now,
                )
                for i in range(1, len(counts) + 1)
            ),
        )
        cursor.execute("SELECT setval(pg_get_serial_sequence('donors', 'id'), %s)", (len(counts),))
        cursor.execute(
            "INSERT INTO submission_batches (id, donor_id, campaign_id, consent_version, "
            "clip_count, accepted, points, cash_cents, currency, created_at) "
            "VALUES (1, 1, %s, '2024-12-01', 0, 0, 0, 0, 'USD', %s)",
            (CAMPAIGN, now),
        )
        rng = random.Random(11)
        reached: dict[int, datetime] = {}

        def clips():  # type: ignore[no-untyped-def]
            clip_id = 0
            for donor, count in enumerate(counts, start=1):
                latest = start
                for _ in range(count):
                    clip_id += 1
                    at = start + timedelta(seconds=rng.randrange(365 * 86400))
                    latest = max(latest, at)
                    yield (
                        clip_id,
                        1,
                        donor,
                        CAMPAIGN,
                        hashlib.sha256(clip_id.to_bytes(8, "big")).hexdigest(),
                        f"e{clip_id}",
                        "package_theft",
                        f"cam-{donor}",
                        at,
                        30.0,
                        "f",
                        "accepted",
                        10,
                        0,
                        "USD",
                        at,
                        at,
                    )
                reached[donor] = latest

        copy_rows(
            cursor,
            "clips",
            [
                "id",
                "batch_id",
                "donor_id",
                "campaign_id",
                "video_sha256",
                "event_id",
                "incident_type",
                "camera_id",
                "recorded_at",
                "duration_s",
                "staged",
                "status",
                "points",
                "cash_cents",
                "currency",
                "created_at",
                "accepted_at",
            ],
            clips(),
        )
        cursor.execute("SELECT setval(pg_get_serial_sequence('clips', 'id'), %s)", (sum(counts),))
        copy_rows(
            cursor,
            "wall_tallies",
            ["board", "donor_id", "clips", "reached_at"],
            (
                ("all-time", donor, count, reached[donor])
                for donor, count in enumerate(counts, start=1)
                if count
            ),
        )
        cursor.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
    return sum(counts)


def bench_rebuild(runtime: Runtime) -> dict[str, Any]:
    started = time.perf_counter()
    result = wall.rebuild(runtime, "all-time")
    rebuild_s = time.perf_counter() - started
    hall = wall.hall(runtime)
    keys = hall.keys("all-time")
    members = runtime.redis.zrange(keys.listed, 0, -1, withscores=True)
    scratch = "{bench:raw}:zadd"
    runtime.redis.delete(scratch)
    started = time.perf_counter()
    pipe = runtime.redis.pipeline(transaction=False)
    for offset in range(0, len(members), 10_000):
        pipe.zadd(scratch, dict(members[offset : offset + 10_000]))
        pipe.execute()
    zadd_s = time.perf_counter() - started
    runtime.redis.delete(scratch)
    listed_bytes = runtime.redis.memory_usage(keys.listed, samples=0) or 0
    versions_bytes = runtime.redis.memory_usage(keys.versions, samples=0) or 0
    ranked = len(members)
    return {
        "donors_ranked": ranked,
        "rebuild_seconds": round(rebuild_s, 2),
        "rebuild_donors_per_s": round(ranked / rebuild_s),
        "pipelined_zadd_seconds": round(zadd_s, 2),
        "pipelined_zadd_per_s": round(ranked / zadd_s),
        "rebuild_to_zadd_time_ratio": round(rebuild_s / zadd_s, 2),
        "redis_bytes_per_donor_sorted_set": round(listed_bytes / ranked, 1),
        "redis_bytes_per_donor_with_versions": round((listed_bytes + versions_bytes) / ranked, 1),
        "corrected_tallies": result["corrected_tallies"],
    }


def raw_standing(runtime: Runtime, keys: Any, profiles_key: str, member: str, around: int) -> None:
    """The same Redis commands as the service's lookup, with nothing around them."""
    client = runtime.redis
    pipe = client.pipeline(transaction=False)
    pipe.get(keys.rev)
    pipe.zcard(keys.listed)
    pipe.zrevrank(keys.listed, member)
    pipe.zscore(keys.listed, member)
    pipe.zscore(keys.shadow, member)
    _, _, position, score, _ = pipe.execute()
    clips = int(score) // (1 << 31)
    pipe = client.pipeline(transaction=False)
    pipe.zcount(keys.listed, (clips + 1) << 31, "+inf")
    pipe.execute()
    rows = client.zrevrange(
        keys.listed, max(position - around, 0), position + around, withscores=True
    )
    pipe = client.pipeline(transaction=False)
    pipe.zcount(keys.listed, ((int(rows[0][1]) >> 31) + 1) << 31, "+inf")
    pipe.hmget(profiles_key, [m for m, _ in rows])
    pipe.execute()


def bench_lookup(runtime: Runtime, donors: int, samples: int = 5000) -> dict[str, Any]:
    from rewards_engine.redis_wall import member_of

    rng = random.Random(3)
    ids = [1] + [rng.randrange(1, donors + 1) for _ in range(samples - 1)]
    people = [
        Donor(id=i, display_name=f"Donor {i}", alias=f"Alias {i}", on_hold=False) for i in ids
    ]
    hall = wall.hall(runtime)
    keys = hall.keys("all-time")
    for person in people[:200]:  # warm both paths
        wall.read_standing(runtime, "all-time", person, 3)
    started = time.perf_counter()
    for person in people:
        wall.read_standing(runtime, "all-time", person, 3)
    service_s = time.perf_counter() - started
    started = time.perf_counter()
    for person in people:
        raw_standing(runtime, keys, hall.profiles_key, member_of(person.id), 3)
    raw_s = time.perf_counter() - started
    return {
        "lookups": samples,
        "service_per_s": round(samples / service_s),
        "raw_pipeline_per_s": round(samples / raw_s),
        "service_to_raw": round(raw_s / service_s, 3),
    }


def bench_http(runtime: Runtime, workers: int, seconds: int) -> dict[str, Any]:
    token = issue_token(
        runtime.settings, "donor-5000", Role.DONOR, timedelta(hours=1), datetime.now(UTC)
    )
    results: dict[str, Any] = {}
    with served(runtime.settings, 8791, workers, app="benchmarks.wall_server:app") as base:
        for path in ("/bare/honor-wall", "/v1/honor-wall?board=all-time&limit=25"):
            wrk(f"{base}{path}", seconds=2)  # warm-up
            results[path] = wrk(f"{base}{path}", seconds=seconds)
        path = "/v1/honor-wall/me?board=all-time&around=3"
        results[path] = wrk(
            f"{base}{path}", seconds=seconds, headers={"Authorization": f"Bearer {token}"}
        )
    bare = results["/bare/honor-wall"]["requests_per_s"]
    results["page_to_bare"] = round(
        results["/v1/honor-wall?board=all-time&limit=25"]["requests_per_s"] / bare, 3
    )
    results["me_to_bare"] = round(
        results["/v1/honor-wall/me?board=all-time&around=3"]["requests_per_s"] / bare, 3
    )
    results["gunicorn_workers"] = workers
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--donors", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    counts = clip_counts(args.donors)
    with fresh_database("postgres") as url, tempfile.TemporaryDirectory() as instance:
        runtime = build_runtime(settings_for(url, REDIS, Path(instance)), clock=SystemClock())
        print("seeding ...", flush=True)
        started = time.perf_counter()
        clips = seed(runtime, counts)
        seeded_s = time.perf_counter() - started
        print("rebuilding ...", flush=True)
        rebuild = bench_rebuild(runtime)
        print("lookups ...", flush=True)
        lookup = bench_lookup(runtime, args.donors)
        print("http ...", flush=True)
        http = bench_http(runtime, args.workers, args.seconds)
        runtime.redis.delete(*runtime.redis.keys(f"{{{runtime.settings.redis_namespace}:*"))
        runtime.close()
    report(
        "wall_1m",
        {
            "donors": args.donors,
            "clips": clips,
            "seed_seconds": round(seeded_s, 1),
            "rebuild": rebuild,
            "lookup": lookup,
            "http": http,
        },
    )


if __name__ == "__main__":
    main()
