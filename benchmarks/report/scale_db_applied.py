"""docs/capacity.md (and docs/operations.md): the recommendations applied since the run
of section 3, measured again by the same script on a database of the same size
(scale_db.json), set beside that run (scale_db_2026-11-26.json): the run itself, the
ledger page (R7), the incremental fraud scan and its exact-duplicate rule (R2), the full
scan's work_mem (R8), vesting (R4) and the WAL of inserts by wal_compression (R8)."""

from __future__ import annotations

import re

from benchmarks.report import Result, block, mib, ms, num, pct, secs, table
from benchmarks.report.plans import (
    EXACT_DUPLICATES,
    HASH_INDEX,
    PAGE,
    actual_rows,
    excerpt,
    incremental,
    plan_line,
    statement,
    values_in,
    what_if,
    what_if_statement,
)
from benchmarks.report.scale_db import BEFORE, FRAUD_BEFORE, FULL_SCAN, FULL_SCAN_STATEMENTS

AFTER = "scale_db"
NEW_INDEXES = ("ix_clips_duplicate_hash", "ix_clips_vesting")
LEDGER_LATERAL = "SELECT e.id, e.transfer_id"
LEDGER_SCAN = "Index Scan Backward using ix_ledger_entries_account_id_id"
VEST_SCAN = "Index Scan using ix_clips_vesting"
LEDGER_BEFORE = ("ledger: the leader, first page (as before R7)", "SELECT ledger_entries.id")
VESTING_STEP = "vesting: donors with due clips (dry)"
VESTING_CLIPS = "SELECT DISTINCT clips.donor_id FROM clips WHERE"
VESTING_BONUSES = "SELECT DISTINCT medal_awards.donor_id"
VESTING_HOLDS = "SELECT donors.id FROM donors WHERE donors.id = ANY"
VESTING_BEFORE = ("vesting: donors with due clips (as before R4)", "SELECT DISTINCT clips.donor_id")
DUPLICATES_BEFORE = "fraud scan: exact duplicates in one statement (as before R2)"
RESTART = "fraud scan: the hash index read after a restart"
# The full scan reads the perceptual hashes packed by the server since the restart fix.
PACKED_LOAD = (
    "near duplicates: reading the perceptual hashes (the scheduler's cold start)",
    "`string_agg(int8send(id) || ...)` over `id > -1 AND id <= $2`, in two parts at once",
    "SELECT string_agg(",
    1,
)


# The full scan's exact-duplicate statement since R8: one window over the clips by hash.
SHARED_HASHES = "SELECT anon_1.video_sha256, anon_1.donor_id, anon_1.id, anon_1.status"


def full_scan_now(result: Result) -> list[tuple[str, Result]]:
    """(rule, statement) for each statement of the full scan of this run."""
    now = {"exact duplicates": SHARED_HASHES}
    wanted = [
        (rule, now.get(rule, start))
        for rule, _, start, _ in (*FULL_SCAN_STATEMENTS[:-2], PACKED_LOAD, FULL_SCAN_STATEMENTS[-1])
    ]
    statements = [q for q in result["queries"] if q["step"] == FULL_SCAN]
    found = []
    for rule, start in wanted:
        matching = [q for q in statements if " ".join(q["sql"].split()).startswith(start)]
        if len(matching) != 1:
            raise ValueError(f"{len(matching)} full-scan statements start {start!r}")
        found.append((rule, matching[0]))
    return found


def runs_of(rule: str) -> int:
    return 2 if rule.startswith("velocity") else 1


def full_scan_totals(result: Result) -> tuple[float, float]:
    """Seconds of the full scan's SQL with the server's work_mem, then with the scan's."""
    server = sum(
        q["server_work_mem"]["execution_ms"] * runs_of(rule) / 1000
        for rule, q in full_scan_now(result)
        if q.get("server_work_mem")
    )
    own = sum(q["execution_ms"] * runs_of(rule) / 1000 for rule, q in full_scan_now(result))
    return server, own


def index_bytes(result: Result, name: str) -> int:
    return int(result["sizes"]["tables"]["clips"]["indexes"][name])


def index_seconds(result: Result, name: str) -> float:
    return float(result["load"]["steps_seconds"][f"index {name}"])


def ledger_now(result: Result) -> dict[str, Result]:
    return {
        step: statement(result, f"ledger: {step}", LEDGER_LATERAL)
        for step in (
            "the leader, first page",
            "the leader, next page",
            "a typical donor, first page",
            "a payee, first page",
        )
    }


