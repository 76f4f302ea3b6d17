"""docs/capacity.md from scale_db.json: sections 1 and 2 (the run, the data, the sizes)
and the blocks that set it beside other results (ingest at scale, the full fraud scan's
statements). Its full-scan and table-size sums also feed the capacity model."""

from __future__ import annotations

from benchmarks.report import TIMES, Result, block, mib, num, pct, table

# The run the evidence of docs/capacity.md (sections 1 to 3, and the model of section 5)
# was measured on, before any of its recommendations: kept under its date since the run
# that measured them applied (scale_db.json) replaced it.
BEFORE = "scale_db_2026-11-26"
FRAUD_BEFORE = "fraud_scan_2026-11-26"  # the 1M-clip fraud scans of the same days

# The statements of the full fraud scan (`queries[]`, this step), known by how their SQL
# starts: (rule, the statement in short, its start, how many times the scan runs it).
FULL_SCAN = "fraud scan: full (dry)"
FULL_SCAN_STATEMENTS = (
    (
        "velocity, per hour and per day (the same statement twice; the hour bucket was explained)",
        "`GROUP BY donor_id, camera_id, to_char(recorded_at, ...)`",
        "SELECT clips.donor_id, clips.camera_id, to_char(",
        2,
    ),
    (
        "staging fan-out",
        "`lag()` and `sum()` windows over `(donor_id, recorded_at)`, then "
        "`GROUP BY donor, cluster`",
        "SELECT anon_1.donor_id, min(anon_1.id)",
        1,
    ),
    (
        "shared cameras",
        "`camera_id IN (SELECT ... GROUP BY camera_id HAVING count(DISTINCT donor_id) > 1)`",
        "SELECT clips.camera_id, clips.donor_id, min(clips.id)",
        1,
    ),
    (
        "exact duplicates",
        "`GROUP BY video_sha256 HAVING count(DISTINCT donor_id) > 1`",
        "SELECT clips.video_sha256, clips.donor_id, clips.id, clips.status",
        1,
    ),
    (
        "staged share",
        "`GROUP BY campaign_id, donor_id` with `count(DISTINCT camera_id)`",
        "SELECT clips.campaign_id, clips.donor_id, count(*)",
        1,
    ),
    (
        "events with too many clips",
        "`GROUP BY donor_id, campaign_id, event_id`",
        "SELECT clips.donor_id, clips.campaign_id, clips.event_id",
        1,
    ),
    (
        "cohort outliers",
        "`GROUP BY campaign_id, day, donor_id`",
        "SELECT clips.campaign_id, to_char(",
        1,
    ),
    (
        "backfill dumps",
        "`EXTRACT(epoch FROM created_at - recorded_at) > $1 GROUP BY batch_id, donor_id`",
        "SELECT clips.batch_id, clips.donor_id",
        1,
    ),
    (
        "near duplicates: loading the perceptual hashes (the scheduler's cold start)",
        "`SELECT id, donor_id, camera_id, perceptual_hash WHERE id > -1 AND id <= $2`",
        "SELECT clips.id, clips.donor_id, clips.camera_id, clips.perceptual_hash",
        1,
    ),
    (
        "shared payout destinations",
        "on `ix_donors_payout_fingerprint`",
        "SELECT donors.payout_fingerprint",
        1,
    ),
)
PER_CALL = ("submission_batches", "ledger_transfers", "ledger_entries")
PER_DONOR = ("donors", "ledger_accounts", "medal_awards")


def full_scan(result: Result) -> list[tuple[str, str, float, int]]:
    """(rule, statement, seconds of one run, runs) for each statement of the full scan."""
    statements = [q for q in result["queries"] if q["step"] == FULL_SCAN]
    found = []
    for rule, short, start, runs in FULL_SCAN_STATEMENTS:
        matching = [q for q in statements if " ".join(q["sql"].split()).startswith(start)]
        if len(matching) != 1:
            raise ValueError(f"{len(matching)} full-scan statements start {start!r}")
        found.append((rule, short, matching[0]["execution_ms"] / 1000, runs))
        statements.remove(matching[0])
    unknown = [q["sql"][:60] for q in statements if q["execution_ms"] >= 100]
    if unknown:
        raise ValueError(f"full-scan statements this report does not know: {unknown}")
    return found


def full_scan_total(result: Result) -> float:
    return sum(took * runs for _, _, took, runs in full_scan(result))


def table_bytes(result: Result, *names: str) -> int:
    return sum(result["sizes"]["tables"][name]["total_bytes"] for name in names)


