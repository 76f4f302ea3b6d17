"""The figures blocks of docs/performance.md: ingest, the Honor Wall, medals, redemptions,
the database at scale in short, the load mix, payouts and the fraud scan."""

from __future__ import annotations

from collections.abc import Callable

from benchmarks.report import (
    DATABASES,
    TIMES,
    Result,
    block,
    by_database,
    millions,
    num,
    pct,
    superscript,
    table,
    verdict,
)
from benchmarks.report.scale_db import BEFORE


@block("ingest_leader")
def ingest_leader(result: Result) -> list[str]:
    runs = by_database(result).values()
    first = next(iter(runs))
    call, http = result["clips_per_call"], first["http"]
    raw = [f"{num(r['raw']['clips_per_s'])} clips/s" for r in runs]
    service = [
        f"{num(r['service']['clips_per_s'])} clips/s ({num(r['service_to_raw'], 2)} of raw)"
        for r in runs
    ]
    one_call = [f"{num(1000 * call / r['service']['clips_per_s'])} ms" for r in runs]
    over_http = [
        f"{num(r['http']['clips_per_s'])} clips/s ({num(r['http_to_raw'], 2)} of raw): "
        f"{num(r['http']['clips'])} clips in {num(r['http']['seconds'], 1)} s"
        for r in runs
    ]
    http_label = f"HTTP, gunicorn {http['gunicorn_workers']} workers, "
    http_label += f"{http['client_threads']} client threads"
    return [
        f"{num(first['raw']['clips'])} clips from one donor in calls of {call}.",
        "",
        *table(
            ["", *by_database(result)],
            [
                ["raw Core insert", *raw],
                ["service (`submissions.submit`)", *service],
                [f"service, one call of {call} clips", *one_call],
                [http_label, *over_http],
            ],
        ),
    ]


@block("wall_1m")
def wall_1m(result: Result) -> list[str]:
    lookup, rebuild, http = result["lookup"], result["rebuild"], result["http"]
    bare = num(http["/bare/honor-wall"]["requests_per_s"])
    page = num(http["/v1/honor-wall?board=all-time&limit=25"]["requests_per_s"])
    me = num(http["/v1/honor-wall/me?board=all-time&around=3"]["requests_per_s"])
    ratio = lookup["service_to_raw"]
    rows = [
        [
            "rank-and-neighbours lookup, service vs a raw redis-py pipeline of the same commands",
            f"{num(lookup['service_per_s'])}/s vs {num(lookup['raw_pipeline_per_s'])}/s: "
            f"{num(ratio, 2)}{TIMES}",
            verdict(f"≥ 0.5{TIMES}", ratio >= 0.5),
        ],
        [
            "`GET /v1/honor-wall` vs a bare Flask route reading the same range in the server",
            f"{page} vs {bare} req/s: {pct(http['page_to_bare'])}",
            verdict("≥ 70 %", http["page_to_bare"] >= 0.7),
        ],
        [
            "`GET /v1/honor-wall/me` vs the same bare route",
            f"{me} vs {bare} req/s: {pct(http['me_to_bare'])}",
            verdict("≥ 90 % (issue 23)", http["me_to_bare"] >= 0.9),
        ],
        *wall_rebuild_rows(rebuild),
        [
            "Redis memory per ranked donor",
            f"{num(rebuild['redis_bytes_per_donor_sorted_set'], 1)} bytes (sorted set), "
            f"{num(rebuild['redis_bytes_per_donor_with_versions'], 1)} with the version hash",
            "reported",
        ],
    ]
    return [
        f"{num(result['donors'])} donors, {num(result['clips'])} clips; "
        f"gunicorn {http['gunicorn_workers']} workers.",
        "",
        *table(["", "figure", "target"], rows),
        "",
        f"The machine's load average (1 min) was "
        f"{num(rebuild['load_average_1m_at_start'], 2)} when the rebuild started: other "
        "work shared the 2 cores, so compare the ratios of this run, not its rates with "
        "another run's. Memory is the peak resident set the rebuild added, in a process "
        "of its own (`rebuild.memory_method`).",
    ]


