"""The measured steps: the real services on the filled database (reads, submissions,
the Honor Wall rebuild and reads, the jobs and the fraud scans), their SELECTs
captured."""

from __future__ import annotations

import resource
import secrets
import statistics
import time
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import text

from benchmarks.scale_db.capture import Capture
from benchmarks.scale_db.data import CAMPAIGN, CONSENT, INCIDENTS
from benchmarks.scale_db.redis_server import RedisMeter
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.submissions import ClipInput
from rewards_engine.models import Donor, FraudScanState
from rewards_engine.runtime import Runtime
from rewards_engine.services import (
    clips,
    fraud,
    ledger,
    payouts,
    privacy,
    submissions,
    vesting,
    wall,
)


def new_clips(donor_id: int, count: int, now: datetime) -> list[ClipInput]:
    return [
        ClipInput(
            video_sha256=secrets.token_hex(32),
            event_id=f"new-{secrets.token_hex(6)}",
            incident_type=INCIDENTS[i % len(INCIDENTS)],
            camera_id=f"NEW-{donor_id}-{i % 3}",
            recorded_at=now - timedelta(minutes=30 + i % 600),
            duration_s=30.0,
            staged=False,
            perceptual_hash=secrets.randbits(63),
        )
        for i in range(count)
    ]


def submit(runtime: Runtime, donor_id: int, count: int) -> float:
    now = runtime.clock.now()
    request = submissions.SubmissionRequest(CAMPAIGN, CONSENT, new_clips(donor_id, count, now))
    started = time.perf_counter()
    submissions.submit(
        runtime.db, runtime.clock, Actor(id=f"donor:{donor_id}", role="donor"), donor_id, request
    )
    return time.perf_counter() - started


def wal_stats(runtime: Runtime) -> tuple[int, int, int]:
    """The cluster's WAL so far: bytes, records and full-page images (pg_stat_wal)."""
    with runtime.db.engine.connect() as connection:
        row = connection.execute(
            text(
                "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint, wal_records, "
                "wal_fpi FROM pg_stat_wal"
            )
        ).one()
    return int(row[0]), int(row[1]), int(row[2])


def wal_figures(before: tuple[int, int, int], after: tuple[int, int, int], clips: int) -> dict:
    wal_bytes, records, fpi = (b - a for a, b in zip(before, after, strict=True))
    return {
        "wal_bytes_per_clip": round(wal_bytes / clips),
        "wal_records_per_clip": round(records / clips, 1),
        "wal_full_page_images_per_clip": round(fpi / clips, 2),
    }