@block("scale_db_run", BEFORE)
def scale_db_run(result: Result) -> list[str]:
    machine, load = result["machine"], result["load"]
    settings = dict(result["sizes"]["server_settings"])
    version = settings.pop("server_version")

    def took(*prefixes: str) -> str:
        total = sum(s for step, s in load["steps_seconds"].items() if step.startswith(prefixes))
        return f"{num(total)} s"

    return [
        f"- **Date and machine**: {machine['date']} (`machine.date`); {machine['cpu']}, "
        f"{machine['cores']} cores (`machine.cores`), Python {machine['python']}, "
        f"{machine['system']}.",
        f"- **PostgreSQL**: {version}, with the server's settings (`sizes.server_settings`): "
        + ", ".join(f"`{name}` {value}" for name, value in settings.items())
        + ".",
        f"- **Run time**: {num(result['run_seconds'] / 60, 1)} min (`run_seconds` "
        f"{result['run_seconds']}), of which the load {num(load['seconds'] / 60, 1)} min "
        f"(`load.seconds` {load['seconds']}): clips {took('clips')}, Honor Wall tallies "
        f"{took('wall tallies')}, secondary indexes and unique constraints "
        f"{took('index', 'unique')}, foreign keys {took('foreign key')}, `VACUUM ANALYZE` "
        f"{took('vacuum analyze')} (`load.steps_seconds`).",
    ]


@block("scale_db_variation", BEFORE, "scale_db_earlier_runs")
def scale_db_variation(result: Result, earlier: Result) -> list[str]:
    call = result["ingest_at_scale"]["calls_of_25"]["ms_median"]
    lookup = result["honor_wall"]["standing_lookup"]["redis_cpu_us_per_op"]
    calls = sorted([call, *earlier["calls_of_25_ms_median_range"]])
    lookups = sorted([lookup, *earlier["standing_lookup_redis_cpu_us_per_op_range"]])
    spread = max(1 - calls[0] / calls[-1], 1 - lookups[0] / lookups[-1])
    return [
        f"Across {earlier['runs'] + 1} runs of the same script, a 25-clip call took "
        f"{num(calls[0])} to {num(calls[-1])} ms and a standing lookup {num(lookups[0])} to "
        f"{num(lookups[-1])} µs of Redis CPU (the kept run: {num(call, 1)} ms and "
        f"{num(lookup, 1)} µs): the lowest up to {pct(spread)} below the highest.",
    ]


@block("scale_db_data", BEFORE)
def scale_db_data(result: Result) -> list[str]:
    load = result["load"]
    leader, *heavy = load["heavy_donor_clips"]
    rows = [
        ["donors, clips", f"{num(result['donors'])}, {num(result['clips'])}"],
        ["submission calls (`load.calls`)", num(load["calls"])],
        [
            "the leader's clips; the next heaviest donors' (`load.heavy_donor_clips`)",
            f"{num(leader)}; {len(heavy)} donors with {num(min(heavy))} to {num(max(heavy))}",
        ],
        [
            "the other donors' clips, median and 99th percentile "
            "(`load.tail_median_clips`, `load.tail_p99_clips`)",
            f"{load['tail_median_clips']:g}, {load['tail_p99_clips']:g}",
        ],
        ["donors with a payout destination and cash (`load.payees`)", num(load["payees"])],
        [
            "differences from the models' schema (`schema_differences`)",
            len(result["schema_differences"]),
        ],
    ]
    return table(["", "generated"], rows)


@block("scale_db_tables", BEFORE)
def scale_db_tables(result: Result) -> list[str]:
    sizes = result["sizes"]
    rows = [
        [name, num(t["rows"]), mib(t["heap_bytes"]), mib(t["indexes_bytes"]), mib(t["total_bytes"])]
        for name, t in sizes["tables"].items()
    ]
    rows.append(["**database**", "", "", "", f"**{num(sizes['database_bytes'] / 1e9, 1)} GB**"])
    return [
        *table(["table", "rows", "heap", "indexes", "total"], rows, "lrrrr"),
        "",
        "(`sizes.tables.*`; the row counts are `reltuples`. The database total is "
        f"`sizes.database_bytes` = {num(sizes['database_bytes'])}.)",
    ]


