"""docs/performance.md, one submission: what a small call costs and where the time goes,
against a leader's big call."""

from __future__ import annotations

from benchmarks.report import TIMES, Result, block, by_database, num, pct, table

CALL_PARTS = {
    "wall": "the Honor Wall: the outbox row (`wall.record_accepted`) and its drain to Redis "
    "after the commit",
    "ledger": "the ledger transfer (`ledger.post`)",
    "medals": "medal evaluation (`medals.evaluate_donor`)",
}


@block("submission_call", "submission_call", "ingest_leader")
def submission_call(result: Result, leader: Result) -> list[str]:
    runs = by_database(result)
    first = next(iter(runs.values()))
    big = leader["clips_per_call"]
    big_ms = 1000 * big / leader["postgres"]["service"]["clips_per_s"]
    small_ms = result["postgres"]["ms_median"]

    def share(run: Result, part: str) -> str:
        shares = run["share_of_call"]
        if part != "wall":
            return pct(shares[part])
        outbox, drain = shares["wall_outbox"], shares["wall_drain"]
        return f"{pct(outbox + drain)} ({pct(outbox)} + {pct(drain)})"

    # What the text after the block says: a small call costs a good part of a big one,
    # and these three parts are most of it.
    parts = ("wall_outbox", "wall_drain", "ledger", "medals")
    if big_ms / small_ms > 5 or any(
        sum(r["share_of_call"][p] for p in parts) <= 0.5 for r in runs.values()
    ):
        raise ValueError("submission_call no longer supports docs/performance.md's text: revisit")
    rows = [
        [
            f"a {first['clips_per_call']}-clip call, median of {first['calls']}",
            *(f"{num(r['ms_median'], 1)} ms" for r in runs.values()),
        ]
    ]
    rows += [
        [f"of which {label}", *(share(r, part) for r in runs.values())]
        for part, label in CALL_PARTS.items()
    ]
    return [
        *table(["", *runs], rows),
        "",
        f"On PostgreSQL a {big}-clip call of `ingest_leader` takes {num(big_ms)} ms: "
        f"{num(big / first['clips_per_call'])}{TIMES} the clips in "
        f"{num(big_ms / small_ms, 1)}{TIMES} the time.",
    ]  # fmt: skip
