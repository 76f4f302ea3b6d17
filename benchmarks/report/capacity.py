"""docs/capacity.md, sections 5.1 and 5.2: the capacity model's inputs, measured and
assumed."""

from __future__ import annotations

from benchmarks.report import MIB, MINUS, Result, block, millions, num, pct, table
from benchmarks.report.capacity_model import (
    CALL_CLIPS,
    LIVE_PERIOD_BOARDS,
    MODEL,
    OPEN_EVERY_DAYS,
    PEAK,
    RATES,
    READS_PER_OPEN,
    REQUESTS_PER_CALL,
    SCALES,
    SHARD_BYTES,
    WINDOW_S,
    model_inputs,
)
from benchmarks.report.scale_db import (
    BEFORE,
    FULL_SCAN,
    PER_CALL,
    PER_DONOR,
    full_scan_total,
    table_bytes,
)


@block("capacity_inputs", BEFORE, "ingest_leader", "load_mix_2026-11-26", "load_mix",
       "wall_1m")  # fmt: skip
def capacity_inputs(
    result: Result, leader: Result, model: Result, latest: Result, wall_1m: Result
) -> list[str]:
    """The measured inputs of the capacity model (`load_mix_2026-11-26` is the mobile mix's
    run the model was built on)."""
    donors, calls, sizes = result["donors"], result["load"]["calls"], result["sizes"]
    wall = result["honor_wall"]
    keys, members = wall["key_bytes"], wall["members"]
    board = keys["listed_zset"] + keys["shadow_zset"] + keys["versions_hash"]
    rebuild_bytes = (wall["process_peak_rss_mib_after"] - wall["process_peak_rss_mib_before"]) * MIB
    rebuild_sql_ms = max(
        q["observed_ms_first"] for q in result["queries"] if q["step"] == "wall rebuild: all-time"
    )
    outside_sql = wall["rebuild_seconds"] - rebuild_sql_ms / 1000
    small, indexed = result["ingest_at_scale"]["calls_of_25"], result["ingest_with_tally_index"]
    lookup, page = wall["standing_lookup"], wall["page_read_uncached"]
    workers = model["postgres"]["gunicorn_workers"]
    rps, rps_latest = (r["postgres"]["max_rps_with_p99_under_250ms"] for r in (model, latest))
    if rps_latest < rps:  # section 5.1 says the model's run is the conservative one
        raise ValueError("load_mix.json measured less than the model's run: revisit 5.1")
    weeks, months = (
        sizes["period_boards_in_generated_data"][p]["mean_donors"] for p in ("week", "month")
    )
    db = f"`{BEFORE}.json`: "
    rows = [
        ["clip row, heap and indexes", f"{num(sizes['per_clip']['clips_total_bytes'], 1)} B",
         db + "`sizes.per_clip.clips_total_bytes`"],
        ["per call: batch, transfers, entries", f"{num(table_bytes(result, *PER_CALL) / calls)} B",
         db + "`sizes.tables.{" + ",".join(PER_CALL) + "}.total_bytes` / `load.calls`"],
        ["per donor: donors, accounts, medals",
         f"{num(table_bytes(result, *PER_DONOR) / donors)} B",
         db + "`sizes.tables.{" + ",".join(PER_DONOR) + f"}}.total_bytes` / {num(donors)}"],
        ["per donor-year: tallies", f"{num(table_bytes(result, 'wall_tallies') / donors)} B",
         db + f"`sizes.tables.wall_tallies.total_bytes` / {num(donors)}"],
        ["WAL per clip, 25-clip calls",
         f"{num(small['wal_bytes_per_clip'])} B ({small['wal_full_page_images_per_clip']} "
         "full-page images)",
         db + "`ingest_at_scale.calls_of_25.wal_bytes_per_clip`, `wal_full_page_images_per_clip`"],
        ["a 25-clip call, in-process, as it is / with R1",
         f"{num(small['ms_median'], 1)} ms / {num(indexed['calls_of_25']['ms_median'], 1)} ms",
         db + "`ingest_at_scale.calls_of_25.ms_median`, "
         "`ingest_with_tally_index.calls_of_25.ms_median`"],
        ["ingest, 500-clip calls, with R1 / empty database / over HTTP",
         f"{num(indexed['calls_of_500']['clips_per_s'])} / "
         f"{num(leader['postgres']['service']['clips_per_s'])} / "
         f"{num(leader['postgres']['http']['clips_per_s'])} clips/s",
         db + "`ingest_with_tally_index.calls_of_500.clips_per_s`; `ingest_leader.json`: "
         "`postgres.service.clips_per_s`, `postgres.http.clips_per_s`"],
        ["API throughput per gunicorn worker (mobile mix, p99 < 250 ms)",
         f"{num(rps / workers, 2)} req/s ({rps} req/s ÷ {workers} workers, run of "
         f"{model['machine']['date']}; the run of {latest['machine']['date']} measured "
         f"{rps_latest} req/s, {num(rps_latest / workers, 1)} a worker)",
         "`load_mix_2026-11-26.json`, `load_mix.json`: `postgres.max_rps_with_p99_under_250ms`, "
         "`postgres.gunicorn_workers`"],
        ["Redis, one board: sorted sets and versions hash per ranked donor",
         f"{num(board / members, 1)} B",
         db + "`honor_wall.key_bytes.{listed_zset,shadow_zset,versions_hash}` / "
         "`honor_wall.members` (cross-check: `wall_1m.json` "
         "`rebuild.redis_bytes_per_donor_with_versions` "
         f"{wall_1m['rebuild']['redis_bytes_per_donor_with_versions']})"],
        ["Redis, public profiles per ranked donor (shared by all boards)",
         f"{num(keys['profiles_hash'] / members, 1)} B",
         db + "`honor_wall.key_bytes.profiles_hash` / `honor_wall.members`"],
        ["Redis, all-time board with profiles and overhead",
         f"{num(wall['used_memory_per_donor'], 1)} B per ranked donor",
         db + "`honor_wall.used_memory_per_donor`"],
        [f"Redis CPU per standing lookup ({lookup['redis_commands_per_op']:g} commands)",
         f"{num(lookup['redis_cpu_us_per_op'], 1)} µs",
         db + "`honor_wall.standing_lookup.redis_cpu_us_per_op`"],
        [f"Redis CPU per uncached wall page ({page['redis_commands_per_op']:g} commands)",
         f"{num(page['redis_cpu_us_per_op'], 1)} µs",
         db + "`honor_wall.page_read_uncached.redis_cpu_us_per_op`"],
        [f"Redis CPU per submission's wall drain ({num(small['redis_commands_per_op'])} commands)",
         f"{num(small['redis_cpu_us_per_op'], 1)} µs",
         db + "`ingest_at_scale.calls_of_25.redis_cpu_us_per_op`"],
        ["rebuild memory per donor", f"{num(rebuild_bytes / members)} B",
         db + f"(`honor_wall.process_peak_rss_mib_after` {MINUS} `process_peak_rss_mib_before`) "
         "/ `honor_wall.members`"],
        ["rebuild time outside SQL", f"{num(outside_sql / members * 1e6, 1)} µs per donor",
         db + f"(`honor_wall.rebuild_seconds` {MINUS} the main statement's "
         "`observed_ms_first`) / `members`"],
        [f"full fraud scan SQL per {result['clips'] / 1e6:g}M clips",
         f"{num(full_scan_total(result), 1)} s",
         db + f"sum of `queries[].execution_ms`, step `{FULL_SCAN}` (velocity counted twice)"],
        ["donors per week and month board, generated data",
         f"{pct(weeks / donors, 1)} / {pct(months / donors, 1)} of donors",
         db + "`sizes.period_boards_in_generated_data.{week,month}.mean_donors`"],
    ]  # fmt: skip
    return table(["symbol", "value", "source (file: field)"], rows)