def duplicates_now(result: Result) -> tuple[Result, Result, Result]:
    """The rule's statement now, as it was (same run, same hashes), and as it was with a
    plain index on the hash."""
    now = incremental(result, EXACT_DUPLICATES)
    was = statement(result, DUPLICATES_BEFORE, EXACT_DUPLICATES)
    return now, was, what_if_statement(result, HASH_INDEX, DUPLICATES_BEFORE)


@block("scale_db_rerun", AFTER)
def scale_db_rerun(result: Result) -> list[str]:
    load = result["load"]
    built = ", ".join(
        f"`{name}` {secs(index_seconds(result, name))} s ({mib(index_bytes(result, name))})"
        for name in NEW_INDEXES
    )
    filled = "filled afresh"
    if load.get("reused"):
        filled = f"filled by the run of {load['filled_by_run_of']} and reused (`load.reused`)"
    return [
        f"- **Measured again** on {result['machine']['date']} (`scale_db.json`): the same "
        f"script, {num(result['donors'])} donors and {num(result['clips'])} clips, with the "
        "changes of section 4 applied (R6's figures are its own change's), on "
        f"{result['machine']['cpu']} (2 cores) where the run above had an Intel Xeon. The "
        "database was "
        f"{filled} at migration `0020`: the load took {num(load['seconds'] / 60, 1)} min "
        f"(`load.seconds`), of which the two indexes migration `0020` adds or narrows: {built} "
        "(`load.steps_seconds`, `sizes.tables.clips.indexes`).",
        f"- **The run** took {num(result['run_seconds'] / 60, 1)} min (`run_seconds`). The "
        "machine was shared again: its load average (1 min) was "
        f"{num(result['load_average_before'], 2)} when the run started and "
        f"{num(result['load_average_after'], 2)} when it ended (`load_average_before`, "
        "`load_average_after`), on 2 cores. Times below that compare the two runs compare "
        "runs on a busy machine; the statements of one run compared with each other (a "
        "statement as it is now and as it was, explained one after the other) are the "
        "fairer comparison.",
    ]


@block("scale_db_ledger_after", AFTER)
def scale_db_ledger_after(result: Result) -> list[str]:
    now = ledger_now(result)
    leader = now["the leader, first page"]
    was = statement(result, *LEDGER_BEFORE)
    read_before = actual_rows(plan_line(was, "Nested Loop"))
    keep = ("Limit", "->  Sort", "Nested Loop", "Index Only Scan using pk_ledger_accounts",
            "->  Limit", LEDGER_SCAN, "Index Cond")  # fmt: skip

    def took(step: str) -> str:
        return ms(now[step]["execution_ms"])

    entries = actual_rows(plan_line(leader, LEDGER_SCAN), all_loops=True)
    return [
        *excerpt(leader, *keep, note="the leader"),
        "",
        f"Each account gives at most {leader['params']['param_1']} entries, read backwards on "
        f"`ix_ledger_entries_account_id_id`: {num(entries)} entries read for the leader's page, "
        f"where the join read all {num(read_before)} of them. In this run the leader's page "
        f"took **{ms(leader['execution_ms'])} ms** against {ms(was['execution_ms'])} ms for "
        "the statement as it was (step `ledger: the leader, first page (as before R7)`, "
        f"explained on the same data); the next page {took('the leader, next page')} ms, a "
        f"typical donor {took('a typical donor, first page')} ms and a payee "
        f"{took('a payee, first page')} ms. SQLite has no `LATERAL`: "
        "there the page is a `UNION ALL` of one `ORDER BY id DESC LIMIT` subquery per "
        "account, a donor having a handful.",
    ]


@block("scale_db_exact_duplicates_after", AFTER)
def scale_db_exact_duplicates_after(result: Result) -> list[str]:
    now, was, plain = duplicates_now(result)
    what = what_if(result, HASH_INDEX)
    name = "ix_clips_duplicate_hash"
    keep = ("Append", "Bitmap Index Scan on uq_clips_campaign_hash_owner",
            "Index Scan using ix_clips_duplicate_hash")  # fmt: skip
    return [
        f"The rule now reads every clip of its {num(values_in(now['params']['param_1']))} new "
        "hashes through the two partial indexes that hold every clip between them, and keeps "
        "in Python the hashes sent by more than one donor:",
        "",
        *excerpt(now, *keep, last_note=f"{ms(now['observed_ms_first'])} ms in the call"),
        "",
        f"On the same hashes in the same run, the statement as it was read the whole table in "
        f"**{ms(was['execution_ms'])} ms**, and {ms(plain['execution_ms'])} ms with the plain "
        f"index R2 first proposed (`what_if_indexes[0]`). The plain index is "
        f"{mib(what['index_bytes'])} and takes an entry for every clip inserted; "
        f"`{name}` is {mib(index_bytes(result, name))} (the duplicates alone, "
        f"{pct(index_bytes(result, name) / what['index_bytes'], 1)} of it) and built in "
        f"{secs(index_seconds(result, name))} s. Both end the pass over every clip; the partial "
        "index costs a fraction of the space and of the writes, so it is the one applied.",
    ]