def wall_rebuild_rows(rebuild: Result) -> list[list[str]]:
    """The rebuild against the machine's limits, its memory, and the code before it."""
    before = rebuild.get("before")
    by_chunk = ", ".join(
        f"{mib} MiB with chunks of {num(int(chunk))}"
        for chunk, mib in sorted(
            rebuild["peak_rss_increase_mib_by_chunk"].items(), key=lambda kv: int(kv[0])
        )
    )
    by_donors = ", ".join(
        f"{mib} MiB at {num(int(donors))} donors"
        for donors, mib in sorted(rebuild["memory_by_donors"].items(), key=lambda kv: int(kv[0]))
    )
    rows = [
        [
            "rebuild of the board from the maintained tallies vs pipelined ZADD of the same "
            "members",
            f"{num(rebuild['rebuild_seconds'], 1)} s vs "
            f"{num(rebuild['pipelined_zadd_seconds'], 1)} s "
            f"({num(rebuild['rebuild_to_zadd_time_ratio'], 2)}{TIMES}); "
            f"`redis-benchmark` ZADD {num(rebuild['redis_benchmark_zadd_seconds'], 1)} s "
            f"({num(rebuild['rebuild_to_redis_benchmark_ratio'], 2)}{TIMES})",
            verdict(f"≤ 4{TIMES} (issue 23)", rebuild["rebuild_to_zadd_time_ratio"] <= 4),
        ],
        [
            f"the rebuild's peak memory (chunk of {num(rebuild['chunk'])} donors by default)",
            f"{by_chunk}; {by_donors}: flat in donors, so about "
            f"{num(rebuild['peak_rss_increase_mib_at_10m'])} MiB at 10M",
            verdict(
                "a few hundred MB at 10M (issue 23)", rebuild["peak_rss_increase_mib_at_10m"] <= 300
            ),
        ],
        [
            "the recount of the tallies from the clips (`wall rebuild --recount`, nightly)",
            f"{num(rebuild['recount_seconds'], 1)} s, "
            f"{num(rebuild['recount_peak_rss_increase_mib'])} MiB, "
            f"{num(rebuild['corrected_tallies'])} tallies corrected",
            "reported",
        ],
    ]
    if before:
        rows.append(
            [
                f"the rebuild as it was (commit {before['commit']}: every clip recounted, "
                "all rows in memory), same data",
                f"{num(before['rebuild_seconds'], 1)} s "
                f"({num(before['rebuild_to_zadd_time_ratio'], 1)}{TIMES} the ZADDs), "
                f"{num(before['peak_rss_increase_mib'])} MiB",
                "reported",
            ]
        )
    return rows


@block("medals")
def medals(result: Result) -> list[str]:
    runs = {label: result[f"submission_{key}"] for key, label in DATABASES.items()}
    first, backfill = next(iter(runs.values())), result["backfill_postgres"]
    submission = [f"{num(r['ms_per_submission'], 1)} ms" for r in runs.values()]
    evaluation = [
        f"{num(r['ms_medal_evaluation'], 1)} ms ({pct(r['medal_share_of_submission'], 1)})"
        for r in runs.values()
    ]
    size = f"a {first['clips_per_call']}-clip submission (mean of {first['calls']})"
    rules = f"of which evaluating the {first['medals_in_force']} medal rules"
    return [
        *table(["", *runs], [[size, *submission], [rules, *evaluation]]),
        "",
        f"Backfill of a new count medal over {num(backfill['donors'])} donors (PostgreSQL): "
        f"dry run {num(backfill['dry_run_seconds'], 1)} s "
        f"({num(backfill['dry_run_donors_per_s'])} donors/s); applied in "
        f"{num(backfill['apply_seconds'], 1)} s ({num(backfill['apply_donors_per_s'])} donors/s), "
        f"{num(backfill['donors_gaining'])} donors gaining the medal.",
    ]


def redemption_rows(runs: dict[str, Result]) -> list[list[str]]:
    """One row per run of redemptions: how many, seconds, per second, errors."""
    return [
        [
            name,
            num(r["redemptions"]),
            num(r["seconds"], 1),
            num(r["redemptions_per_s"]),
            str(r["errors"]),
        ]
        for name, r in runs.items()
    ]


