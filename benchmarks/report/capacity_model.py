"""docs/capacity.md, section 5: the capacity model's assumptions and arithmetic, from the
measured inputs to the figures of each scenario. Renders nothing itself."""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.report import MIB, Result
from benchmarks.report.plans import REBUILD, REBUILD_MAIN, statement
from benchmarks.report.scale_db import BEFORE, PER_CALL, PER_DONOR, full_scan_total, table_bytes

# The model's assumptions (section 5.2): chosen, not measured.
RATES = {"base": 0.1, "high": 1.0}  # clips per donor per day
SCALES = (1_000_000, 10_000_000, 100_000_000)  # donors
CALL_CLIPS = 25  # A2
REQUESTS_PER_CALL = 5  # A3: submissions are 20 % of the mix's requests
OPEN_EVERY_DAYS, READS_PER_OPEN = 5, 3  # A3
PEAK = 3  # A4: the busiest hour against the day's average
LIVE_PERIOD_BOARDS = 2  # A5: the current and the previous month (and week)
SHARD_BYTES = 25e9  # A6
WINDOW_S = 2 * 3600  # A8
MIX_WALL_SHARE = 0.4  # of the mix's requests, those that read the wall or a standing
OPEN_WALL_SHARE = 2 / 3  # of an app open's reads: the wall page and the standing
DAY = 86_400


@dataclass(frozen=True)
class Inputs:
    """The measured inputs of the model (section 5.1), as numbers."""

    clip_bytes: float
    call_bytes: float
    donor_bytes: float
    tally_bytes: float  # per donor-year
    wal_per_clip: float
    call_s: float  # a 25-clip call with R1
    scan_s_per_1m: float  # what the tallies scan adds to a call, at 1M donors
    worker_rps: float
    board_bytes: float  # sorted sets and versions, per ranked donor
    all_time_bytes: float  # the all-time board with profiles and overhead, per donor
    lookup_cpu_s: float
    drain_cpu_s: float
    rebuild_bytes: float  # per donor
    rebuild_s: float  # outside SQL, per donor
    full_scan_s_per_clip: float
    week_share: float
    month_share: float
    submitter_clips_s: float  # one 25-clip submitter, with R1
    http_clips_s: float  # 500-clip calls over HTTP, empty database


def model_inputs(result: Result, leader: Result, model: Result) -> Inputs:
    donors, calls, sizes, wall = (
        result["donors"],
        result["load"]["calls"],
        result["sizes"],
        result["honor_wall"],
    )
    keys, members = wall["key_bytes"], wall["members"]
    small = result["ingest_at_scale"]["calls_of_25"]
    indexed = result["ingest_with_tally_index"]["calls_of_25"]
    rebuild_sql_ms = statement(result, REBUILD, REBUILD_MAIN)["observed_ms_first"]
    weeks, months = (
        sizes["period_boards_in_generated_data"][p]["mean_donors"] for p in ("week", "month")
    )
    return Inputs(
        clip_bytes=sizes["per_clip"]["clips_total_bytes"],
        call_bytes=table_bytes(result, *PER_CALL) / calls,
        donor_bytes=table_bytes(result, *PER_DONOR) / donors,
        tally_bytes=table_bytes(result, "wall_tallies") / donors,
        wal_per_clip=small["wal_bytes_per_clip"],
        call_s=indexed["ms_median"] / 1000,
        scan_s_per_1m=(small["ms_median"] - indexed["ms_median"]) / 1000 * 1e6 / donors,
        worker_rps=model["postgres"]["max_rps_with_p99_under_250ms"]
        / model["postgres"]["gunicorn_workers"],
        board_bytes=(keys["listed_zset"] + keys["shadow_zset"] + keys["versions_hash"]) / members,
        all_time_bytes=wall["used_memory_per_donor"],
        lookup_cpu_s=wall["standing_lookup"]["redis_cpu_us_per_op"] / 1e6,
        drain_cpu_s=small["redis_cpu_us_per_op"] / 1e6,
        rebuild_bytes=(wall["process_peak_rss_mib_after"] - wall["process_peak_rss_mib_before"])
        * MIB
        / members,
        rebuild_s=(wall["rebuild_seconds"] - rebuild_sql_ms / 1000) / members,
        full_scan_s_per_clip=full_scan_total(result) / result["clips"],
        week_share=weeks / donors,
        month_share=months / donors,
        submitter_clips_s=indexed["clips_per_s"],
        http_clips_s=leader["postgres"]["http"]["clips_per_s"],
    )