@block("scale_db_incremental_after", AFTER, BEFORE)
def scale_db_incremental_after(result: Result, before: Result) -> list[str]:
    scan, was = result["fraud_incremental"], before["fraud_incremental"]
    cold = scan["hash_index_cold_load"]
    by_rule = sorted(scan["seconds_by_rule"].items(), key=lambda item: -item[1])
    restart = statement(result, RESTART, "SELECT string_agg(")
    return [
        f"Measured again, the scan of {num(scan['clips_in_scope'])} new clips took "
        f"**{secs(scan['seconds'])} s** (`fraud_incremental.seconds`; {secs(was['seconds'])} s "
        f"before): "
        + ", ".join(f"`{rule}` {secs(took)} s" for rule, took in by_rule if took >= 0.05)
        + f"; exact duplicates {secs(scan['seconds_by_rule']['exact_duplicate'])} s where "
        f"they took {secs(was['seconds_by_rule']['exact_duplicate'])} s.",
        "",
        f"A restart empties the near-duplicate rule's index: the first scan after it reads "
        f"every hash first. At this size that is {num(cold['hashes'])} hashes in "
        f"**{secs(cold['seconds'])} s** (`fraud_incremental.hash_index_cold_load`), packed by "
        f"the server ({restart['executions']} parts of at most 5,000,000 ids, read on two "
        f"connections at once; one part explained: {ms(restart['execution_ms'])} ms).",
    ]


@block("scale_db_full_scan_after", AFTER, BEFORE)
def scale_db_full_scan_after(result: Result, before: Result) -> list[str]:
    rows = []
    for rule, q in full_scan_now(result):
        server = q.get("server_work_mem")
        if server is None or q["execution_ms"] < 1000:
            continue
        runs = runs_of(rule)
        times = f" {chr(215)} {runs}" if runs > 1 else ""
        rows.append(
            [
                rule.split(" (")[0].split(":")[0],
                f"{num(server['execution_ms'] / 1000, 1)} s{times}, "
                f"{spill(server['temp_written_blocks'])}",
                f"{num(q['execution_ms'] / 1000, 1)} s{times}, {spill(q['temp_written_blocks'])}",
            ]
        )
    server, own = full_scan_totals(result)
    rows.append(["**total**", f"**{num(server, 1)} s**", f"**{num(own, 1)} s**"])
    setting = next(q["work_mem"] for _, q in full_scan_now(result) if q.get("work_mem"))
    return [
        *table(
            ["rule", "server's `work_mem` (4 MB): time, spilled", f"`{setting}`: time, spilled"],
            rows,
            "lrr",
        ),
        "",
        f"(`queries[]` with step `{FULL_SCAN}`: each statement explained as the scan runs it, "
        f"with `SET LOCAL work_mem = '{setting}'`, then again with the server's "
        "(`server_work_mem`). Spilled: the temporary files written, `temp_written_blocks` of 8 "
        "KiB.) Statements under a second are left out.",
    ]


def buffers(q: Result, node: str) -> int:
    """The buffers a plan node touched, hit and read (the node's own ``Buffers`` line)."""
    line = plan_line(q, "Buffers:", after=node)
    return sum(int(n) for n in re.findall(r"(?:hit|read)=(\d+)", line.split(",")[0]))


def spill(blocks: int) -> str:
    return "nothing" if not blocks else f"{num(blocks * PAGE / 2**20)} MiB"