@block("redemptions")
def redemptions(result: Result) -> list[str]:
    runs = {
        "all on one hot item": result["one_hot_item"],
        "spread over 100 items": result["spread_over_100_items"],
    }
    rows = redemption_rows(runs)
    return [
        f"{result['clients']} clients, gunicorn {result['gunicorn_workers']} workers.",
        "",
        *table(["", "redemptions", "seconds", "per second", "errors"], rows, "lrrrr"),
        "",
        f"Spread over hot: {num(result['spread_to_hot'], 2)}{TIMES}.",
    ]


@block("scale_db_summary", BEFORE, "scale_db")
def scale_db_summary(first: Result, now: Result) -> list[str]:
    """The first 10M-clip run (before the tally index and issue 23) beside the latest."""
    before, indexed, latest = (
        first["ingest_at_scale"],
        first["ingest_with_tally_index"],
        now["ingest_at_scale"],
    )
    sizes = now["sizes"]
    rows = [
        [
            f"PostgreSQL, {num(now['donors'])} donors and {num(now['clips'])} clips",
            f"{num(sizes['database_bytes'] / 1e9, 1)} GB",
        ],
        ["a clip row with its indexes", f"{num(sizes['per_clip']['clips_total_bytes'])} bytes"],
    ]
    for key in ("calls_of_25", "calls_of_500"):
        rows.append(
            [
                f"a {key.removeprefix('calls_of_')}-clip submission (median of "
                f"{latest[key]['calls']}): {first['machine']['date']} as measured, then "
                f"with the index on `wall_tallies (donor_id)`; {now['machine']['date']}",
                f"{num(before[key]['ms_median'])} ms, then {num(indexed[key]['ms_median'])} "
                f"ms; {num(latest[key]['ms_median'])} ms",
            ]
        )
    return table(["", "figure"], rows)


def load_mix_maxima(result: Result) -> str:
    maxima = [
        f"{num(r['max_rps_with_p99_under_250ms'], 1)} requests/s on {label} "
        f"({r['at_connections']} connections)"
        for label, r in by_database(result).items()
    ]
    return "p99 under 250 ms up to " + ", ".join(maxima) + "."


@block("load_mix")
def load_mix(result: Result) -> list[str]:
    runs = by_database(result)
    headers = {
        "PostgreSQL": "PostgreSQL + Redis server: req/s, p50, p99",
        "SQLite": "embedded default (SQLite + embedded Redis)",
    }
    rows = []
    for steps in zip(*(r["steps"] for r in runs.values()), strict=True):
        connections = {step["connections"] for step in steps}
        if len(connections) != 1:
            raise ValueError(f"load_mix: the databases' steps differ: {connections}")
        row: list[object] = [connections.pop()]
        for r, step in zip(runs.values(), steps, strict=True):
            cell = f"{num(step['requests_per_s'])}, {num(step['p50_ms'])} ms, "
            cell += f"{num(step['p99_ms'])} ms"
            best = step["requests_per_s"] == r["max_rps_with_p99_under_250ms"]
            row.append(f"**{cell}**" if best else cell)
        rows.append(row)
    errors = sum(r["errors"] for r in runs.values())
    workers = next(iter(runs.values()))["gunicorn_workers"]
    return [
        f"Mix: {result['mix']}; {num(result['donors'])} donors; gunicorn {workers} workers.",
        "",
        *table(["connections", *(headers[label] for label in runs)], rows),
        "",
        f"{load_mix_maxima(result)} Answers other than 2xx, all steps: {errors}.",
        *load_mix_limits(runs),
    ]


def load_mix_limits(runs: dict[str, Result]) -> list[str]:
    """The machine's HTTP limit measured after the mix in the same run (a bare route of
    the same app and server), where the run has it."""
    limits = [
        f"{label} {num(r['bare_route_rps'])} requests/s (the mix at "
        f"{pct(r['share_of_bare_route'])} of it)"
        for label, r in runs.items()
        if r.get("bare_route_rps")
    ]
    if not limits:
        return []
    return [
        "",
        "A bare Flask route of the same app and server, same run: " + "; ".join(limits) + ".",
    ]


