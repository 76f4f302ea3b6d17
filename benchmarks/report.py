"""The figures in the docs, generated from the benchmarks' results.

A figures block in README.md or docs/*.md is

    <!-- figures:NAME -->
    (generated: never edit it by hand)
    <!-- /figures -->

NAME is a key of BLOCKS, which names the files of benchmarks/results/ the block reads and
the function that renders them. Every block ends with the date and the machine of each
result it quotes, as the JSON records them.

    python -m benchmarks.report           # rewrite every block from the JSON
    python -m benchmarks.report --check   # change nothing; exit 1 if a block differs
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# A block's markers are lines of their own (a marker quoted in a sentence is not one).
BLOCK = re.compile(
    r"^(?P<open><!-- figures:(?P<name>[\w-]+) -->\n)(?P<body>.*?)^(?P<close><!-- /figures -->)$",
    re.DOTALL | re.MULTILINE,
)
OPENING = re.compile(r"^<!-- figures:", re.MULTILINE)

Result = dict[str, Any]
Renderer = Callable[..., list[str]]


@dataclass(frozen=True)
class Block:
    sources: tuple[str, ...]  # files of benchmarks/results/, without ".json"
    render: Renderer  # one result per source -> the block's lines


BLOCKS: dict[str, Block] = {}


def block(name: str, *sources: str) -> Callable[[Renderer], Renderer]:
    """Register ``render`` as the block ``name``, reading ``sources`` (default: the result
    file of the same name)."""

    def register(render: Renderer) -> Renderer:
        BLOCKS[name] = Block(sources or (name,), render)
        return render

    return register


# --- formatting ------------------------------------------------------------------------

DATABASES = {"postgres": "PostgreSQL", "sqlite": "SQLite"}
MIB = 2**20
TIMES = "\N{MULTIPLICATION SIGN}"
MINUS = "\N{MINUS SIGN}"


def num(value: float, places: int = 0) -> str:
    """``value`` rounded half up to ``places`` decimals, with thousands separators."""
    rounded = Decimal(repr(value)).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)
    return f"{rounded:,}"


def pct(ratio: float, places: int = 0) -> str:
    return f"{num(ratio * 100, places)} %"


def secs(value: float) -> str:
    """Seconds with the digits they need: 37.1, 0.33, 0.057."""
    return num(value, 1 if value >= 1 else 2 if value >= 0.1 else 3)


def mib(size: float) -> str:
    return f"{num(size / MIB)} MiB"


def verdict(target: str, met: bool) -> str:
    return f"{target}: {'met' if met else '**missed**'}"


def table(header: Sequence[str], rows: Iterable[Sequence[object]], align: str = "") -> list[str]:
    """A Markdown table; ``align`` has a letter a column, ``l`` or ``r``."""
    rule = ["---:" if a == "r" else "---" for a in align or "l" * len(header)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(rule) + "|"]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def measured(source: str, result: Result) -> str:
    path = f"`benchmarks/results/{source}.json`"
    machine = result.get("machine")
    if not machine:
        return f"{path}: the date and machine were not recorded."
    return (
        f"{path}: measured {machine['date']} on {machine['cpu']}, {machine['cores']} cores, "
        f"Python {machine['python']}, {machine['system']}."
    )


def by_database(result: Result) -> dict[str, Result]:
    """The result's parts per database, under their display names."""
    return {label: result[key] for key, label in DATABASES.items() if key in result}


# --- docs/performance.md -----------------------------------------------------------------


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
            verdict("≥ 70 %", http["me_to_bare"] >= 0.7),
        ],
        [
            "rebuild of the board from the database vs pipelined ZADD of the same members",
            f"{num(rebuild['rebuild_seconds'], 1)} s vs "
            f"{num(rebuild['pipelined_zadd_seconds'], 1)} s "
            f"({num(rebuild['rebuild_to_zadd_time_ratio'])}{TIMES})",
            "reported",
        ],
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
    ]


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


@block("redemptions")
def redemptions(result: Result) -> list[str]:
    runs = {
        "all on one hot item": result["one_hot_item"],
        "spread over 100 items": result["spread_over_100_items"],
    }
    rows = [
        [
            name,
            num(r["redemptions"]),
            num(r["seconds"], 1),
            num(r["redemptions_per_s"]),
            r["errors"],
        ]
        for name, r in runs.items()
    ]
    return [
        f"{result['clients']} clients, gunicorn {result['gunicorn_workers']} workers.",
        "",
        *table(["", "redemptions", "seconds", "per second", "errors"], rows, "lrrrr"),
        "",
        f"Spread over hot: {num(result['spread_to_hot'], 2)}{TIMES}.",
    ]