@block("scale_db_vesting_after", AFTER)
def scale_db_vesting_after(result: Result) -> list[str]:
    clips = statement(result, VESTING_STEP, VESTING_CLIPS)
    bonuses = statement(result, VESTING_STEP, VESTING_BONUSES)
    holds = statement(result, VESTING_STEP, VESTING_HOLDS)
    was = statement(result, *VESTING_BEFORE)
    scan = VEST_SCAN
    keep = ("HashAggregate", scan, "Index Cond", "Buffers")
    return [
        *excerpt(clips, *keep, note="the due clips' donors"),
        "",
        "The index now holds only accepted clips still to vest: "
        f"{num(actual_rows(plan_line(clips, scan)))} due clips read in "
        f"{num(buffers(clips, scan))} buffers, {ms(clips['execution_ms'])} ms. The donors' "
        "holds are then read by primary "
        f"key for the {num(values_in(holds['params']['param_1']))} donors found "
        f"({ms(holds['execution_ms'])} ms), and the due medal bonuses on their own index "
        f"({ms(bonuses['execution_ms'])} ms). The statement as it was, explained in the same "
        f"run on the new index, took {ms(was['execution_ms'])} ms: its join still hashed every "
        "donor.",
    ]


@block("scale_db_wal_compression", AFTER)
def scale_db_wal_compression(result: Result) -> list[str]:
    wal = result["wal_compression"]
    off = wal["off"]["wal_bytes_per_clip"]
    rows = [
        [
            f"`{setting}`" + (" (the default)" if setting == "off" else ""),
            num(w["wal_bytes_per_clip"]),
            "" if setting == "off" else pct(1 - w["wal_bytes_per_clip"] / off),
            f"{w['wal_full_page_images_per_clip']:g}",
            num(w["execution_ms"]),
        ]
        for setting, w in wal.items()
        if isinstance(w, dict)
    ]
    header = ["`wal_compression`", "WAL bytes per clip", "less than `off`",
              "full-page images per clip", "insert ms"]  # fmt: skip
    return [
        *table(header, rows, "lrrrr"),
        "",
        f"One `INSERT` of {num(wal['clips'])} clips (copies of clips at random with new ids and "
        f"hashes) into the {num(result['clips'])}-clip table, right after a `CHECKPOINT`, each "
        "setting in turn, measured by `EXPLAIN (ANALYZE, WAL)` and rolled back "
        "(`wal_compression`). Right after a checkpoint every index page an insert touches first "
        "is logged whole, as in production after each checkpoint, so these are the figures of "
        "that worst case; between checkpoints fewer pages are logged whole and the gain is "
        "smaller.",
    ]


@block("fraud_scan_restart", "fraud_scan", FRAUD_BEFORE)
def fraud_scan_restart(result: Result, before: Result) -> list[str]:
    """docs/performance.md: what a restart adds to the first incremental scan, before
    and after the hash index was packed by the server and read beside the other rules."""
    warm, cold = result["incremental_scan"], result["incremental_scan_cold"]
    was_warm, was_cold = before["incremental_scan"], before["incremental_scan_cold"]
    load = result["hash_index_load"]
    rows = [
        [
            "incremental scan of 10,000 new clips, hash index kept",
            f"{secs(was_warm['seconds'])} s",
            f"{secs(warm['seconds'])} s",
        ],
        [
            "the same, first scan after a restart",
            f"{secs(was_cold['seconds'])} s",
            f"**{secs(cold['seconds'])} s**",
        ],
        [
            "what the restart adds",
            f"{secs(was_cold['seconds'] - was_warm['seconds'])} s",
            f"**{secs(cold['seconds'] - warm['seconds'])} s**",
        ],
        [
            f"reading the {num(load['hashes'])} hashes alone (`hash_index_load`)",
            "",
            f"{secs(load['seconds'])} s",
        ],
        [
            "the machine's load average (1 min), before and after the run",
            "not recorded",
            f"{num(result['load_average_before'], 2)}, {num(result['load_average_after'], 2)}",
        ],
    ]
    return [
        *table(["", f"before ({before['machine']['date']})", "now"], rows, "lrr"),
        "",
        "Before, the index was read row by row into Python objects (a restart added "
        f"{pct((was_cold['seconds'] - was_warm['seconds']) / was_warm['seconds'])} to the "
        "scan). Now the server packs the hashes into one value a part, read straight into "
        "arrays on two connections at once, and the first scan reads them while its other "
        "rules run; the near-duplicate rule waits for what is left. The run of the first "
        "column recorded no load average and ran on another processor (below); "
        + (
            "this one shared its 2 cores with other work (a load average of 2 keeps both "
            "busy), which slows every figure of its column: "
            if result["load_average_before"] >= 2
            else "this one ran with no other work on the machine: "
        )
        + "compare what the restart adds with the scan beside it, in the same column.",
    ]
