"""docs/capacity.md, section 3 up to 3.4, from the captured statements and their plans:
what was captured, the hot-queries table, a donor's clips and ledger pages, a submission's
statements and the Honor Wall rebuild."""

from __future__ import annotations

from benchmarks.report import MIB, TIMES, Result, block, millions, ms, num, secs, table
from benchmarks.report.plans import (
    DAILY_CAP,
    EVENT_CAP,
    EXACT_DUPLICATES,
    HASH_PROBE,
    HOLD_DRAIN,
    LEADER_CALL,
    PAGE,
    PAYEES,
    REBUILD,
    REBUILD_MAIN,
    REBUILD_MEDALS,
    REBUILD_TALLIES,
    RETENTION,
    SHARED_CAMERAS,
    TALLIES,
    TYPICAL_CALL,
    VESTING,
    actual_rows,
    clips_reads,
    counted,
    detail,
    estimated_rows,
    excerpt,
    incremental,
    ledger_reads,
    plan_line,
    statement,
    values_in,
    work_mem_mb,
    workers_launched,
)
from benchmarks.report.scale_db import BEFORE, full_scan_total


@block("scale_db_capture", BEFORE)
def scale_db_capture(result: Result) -> list[str]:
    load, ingest = result["load"], result["ingest_at_scale"]
    return [
        "- `submissions.list_donor_clips` and `ledger.donor_entries`, for the leader "
        f"({num(load['heavy_donor_clips'][0])} clips), a typical donor "
        f"({load['tail_median_clips']:g} clips, the median of the donors after the heaviest) "
        "and a payee;",
        f"- `submissions.submit`: the leader and {ingest['calls_of_500']['calls'] - 1} heavy "
        f"donors send 500 clips per call, and {ingest['calls_of_25']['calls']} occasional "
        "donors send 25;",
        '- `wall.rebuild(runtime, "all-time")`;',
        "- `fraud.scan(runtime, full=False)`, over the "
        f"{num(result['fraud_incremental']['clips_in_scope'])} clips just submitted.",
    ]