@block("load_mix_previous", "load_mix_2026-11-26", "load_mix")
def load_mix_previous(result: Result, latest: Result) -> list[str]:
    best = "max_rps_with_p99_under_250ms"
    ratios = [
        f"{label} {num(latest[key][best] / result[key][best], 2)}{TIMES}"
        for key, label in DATABASES.items()
        if key in result and key in latest
    ]
    return [
        f"Mix: {result['mix']}. {load_mix_maxima(result)}",
        "",
        f"The run above against this one, highest rate with p99 under 250 ms: {', '.join(ratios)}.",
    ]


@block("payouts")
def payouts(result: Result) -> list[str]:
    runs = result["runs"]
    first = runs[0]

    def each(cell: Callable[[Result], object]) -> list[object]:
        return [cell(run) for run in runs]

    def rate(step: str, name: str) -> list[object]:
        return each(
            lambda r: f"{num(r[f'{step}_s'], 1)} s, {num(r[f'{name}_items_per_s'])} items/s"
        )

    rows = [
        ["build and commit batches, items and ledger moves", *rate("build_and_commit", "build")],
        [f"submit the {first['batches']} batches", *rate("submit", "submit")],
        [
            "reconcile every item to final (paged polls, ledger moves)",
            *rate("reconcile", "reconcile"),
        ],
        [
            "peak memory of the process (after start-up)",
            *each(lambda r: f"{r['peak_rss_mib']} MiB ({r['rss_before_mib']} MiB)"),
        ],
        ["items settled", *each(lambda r: num(r["items_settled"]))],
        [
            "ledger verified afterwards",
            *each(lambda r: "yes" if r["ledger_verified"] else "**no**"),
        ],
        ["batches with differences in the report", *each(lambda r: r["batches_with_differences"])],
    ]
    return [
        f"{num(first['payees'])} payees: {num(first['items'])} items in {first['batches']} "
        f"batches, ${num(first['total_usd'], 2)}.",
        "",
        *table(["", *(DATABASES[run["database"]] for run in runs)], rows),
    ]


@block("fraud_scan")
def fraud_scan(result: Result) -> list[str]:
    full, warm = result["full_scan"], result["incremental_scan"]
    cold = result["incremental_scan_cold"]
    slowest = sorted(full["seconds_by_rule"].items(), key=lambda item: -item[1])[:3]
    by_rule = ", ".join(f"`{rule}` {num(took, 1)} s" for rule, took in slowest)
    rows = [
        [
            "full scan",
            f"{num(full['seconds'], 1)} s, {num(full['clips_per_s'])} clips/s ({by_rule})",
            verdict("< 60 s", full["seconds"] < 60),
        ],
        [
            f"incremental scan of {num(warm['new_clips'])} new clips, in the scheduler "
            "(hash index kept from the last scan)",
            f"{num(warm['seconds'], 2)} s, {num(warm['clips_per_s'])} clips/s",
            verdict("< 2 s", warm["seconds"] < 2),
        ],
        [
            "the same, first scan after a restart (reads every hash first)",
            f"{num(cold['seconds'], 2)} s",
            verdict("< 2 s", cold["seconds"] < 2),
        ],
    ]
    return [
        f"{num(result['clips'])} clips from {num(result['donors'])} donors, every rule enabled.",
        "",
        *table(["", "figure", "target"], rows),
    ]


# The near-duplicate search's cost, as docs/performance.md models it (the bands are
# BANDS in rewards_engine/domain/fraud.py): table probes a hash makes, and the bits of
# the band a chance candidate shares.
NEAR_DUPLICATE_PROBES, NEAR_DUPLICATE_BITS = 66, 21


