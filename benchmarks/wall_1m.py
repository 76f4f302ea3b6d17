"""The Honor Wall with 1,000,000 donors on PostgreSQL and Redis (one at 201,531 clips).

Measures, in one run:

1. rebuilding the all-time board from the database (tallies streamed a chunk at a time
   into temporary keys, then the atomic swap) against pipelined ZADD of the same
   members and against ``redis-benchmark``'s ZADD, and the Redis memory per ranked
   donor; the rebuild's peak memory, in a process of its own, at 1,000,000 donors with
   three chunk sizes and at ``--small`` donors (is it flat in donors?); the recount of
   the tallies from the clips (``wall rebuild --recount``, the nightly job); and, with
   ``--before COMMIT``, the rebuild of that commit on the same data;
2. the service's rank-and-neighbours lookup against a raw redis-py pipeline of the
   same Redis commands;
3. ``GET /v1/honor-wall`` and ``GET /v1/honor-wall/me`` over HTTP (gunicorn, wrk)
   against a bare Flask route reading the same sorted-set range in the same server.

Memory is the peak resident set (``VmHWM`` of /proc/self/status) of a child process
that builds the runtime, resets its peak (``/proc/self/clear_refs``), runs the rebuild
alone and reports the peak minus its resident set just before: what the rebuild added.

    python -m benchmarks.wall_1m [--donors 1000000] [--small 100000] [--before 8be3eff]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, fresh_database, report, served, settings_for, wrk
from rewards_engine.bootstrap import build_runtime
from rewards_engine.clock import SystemClock
from rewards_engine.config import Settings
from rewards_engine.domain.roles import Role
from rewards_engine.models import Campaign, Donor
from rewards_engine.runtime import Runtime
from rewards_engine.services import wall
from rewards_engine.tokens import issue_token

LEADER_CLIPS = 201_531
CAMPAIGN = "wall-bench"
REDIS = "redis://127.0.0.1:6379/0"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
CHUNKS = (2_000, 50_000)  # beside the default: memory follows the chunk, not the donors
MIB = 2**20


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

        def clips() -> Iterator[tuple[Any, ...]]:
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


def proc_status(field: str) -> int:
    """A ``/proc/self/status`` figure in bytes (``VmRSS``, ``VmHWM``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise LookupError(field)


def child(spec: dict[str, Any]) -> None:
    """In a process of its own: one rebuild (or recount) of all-time, its time and the
    peak memory it added; one JSON line on stdout."""
    from rewards_engine.services.wall import rebuilding

    settings = replace(
        settings_for(spec["database_url"], REDIS, Path(spec["instance"])),
        redis_namespace=spec["namespace"],
    )
    runtime = build_runtime(settings, clock=SystemClock())
    wall.live_boards(runtime)  # connections open, statements and modules warm
    runtime.redis.ping()
    before = proc_status("VmRSS")
    try:  # the peak so far (imports, start-up) is not the rebuild's
        Path("/proc/self/clear_refs").write_text("5")
        reset = True
    except OSError:
        reset = False
    started = time.perf_counter()
    if spec["what"] == "recount":
        result = {"corrected_tallies": rebuilding.recount_tallies(runtime, "all-time")}
    elif spec.get("chunk"):
        result = wall.rebuild(runtime, "all-time", chunk=spec["chunk"])
    else:  # the default chunk, or an older commit's rebuild (no chunk argument)
        result = wall.rebuild(runtime, "all-time")
    seconds = time.perf_counter() - started
    peak = proc_status("VmHWM")
    runtime.close()
    print(
        json.dumps(
            {
                **result,
                "seconds": round(seconds, 2),
                "rss_before_mib": round(before / MIB, 1),
                "peak_rss_increase_mib": round((peak - before) / MIB, 1),
                "peak_was_reset": reset,
            }
        )
    )


def in_child(
    settings: Settings, what: str, chunk: int | None = None, code: Path | None = None
) -> dict[str, Any]:
    """``child`` run by a fresh interpreter (``code``: another checkout's engine)."""
    spec = {
        "what": what,
        "chunk": chunk,
        "database_url": settings.database_url,
        "namespace": settings.redis_namespace,
        "instance": str(settings.instance_dir),
    }
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(code), str(ROOT)])
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.wall_1m", "--child", json.dumps(spec)],
        cwd=code or ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the {what} child failed: {done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def checkout(commit: str) -> Path:
    """The engine's code at ``commit`` (``git archive``), to import instead of ours."""
    where = Path(tempfile.mkdtemp(prefix="wall-before-"))
    archive = subprocess.run(
        ["git", "archive", commit, "rewards_engine", "api", "migrations"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive, check=True)
    return where


def redis_benchmark_zadd(members: int) -> float:
    """``redis-benchmark``'s ZADD of one member a command, pipelined 1,000 deep, one
    client (no redis-py around it): the rate Redis itself takes sorted-set inserts."""
    key = "{wall1m-bench}:redis-benchmark"
    output = subprocess.run(
        ["redis-benchmark", "-h", REDIS_HOST, "-p", str(REDIS_PORT), "-c", "1",
         "-P", "1000", "-n", str(members), "-r", str(members), "--csv",
         "ZADD", key, "__rand_int__", "__rand_int__"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    import redis

    redis.Redis(host=REDIS_HOST, port=REDIS_PORT).delete(key)
    return float(list(csv.reader(io.StringIO(output)))[-1][1])


def bench_rebuild(runtime: Runtime, before: str | None) -> dict[str, Any]:
    import redis

    from rewards_engine.services.wall.rebuilding import CHUNK

    settings = runtime.settings
    load = os.getloadavg()[0]  # the machine is shared: what else ran, as a figure
    measured = in_child(settings, "rebuild")
    keys = wall.hall(runtime).keys("all-time")
    plain = redis.Redis.from_url(REDIS)  # no engine time budget on a read of a million
    members: list[tuple[bytes, float]] = plain.zrange(  # type: ignore[assignment]
        keys.listed, 0, -1, withscores=True
    )
    scratch = "{bench:raw}:zadd"
    plain.delete(scratch)
    started = time.perf_counter()
    pipe = plain.pipeline(transaction=False)
    for offset in range(0, len(members), 10_000):
        pipe.zadd(scratch, dict(members[offset : offset + 10_000]))
        pipe.execute()
    zadd_s = time.perf_counter() - started
    plain.delete(scratch)
    listed_bytes = plain.memory_usage(keys.listed, samples=0) or 0
    versions_bytes = plain.memory_usage(keys.versions, samples=0) or 0
    ranked = len(members)
    benchmark_per_s = redis_benchmark_zadd(ranked)
    rebuild_s = measured["seconds"]
    by_chunk = {str(CHUNK): measured["peak_rss_increase_mib"]}
    for chunk in CHUNKS:
        by_chunk[str(chunk)] = in_child(settings, "rebuild", chunk)["peak_rss_increase_mib"]
    recount = in_child(settings, "recount")
    result = {
        "donors_ranked": ranked,
        "chunk": CHUNK,
        "load_average_1m_at_start": round(load, 2),
        "rebuild_seconds": rebuild_s,
        "rebuild_donors_per_s": round(measured["members"] / rebuild_s),
        "pipelined_zadd_seconds": round(zadd_s, 2),
        "pipelined_zadd_per_s": round(ranked / zadd_s),
        "rebuild_to_zadd_time_ratio": round(rebuild_s / zadd_s, 2),
        "redis_benchmark_zadd_per_s": round(benchmark_per_s),
        "redis_benchmark_zadd_seconds": round(ranked / benchmark_per_s, 2),
        "rebuild_to_redis_benchmark_ratio": round(rebuild_s * benchmark_per_s / ranked, 2),
        "redis_bytes_per_donor_sorted_set": round(listed_bytes / ranked, 1),
        "redis_bytes_per_donor_with_versions": round((listed_bytes + versions_bytes) / ranked, 1),
        "rss_before_mib": measured["rss_before_mib"],
        "peak_rss_increase_mib": measured["peak_rss_increase_mib"],
        "peak_rss_increase_mib_by_chunk": by_chunk,
        "recount_seconds": recount["seconds"],
        "recount_peak_rss_increase_mib": recount["peak_rss_increase_mib"],
        "corrected_tallies": recount["corrected_tallies"],
        "memory_method": "VmHWM of a child process running the rebuild alone, its peak reset "
        "(/proc/self/clear_refs) just before, minus its VmRSS then",
    }
    if not measured["peak_was_reset"]:
        result["memory_method"] += " (the reset was refused: the peak includes start-up)"
    if before:
        was = in_child(settings, "rebuild", code=checkout(before))
        result["before"] = {
            "commit": before,
            "rebuild_seconds": was["seconds"],
            "rebuild_to_zadd_time_ratio": round(was["seconds"] / zadd_s, 2),
            "peak_rss_increase_mib": was["peak_rss_increase_mib"],
        }
    return result


def bench_small(donors: int) -> dict[str, Any]:
    """The rebuild's time and peak memory on a board of ``donors``, a database of its own."""
    with fresh_database("postgres") as url, tempfile.TemporaryDirectory() as instance:
        runtime = build_runtime(settings_for(url, REDIS, Path(instance)), clock=SystemClock())
        seed(runtime, clip_counts(donors))
        measured = in_child(runtime.settings, "rebuild")
        runtime.redis.delete(*runtime.redis.keys(f"{{{runtime.settings.redis_namespace}:*"))
        runtime.close()
    return {
        "donors": donors,
        "rebuild_seconds": measured["seconds"],
        "peak_rss_increase_mib": measured["peak_rss_increase_mib"],
    }


def memory_at_scale(large: int, rebuild: dict[str, Any], small: dict[str, Any]) -> dict[str, Any]:
    """The peak at 10M donors, by a straight line through the two sizes measured (flat if
    memory is bounded by the chunk, as the code says; any slope is carried on)."""
    slope = (rebuild["peak_rss_increase_mib"] - small["peak_rss_increase_mib"]) / (
        large - small["donors"]
    )
    at_10m = rebuild["peak_rss_increase_mib"] + max(slope, 0.0) * (10_000_000 - large)
    return {
        "mib_per_million_donors": round(slope * 1e6, 1),
        "peak_rss_increase_mib_at_10m": round(at_10m, 1),
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
    rows: list[tuple[str, float]] = client.zrevrange(  # type: ignore[assignment]
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
    parser.add_argument("--small", type=int, default=100_000, help="the second size measured")
    parser.add_argument("--before", default=None, help="also rebuild with this commit's code")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    counts = clip_counts(args.donors)
    with fresh_database("postgres") as url, tempfile.TemporaryDirectory() as instance:
        runtime = build_runtime(settings_for(url, REDIS, Path(instance)), clock=SystemClock())
        print("seeding ...", flush=True)
        started = time.perf_counter()
        clips = seed(runtime, counts)
        seeded_s = time.perf_counter() - started
        print("rebuilding ...", flush=True)
        rebuild = bench_rebuild(runtime, args.before)
        print("lookups ...", flush=True)
        lookup = bench_lookup(runtime, args.donors)
        print("http ...", flush=True)
        http = bench_http(runtime, args.workers, args.seconds)
        runtime.redis.delete(*runtime.redis.keys(f"{{{runtime.settings.redis_namespace}:*"))
        runtime.close()
    print(f"rebuilding {args.small} donors ...", flush=True)
    small = bench_small(args.small)
    rebuild["memory_by_donors"] = {
        str(args.small): small["peak_rss_increase_mib"],
        str(args.donors): rebuild["peak_rss_increase_mib"],
    }
    rebuild["rebuild_seconds_small"] = small["rebuild_seconds"]
    rebuild.update(memory_at_scale(args.donors, rebuild, small))
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
        save=args.donors == 1_000_000,
    )


if __name__ == "__main__":
    main()