@block("scale_db_bytes", BEFORE)
def scale_db_bytes(result: Result) -> list[str]:
    per_clip = result["sizes"]["per_clip"]
    indexes = result["sizes"]["tables"]["clips"]["indexes"]
    calls, donors = result["load"]["calls"], result["donors"]
    per_call = table_bytes(result, *PER_CALL)
    return [
        f"- Per clip (`sizes.per_clip`): {num(per_clip['clips_heap_bytes'], 1)} bytes of heap "
        f"and {num(per_clip['clips_index_bytes'], 1)} of indexes, "
        f"**{num(per_clip['clips_total_bytes'], 1)} in all**; the whole database comes to "
        f"{num(per_clip['database_bytes_per_clip'], 1)} bytes per clip.",
        "- The clips' indexes (`sizes.tables.clips.indexes`): "
        + ", ".join(f"`{name}` {mib(size)}" for name, size in indexes.items())
        + ".",
        f"- Per call, `{'`, `'.join(PER_CALL)}`: {num(per_call / calls)} bytes "
        f"({num(per_call)} bytes / {num(calls)} calls).",
        f"- Per donor, `{'`, `'.join(PER_DONOR)}`: "
        f"{num(table_bytes(result, *PER_DONOR) / donors)} bytes.",
        "- Per donor-year of activity, `wall_tallies`: "
        f"{num(table_bytes(result, 'wall_tallies') / donors)} bytes.",
    ]


@block("scale_db_ingest", BEFORE, "ingest_leader", "medals", "submission_call")
def scale_db_ingest(
    result: Result, leader: Result, medals: Result, submission_call: Result
) -> list[str]:
    before, after = result["ingest_at_scale"], result["ingest_with_tally_index"]
    service = leader["postgres"]["service"]["clips_per_s"]
    small = submission_call["postgres"]
    empty_ms = {
        "calls_of_25": small["ms_median"],
        "calls_of_500": 1000 * leader["clips_per_call"] / service,
    }
    empty = {
        "calls_of_25": f"{num(small['ms_median'], 1)} ms, median of {small['calls']} "
        "(`submission_call.json` `postgres.ms_median`)",
        "calls_of_500": f"{num(empty_ms['calls_of_500'])} ms per call "
        f"(`postgres.service.clips_per_s` {num(service)}); "
        f"`submission_postgres.ms_per_submission` "
        f"{medals['submission_postgres']['ms_per_submission']}",
    }
    rows = []
    for key in ("calls_of_25", "calls_of_500"):
        was, now = before[key], after[key]
        rows.append(
            [
                f"{key.removeprefix('calls_of_')} clips, median of {was['calls']}",
                f"**{num(was['ms_median'], 1)} ms**, {num(was['clips_per_s'])} clips/s",
                f"**{num(now['ms_median'], 1)} ms**, {num(now['clips_per_s'])} clips/s",
                empty[key],
            ]
        )
    index = result["what_if_indexes"][0]
    took = {q["step"]: q["execution_ms"] for q in index["queries"]}
    header = ["call", "as it is", f"with an index on `{index['index']}`"]
    header.append("empty database (`submission_call.json`; `ingest_leader.json`, `medals.json`)")
    ratios = {key: after[key]["ms_median"] / empty_ms[key] for key in empty_ms}
    return [
        *table(header, rows),
        "",
        "Even with the index, a 500-clip call takes "
        f"{num(ratios['calls_of_500'], 1)} times as long as on an empty database, and a 25-clip "
        f"call {num(ratios['calls_of_25'], 1)} times.",
        "",
        "With the index the tallies statement takes "
        f"{num(took['submission: a typical donor, 25 clips'], 3)} ms for the typical donor and "
        f"{num(took['submission: the leader, 500 clips'], 3)} ms for the leader "
        f"(`what_if_indexes[0]`). The index is {mib(index['index_bytes'])} and builds in "
        f"{num(index['build_seconds'], 1)} s.",
        "",
        "WAL per clip, as it is (`ingest_at_scale.*.wal_bytes_per_clip`, "
        "`wal_full_page_images_per_clip`): "
        + ", ".join(
            f"{key.removeprefix('calls_of_')}-clip calls {num(before[key]['wal_bytes_per_clip'])} "
            f"bytes and {before[key]['wal_full_page_images_per_clip']:g} full-page images"
            for key in ("calls_of_500", "calls_of_25")
        )
        + ".",
    ]


@block("scale_db_full_scan", BEFORE, FRAUD_BEFORE)
def scale_db_full_scan(result: Result, small: Result) -> list[str]:
    rows = [
        [rule, short, f"{num(took, 1)} s" + (f" {TIMES} {runs}" if runs > 1 else "")]
        for rule, short, took, runs in full_scan(result)
    ]
    total, whole = full_scan_total(result), small["full_scan"]["seconds"]
    rows.append(["**total**", "", f"**{num(total, 1)} s**"])
    return [
        *table(["rule", "statement", "time"], rows, "llr"),
        "",
        f"(`queries[]` with step `{FULL_SCAN}`.) The total is {num(total / whole, 1)} times "
        f"the {num(whole, 1)} s that the whole full scan took at {num(small['clips'])} clips "
        f"(`{FRAUD_BEFORE}.json` `full_scan.seconds`).",
    ]