@block("capacity_assumptions", *MODEL)
def capacity_assumptions(result: Result, leader: Result, model: Result) -> list[str]:
    i = model_inputs(result, leader, model)
    generated = result["clips"] / 365 / result["donors"]
    base, high = RATES["base"], RATES["high"]
    return [
        f"- **A1, daily clip volume.** Two rates: **base, {base:g} clip per donor per day**, and "
        f"**high, {high:g} clip per donor per day**, the issue's "
        + ", ".join(num(high * d / 1e6) for d in SCALES[:-1])
        + f" and {num(high * SCALES[-1] / 1e6)} million clips a day. The base rate is "
        f"{num(base / generated, 1)} times the generated data's rate of "
        f"{millions(result['clips'])} clips over a year for {millions(result['donors'])} donors.",
        f"- **A2, call size.** A call carries **{CALL_CLIPS} clips**, the average of the mobile "
        "mix (`load_mix.json`: `mix`, 1 to 50 clips).",
        f"- **A3, requests.** Submissions are {pct(1 / REQUESTS_PER_CALL)} of the mix's requests, "
        f"so there are {REQUESTS_PER_CALL} requests per call. In addition, **every donor opens "
        f"the app once every {OPEN_EVERY_DAYS} days and makes {READS_PER_OPEN} reads** (the wall "
        f"page, their standing and `/v1/me`). That is {READS_PER_OPEN / OPEN_EVERY_DAYS:g} reads "
        "per donor per day.",
        f"- **A4, peak.** The busiest hour runs at **{PEAK} times** the daily average.",
        "- **A5, boards.** Every donor is ranked on the all-time board and the open-ended "
        f"campaign's board. {LIVE_PERIOD_BOARDS} month boards and {LIVE_PERIOD_BOARDS} week "
        "boards are live at once (current and previous, within the 7-day grace), populated as "
        f"in the generated data ({pct(i.month_share, 1)} and {pct(i.week_share, 1)} of donors). "
        "The closed campaign's board is small and ignored.",
        f"- **A6, Redis shards.** A shard has **{num(SHARD_BYTES / 1e9)} GB** of usable memory "
        "and one core. A board's keys share a hash tag and so one slot, and the rebuild keeps "
        "the old and the new board until its atomic swap. **The shard holding the all-time "
        "board therefore needs twice that board's memory.**",
        "- **A7, storage.** Storage grows with clips (rows are kept after retention scrubs "
        "them), calls and donors. The model adds no growth in donors over the year.",
        "- **A8, nightly window.** The nightly jobs must each finish within "
        f"**{num(WINDOW_S / 3600)} hours**.",
        "- **A9, what scales linearly.** The as-is submission cost above the with-index cost "
        f"({num(i.scan_s_per_1m * 1000, 1)} ms at 1M donors) is the `wall_tallies` scan and "
        "grows in proportion to the donors. Full-scan SQL grows in proportion to all clips. "
        "Rebuild memory and non-SQL time grow in proportion to the donors.",
    ]