@block("scale_db_summary", "scale_db")
def scale_db_summary(result: Result) -> list[str]:
    before, after = result["ingest_at_scale"], result["ingest_with_tally_index"]
    sizes = result["sizes"]
    rows = [
        [
            f"PostgreSQL, {num(result['donors'])} donors and {num(result['clips'])} clips",
            f"{num(sizes['database_bytes'] / 1e9, 1)} GB",
        ],
        ["a clip row with its indexes", f"{num(sizes['per_clip']['clips_total_bytes'])} bytes"],
    ]
    for key in ("calls_of_25", "calls_of_500"):
        rows.append(
            [
                f"a {key.removeprefix('calls_of_')}-clip submission (median of "
                f"{before[key]['calls']}): as measured, then with the index on "
                "`wall_tallies (donor_id)`",
                f"{num(before[key]['ms_median'])} ms, then {num(after[key]['ms_median'])} ms",
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
    ]


@block("load_mix_previous", "load_mix_2026-11-26")
def load_mix_previous(result: Result) -> list[str]:
    return [f"Mix: {result['mix']}. {load_mix_maxima(result)}"]


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
    return table(header, rows, "rrrrr")


# --- docs/resilience.md ------------------------------------------------------------------


@block("redis_hung", "redis_hung_before", "redis_hung")
def redis_hung(before: Result, after: Result) -> list[str]:
    def calls(entry: Result) -> str:
        statuses = "/".join(str(s) for s in dict.fromkeys(entry["statuses"]))
        return ", ".join(secs(s) for s in entry["seconds"]) + f" ({statuses})"

    def label(call: str) -> str:
        route, _, note = call.partition(", ")
        return f"`{route}`" + (f", {note}" if note else "")

    count = len(next(iter(after["calls"].values()))["seconds"])
    header = ["call", f"before ({count} calls, s)"]
    header.append(f"after, budget {after['budget_ms']} ms ({count} calls, s)")
    rows = [
        [label(call), calls(before["calls"][call]), calls(entry)]
        for call, entry in after["calls"].items()
    ]
    return table(header, rows)


@block("slow_clients")
def slow_clients(result: Result) -> list[str]:
    labels = {
        "gunicorn directly": "straight to gunicorn",
        "nginx in front": "nginx in front (`serve --behind-proxy`)",
    }
    rows = [
        [labels.get(name, name), ", ".join(secs(s) for s in f["healthz_s"]), secs(f["median_s"])]
        for name, f in result["figures"].items()
    ]
    return [
        f"{result['clients']} slow clients; `/healthz` called {result['rounds']} times, "
        "one call after another.",
        "",
        *table(["", "`/healthz` while the clients drip, s", "median, s"], rows),
    ]


# --- docs/capacity.md (scale_db) -----------------------------------------------------------

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


@block("scale_db_run", "scale_db")
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


@block("scale_db_data", "scale_db")
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


@block("scale_db_tables", "scale_db")
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


@block("scale_db_bytes", "scale_db")
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


@block("scale_db_ingest", "scale_db", "ingest_leader", "medals")
def scale_db_ingest(result: Result, leader: Result, medals: Result) -> list[str]:
    before, after = result["ingest_at_scale"], result["ingest_with_tally_index"]
    service = leader["postgres"]["service"]["clips_per_s"]
    empty = {
        "calls_of_25": "no results file",
        "calls_of_500": f"{num(1000 * leader['clips_per_call'] / service)} ms per call "
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
    header.append("empty database (`ingest_leader.json`, `medals.json`)")
    return [
        *table(header, rows),
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


@block("scale_db_full_scan", "scale_db", "fraud_scan")
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
        "(`fraud_scan.json` `full_scan.seconds`).",
    ]


@block("capacity_inputs", "scale_db", "ingest_leader", "load_mix_2026-11-26", "load_mix",
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
    weeks, months = (
        sizes["period_boards_in_generated_data"][p]["mean_donors"] for p in ("week", "month")
    )
    db = "`scale_db.json`: "
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


# --- the docs ------------------------------------------------------------------------------


def load_results(directory: Path) -> dict[str, Result]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(directory.glob("*.json"))}


def render(name: str, results: dict[str, Result]) -> str:
    """The body of the block ``name``: its figures, then when and on what machine each of
    its sources was measured."""
    if name not in BLOCKS:
        raise ValueError(f"no renderer for the figures block {name!r}")
    spec = BLOCKS[name]
    missing = [source for source in spec.sources if source not in results]
    if missing:
        raise ValueError(f"figures block {name!r}: no benchmarks/results/{missing[0]}.json")
    lines = list(spec.render(*(results[source] for source in spec.sources)))
    for source in dict.fromkeys(spec.sources):
        lines += ["", measured(source, results[source])]
    return "\n" + "\n".join(lines) + "\n\n"


def regenerate(text: str, results: dict[str, Result]) -> str:
    """``text`` with every figures block rendered again from ``results``."""
    if len(OPENING.findall(text)) != len(BLOCK.findall(text)):
        raise ValueError("a <!-- figures:NAME --> line without its <!-- /figures --> line")
    return BLOCK.sub(lambda m: m["open"] + render(m["name"], results) + m["close"], text)


def stale_blocks(text: str, fresh: str) -> list[str]:
    old, new = BLOCK.findall(text), BLOCK.findall(fresh)
    return [o[1] for o, n in zip(old, new, strict=True) if o != n]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if a block differs"
    )
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout (tests)")
    args = parser.parse_args(argv)
    results = load_results(args.root / "benchmarks" / "results")
    differ = 0
    for path in [args.root / "README.md", *sorted((args.root / "docs").glob("*.md"))]:
        if not path.exists():
            continue
        text = path.read_text()
        name = path.relative_to(args.root)
        try:
            fresh = regenerate(text, results)
        except (KeyError, ValueError) as error:
            print(f"{name}: {error}", file=sys.stderr)
            return 2
        if fresh == text:
            continue
        differ += 1
        blocks = ", ".join(stale_blocks(text, fresh))
        if args.check:
            print(f"{name}: figures {blocks} differ from benchmarks/results/*.json")
        else:
            path.write_text(fresh)
            print(f"{name}: figures {blocks} rewritten")
    if args.check and differ:
        print("run `python -m benchmarks.report` to rewrite them", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