@block("scale_db_hot_queries", BEFORE)
def scale_db_hot_queries(result: Result) -> list[str]:
    clips, ledger = clips_reads(result), ledger_reads(result)
    leader_page, typical_page = (
        clips["the leader, first page"],
        clips["a typical donor, first page"],
    )
    probe = statement(result, LEADER_CALL, HASH_PROBE)
    tallies = statement(result, TYPICAL_CALL, TALLIES)
    leader_tallies = statement(result, LEADER_CALL, TALLIES)
    rebuild = statement(result, REBUILD, REBUILD_MAIN)
    duplicates, cameras = incremental(result, EXACT_DUPLICATES), incremental(result, SHARED_CAMERAS)
    hold = incremental(result, HOLD_DRAIN)
    payees, vesting, retention = (statement(result, *s) for s in (PAYEES, VESTING, RETENTION))
    leader_ledger = ledger["the leader, first page"]
    tallies_rows = millions(result["sizes"]["tables"]["wall_tallies"]["rows"])
    limit = leader_ledger["params"]["param_1"]
    vests_removed = detail(
        vesting, "Parallel Index Scan using ix_clips_vesting", "Rows Removed by Filter"
    )
    vests_loops = counted(plan_line(vesting, "Parallel Index Scan using ix_clips_vesting"), "loops")

    def both(q: Result) -> str:
        return f"**{ms(q['execution_ms'])} ms** (in the call {ms(q['observed_ms_first'])} ms)"

    rows = [
        ["3.1", "`GET /v1/me/clips`: leader's first and next page, typical donor",
         f"{ms(leader_page['execution_ms'])}, "
         f"{ms(clips['the leader, next page']['execution_ms'])}, "
         f"{ms(typical_page['execution_ms'])} ms",
         "Index Scan Backward `ix_clips_donor_created`", "**yes**"],
        ["3.1", "the same with `?status=reversed` / `pending_review` (leader)",
         f"{ms(clips['the leader, status=reversed']['execution_ms'])} / "
         f"{ms(clips['the leader, status=pending_review']['execution_ms'])} ms",
         "the same index, status filtered", "yes"],
        ["3.2", "`GET /v1/me/ledger`: leader, typical donor, payee",
         ", ".join(ms(ledger[s]["execution_ms"]) for s in
                   ("the leader, first page", "a typical donor, first page", "a payee, first page"))
         + " ms",
         "`uq_ledger_accounts_owner_kind_currency` then `ix_ledger_entries_account_id_id`, "
         "top-N sort of all the donor's entries",
         f"yes, but it reads the whole history "
         f"({num(actual_rows(plan_line(leader_ledger, 'Nested Loop')))} entries for {limit})"],
        ["3.3", f"`POST /v1/submissions`: hash probe ({num(values_in(probe['params']['param_1']))} "
         "hashes), event cap, daily cap",
         f"{ms(probe['execution_ms'])}, "
         f"{ms(statement(result, LEADER_CALL, EVENT_CAP)['execution_ms'])}, "
         f"{ms(statement(result, LEADER_CALL, DAILY_CAP)['execution_ms'])} ms",
         "`uq_clips_campaign_hash_owner`, `ix_clips_event_caps`, `ix_clips_donor_created`", "yes"],
        ["3.3", "`POST /v1/submissions`: medal tallies `wall_tallies WHERE donor_id = ?`",
         f"**{ms(tallies['execution_ms'])} ms** (in the call {ms(tallies['observed_ms_first'])} "
         f"ms; the leader's {ms(leader_tallies['execution_ms'])} ms)",
         f"**Parallel Seq Scan on wall_tallies**, {tallies_rows} rows", "**no**"],
        ["3.4", "Honor Wall rebuild of `all-time` (nightly, and after Redis loses data)",
         f"**{secs(rebuild['execution_ms'] / 1000)} s** (in the call "
         f"{secs(rebuild['observed_ms_first'] / 1000)} s); the whole rebuild "
         f"{secs(result['honor_wall']['rebuild_seconds'])} s",
         "two Parallel Seq Scans on clips, hash aggregates spilling to disk",
         "by design a full recount"],
        ["3.5", "incremental fraud scan (every 5 min), exact duplicates", both(duplicates),
         f"**Parallel Seq Scan on clips**, {millions(result['clips'])} rows",
         "**no**: the only hash index is partial"],
        ["3.5", "incremental fraud scan, shared cameras",
         f"{ms(cameras['execution_ms'])} ms, of which JIT {ms(cameras['jit_ms'])} ms (summed "
         f"over {workers_launched(cameras) + 1} processes); "
         f"**{ms(cameras['execution_ms_jit_off'])} ms with `jit = off`**",
         "bitmap scan on `ix_clips_camera_caps`", "yes; JIT is the cost"],
        ["3.5", "incremental fraud scan, hold of flagged donors, their wall state",
         both(hold), f"**Seq Scan on wall_tallies**, {tallies_rows} rows", "**no**"],
        ["3.6", "full fraud scan (nightly), all rules", f"{secs(full_scan_total(result))} s of SQL",
         "Seq Scans on clips, sorts spilling to disk", "by design a full pass"],
        ["3.7", "weekly payout batches: gathering payees",
         f"{ms(payees['execution_ms'])} ms "
         f"({num(actual_rows(plan_line(payees, 'Gather Merge')))} payees)",
         "Parallel Seq Scan on ledger_accounts", "none needed (weekly)"],
        ["3.8", "vesting (every 10 min)", f"{ms(vesting['execution_ms'])} ms",
         f"`ix_clips_vesting` reads {num(vests_removed * vests_loops)} rows that never vest; "
         "hash of all donors", "partly"],
        ["3.9", "retention (daily)",
         f"{ms(retention['execution_ms'])} ms per {num(retention['params']['param_1'])}-clip "
         "chunk", "`ix_clips_camera_caps` scanned whole through its 2nd column", "**no**"],
    ]  # fmt: skip
    return table(["#", "serves", "time at 10M clips / 1M donors", "plan", "index serves it?"], rows)


