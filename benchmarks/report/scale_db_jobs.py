"""docs/capacity.md, sections 3.5 and 3.7-3.9, from the captured statements and their
plans: the incremental fraud scan, payees, vesting and retention."""

from __future__ import annotations

from benchmarks.report import Result, block, mib, millions, ms, num, pct, secs
from benchmarks.report.plans import (
    EVENTS,
    EXACT_DUPLICATES,
    HASH_INDEX,
    HOLD_DRAIN,
    INCREMENTAL,
    PAYEES,
    RETENTION,
    RETENTION_INDEX,
    SHARED_CAMERAS,
    TALLY_INDEX,
    VESTING,
    VESTING_INDEX,
    actual_rows,
    counted,
    detail,
    estimated_rows,
    excerpt,
    incremental,
    jit_functions,
    plan_line,
    statement,
    statement_sql,
    values_in,
    what_if,
    what_if_statement,
    workers_launched,
)
from benchmarks.report.scale_db import BEFORE, FRAUD_BEFORE

INCREMENTAL_RULES = {
    "exact_duplicate": "exact duplicates",
    "shared_identity": "shared identities",
    "staging_fanout": "staging fan-out",
    "cohort_outlier": "cohort outliers",
    "near_duplicate": "near duplicates (with the hash index kept warm, as the scheduler does)",
    "velocity": "velocity",
    "backfill_dump": "backfill dumps",
    "staged_share": "staged share",
}


@block("scale_db_incremental", BEFORE, FRAUD_BEFORE)
def scale_db_incremental(result: Result, small: Result) -> list[str]:
    scan = result["fraud_incremental"]
    named = (EXACT_DUPLICATES, SHARED_CAMERAS, EVENTS, HOLD_DRAIN)
    others = [
        q["execution_ms"]
        for q in result["queries"]
        if q["step"] == INCREMENTAL
        and " FROM clips " in statement_sql(q) + " "
        and not statement_sql(q).startswith(named)
        and q["execution_ms"] >= 1
    ]
    by_rule = sorted(scan["seconds_by_rule"].items(), key=lambda item: -item[1])
    shown = [(rule, took) for rule, took in by_rule if took >= 0.05]
    rest = [INCREMENTAL_RULES.get(rule, rule) for rule, took in by_rule if took < 0.05]
    return [
        f"The scan covered {num(scan['clips_in_scope'])} new clips and took "
        f"**{secs(scan['seconds'])} s** (`fraud_incremental.seconds`), against "
        f"{secs(small['incremental_scan']['seconds'])} s at {num(small['clips'])} clips "
        f"(`{FRAUD_BEFORE}.json` `incremental_scan.seconds`). By rule "
        "(`fraud_incremental.seconds_by_rule`):",
        "",
        *(f"- {INCREMENTAL_RULES.get(rule, rule)}: {secs(took)} s;" for rule, took in shown),
        f"- {', '.join(rest)}: under 0.05 s each.",
        "",
        f"The remaining time was spent recording {scan['flags_opened']} new flags and holding "
        "donors. The other statements that read clips are range scans of `pk_clips` over the "
        "new ids, or index scans (`ix_clips_camera_caps`, `ix_clips_accepted_at`, "
        f"`ix_clips_donor_created`), taking {ms(min(others))} to {ms(max(others))} ms. Three "
        "are not:",
    ]


@block("scale_db_exact_duplicates", BEFORE)
def scale_db_exact_duplicates(result: Result) -> list[str]:
    q = incremental(result, EXACT_DUPLICATES)
    index = what_if(result, HASH_INDEX)
    with_index = what_if_statement(result, HASH_INDEX, INCREMENTAL)
    heap = result["sizes"]["tables"]["clips"]["heap_bytes"]
    keep = ("Gather Merge", "Parallel Seq Scan on clips clips_1", "Filter", "Rows Removed",
            "Buffers", "Timing")  # fmt: skip
    return [
        f"Its array holds the {num(values_in(q['params']['param_1']))} new hashes.",
        "",
        *excerpt(q, *keep, last_note=f"{ms(q['observed_ms_first'])} ms in the call"),
        "",
        "The only index on the hash, `uq_clips_campaign_hash_owner`, is partial (`WHERE status "
        "<> 'duplicate'`). The rule must also find the duplicates, so the query has no such "
        "condition, the index cannot be used, and **every incremental scan reads the whole "
        f"{num(heap / 2**30, 1)} GiB table**. The cost grows linearly with the table. With a "
        "plain index on `clips (video_sha256)` (`what_if_indexes[1]`) the plan becomes a "
        f"Bitmap Index Scan and a Nested Loop, taking **{ms(with_index['execution_ms'])} ms** "
        f"instead of {ms(q['execution_ms'])} ms. The index is {mib(index['index_bytes'])} and "
        f"builds in {secs(index['build_seconds'])} s.",
    ]


@block("scale_db_shared_cameras", BEFORE)
def scale_db_shared_cameras(result: Result) -> list[str]:
    q, events = incremental(result, SHARED_CAMERAS), incremental(result, EVENTS)
    scan = plan_line(q, "Bitmap Heap Scan on clips")
    return [
        "**Shared cameras** (`fraud_signals.shared_identity`): the plan is index-served "
        f"(bitmap scan of `ix_clips_camera_caps`, {num(actual_rows(scan))} rows). But the "
        f"planner costs a possible scan of all clips, so JIT compiles {jit_functions(q)} "
        f"functions in each of {workers_launched(q) + 1} processes (JIT total "
        f"{ms(q['jit_ms'])} ms). The statement takes {ms(q['execution_ms'])} ms with JIT and "
        f"**{ms(q['execution_ms_jit_off'])} ms with `jit = off`** (`execution_ms_jit_off`). The "
        "same holds for the events-with-too-many-clips statement: "
        f"{ms(events['execution_ms'])} ms, and {ms(events['execution_ms_jit_off'])} ms without "
        "JIT.",
    ]