def ingest(
    runtime: Runtime, capture: Capture, meter: RedisMeter, typical: int, donors: int
) -> dict[str, Any]:
    """Submissions at this size, timed: the leader and 16 heavy-ish donors send 500 clips,
    40 occasional donors 25 (the mobile mix's average); the leader's and one typical
    donor's calls are captured."""
    results: dict[str, Any] = {}
    big: list[float] = []
    small: list[float] = []
    wal0 = wal_stats(runtime)
    redis_big: dict[str, Any] = {}
    with meter.measure(redis_big, 17):
        with capture.open("submission: the leader, 500 clips"):
            big.append(submit(runtime, 1, 500))
        for donor in range(11, 27):
            big.append(submit(runtime, donor, 500))
    wal1 = wal_stats(runtime)
    redis_small: dict[str, Any] = {}
    with meter.measure(redis_small, 40):
        with capture.open("submission: a typical donor, 25 clips"):
            small.append(submit(runtime, typical, 25))
        for donor in range(donors // 5 + 1, donors // 5 + 40):
            small.append(submit(runtime, donor, 25))
    wal2 = wal_stats(runtime)
    results["calls_of_500"] = {
        "calls": len(big),
        "ms_median": round(statistics.median(big) * 1000, 1),
        "clips_per_s": round(500 * len(big) / sum(big)),
        **wal_figures(wal0, wal1, 500 * len(big)),
        "leader_call_ms": round(big[0] * 1000, 1),
        **redis_big,
    }
    results["calls_of_25"] = {
        "calls": len(small),
        "ms_median": round(statistics.median(small) * 1000, 1),
        "clips_per_s": round(25 * len(small) / sum(small)),
        **wal_figures(wal1, wal2, 25 * len(small)),
        "wal_bytes_per_call": round((wal2[0] - wal1[0]) / len(small)),
        "typical_call_ms": round(small[0] * 1000, 1),
        **redis_small,
    }
    results["note"] = (
        "in-process submissions.submit (with the Honor Wall drain to Redis after each "
        "commit) on the filled database; WAL is the cluster's, so other databases' writes "
        "at the same moment would count too"
    )
    return results


def ingest_with_tally_index(runtime: Runtime, meter: RedisMeter, donors: int) -> dict[str, Any]:
    """The same calls as ``ingest`` (other donors), with an index on wall_tallies
    (donor_id) created for the occasion and dropped afterwards."""
    with runtime.db.engine.connect() as connection:
        connection.execute(text("CREATE INDEX scale_what_if_tallies ON wall_tallies (donor_id)"))
        connection.commit()
    try:
        big = [submit(runtime, donor, 500) for donor in range(27, 44)]
        small: list[float] = []
        redis_small: dict[str, Any] = {}
        with meter.measure(redis_small, 40):
            for donor in range(donors // 5 + 100, donors // 5 + 140):
                small.append(submit(runtime, donor, 25))
    finally:
        with runtime.db.engine.connect() as connection:
            connection.execute(text("DROP INDEX scale_what_if_tallies"))
            connection.commit()
    return {
        "calls_of_500": {
            "calls": len(big),
            "ms_median": round(statistics.median(big) * 1000, 1),
            "clips_per_s": round(500 * len(big) / sum(big)),
        },
        "calls_of_25": {
            "calls": len(small),
            "ms_median": round(statistics.median(small) * 1000, 1),
            "clips_per_s": round(25 * len(small) / sum(small)),
            **redis_small,
        },
    }


def reads(runtime: Runtime, capture: Capture, typical: int) -> None:
    db = runtime.db
    none = clips.ClipFilter()
    with capture.open("clips: the leader, first page"):
        page = clips.list_donor_clips(db, 1, none, limit=25, cursor=None)
    with capture.open("clips: the leader, next page"):
        clips.list_donor_clips(db, 1, none, limit=25, cursor=page.next_cursor)
    with capture.open("clips: the leader, status=reversed"):
        clips.list_donor_clips(db, 1, clips.ClipFilter(status="reversed"), limit=25, cursor=None)
    with capture.open("clips: the leader, status=pending_review"):
        clips.list_donor_clips(
            db, 1, clips.ClipFilter(status="pending_review"), limit=25, cursor=None
        )
    with capture.open("clips: a typical donor, first page"):
        clips.list_donor_clips(db, typical, none, limit=25, cursor=None)
    with capture.open("ledger: the leader, first page"):
        entries = ledger.donor_entries(db, 1, limit=25, cursor=None)
    with capture.open("ledger: the leader, next page"):
        ledger.donor_entries(db, 1, limit=25, cursor=entries.next_cursor)
    with capture.open("ledger: a typical donor, first page"):
        ledger.donor_entries(db, typical, limit=25, cursor=None)
    with capture.open("ledger: a payee, first page"):
        ledger.donor_entries(db, 1_003, limit=25, cursor=None)


def honor_wall(runtime: Runtime, capture: Capture, meter: RedisMeter) -> dict[str, Any]:
    client = runtime.redis
    memory0 = int(client.info("memory")["used_memory"])
    result: dict[str, Any] = {}
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with meter.measure(result, 1), capture.open("wall rebuild: all-time"):
        rebuilt = wall.rebuild(runtime, "all-time")
    result["rebuild_seconds"] = round(time.perf_counter() - started, 1)
    result["process_peak_rss_mib_before"] = round(rss_before / 1024)
    result["process_peak_rss_mib_after"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    result["redis_cpu_s_rebuild"] = round(result.pop("redis_cpu_us_per_op") / 1e6, 2)
    result["redis_commands_rebuild"] = result.pop("redis_commands_per_op")
    result.update(rebuilt)
    hall = wall.hall(runtime)
    keys = hall.keys("all-time")
    listed = int(client.zcard(keys.listed))
    shadow = int(client.zcard(keys.shadow))
    sizes = {
        "listed_zset": client.memory_usage(keys.listed, samples=0) or 0,
        "shadow_zset": client.memory_usage(keys.shadow, samples=0) or 0,
        "versions_hash": client.memory_usage(keys.versions, samples=0) or 0,
        "profiles_hash": client.memory_usage(hall.profiles_key, samples=0) or 0,
    }
    result["listed_donors"] = listed
    result["shadow_donors"] = shadow
    result["key_bytes"] = sizes
    result["bytes_per_listed_donor_zset"] = round(sizes["listed_zset"] / listed, 1)
    result["bytes_per_donor_versions"] = round(sizes["versions_hash"] / (listed + shadow), 1)
    result["bytes_per_listed_donor_profile"] = round(sizes["profiles_hash"] / listed, 1)
    result["used_memory_growth_bytes"] = int(client.info("memory")["used_memory"]) - memory0
    result["used_memory_per_donor"] = round(
        result["used_memory_growth_bytes"] / (listed + shadow), 1
    )

    rng = np.random.default_rng(5)
    ids = [1, *rng.integers(1, listed, size=1999).tolist()]
    people = [Donor(id=int(i), display_name=f"Donor {i}", alias=f"Alias {i}", on_hold=False)
              for i in ids]  # fmt: skip
    for person in people[:100]:
        wall.read_standing(runtime, "all-time", person, 3)
    lookups: dict[str, Any] = {}
    started = time.perf_counter()
    with meter.measure(lookups, len(people)):
        for person in people:
            wall.read_standing(runtime, "all-time", person, 3)
    lookups["per_s_one_client"] = round(len(people) / (time.perf_counter() - started))
    result["standing_lookup"] = lookups
    pages: dict[str, Any] = {}
    cache = wall.page_cache(runtime)
    count = 1000
    started = time.perf_counter()
    with meter.measure(pages, count):
        for _ in range(count):
            cache.clear()  # each read goes to Redis, as the first in a second does
            wall.read_page(runtime, "all-time", limit=25, cursor=None)
    pages["per_s_one_client"] = round(count / (time.perf_counter() - started))
    result["page_read_uncached"] = pages
    return result


def jobs(runtime: Runtime, capture: Capture) -> None:
    # The payees are locked FOR UPDATE: dry too, or the step would go on to pay them.
    with capture.open("payouts: gathering payees (dry)", dry=True, dry_locks=True):
        payouts.create_batches(runtime)
    with capture.open("vesting: donors with due clips (dry)", dry=True):
        vesting.vest_due(runtime.db, runtime.clock)
    with capture.open(
        "retention: clips past retention (dry)", dry=True, keep=lambda sql: "FROM campaigns" in sql
    ):
        privacy.apply_retention(runtime)


def fraud_incremental(runtime: Runtime, capture: Capture, watermark: int) -> dict[str, Any]:
    with runtime.db.transaction() as uow:
        state = uow.session.get(FraudScanState, "clips")
        if state is None:
            uow.session.add(FraudScanState(name="clips", watermark=watermark))
        else:
            state.watermark = watermark
    # The scheduler keeps the hash index between scans: start from one that has seen
    # everything up to the watermark (its cold load is captured by the full scan).
    index = fraud.hash_index(runtime)
    index.reset()
    index.up_to_id = watermark
    started = time.perf_counter()
    with capture.open("fraud scan: incremental"):
        found = fraud.scan(runtime, full=False)
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "clips_in_scope": found.clips_in_scope,
        "seconds_by_rule": found.seconds_by_rule,
        "flags_opened": found.flags_opened,
    }


def fraud_full_dry(runtime: Runtime, capture: Capture) -> None:
    fraud.hash_index(runtime).reset()

    def keep(sql: str) -> bool:  # the rules and the newest settled clip: as they are
        return "max(clips.id)" in sql or "FROM fraud_rules" in sql

    with capture.open("fraud scan: full (dry)", dry=True, keep=keep):
        fraud.scan(runtime, full=True)