@block("scale_db_clips_page", BEFORE)
def scale_db_clips_page(result: Result) -> list[str]:
    clips = clips_reads(result)
    first, reversed_ = clips["the leader, first page"], clips["the leader, status=reversed"]
    scan = "Index Scan Backward"
    if reversed_["execution_ms"] >= 1:
        raise ValueError("the leader's reversed clips take a millisecond now: revisit 3.1")
    return [
        *excerpt(first, "Limit", scan, "Index Cond", "Buffers", note="the leader, first page"),
        "",
        "The next page uses the same index with the cursor as an index condition: "
        f"{ms(clips['the leader, next page']['execution_ms'])} ms. With `status=reversed`, the "
        f"scan filters out {num(detail(reversed_, scan, 'Rows Removed by Filter'))} index "
        f"entries to find {actual_rows(plan_line(reversed_, 'Limit'))} rows "
        f"({num(detail(reversed_, scan, 'hit'))} buffers, {ms(reversed_['execution_ms'])} ms). "
        "The filter costs O(clips of the donor ÷ share of that status); for the leader it is "
        "still under a millisecond. A typical donor's first page takes "
        f"{ms(clips['a typical donor, first page']['execution_ms'])} ms.",
    ]


@block("scale_db_ledger_page", BEFORE)
def scale_db_ledger_page(result: Result) -> list[str]:
    ledger = ledger_reads(result)
    leader = ledger["the leader, first page"]
    keep = ("Limit", "->  Sort", "Sort Method", "Nested Loop", "Index Scan using uq_ledger",
            "Bitmap Heap Scan", "Heap Blocks", "Bitmap Index Scan")  # fmt: skip
    return [
        *excerpt(leader, *keep, note="the leader"),
        "",
        "The index serves the query, but the plan reads every entry of the donor's accounts "
        f"({num(detail(leader, 'Bitmap Heap Scan', 'exact'))} heap blocks) to show "
        f"{leader['params']['param_1']}. The next page takes "
        f"{ms(ledger['the leader, next page']['execution_ms'])} ms, a typical donor "
        f"{ms(ledger['a typical donor, first page']['execution_ms'])} ms and a payee "
        f"{ms(ledger['a payee, first page']['execution_ms'])} ms.",
    ]


@block("scale_db_submission", BEFORE)
def scale_db_submission(result: Result) -> list[str]:
    probe = statement(result, LEADER_CALL, HASH_PROBE)
    event = statement(result, LEADER_CALL, EVENT_CAP)
    daily = statement(result, LEADER_CALL, DAILY_CAP)
    hashes = num(values_in(probe["params"]["param_1"]))
    lines = excerpt(
        probe, "Bitmap Heap Scan", "Buffers", "Bitmap Index Scan",
        note=f"the leader's hash probe ({hashes} hashes, under SET LOCAL enable_seqscan = off)",
    )  # fmt: skip
    lines.insert(
        -1,
        f"-- event cap: Index Scan on ix_clips_event_caps {ms(event['execution_ms'])} ms; "
        f"daily cap: ix_clips_donor_created {ms(daily['execution_ms'])} ms",
    )
    return lines


@block("scale_db_tallies", BEFORE)
def scale_db_tallies(result: Result) -> list[str]:
    tallies = statement(result, TYPICAL_CALL, TALLIES)
    keep = ("Gather", "Workers Launched", "Parallel Seq Scan", "Filter", "Rows Removed",
            "Buffers", "Timing")  # fmt: skip
    return [
        *excerpt(tallies, *keep, note="a typical donor"),
        "",
        "`wall_tallies` has primary key `(board, donor_id)` and an index on `(board, clips)`. "
        "Neither can find one donor's rows, so **every accepted submission scans the whole "
        f"table on {workers_launched(tallies) + 1} processes.** The table holds "
        f"{millions(result['sizes']['tables']['wall_tallies']['rows'])} rows here and grows "
        f"with donors {TIMES} weeks active.",
    ]