@dataclass(frozen=True)
class Scenario:
    """The model's figures for ``donors`` at ``rate`` clips per donor per day, at the end
    of the first year."""

    donors: int
    rate: float
    clips_day: float
    calls_day: float
    peak_clips_s: float
    peak_calls_s: float
    peak_rps: float
    workers: int
    growth_day: float  # bytes
    size_year: float
    wal_day: float
    wal_peak: float  # bytes a second
    ingest_r1: float  # process-seconds per second at the peak
    ingest_as_is: float
    redis_all_time: float
    redis_campaign: float
    redis_months: float
    redis_weeks: float
    redis_total: float
    slot: float
    redis_cpu: float  # of one core
    shards: int
    rebuild_bytes: float
    rebuild_s: float
    scan_year_s: float
    days_to_window: float


def scenario(i: Inputs, donors: int, rate: float) -> Scenario:
    clips_day = rate * donors
    calls_day = clips_day / CALL_CLIPS
    peak_calls = PEAK * calls_day / DAY
    open_reads = PEAK * READS_PER_OPEN / OPEN_EVERY_DAYS * donors / DAY
    peak_rps = REQUESTS_PER_CALL * peak_calls + open_reads
    growth = clips_day * i.clip_bytes + calls_day * i.call_bytes
    board = donors * i.board_bytes
    months = LIVE_PERIOD_BOARDS * i.month_share * board
    weeks = LIVE_PERIOD_BOARDS * i.week_share * board
    total = donors * i.all_time_bytes + board + months + weeks
    lookups = MIX_WALL_SHARE * REQUESTS_PER_CALL * peak_calls + OPEN_WALL_SHARE * open_reads
    scan_per_day = i.full_scan_s_per_clip * clips_day
    return Scenario(
        donors=donors,
        rate=rate,
        clips_day=clips_day,
        calls_day=calls_day,
        peak_clips_s=PEAK * clips_day / DAY,
        peak_calls_s=peak_calls,
        peak_rps=peak_rps,
        workers=-int(-peak_rps // i.worker_rps),
        growth_day=growth,
        size_year=365 * growth + donors * (i.donor_bytes + i.tally_bytes),
        wal_day=clips_day * i.wal_per_clip,
        wal_peak=PEAK * clips_day * i.wal_per_clip / DAY,
        ingest_r1=peak_calls * i.call_s,
        ingest_as_is=peak_calls * (i.call_s + i.scan_s_per_1m * donors / 1e6),
        redis_all_time=donors * i.all_time_bytes,
        redis_campaign=board,
        redis_months=months,
        redis_weeks=weeks,
        redis_total=total,
        slot=board,
        redis_cpu=lookups * i.lookup_cpu_s + peak_calls * i.drain_cpu_s,
        shards=-int(-total // SHARD_BYTES),
        rebuild_bytes=donors * i.rebuild_bytes,
        rebuild_s=donors * i.rebuild_s,
        scan_year_s=365 * scan_per_day,
        days_to_window=WINDOW_S / scan_per_day,
    )


def scenarios(i: Inputs) -> dict[tuple[str, int], Scenario]:
    return {(name, d): scenario(i, d, rate) for name, rate in RATES.items() for d in SCALES}


MODEL = (BEFORE, "ingest_leader", "load_mix_2026-11-26")
