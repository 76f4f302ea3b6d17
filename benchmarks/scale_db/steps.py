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
from sqlalchemy import distinct, func, select, text
from sqlmodel import col

from benchmarks.scale_db.capture import BEFORE_R2, Capture
from benchmarks.scale_db.data import CAMPAIGN, CONSENT, INCIDENTS
from benchmarks.scale_db.redis_server import RedisMeter
from rewards_engine.db import one_of
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.submissions import ClipInput
from rewards_engine.models import Clip, Donor, FraudScanState, LedgerAccount, LedgerEntry
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
from rewards_engine.services.fraud_signals import HashIndex


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


WAL_SETTINGS = ("off", "pglz", "lz4", "zstd")
WAL_SAMPLE = 5_000


def wal_compression(runtime: Runtime) -> dict[str, Any]:
    """WAL written by inserting clips, for each ``wal_compression`` (docs/capacity.md, R8):
    one INSERT of 5,000 new clips (copies of clips at random, with new ids, hashes and
    events, accepted now) right after a CHECKPOINT, so that every index page it touches
    first is written whole (a full-page image), as after each checkpoint in production;
    measured by ``EXPLAIN (ANALYZE, WAL)`` (this statement's WAL alone, not the
    cluster's) in a transaction rolled back. Settings tried in turn, each after its own
    CHECKPOINT."""
    with runtime.db.engine.connect() as connection:
        top = int(connection.execute(text("SELECT max(id) FROM clips")).scalar_one())
    rng = np.random.default_rng(11)
    results: dict[str, Any] = {"clips": WAL_SAMPLE}
    for setting in WAL_SETTINGS:
        sample = sorted(set(rng.integers(1, top, size=WAL_SAMPLE).tolist()))
        with runtime.db.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("CHECKPOINT"))
        raw = runtime.db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute(f"SET LOCAL wal_compression = {setting}")
            cursor.execute(
                "EXPLAIN (ANALYZE, WAL, FORMAT JSON) "
                "INSERT INTO clips (id, batch_id, donor_id, campaign_id, video_sha256, "
                "perceptual_hash, event_id, incident_type, camera_id, recorded_at, duration_s, "
                "staged, status, points, cash_cents, currency, created_at, accepted_at, "
                "vests_at, intake) "
                "SELECT id + 1000000000, batch_id, donor_id, campaign_id, "
                "md5(random()::text) || md5(random()::text), perceptual_hash, "
                "'wal-' || id, incident_type, camera_id, recorded_at, duration_s, staged, "
                "'accepted', 10, 0, currency, now(), now(), now() + interval '7 days', intake "
                "FROM clips WHERE id = ANY(%s)",
                (sample,),
            )
            (explained,) = cursor.fetchone() or [None]
            plan = explained[0]
        finally:
            raw.rollback()
            raw.close()
        node = plan["Plan"]
        rows = len(sample)
        results[setting] = {
            "rows": rows,
            "wal_bytes_per_clip": round(node["WAL Bytes"] / rows),
            "wal_records_per_clip": round(node["WAL Records"] / rows, 1),
            "wal_full_page_images_per_clip": round(node["WAL FPI"] / rows, 2),
            "execution_ms": round(plan["Execution Time"], 1),
        }
        print(f"  wal_compression {setting}: {results[setting]}", flush=True)
    return results


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
    # The due donors and their holds are read as they are (read-only); every locking
    # read is dry, so no donor is locked and nothing vests.
    due = ("FROM clips WHERE clips.vested_at", "FROM medal_awards WHERE", "FROM donors WHERE")
    with capture.open(
        "vesting: donors with due clips (dry)",
        dry=True,
        dry_locks=True,
        keep=lambda sql: "FOR UPDATE" not in sql and any(p in " ".join(sql.split()) for p in due),
    ):
        vesting.vest_due(runtime.db, runtime.clock)
    with capture.open(
        "retention: clips past retention (dry)", dry=True, keep=lambda sql: "FROM campaigns" in sql
    ):
        privacy.apply_retention(runtime)


def before_forms(runtime: Runtime, capture: Capture, watermark: int) -> None:
    """The statements R2, R4 and R7 replaced, as the services issued them before, on the
    same data: the leader's ledger page (one join, every entry of the donor sorted), the
    vesting job's due donors (joined to every donor), the exact-duplicate rule's one
    statement for the hashes of the clips the incremental scan read."""
    now = runtime.clock.now()
    with runtime.db.read() as session:
        with capture.open("ledger: the leader, first page (as before R7)"):
            session.execute(
                select(LedgerEntry)
                .join(LedgerAccount, col(LedgerAccount.id) == col(LedgerEntry.account_id))
                .where(col(LedgerAccount.owner) == "donor:1")
                .order_by(col(LedgerEntry.id).desc())
                .limit(26)
            ).all()
        with capture.open("vesting: donors with due clips (as before R4)"):
            session.execute(
                select(col(Clip.donor_id))
                .join(Donor, col(Donor.id) == col(Clip.donor_id))
                .where(
                    col(Clip.status) == "accepted",
                    col(Clip.vested_at).is_(None),
                    col(Clip.vests_at) <= now,
                    col(Donor.on_hold).is_(False),
                )
                .distinct()
            ).all()
        hashes = list(
            session.scalars(
                select(col(Clip.video_sha256)).where(col(Clip.id) > watermark).distinct()
            )
        )
        sha = col(Clip.video_sha256)
        shared = (
            select(sha)
            .group_by(sha)
            .where(one_of(session, sha, hashes))
            .having(func.count(distinct(col(Clip.donor_id))) > 1)
        )
        with capture.open(BEFORE_R2):
            session.execute(
                select(sha, col(Clip.donor_id), col(Clip.id), col(Clip.status))
                .where(sha.in_(shared.scalar_subquery()))
                .order_by(sha, col(Clip.id))
            ).all()


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
    seconds = round(time.perf_counter() - started, 2)
    # What a restart costs the first scan: every hash read into a fresh index.
    cold = HashIndex()
    started = time.perf_counter()
    step = "fraud scan: the hash index read after a restart"
    with capture.open(step), runtime.db.read() as session:
        cold.extend(session, watermark)
    return {
        "seconds": seconds,
        "clips_in_scope": found.clips_in_scope,
        "seconds_by_rule": found.seconds_by_rule,
        "flags_opened": found.flags_opened,
        "hash_index_cold_load": {
            "hashes": len(cold.hashes),
            "seconds": round(time.perf_counter() - started, 2),
        },
    }


def fraud_full_dry(runtime: Runtime, capture: Capture) -> None:
    fraud.hash_index(runtime).reset()

    def keep(sql: str) -> bool:  # the rules and the newest settled clip: as they are
        return "max(clips.id)" in sql or "FROM fraud_rules" in sql

    with capture.open("fraud scan: full (dry)", dry=True, keep=keep):
        fraud.scan(runtime, full=True)