@block("scale_db_rebuild", BEFORE)
def scale_db_rebuild(result: Result) -> list[str]:
    q = statement(result, REBUILD, REBUILD_MAIN)
    wall = result["honor_wall"]
    medal_counts = statement(result, REBUILD, REBUILD_MEDALS)
    tally_rows = statement(result, REBUILD, REBUILD_TALLIES)
    aggregate = plan_line(q, "Finalize HashAggregate")
    temp_written = counted(plan_line(q, "temp read"), "written")
    outside = wall["rebuild_seconds"] - q["observed_ms_first"] / 1000
    before, after = wall["process_peak_rss_mib_before"], wall["process_peak_rss_mib_after"]
    per_donor = (after - before) * MIB / wall["members"]
    keep = ("Hash Left Join", "Buffers", "->  Merge Join", "->  Unique", "->  Sort",
            "Sort Method", "Index Only Scan", "Finalize HashAggregate", "Batches",
            "Parallel Seq Scan on clips", "->  Hash ", "Finalize HashAggregate", "Batches",
            "Parallel Seq Scan on clips", "Timing")  # fmt: skip
    return [
        *excerpt(q, *keep),
        "",
        "A recount of every clip is what the rebuild is for, so a sequential scan is expected. "
        "The plan still wastes work in three ways:",
        "",
        "- It **reads the clips twice**, because the `counted` subquery appears twice and is "
        "planned twice.",
        f"- The planner estimates {num(estimated_rows(aggregate))} groups against "
        f"{num(actual_rows(aggregate))} actual (the skewed `donor_id`). The aggregates "
        f"therefore **spill to disk** under the {work_mem_mb(result)} `work_mem`: "
        f"{num(temp_written)} temp blocks written, about {num(temp_written * PAGE / 2**30, 1)} "
        "GiB.",
        f"- **JIT** takes {secs(q['jit_ms'] / 1000)} s.",
        "",
        "With `jit = off` and `work_mem = 256MB` the same statement takes "
        f"{secs(q['execution_ms_jit_off_work_mem_256mb'] / 1000)} s instead of "
        f"{secs(q['execution_ms'] / 1000)} s (`execution_ms_jit_off_work_mem_256mb`). It still "
        "reads the clips twice.",
        "",
        f"The whole rebuild took {secs(wall['rebuild_seconds'])} s for {num(wall['members'])} "
        f"ranked donors (`honor_wall.rebuild_seconds`, `members`). The main statement took "
        f"{secs(q['observed_ms_first'] / 1000)} s of it in the call; beside it the rebuild "
        f"spent {num(outside)} s ({num(outside / wall['members'] * 1e6, 1)} µs per donor): the "
        f"medal counts {secs(medal_counts['observed_ms_first'] / 1000)} s and the tallies "
        f"{secs(tally_rows['observed_ms_first'] / 1000)} s in SQL, the rest in Python and "
        f"pipelined writes to Redis. Redis itself used {secs(wall['redis_cpu_s_rebuild'])} s of "
        f"CPU for {num(wall['redis_commands_rebuild'])} commands (`redis_cpu_s_rebuild`, "
        "`redis_commands_rebuild`).",
        "",
        "The rebuild fetches every row before it writes the first one. The **process's peak "
        f"memory rose from {num(before)} MiB to {num(after)} MiB** "
        "(`process_peak_rss_mib_before`, `process_peak_rss_mib_after`). That is "
        f"{num(per_donor / 1000, 2)} KB per donor, so about {num(per_donor * 1e7 / 1e9)} GB at "
        "10M donors (see R6).",
    ]