@block("scale_db_hold", BEFORE)
def scale_db_hold(result: Result) -> list[str]:
    q = incremental(result, HOLD_DRAIN)
    with_index = what_if_statement(result, TALLY_INDEX, INCREMENTAL)
    return [
        f"Its array holds the {values_in(q['params']['param_1'])} flagged donors.",
        "",
        *excerpt(q, "Hash Right Join", "Seq Scan on wall_tallies", "Buffers",
                 last_note=f"{ms(q['observed_ms_first'])} ms in the call"),
        "",
        "This is the same missing index as in 3.3. With it, the plan is a Nested Loop with an "
        f"Index Scan on the new index and takes **{ms(with_index['execution_ms'])} ms** "
        "(`what_if_indexes[0]`).",
    ]  # fmt: skip


@block("scale_db_payees", BEFORE)
def scale_db_payees(result: Result) -> list[str]:
    q = statement(result, *PAYEES)
    accounts = result["sizes"]["tables"]["ledger_accounts"]["rows"]
    payees = actual_rows(plan_line(q, "Gather Merge"))
    keep = ("Gather Merge", "Merge Anti Join", "->  Sort", "Sort Method", "Nested Loop",
            "Parallel Seq Scan on ledger_accounts", "Filter", "Rows Removed",
            "Index Scan using pk_donors")  # fmt: skip
    at_100m = q["execution_ms"] / 1000 * 100e6 / result["donors"]
    return [
        *excerpt(q, *keep),
        "",
        f"The plan scans `ledger_accounts` sequentially, but {num(payees)} of its "
        f"{millions(accounts)} rows qualify, the job runs once a week, and it takes "
        f"{secs(q['execution_ms'] / 1000)} s. Even at 100M donors this would be about "
        f"{num(at_100m)} s a week. **No index is needed.**",
    ]


@block("scale_db_vesting", BEFORE)
def scale_db_vesting(result: Result) -> list[str]:
    q = statement(result, *VESTING)
    with_index = what_if_statement(result, VESTING_INDEX, VESTING[0])
    scan = "Parallel Index Scan using ix_clips_vesting"
    loops = counted(plan_line(q, scan), "loops")
    never = detail(q, scan, "Rows Removed by Filter") * loops
    due = actual_rows(plan_line(q, scan), all_loops=True)
    new_scan = plan_line(with_index, "Parallel Index Scan using scale_what_if")
    keep = (
        "HashAggregate",
        "Parallel Hash Join",
        scan,
        "Index Cond",
        "Filter",
        "Rows Removed",
        "Buffers",
        "->  Parallel Hash ",
        "Parallel Seq Scan on donors",
    )
    return [
        *excerpt(q, *keep),
        "",
        "`ix_clips_vesting` is partial (`WHERE vested_at IS NULL`). Reversed clips also stay "
        "`vested_at IS NULL` and have a `vests_at`, so they never leave the index. Each run "
        f"reads {num(never)} of them ({pct(never / result['clips'], 1)} of all clips, and "
        f"growing) to find {num(due)} due clips.",
        "",
        "- With the partial index `(vests_at) WHERE vested_at IS NULL AND status = 'accepted'` "
        "(`what_if_indexes[2]`), the clip side reads "
        f"{num(detail(with_index, 'Parallel Index Scan using scale_what_if', 'read'))} buffers "
        f"instead of {num(detail(q, scan, 'read'))}.",
        f"- The statement still takes {ms(with_index['execution_ms'])} ms. The planner "
        f"estimates {num(estimated_rows(new_scan))} due clips against "
        f"{num(actual_rows(new_scan, all_loops=True))} actual, so it still hashes all "
        f"{millions(result['donors'])} donors.",
    ]  # fmt: skip


@block("scale_db_retention", BEFORE)
def scale_db_retention(result: Result) -> list[str]:
    q = statement(result, *RETENTION)
    index = what_if(result, RETENTION_INDEX)
    with_index = what_if_statement(result, RETENTION_INDEX, RETENTION[0])
    keep = ("Limit", "Index Scan using ix_clips_camera_caps", "Index Cond", "Filter", "Buffers")
    return [
        *excerpt(q, *keep),
        "",
        "No index leads with `campaign_id`, so the planner walks all of `ix_clips_camera_caps` "
        f"({num(detail(q, 'Index Scan using ix_clips_camera_caps', 'read'))} buffers). There "
        f"is nothing to delete yet, and this costs {ms(q['execution_ms'])} ms a day. With the "
        "partial index `(campaign_id, created_at) WHERE metadata_deleted_at IS NULL` "
        f"(`what_if_indexes[3]`), the statement takes **{ms(with_index['execution_ms'])} ms** "
        f"({detail(with_index, 'Index Scan using scale_what_if', 'read')} buffers). The index "
        f"is {mib(index['index_bytes'])} and builds in {secs(index['build_seconds'])} s.",
    ]
