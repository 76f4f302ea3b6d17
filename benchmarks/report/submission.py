"""docs/performance.md, one submission: what a small call costs and where the time goes,
against a leader's big call."""

from __future__ import annotations

from benchmarks.report import TIMES, Result, block, by_database, num, pct, table

CALL_PARTS = {
    "wall": "the Honor Wall: the outbox row (`wall.record_accepted`), the placements read "
    "before the commit (since issue 23's second pass) and their write to Redis after it",
    "ledger": "the ledger transfer (`ledger.post`)",
    "medals": "medal evaluation (`medals.evaluate_donor`)",
}


@block("submission_call", "submission_call_after_23", "ingest_leader")
def submission_call(result: Result, leader: Result) -> list[str]:
    runs = by_database(result)
    first = next(iter(runs.values()))
    big = leader["clips_per_call"]
    big_ms = 1000 * big / leader["postgres"]["service"]["clips_per_s"]

    def share(run: Result, part: str) -> str:
        shares = run["share_of_call"]
        if part != "wall":
            return pct(shares[part])
        parts = [shares[p] for p in ("wall_outbox", "wall_prepare", "wall_drain") if p in shares]
        return f"{pct(sum(parts))} ({' + '.join(pct(p) for p in parts)})"

    def call(run: Result) -> str:
        return (
            f"{num(run['ms_median'], 1)} ms: {num(run['statements_per_call'])} statements; "
            f"raw insert {num(run['raw_insert_ms_median'], 1)} ms "
            f"({num(run['times_raw_insert'], 1)}{TIMES})"
        )

    large, small = first["large"], first["clips_per_call"]
    rows = [
        [
            f"a {first['clips_per_call']}-clip call, median of {first['calls']} "
            "(target: 10 ms on PostgreSQL)",
            *(call(r) for r in runs.values()),
        ],
        [
            f"a {large['clips_per_call']}-clip call, median of {large['calls']} "
            "(target: 40 ms on PostgreSQL)",
            *(call(r["large"]) for r in runs.values()),
        ],
    ]
    rows += [
        [f"of the {small}-clip call, {label}", *(share(r, part) for r in runs.values())]
        for part, label in CALL_PARTS.items()
    ]
    return [
        *table(["", *runs], rows),
        "",
        "The raw insert is the physical limit measured in the same run: the same clip rows "
        "inserted alone in a transaction, the way the service inserts them (`db.insert_rows`). "
        f"For comparison, a {big}-clip call of `ingest_leader` (another run, another "
        f"database state) took {num(big_ms)} ms on PostgreSQL.",
    ]  # fmt: skip


@block("submission_call_pass3")
@block("submission_call_pass2")
def submission_call_pass2(result: Result) -> list[str]:
    """Issue 23's second and third passes: the same call at commits run in turn, each
    round's figures a multiple of the raw insert measured in that run."""

    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    def cells(rounds: list[Result], key: str) -> list[str]:
        calls = [r[key] for r in rounds]
        small = mean([c["ms_median"] for c in calls])
        times = mean([c["times_raw_insert"] for c in calls])
        large = mean([c["large"]["ms_median"] for c in calls])
        large_times = mean([c["large"]["times_raw_insert"] for c in calls])
        return [
            f"{num(small, 1)} ms, {num(times, 1)}{TIMES} ({num(calls[0]['statements_per_call'])})",
            f"{num(large, 1)} ms, {num(large_times, 1)}{TIMES}",
        ]  # fmt: skip

    rows = [
        [f"`{commit}`: {what}", num(len(result["runs"][commit])),
         *cells(result["runs"][commit], "postgres"), *cells(result["runs"][commit], "sqlite")]
        for commit, what in result["commits"].items()
    ]  # fmt: skip
    return [
        *table(
            [
                "code",
                "rounds",
                f"PostgreSQL: 25 clips, {TIMES} raw insert (statements)",
                "500 clips",
                "SQLite: 25 clips",
                "500 clips",
            ],
            rows,
        ),
        "",
        "Each cell is the mean of the rounds' medians (50 calls of 25 clips, 20 of 500 in a "
        "round); a multiple is the call's median over the raw insert of the same rows measured "
        "in that round.",
    ]
