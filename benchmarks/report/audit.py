"""The figures block of docs/operations.md: what the tamper-evident audit log costs."""

from __future__ import annotations

from benchmarks.report import Result, block, num, table


@block("audit_chain")
def audit_chain(result: Result) -> list[str]:
    commits = result["commits"]
    rows = [
        [key.removeprefix("threads_"), num(run["plain_per_s"]), num(run["audited_per_s"])]
        for key, run in commits.items()
    ]
    records = result["records"]
    return [
        "PostgreSQL, a transaction per row, load average "
        f"{num(result['load_average_1m'], 2)} when the run ended.",
        "",
        *table(["threads", "plain one-row inserts/s", "audited commits/s"], rows, "rrr"),
        "",
        f"Migration 0021 chaining {num(records)} records already there: "
        f"{num(result['backfill_s'], 1)} s. `audit verify` over them: "
        f"{num(result['verify_s'], 1)} s ({num(result['verify_per_s'])} records a second).",
    ]