@block("fraud_scan_near_duplicates", "fraud_scan")
def fraud_scan_near_duplicates(result: Result) -> list[str]:
    rows = [
        [
            num(s["hashes"]),
            num(s["seconds"], 2),
            num(s["hashes_per_s"]),
            f"{s['time_ratio_to_smallest']:g}{TIMES}",
            f"{s['quadratic_would_be']:g}{TIMES}",
        ]
        for s in result["near_duplicate_scaling"]
    ]
    header = ["hashes", "seconds", "hashes/s", "time vs the smallest", "all-pairs would be"]
    largest = max(s["hashes"] for s in result["near_duplicate_scaling"])
    chance = largest**2 * NEAR_DUPLICATE_PROBES / 2**NEAR_DUPLICATE_BITS
    return [
        *table(header, rows, "rrrrr"),
        "",
        f"The work is {NEAR_DUPLICATE_PROBES} table probes per hash plus the candidates that "
        f"share a band by chance, about N²·{NEAR_DUPLICATE_PROBES}/"
        f"2{superscript(NEAR_DUPLICATE_BITS)}: at "
        f"{num(largest)} hashes {millions(chance)} checks instead of "
        f"{num(largest * (largest - 1) / 2 / 1e9)} billion pairs.",
    ]


@block("redis_limits")
def redis_limits(result: Result) -> list[str]:
    rows = [
        [
            "the bare route's range read (`ZREVRANGE` 25 with scores)",
            f"{num(result['zrevrange_25_clients_1_per_s'])}/s",
            f"{num(result['zrevrange_25_clients_50_per_s'])}/s",
            "",
        ],
        [
            "the donor's standing (`EVALSHA` of the standing script)",
            f"{num(result['standing_script_clients_1_per_s'])}/s",
            f"{num(result['standing_script_clients_50_per_s'])}/s",
            f"{num(result['engine_standing_one_client_per_s'])}/s "
            f"({pct(result['engine_to_script_one_client'])} of the script's one-client rate)",
        ],
    ]
    return [
        f"A board of {num(result['donors'])} listed donors.",
        "",
        *table(["", "`redis-benchmark`, 1 client", "50 clients", "the engine, 1 client"], rows),
    ]


@block("load_mix_issue_23", "load_mix_before_23", "load_mix_after_23")
def load_mix_issue_23(before: Result, after: Result) -> list[str]:
    """The mix before and after issue 23, each beside its own run's bare route: the
    highest rate with p99 under 250 ms, and the highest at any step (the saturation,
    less sensitive to a noisy neighbour than a p99)."""
    best = "max_rps_with_p99_under_250ms"

    def cells(run: Result) -> list[str]:
        top = max(step["requests_per_s"] for step in run["steps"])
        bare = run["bare_route_rps"]
        return [
            f"{num(run[best], 1)} ({pct(run[best] / bare, 1)})",
            f"{num(top, 1)} ({pct(top / bare, 1)})",
            num(bare),
        ]

    rows = []
    for key, label in DATABASES.items():
        was, now = cells(before[key]), cells(after[key])
        rows.append([f"{label}, before", *was])
        rows.append([f"{label}, after", *now])
    return table(
        ["req/s (share of the bare route)", "p99 under 250 ms", "highest, any step",
         "bare route"],
        rows,
    )  # fmt: skip


@block("load_mix_pass3")
@block("load_mix_pass2")
def load_mix_pass2(result: Result) -> list[str]:
    """The mix at commits run one after the other on a quiet machine (issue 23's second
    and third passes)."""
    best = "max_rps_with_p99_under_250ms"

    def cells(run: Result) -> list[str]:
        top = max(step["requests_per_s"] for step in run["steps"])
        bare = run.get("bare_route_rps")
        share = f" ({pct(top / bare, 1)})" if bare else ""
        return [num(run[best], 1), f"{num(top, 1)}{share}", num(bare) if bare else "not run"]

    rows = []
    for key, label in DATABASES.items():
        for commit, what in result["commits"].items():
            rows.append([f"{label}, `{commit}` ({what})", *cells(result["runs"][commit][key])])
    return table(
        ["req/s", "p99 under 250 ms", "highest, any step (share of the bare route)",
         "bare route"],
        rows,
    )  # fmt: skip
