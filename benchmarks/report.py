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


def superscript(power: int) -> str:
    return str(power).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))


def verdict(target: str, met: bool) -> str:
    return f"{target}: {'met' if met else '**missed**'}"


def table(header: Sequence[str], rows: Iterable[Sequence[object]], align: str = "") -> list[str]:
    """A Markdown table; ``align`` has a letter a column, ``l`` or ``r``."""
    rule = ["---:" if a == "r" else "---" for a in align or "l" * len(header)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(rule) + "|"]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def measured(source: str, result: Result) -> str:
    """When and on what machine ``result`` was measured; the commit of the code measured
    and the note on a figure recorded from elsewhere (``source``), where it has them."""
    path = f"`benchmarks/results/{source}.json`"
    machine = result.get("machine")
    if not machine:
        return f"{path}: the date and machine were not recorded."
    line = (
        f"{path}: measured {machine['date']} on {machine['cpu']}, {machine['cores']} cores, "
        f"Python {machine['python']}, {machine['system']}"
    )
    if "commit" in result:
        line += f", code at commit `{result['commit']}`"
    return line + "." + (f" {result['source']}" if "source" in result else "")


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
    timeout = result["healthz_timeout_s"]
    rows = [
        [
            labels.get(name, name),
            ", ".join(secs(s) for s in f["healthz_s"]),
            secs(max(f["healthz_s"])),
            sum(1 for s in f["healthz_s"] if s >= timeout),
        ]
        for name, f in result["figures"].items()
    ]
    return [
        f"{result['clients']} slow clients (`Content-Length: {result['content_length']}`, then a "
        f"byte every {result['drip_every_s']} s); gunicorn {result['gunicorn_workers']} workers "
        f"{TIMES} {result['gunicorn_threads']} threads; `/healthz` called {result['rounds']} "
        f"times, one call after another, by a client that waits {timeout} s at most.",
        "",
        *table(
            ["", "`/healthz` while the clients drip, s", "slowest, s", f"no answer in {timeout} s"],
            rows,
            "lrrr",
        ),
    ]


# --- docs/fraud.md -----------------------------------------------------------------------

PLANTED_CASES = {"camera-first": "the moved camera's first holder"}


def detection(run: Result) -> list[str]:
    """One row of the detection table: one backend's run."""
    missed = [
        f"`{n}`" + (f", {PLANTED_CASES[n]}" if n in PLANTED_CASES else "")
        for n in run["planted_missed"]
    ]
    found = f"{run['planted_found']} / {run['planted']}" + (
        f" ({'; '.join(missed)} missed)" if missed else ""
    )
    flagged = run["honest_flagged"]
    total = flagged["ordinary"] + flagged["keen"]
    rules = ", ".join(f"`{rule}`" for rule in run["honest_flagged_by_rule"])
    honest = f"{num(total)} of {num(run['honest_donors'])}" + (
        f" ({flagged['keen']} keen and {flagged['ordinary']} ordinary; {rules})" if total else ""
    )
    heavy = run["heavy_donor"]

    def shown(rule: str, flag: Result) -> str:
        evidence = flag["strongest_evidence"]
        if evidence.get("measure") == "per_camera_day":
            what = f"{num(evidence['value'], 2)} clips a camera a day"
        elif evidence.get("measure") == "per_camera":
            what = f"{num(evidence['value'])} clips a camera"
        elif "z" in evidence:
            what = f"z {num(evidence['z'], 1)}"
        else:
            what = f"score {num(flag['score'], 1)}"
        return f"`{rule}` {flag['severity']}, {what}"

    flags = sorted(heavy["flags"].items())
    high = [shown(rule, f) for rule, f in flags if f["severity"] == "high"]
    others = [shown(rule, f) for rule, f in flags if f["severity"] != "high"]
    held = f"held ({'; '.join(high)})" if heavy["held"] else "not held"
    return [found, honest, num(run["honest_held"]), "; ".join([held, *others])]


@block("fraud_detection", "fraud_detection_before", "fraud_detection")
def fraud_detection(before: Result, after: Result) -> list[str]:
    people = after["population"]
    if people != before["population"] or after["seed"] != before["seed"]:
        raise ValueError("the before and after detection runs differ in their population")
    keen_low, keen_high = people["keen_clips"]
    rows = [
        [f"before (commit `{before['commit']}`)", *detection(before["sqlite"])],
        [f"after (commit `{after['commit']}`)", *detection(after["sqlite"])],
    ]
    runs = {"before": before, "after": after}
    differ = [
        f"{label}: " + ", ".join(detection(run["postgres"]))
        for label, run in runs.items()
        if detection(run["postgres"]) != detection(run["sqlite"])
    ]
    postgres = (
        "On PostgreSQL " + "; ".join(differ) + "."
        if differ
        else "PostgreSQL gives the same figures, before and after."
    )
    return [
        f"Seed {after['seed']}, {after['days']} days: {num(people['ordinary'])} ordinary donors, "
        f"{people['keen']} keen one-camera donors with {keen_low}-{keen_high} clips in the two "
        f"months, the heavy donor ({people['heavy_per_day']} clips a day on "
        f"{people['heavy_cameras']} cameras) and the planted cases; one full scan, on SQLite.",
        "",
        *table(
            ["", "planted found", "ordinary/keen donors flagged", "ordinary/keen donors held",
             "heavy donor"],
            rows,
        ),
        "",
        postgres,
    ]  # fmt: skip


# --- docs/performance.md: one submission ----------------------------------------------------

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


# --- docs/performance.md: verifying received videos --------------------------------------


@block("verification")
def verification(result: Result) -> list[str]:
    clip, one = result["clip"], result["one_process"]
    split, total = one["cpu_ms_split"], one["cpu_ms_per_clip_mean"]
    parts = {
        "SHA-256 of the file": split["sha256"],
        "container checks (box sizes, packet scan)": split["container_checks"],
        "opening the container, the rest": split["opening_and_the_rest"],
        "decoding the sampled frames": split["decoding_sampled_frames"],
        "scaling them to 512 px, RGB, luminance": split["frame_conversion"],
        "PDQ of the mean image": split["pdq_math"],
    }
    rows = [[part, num(ms, 1), pct(ms / total, 1)] for part, ms in parts.items()]
    rows.append(["**analyse(), mean of the clips**", f"**{num(total, 1)}**", "100 %"])
    cpu_hours, cores = one["leader_cpu_hours"], int(result["machine"]["cores"])
    runs = [
        [run["processes"], num(run["clips_per_s"], 2), f"{num(run['leader_hours'], 1)} h"]
        for run in result["throughput"]
    ]
    storage = result["leader_storage_bytes"]
    lines = [
        f"{result['clips']} clips of {clip['seconds']} s, {clip['width']}{TIMES}{clip['height']} "
        f"at {clip['fps']} fps, {clip['codec']} at {num(clip['mean_bitrate'] / 1e6, 2)} Mbit/s "
        f"with a key frame every {clip['keyframe_every_s']} s, "
        f"{num(clip['mean_bytes'] / MIB, 1)} MiB each "
        f"(PyAV {result['pyav']}, libavcodec {result['libavcodec']}); "
        f"{one['frames_sampled_per_clip']} frames sampled a clip.",
        "",
        *table(["one clip, one process", "CPU ms", "share"], rows, "lrr"),
        "",
        f"Elapsed: mean {num(one['ms_per_clip_mean'], 1)} ms, "
        f"median {num(one['ms_per_clip_median'], 1)} ms, "
        f"slowest {num(one['ms_per_clip_max'], 1)} ms. Apart: the SHA-256 alone "
        f"{num(one['sha256_alone_ms'], 2)} ms a clip "
        f"({num(one['sha256_alone_mb_per_s'])} MB/s, the file in the page cache), the PDQ of a "
        f"512{TIMES}288 image alone {num(one['pdq_math_alone_ms'], 2)} ms.",
        "",
        *table(
            ["processes", "clips/s", f"the leader's {num(result['leader_clips'])} clips"],
            runs,
            "rrr",
        ),
        "",
        f"At the CPU time above, the leader's clips take {num(cpu_hours, 1)} core-hours: "
        f"{num(cpu_hours / cores, 1)} h on this machine's {cores} cores when nothing else runs.",
        "",
        f"Storing the leader's {num(result['leader_clips'])} clips at this size: "
        f"{num(storage / 1e9)} GB ({num(storage / 2**40, 2)} TiB).",
    ]
    longer = result.get("longer_clips")
    if longer:
        lines += [
            "",
            f"A {longer['seconds']} s clip ({longer['frames_sampled_per_clip']} frames sampled, "
            f"{num(longer['mean_bytes'] / MIB, 1)} MiB): {num(longer['cpu_ms_per_clip_mean'], 1)} "
            f"CPU ms, mean of "
            f"{longer['clips']}.",
        ]
    low, high = result["load_average"]
    return [*lines, "", f"Load average (1 min) before and after the timed runs: {low}, {high}."]


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


@block("scale_db_variation", "scale_db", "scale_db_earlier_runs")
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


@block("scale_db_ingest", "scale_db", "ingest_leader", "medals", "submission_call")
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
    if rps_latest < rps:  # section 5.1 says the model's run is the conservative one
        raise ValueError("load_mix.json measured less than the model's run: revisit 5.1")
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


# --- docs/capacity.md (scale_db): reading the captured statements and their plans ----------

PARAM_COUNT = re.compile(r"^\.\.\. (\d+) values$")
ACTUAL = re.compile(r"\(actual time=[\d.]+\.\.[\d.]+ rows=(?P<rows>\d+) loops=(?P<loops>\d+)\)")
ESTIMATE = re.compile(r"\(cost=[\d.]+\.\.[\d.]+ rows=(?P<rows>\d+) width=\d+\)")
COST = re.compile(r"  \(cost=[^)]*\)")
LITERAL_ARRAY = re.compile(r"'\{(?P<values>[^}']*)(?:\}'|\.\.\. \(\d+ chars\)$)")
JIT_TOTAL = re.compile(r"^(?P<indent>\s*)Timing: .*(?P<total>Total [\d.]+ ms)$")
PAGE = 8192  # PostgreSQL's block


def statement_sql(q: Result) -> str:
    return " ".join(str(q.get("sql", q.get("sql_starts", ""))).split())


def statement(result: Result, step: str, start: str) -> Result:
    """The one captured statement (``queries[]``) of ``step`` whose SQL starts with
    ``start``."""
    found: list[Result] = [
        q for q in result["queries"] if q["step"] == step and statement_sql(q).startswith(start)
    ]
    if len(found) != 1:
        raise ValueError(f"{len(found)} statements of step {step!r} start {start!r}")
    return found[0]


def what_if(result: Result, index: str) -> Result:
    found: list[Result] = [w for w in result["what_if_indexes"] if w["index"] == index]
    if len(found) != 1:
        raise ValueError(f"{len(found)} what-if indexes on {index!r}")
    return found[0]


def what_if_statement(result: Result, index: str, step: str) -> Result:
    found: list[Result] = [q for q in what_if(result, index)["queries"] if q["step"] == step]
    if len(found) != 1:
        raise ValueError(f"{len(found)} what-if statements of step {step!r} on {index!r}")
    return found[0]


def values_in(param: object) -> int:
    """How many values a captured array parameter held (long ones are kept cut, ending
    with ``... N values``)."""
    if not isinstance(param, list):
        raise ValueError(f"not an array parameter: {param!r}")
    last = PARAM_COUNT.match(str(param[-1])) if param else None
    return int(last[1]) if last else len(param)


def plan_line(q: Result, contains: str, after: str = "") -> str:
    """The first line of the plan containing ``contains`` (below the first line
    containing ``after``, when given)."""
    lines = q["plan"]
    start = next((i for i, line in enumerate(lines) if after in line), None) if after else 0
    if start is None:
        raise ValueError(f"no plan line contains {after!r}")
    for line in lines[start:]:
        if contains in line:
            return str(line)
    raise ValueError(f"no plan line contains {contains!r}")


def actual_rows(line: str, *, all_loops: bool = False) -> int:
    match = ACTUAL.search(line)
    if not match:
        raise ValueError(f"no actual rows in {line!r}")
    return int(match["rows"]) * (int(match["loops"]) if all_loops else 1)


def estimated_rows(line: str) -> int:
    match = ESTIMATE.search(line)
    if not match:
        raise ValueError(f"no estimate in {line!r}")
    return int(match["rows"])


def counted(line: str, name: str) -> int:
    """A count a plan line gives as ``name=N`` or ``name: N``."""
    match = re.search(rf"{re.escape(name)}[=:] ?(\d+)", line)
    if not match:
        raise ValueError(f"no {name} in {line!r}")
    return int(match[1])


def detail(q: Result, node: str, name: str, after: str = "") -> int:
    """A count (``Rows Removed by Filter``, ``read``...) on the lines of the plan node
    ``node``, before the next node."""
    lines = q["plan"]
    start = lines.index(plan_line(q, node, after))
    for line in lines[start + 1 :]:
        if "->" in line:
            break
        if re.search(rf"{re.escape(name)}[=:]", line):
            return counted(line, name)
    raise ValueError(f"no {name} under {node!r}")


def workers_launched(q: Result) -> int:
    return counted(plan_line(q, "Workers Launched"), "Workers Launched")


def jit_functions(q: Result) -> int:
    return counted(plan_line(q, "Functions:", after="JIT:"), "Functions")


def excerpt(q: Result, *keep: str, note: str = "", last_note: str = "") -> list[str]:
    """The plan's lines that matter, as stored: each of ``keep`` picks the next line
    containing it, then the execution time. Costs, ``loops=1`` and long literal arrays
    are cut; ``note`` ends the first line and ``last_note`` the execution time's."""
    lines, picked, at = q["plan"], [], 0
    for wanted in keep:
        found = next((i for i in range(at, len(lines)) if wanted in lines[i]), None)
        if found is None:
            raise ValueError(f"no plan line contains {wanted!r} after line {at}")
        picked.append(lines[found])
        at = found + 1
    picked.append(plan_line(q, "Execution Time:"))

    def cut(line: str) -> str:
        line = COST.sub("", line).replace(" loops=1)", ")")
        if timing := JIT_TOTAL.match(line):
            return f"{timing['indent']}JIT: ... {timing['total']}"

        def short(match: re.Match[str]) -> str:
            if match[0].endswith("chars)"):  # cut when it was stored
                return "'{...}'..."
            values = match["values"].split(",")
            return match[0] if len(match[0]) <= 40 else f"'{{...{num(len(values))} values...}}'"

        return LITERAL_ARRAY.sub(short, line)

    shown = [cut(line) for line in picked]
    # The tree's depth, two spaces a level among the lines shown (not the plan's own).
    levels = sorted({len(line) - len(line.lstrip()) for line in shown})
    shown = ["  " * levels.index(len(line) - len(line.lstrip())) + line.lstrip() for line in shown]
    if note:
        shown[0] = f"{shown[0]}  -- {note}"
    if last_note:
        shown[-1] = f"{shown[-1]}  -- {last_note}"
    return ["```", *shown, "```"]


def ms(value: float) -> str:
    """Milliseconds with the digits they need: 0.065, 0.63, 3.95, 10.1, 270, 1,005."""
    return num(value, 0 if value >= 100 else 1 if value >= 10 else 2 if value >= 0.1 else 3)


def millions(count: float) -> str:
    """8.58M, 2.1M, 10M."""
    text = num(count / 1e6, 2 if count < 1e7 else 1 if count < 1e8 else 0)
    return (text.rstrip("0").rstrip(".") if "." in text else text) + "M"


def work_mem_mb(result: Result) -> str:
    setting = result["sizes"]["server_settings"]["work_mem"]
    if not setting.endswith("kB"):
        raise ValueError(f"work_mem {setting!r}")
    return f"{num(int(setting[:-2]) / 1024)} MB"


# The steps and statements section 3 quotes, known by their step and how their SQL starts.
LEADER_CLIPS, TYPICAL_CLIPS = "clips: the leader, first page", "clips: a typical donor, first page"
CLIPS_SQL = "SELECT clips.id, clips.batch_id"
LEDGER_SQL = "SELECT ledger_entries.id"
LEADER_CALL = "submission: the leader, 500 clips"
TYPICAL_CALL = "submission: a typical donor, 25 clips"
HASH_PROBE = "SELECT clips.video_sha256, clips.id, clips.campaign_id"
EVENT_CAP = "SELECT clips.event_id, count(*)"
DAILY_CAP = "SELECT count(*) AS count_1 FROM clips WHERE clips.donor_id"
TALLIES = "SELECT wall_tallies.board, wall_tallies.clips FROM wall_tallies"
REBUILD = "wall rebuild: all-time"
REBUILD_MAIN = (
    "SELECT donors.id, donors.wall_version, donors.status, donors.visibility, donors.on_hold, "
    "donors.display_name, donors.alias, coalesce("
)
REBUILD_MEDALS = (
    "SELECT medal_awards.donor_id, count(*) AS count_1 FROM medal_awards "
    "WHERE medal_awards.revoked_at IS NULL GROUP BY"
)
REBUILD_TALLIES = "SELECT wall_tallies.board, wall_tallies.donor_id"
INCREMENTAL = "fraud scan: incremental"
EXACT_DUPLICATES = "SELECT clips.video_sha256, clips.donor_id, clips.id, clips.status"
SHARED_CAMERAS = "SELECT clips.camera_id, clips.donor_id, min(clips.id)"
EVENTS = "SELECT clips.donor_id, clips.campaign_id, clips.event_id"
HOLD_DRAIN = "SELECT donors.id, donors.wall_version"
PAYEES = ("payouts: gathering payees (dry)", "SELECT donors.id, donors.payout_kind")
VESTING = ("vesting: donors with due clips (dry)", "SELECT DISTINCT clips.donor_id")
RETENTION = ("retention: clips past retention (dry)", "SELECT clips.id FROM clips")
TALLY_INDEX, HASH_INDEX = "wall_tallies (donor_id)", "clips (video_sha256)"
VESTING_INDEX = "clips (vests_at) WHERE vested_at IS NULL AND status = 'accepted'"
RETENTION_INDEX = "clips (campaign_id, created_at) WHERE metadata_deleted_at IS NULL"


def clips_reads(result: Result) -> dict[str, Result]:
    return {
        step: statement(result, f"clips: {step}", CLIPS_SQL)
        for step in (
            "the leader, first page",
            "the leader, next page",
            "the leader, status=reversed",
            "the leader, status=pending_review",
            "a typical donor, first page",
        )
    }


def ledger_reads(result: Result) -> dict[str, Result]:
    return {
        step: statement(result, f"ledger: {step}", LEDGER_SQL)
        for step in (
            "the leader, first page",
            "the leader, next page",
            "a typical donor, first page",
            "a payee, first page",
        )
    }


def incremental(result: Result, start: str) -> Result:
    return statement(result, INCREMENTAL, start)


@block("scale_db_capture", "scale_db")
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


@block("scale_db_hot_queries", "scale_db")
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


@block("scale_db_clips_page", "scale_db")
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


@block("scale_db_ledger_page", "scale_db")
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


@block("scale_db_submission", "scale_db")
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


@block("scale_db_tallies", "scale_db")
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


@block("scale_db_rebuild", "scale_db")
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


@block("scale_db_incremental", "scale_db", "fraud_scan")
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
        "(`fraud_scan.json` `incremental_scan.seconds`). By rule "
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


@block("scale_db_exact_duplicates", "scale_db")
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


@block("scale_db_shared_cameras", "scale_db")
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


@block("scale_db_hold", "scale_db")
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


@block("scale_db_payees", "scale_db")
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


@block("scale_db_vesting", "scale_db")
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


@block("scale_db_retention", "scale_db")
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


@block("scale_db_recommendations", "scale_db")
def scale_db_recommendations(result: Result) -> list[str]:
    tally_index, hash_index = what_if(result, TALLY_INDEX), what_if(result, HASH_INDEX)
    vesting_index = what_if(result, VESTING_INDEX)
    retention_index = what_if(result, RETENTION_INDEX)
    tallies = statement(result, TYPICAL_CALL, TALLIES)
    hold = incremental(result, HOLD_DRAIN)
    duplicates, cameras = incremental(result, EXACT_DUPLICATES), incremental(result, SHARED_CAMERAS)
    events = incremental(result, EVENTS)
    rebuild = statement(result, REBUILD, REBUILD_MAIN)
    vesting, retention = statement(result, *VESTING), statement(result, *RETENTION)
    ledger = ledger_reads(result)["the leader, first page"]
    before, after = result["ingest_at_scale"], result["ingest_with_tally_index"]
    wall = result["honor_wall"]
    rows_tallies = millions(result["sizes"]["tables"]["wall_tallies"]["rows"])
    temp_gib = counted(plan_line(rebuild, "temp read"), "written") * PAGE / 2**30
    per_donor = (wall["process_peak_rss_mib_after"] - wall["process_peak_rss_mib_before"]) * MIB
    per_donor /= wall["members"]
    vest_scan = "Parallel Index Scan using ix_clips_vesting"
    vest_new = plan_line(
        what_if_statement(result, VESTING_INDEX, VESTING[0]),
        "Parallel Index Scan using scale_what_if",
    )
    vest_read = detail(statement(result, *VESTING), vest_scan, "read")
    vest_new_read = detail(
        what_if_statement(result, VESTING_INDEX, VESTING[0]),
        "Parallel Index Scan using scale_what_if",
        "read",
    )
    wal = before["calls_of_25"]["wal_full_page_images_per_clip"]

    def index(entry: Result) -> str:
        return f"The index is {mib(entry['index_bytes'])}"

    def gain(q: Result, index_name: str, step: str) -> str:
        indexed = what_if_statement(result, index_name, step)
        return f"{ms(q['execution_ms'])} → {ms(indexed['execution_ms'])} ms"

    rows = [
        ["**R1**", "**`CREATE INDEX ix_wall_tallies_donor_id ON wall_tallies (donor_id)`**",
         f"3.3 and 3.5: Parallel Seq Scan of {rows_tallies} rows on **every accepted "
         "submission** (`medals._common.donor_tallies`) and on every donor-wide wall change "
         f"(`wall._donor_states`). It grows with donors {TIMES} weeks.",
         f"tallies statement {gain(tallies, TALLY_INDEX, TYPICAL_CALL)}; hold drain "
         f"{gain(hold, TALLY_INDEX, INCREMENTAL)}; **25-clip call "
         f"{num(before['calls_of_25']['ms_median'])} → {num(after['calls_of_25']['ms_median'])} "
         f"ms, 500-clip call {num(before['calls_of_500']['ms_median'])} → "
         f"{num(after['calls_of_500']['ms_median'])} ms** (`ingest_with_tally_index`). "
         f"{index(tally_index)} and builds in {secs(tally_index['build_seconds'])} s."],
        ["**R2**", "**`CREATE INDEX ix_clips_video_sha256 ON clips (video_sha256)`** for the "
         "exact-duplicate rule. A cheaper alternative, not measured: a partial index on the "
         "duplicates only (`WHERE status = 'duplicate'`), with the query split into the partial "
         "unique index's probe `UNION` the duplicates' probe.",
         "3.5: **a Parallel Seq Scan of all clips every 5 minutes**, "
         f"{ms(duplicates['execution_ms'])} ms, growing linearly",
         f"{gain(duplicates, HASH_INDEX, INCREMENTAL)}. {index(hash_index)} and builds in "
         f"{secs(hash_index['build_seconds'])} s."],
        ["**R3**", "**`jit = off` for the engine's sessions**: `ALTER DATABASE ... SET jit = off`, "
         "or `-c jit=off` in the connection options",
         "The planner costs big tables high, so mid-size statements pay for compilation.",
         f"shared-cameras statement {ms(cameras['execution_ms'])} → "
         f"{ms(cameras['execution_ms_jit_off'])} ms; events statement "
         f"{ms(events['execution_ms'])} → {ms(events['execution_ms_jit_off'])} ms; "
         f"exact-duplicate statement {ms(duplicates['jit_ms'])} ms of JIT; rebuild "
         f"{secs(rebuild['jit_ms'] / 1000)} s of JIT ({secs(rebuild['execution_ms'] / 1000)} → "
         f"{secs(rebuild['execution_ms_jit_off'] / 1000)} s); the tallies statement "
         f"{ms(tallies['jit_ms'])} ms of JIT"],
        ["**R4**", "Vesting: make `ix_clips_vesting` `WHERE vested_at IS NULL AND status = "
         "'accepted'`. Then find the due donors without the join, and check `on_hold` by "
         "primary key in a second statement.",
         f"3.8: reversed clips stay in the partial index forever ({num(vest_read)} buffers per "
         f"run). A misestimate ({num(estimated_rows(vest_new))} rows against "
         f"{num(actual_rows(vest_new, all_loops=True))}) hashes all donors.",
         f"clip side {num(vest_read)} → {num(vest_new_read)} buffers. The statement went "
         f"{gain(vesting, VESTING_INDEX, VESTING[0])}, and the rest is the donor hash the "
         f"rewrite removes. {index(vesting_index)}."],
        ["**R5**", "Retention: `CREATE INDEX ... ON clips (campaign_id, created_at) WHERE "
         "metadata_deleted_at IS NULL`",
         "3.9: the whole camera-caps index is walked through its 2nd column, and the work "
         "becomes quadratic once retention deletes, from December 2026.",
         f"{gain(retention, RETENTION_INDEX, RETENTION[0])} per chunk. "
         f"{index(retention_index)}."],
        ["**R6**", "Wall rebuild: (a) compute the per-donor count once, as a `MATERIALIZED` CTE "
         "or a temporary table; (b) `SET LOCAL work_mem = '256MB'` in the rebuild's "
         "transaction; (c) **stream the rows** (`yield_per`, or a server-side cursor in chunks "
         "of 10,000) instead of `.all()`, and build the Redis pipeline as rows arrive",
         f"3.4: clips read twice; {num(temp_gib, 1)} GiB of temporary files; **peak memory "
         f"+{num(wall['process_peak_rss_mib_after'] - wall['process_peak_rss_mib_before'])} MiB "
         f"for {num(wall['members'])} donors**",
         f"(b) with `jit = off`: {secs(rebuild['execution_ms'] / 1000)} → "
         f"{secs(rebuild['execution_ms_jit_off_work_mem_256mb'] / 1000)} s. (a) should roughly "
         "halve the SQL again (not measured). (c) caps memory at one chunk, instead of about "
         f"{num(per_donor * 1e7 / 1e9)} GB at 10M donors and {num(per_donor * 1e8 / 1e9)} GB at "
         "100M."],
        ["R7", "Ledger page: one `LATERAL (... ORDER BY id DESC LIMIT 26)` per account, then the "
         "top 26 of those",
         f"3.2: reads all {num(actual_rows(plan_line(ledger, 'Nested Loop')))} of the leader's "
         f"entries to show {ledger['params']['param_1']}",
         f"Not measured. It reads at most 26 {TIMES} accounts entries, so the cost stays flat as "
         "history grows."],
        ["R8", "Server settings for these workloads: `work_mem` above "
         f"{work_mem_mb(result)} for the nightly jobs (per transaction); `wal_compression = on`",
         "3.4 and 3.6: sorts and aggregates spill to disk. 3.3: about "
         f"{num(wal, 1)} full-page images (8 KB each) per clip inserted.",
         "Not measured. Full-page images compress well."],
    ]  # fmt: skip
    return table(["#", "change", "evidence", "gain measured"], rows)


# --- docs/capacity.md: the capacity model, section 5 --------------------------------------

# The model's assumptions (section 5.2): chosen, not measured.
RATES = {"base": 0.1, "high": 1.0}  # clips per donor per day
SCALES = (1_000_000, 10_000_000, 100_000_000)  # donors
CALL_CLIPS = 25  # A2
REQUESTS_PER_CALL = 5  # A3: submissions are 20 % of the mix's requests
OPEN_EVERY_DAYS, READS_PER_OPEN = 5, 3  # A3
PEAK = 3  # A4: the busiest hour against the day's average
LIVE_PERIOD_BOARDS = 2  # A5: the current and the previous month (and week)
SHARD_BYTES = 25e9  # A6
WINDOW_S = 2 * 3600  # A8
MIX_WALL_SHARE = 0.4  # of the mix's requests, those that read the wall or a standing
OPEN_WALL_SHARE = 2 / 3  # of an app open's reads: the wall page and the standing
DAY = 86_400


@dataclass(frozen=True)
class Inputs:
    """The measured inputs of the model (section 5.1), as numbers."""

    clip_bytes: float
    call_bytes: float
    donor_bytes: float
    tally_bytes: float  # per donor-year
    wal_per_clip: float
    call_s: float  # a 25-clip call with R1
    scan_s_per_1m: float  # what the tallies scan adds to a call, at 1M donors
    worker_rps: float
    board_bytes: float  # sorted sets and versions, per ranked donor
    all_time_bytes: float  # the all-time board with profiles and overhead, per donor
    lookup_cpu_s: float
    drain_cpu_s: float
    rebuild_bytes: float  # per donor
    rebuild_s: float  # outside SQL, per donor
    full_scan_s_per_clip: float
    week_share: float
    month_share: float
    submitter_clips_s: float  # one 25-clip submitter, with R1
    http_clips_s: float  # 500-clip calls over HTTP, empty database


def model_inputs(result: Result, leader: Result, model: Result) -> Inputs:
    donors, calls, sizes, wall = (
        result["donors"],
        result["load"]["calls"],
        result["sizes"],
        result["honor_wall"],
    )
    keys, members = wall["key_bytes"], wall["members"]
    small = result["ingest_at_scale"]["calls_of_25"]
    indexed = result["ingest_with_tally_index"]["calls_of_25"]
    rebuild_sql_ms = statement(result, REBUILD, REBUILD_MAIN)["observed_ms_first"]
    weeks, months = (
        sizes["period_boards_in_generated_data"][p]["mean_donors"] for p in ("week", "month")
    )
    return Inputs(
        clip_bytes=sizes["per_clip"]["clips_total_bytes"],
        call_bytes=table_bytes(result, *PER_CALL) / calls,
        donor_bytes=table_bytes(result, *PER_DONOR) / donors,
        tally_bytes=table_bytes(result, "wall_tallies") / donors,
        wal_per_clip=small["wal_bytes_per_clip"],
        call_s=indexed["ms_median"] / 1000,
        scan_s_per_1m=(small["ms_median"] - indexed["ms_median"]) / 1000 * 1e6 / donors,
        worker_rps=model["postgres"]["max_rps_with_p99_under_250ms"]
        / model["postgres"]["gunicorn_workers"],
        board_bytes=(keys["listed_zset"] + keys["shadow_zset"] + keys["versions_hash"]) / members,
        all_time_bytes=wall["used_memory_per_donor"],
        lookup_cpu_s=wall["standing_lookup"]["redis_cpu_us_per_op"] / 1e6,
        drain_cpu_s=small["redis_cpu_us_per_op"] / 1e6,
        rebuild_bytes=(wall["process_peak_rss_mib_after"] - wall["process_peak_rss_mib_before"])
        * MIB
        / members,
        rebuild_s=(wall["rebuild_seconds"] - rebuild_sql_ms / 1000) / members,
        full_scan_s_per_clip=full_scan_total(result) / result["clips"],
        week_share=weeks / donors,
        month_share=months / donors,
        submitter_clips_s=indexed["clips_per_s"],
        http_clips_s=leader["postgres"]["http"]["clips_per_s"],
    )


@dataclass(frozen=True)
class Scenario:
    """The model's figures for ``donors`` at ``rate`` clips per donor per day, at the end
    of the first year."""

    donors: int
    rate: float
    clips_day: float
    calls_day: float
    peak_clips_s: float
    peak_calls_s: float
    peak_rps: float
    workers: int
    growth_day: float  # bytes
    size_year: float
    wal_day: float
    wal_peak: float  # bytes a second
    ingest_r1: float  # process-seconds per second at the peak
    ingest_as_is: float
    redis_all_time: float
    redis_campaign: float
    redis_months: float
    redis_weeks: float
    redis_total: float
    slot: float
    redis_cpu: float  # of one core
    shards: int
    rebuild_bytes: float
    rebuild_s: float
    scan_year_s: float
    days_to_window: float


def scenario(i: Inputs, donors: int, rate: float) -> Scenario:
    clips_day = rate * donors
    calls_day = clips_day / CALL_CLIPS
    peak_calls = PEAK * calls_day / DAY
    open_reads = PEAK * READS_PER_OPEN / OPEN_EVERY_DAYS * donors / DAY
    peak_rps = REQUESTS_PER_CALL * peak_calls + open_reads
    growth = clips_day * i.clip_bytes + calls_day * i.call_bytes
    board = donors * i.board_bytes
    months = LIVE_PERIOD_BOARDS * i.month_share * board
    weeks = LIVE_PERIOD_BOARDS * i.week_share * board
    total = donors * i.all_time_bytes + board + months + weeks
    lookups = MIX_WALL_SHARE * REQUESTS_PER_CALL * peak_calls + OPEN_WALL_SHARE * open_reads
    scan_per_day = i.full_scan_s_per_clip * clips_day
    return Scenario(
        donors=donors,
        rate=rate,
        clips_day=clips_day,
        calls_day=calls_day,
        peak_clips_s=PEAK * clips_day / DAY,
        peak_calls_s=peak_calls,
        peak_rps=peak_rps,
        workers=-int(-peak_rps // i.worker_rps),
        growth_day=growth,
        size_year=365 * growth + donors * (i.donor_bytes + i.tally_bytes),
        wal_day=clips_day * i.wal_per_clip,
        wal_peak=PEAK * clips_day * i.wal_per_clip / DAY,
        ingest_r1=peak_calls * i.call_s,
        ingest_as_is=peak_calls * (i.call_s + i.scan_s_per_1m * donors / 1e6),
        redis_all_time=donors * i.all_time_bytes,
        redis_campaign=board,
        redis_months=months,
        redis_weeks=weeks,
        redis_total=total,
        slot=board,
        redis_cpu=lookups * i.lookup_cpu_s + peak_calls * i.drain_cpu_s,
        shards=-int(-total // SHARD_BYTES),
        rebuild_bytes=donors * i.rebuild_bytes,
        rebuild_s=donors * i.rebuild_s,
        scan_year_s=365 * scan_per_day,
        days_to_window=WINDOW_S / scan_per_day,
    )


def scenarios(i: Inputs) -> dict[tuple[str, int], Scenario]:
    return {(name, d): scenario(i, d, rate) for name, rate in RATES.items() for d in SCALES}


def sig(value: float, digits: int = 2) -> str:
    """``value`` to ``digits`` significant digits, never cutting the integer part."""
    if value == 0:
        return "0"
    magnitude = Decimal(repr(abs(value))).adjusted()
    return num(value, max(0, digits - 1 - magnitude))


def size(nbytes: float) -> str:
    return f"{sig(nbytes / 1e12)} TB" if nbytes >= 1e12 else f"{sig(nbytes / 1e9)} GB"


def core_share(share: float) -> str:
    return f"{sig(share * 100)} %"


def count(value: float) -> str:
    """1M, 10M, 100M (whole millions) or the number."""
    return f"{num(value / 1e6)}M" if value >= 1e6 and value % 1e6 == 0 else num(value)


def days(value: float) -> str:
    return f"about {num(value / 365, 1)} years" if value > 3 * 365 else num(value)


def rebuild_minutes(s: Scenario) -> str:
    return f"{num(s.rebuild_s / 60)} minutes"


def workers(s: Scenario) -> str:
    return f"{s.workers} ({s.workers + 1} for redundancy)" if s.workers == 1 else str(s.workers)


MODEL = ("scale_db", "ingest_leader", "load_mix_2026-11-26")


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


def scenario_header() -> list[str]:
    return ["", *(f"{count(d)} donors" for d in SCALES)]


def bold_over(text: str, value: float, limit: float) -> str:
    return f"**{text}**" if value > limit else text


def ingest_load(s: Scenario) -> str:
    return f"{sig(s.ingest_r1)} / {bold_over(sig(s.ingest_as_is), s.ingest_as_is, 1)}"


def redis_boards(s: Scenario) -> str:
    boards = (s.redis_campaign, s.redis_months, s.redis_weeks)
    return " / ".join(sig(b / 1e9) for b in boards) + " GB"


def slot(s: Scenario) -> str:
    return f"{size(s.slot)}; {bold_over(size(2 * s.slot), 2 * s.slot, SHARD_BYTES)}"


def shards(s: Scenario) -> str:
    if 2 * s.slot <= SHARD_BYTES:
        return str(s.shards)
    return f"{s.shards} by memory, but the all-time slot needs {size(2 * s.slot)} during a rebuild"


def wal(s: Scenario) -> str:
    return f"{size(s.wal_day)}; {sig(s.wal_peak / 1e6)} MB/s"


def peaks(s: Scenario) -> str:
    return f"{sig(s.peak_clips_s, 3)}; {sig(s.peak_calls_s, 3)}"


def scan_hours(s: Scenario) -> str:
    return f"{sig(s.scan_year_s / 3600)} h"


@block("capacity_results", *MODEL)
def capacity_results(result: Result, leader: Result, model: Result) -> list[str]:
    i = model_inputs(result, leader, model)
    runs = scenarios(i)
    window_h = num(WINDOW_S / 3600)

    def rows(rate: str, cells: Sequence[tuple[str, Callable[[Scenario], str]]]) -> list[list[str]]:
        return [[label, *(cell(runs[rate, d]) for d in SCALES)] for label, cell in cells]

    def needed(s: Scenario) -> str:
        ratio = s.peak_clips_s / i.submitter_clips_s
        text = f"{sig(s.peak_clips_s, 3)} vs {num(i.submitter_clips_s)} clips/s"
        return f"**{text}**: {num(ratio, 1)} submitters' worth" if ratio > 1 else text

    base = rows("base", [
        ("clips per day, calls per day", lambda s: f"{num(s.clips_day)}; {num(s.calls_day)}"),
        ("peak clips/s, peak calls/s", peaks),
        ("peak requests/s (mix + app opens)", lambda s: sig(s.peak_rps, 3)),
        (f"**API workers** (at {num(i.worker_rps, 2)} req/s each)", workers),
        ("PostgreSQL growth per day", lambda s: size(s.growth_day)),
        ("PostgreSQL size after one year", lambda s: size(s.size_year)),
        ("WAL per day; at peak", wal),
        ("ingest, process-seconds per second at peak: with R1 / as it is", ingest_load),
        ("Redis: all-time board with profiles", lambda s: size(s.redis_all_time)),
        ("Redis: campaign board / 2 month boards / 2 week boards", redis_boards),
        ("**Redis in total**", lambda s: size(s.redis_total)),
        ("the all-time board's slot; during a rebuild", slot),
        ("Redis CPU on the busiest shard (lookups + drains)",
         lambda s: f"{core_share(s.redis_cpu)} of a core"),
        ("**Redis shards** (A6)", shards),
        ("wall rebuild of `all-time`: process memory", lambda s: size(s.rebuild_bytes)),
        ("full fraud scan, SQL only, at year end", scan_hours),
        (f"days until the full scan passes {window_h} h (A8)", lambda s: days(s.days_to_window)),
    ])  # fmt: skip
    high = rows("high", [
        ("clips per day, calls per day", lambda s: f"{count(s.clips_day)}; {count(s.calls_day)}"),
        ("peak clips/s, peak calls/s", peaks),
        ("peak requests/s", lambda s: sig(s.peak_rps, 3)),
        ("**API workers**", workers),
        ("PostgreSQL growth per day; size after one year",
         lambda s: f"{size(s.growth_day)}; {size(s.size_year)}"),
        ("WAL per day; at peak", wal),
        ("ingest, process-seconds per second at peak: with R1 / as it is", ingest_load),
        ("ingest needed at peak vs one 25-clip submitter with R1", needed),
        ("Redis in total; busiest shard's CPU",
         lambda s: f"{size(s.redis_total)}; {core_share(s.redis_cpu)}"),
        (f"wall rebuild memory; full scan at year end; days to {window_h} h",
         lambda s: f"{size(s.rebuild_bytes)}; {scan_hours(s)}; {days(s.days_to_window)}"),
    ])  # fmt: skip
    largest = runs["high", SCALES[-1]]
    if not i.submitter_clips_s < largest.peak_clips_s < i.http_clips_s:
        raise ValueError("the largest ingest is no longer between one submitter and HTTP: revisit")
    align = "l" + "r" * len(SCALES)
    x = TIMES
    opens = f"{PEAK} {x} {READS_PER_OPEN / OPEN_EVERY_DAYS:g} {x} donors ÷ {num(DAY)}"
    call_ms, scan_ms = num(i.call_s * 1000, 1), num(i.scan_s_per_1m * 1000, 1)
    board = num(i.board_bytes, 1)
    return [
        f"**Base volume: {RATES['base']:g} clip per donor per day**",
        "",
        *table(scenario_header(), base, align),
        "",
        f"**High volume: {RATES['high']:g} clip per donor per day**",
        "",
        *table(scenario_header(), high, align),
        "",
        f"At 100M donors and the high volume the peak needs {sig(largest.peak_clips_s, 3)} "
        f"clips/s: below the {num(i.http_clips_s)} clips/s over HTTP for 500-clip calls "
        "(`ingest_leader.json`), above what one 25-clip submitter reaches on this machine.",
        "",
        "How the figures are computed:",
        "",
        "- **Requests.**",
        f"  - calls/day = clips/day ÷ {CALL_CLIPS}.",
        f"  - peak calls/s = {PEAK} {x} calls/day ÷ {num(DAY)}.",
        f"  - peak requests/s = {REQUESTS_PER_CALL} {x} peak calls/s + {opens}.",
        f"  - API workers = peak requests/s ÷ {num(i.worker_rps, 2)}, rounded up.",
        "- **PostgreSQL.**",
        f"  - growth/day = clips {x} {num(i.clip_bytes, 1)} B + calls {x} {num(i.call_bytes)} B.",
        f"  - size after one year = 365 {x} growth + donors {x} ({num(i.donor_bytes)} + "
        f"{num(i.tally_bytes)}) B.",
        f"  - WAL = clips {x} {num(i.wal_per_clip)} B.",
        f"  - Ingest load as it is = peak calls/s {x} ({call_ms} ms + {scan_ms} ms {x} donors "
        f"÷ 1M). With R1 it is peak calls/s {x} {call_ms} ms.",
        "- **Redis.**",
        f"  - memory = donors {x} ({num(i.all_time_bytes, 1)} + {board} + "
        f"{LIVE_PERIOD_BOARDS} {x} {num(i.month_share, 3)} {x} {board} + "
        f"{LIVE_PERIOD_BOARDS} {x} {num(i.week_share, 3)} {x} {board}) B.",
        f"  - The all-time slot holds donors {x} {board} B.",
        f"  - CPU = ({MIX_WALL_SHARE:g} {x} mix requests + ⅔ {x} app-open reads) {x} "
        f"{num(i.lookup_cpu_s * 1e6, 1)} µs + calls {x} {num(i.drain_cpu_s * 1e6, 1)} µs. "
        "Each is taken per second at the peak.",
        "- **Nightly jobs.**",
        f"  - Rebuild memory = donors {x} {num(i.rebuild_bytes)} B.",
        f"  - Full-scan SQL = {secs(full_scan_total(result))} s {x} (clips so far ÷ "
        f"{millions(result['clips'])}).",
    ]


@block("capacity_saturation", *MODEL)
def capacity_saturation(result: Result, leader: Result, model: Result) -> list[str]:
    i = model_inputs(result, leader, model)
    runs = scenarios(i)
    small, large, largest = SCALES
    tallies = statement(result, TYPICAL_CALL, TALLIES)
    index = what_if(result, TALLY_INDEX)
    one = max(runs[r, small].ingest_as_is for r in RATES)
    ten, hundred_high = runs["base", large], runs["high", largest]
    hundred = runs["base", largest]
    window_h = num(WINDOW_S / 3600)
    worker_range = sorted(runs[r, largest].workers for r in RATES)
    redis_cpu = max(s.redis_cpu for s in runs.values())
    cores = int(result["machine"]["cores"])
    # What the text below says, checked: a new run that changes the picture fails here.
    checks = {
        "1M donors stay under one process-second a second as they are": one < 1,
        f"10M donors at the base volume need more than the {cores} cores": ten.ingest_as_is > cores,
        "the rebuild's memory is the first limit at 10M donors": ten.rebuild_bytes > SHARD_BYTES,
        "the all-time slot outgrows a shard only at 100M": 2 * hundred.slot
        > SHARD_BYTES
        > 2 * ten.slot,
        "Redis CPU stays under a quarter of a core": redis_cpu < 0.25,
    }
    failed = [claim for claim, holds in checks.items() if not holds]
    if failed:
        raise ValueError(f"docs/capacity.md 5.4 no longer holds: {failed}")

    def after(value: float) -> str:
        text = days(value)
        return f"after {text}" if "years" in text else f"after {text} days"

    def window(scale: int) -> str:
        return (
            f"{after(runs['base', scale].days_to_window)} at the base volume and "
            f"{after(runs['high', scale].days_to_window)} at the high volume"
        )

    return [
        "**As the code stands, PostgreSQL saturates first, on submissions.** Each accepted call "
        f"sequentially scans `wall_tallies` on {workers_launched(tallies) + 1} processes (3.3). "
        f"That took {ms(tallies['execution_ms'])} ms at {millions(result['donors'])} donors, and "
        f"the time grows with donors {TIMES} weeks active.",
        "",
        f"- At {count(small)} donors it is affordable: at most {sig(one)} process-seconds per "
        "second at the peak, at either volume.",
        f"- At **{count(large)} donors and the base volume**, the peak already needs about "
        f"{sig(ten.ingest_as_is)} cores of scanning, more than this whole {cores}-core machine.",
        f"- At {count(largest)} donors nothing is accepted in time.",
        "",
        f"The cheapest fix is R1, one {mib(index['index_bytes'])} index. With it, the submission "
        "path is index-bound and ingest stops being a limit. At the highest load modelled "
        f"({count(largest)} donors, {RATES['high']:g} clip per day) it needs about "
        f"{sig(hundred_high.ingest_r1)} process-cores at the peak. API workers, "
        f"{worker_range[0]} to {worker_range[-1]} at {count(largest)} donors, scale out across "
        f"nodes, and Redis CPU stays under a quarter of one core ({core_share(redis_cpu)} at "
        "most).",
        "",
        "**With R1 applied**, the first limits are the jobs that work on everything:",
        "",
        f"1. **{count(small)} donors.** Nothing comes close. The full fraud scan reaches a "
        f"{window_h}-hour window {window(small)}.",
        f"2. **{count(large)} donors.** The first limit is the **Honor Wall rebuild's memory**: "
        f"the scheduler process would need about {size(ten.rebuild_bytes)} to rebuild "
        "`all-time`, and as much again for the campaign board. This applies from the first "
        "day, at any clip volume. Next comes the **nightly full fraud scan**, which passes "
        f"{window_h} hours {window(large)}. R6(c) removes the first limit. The second needs "
        "partitioning (section 4), or rules that read per-day aggregates instead of all clips.",
        f"3. **{count(largest)} donors.** The limits come together:",
        f"   - The rebuild needs {size(hundred.rebuild_bytes)} of process memory and about "
        f"{rebuild_minutes(hundred)} per board outside SQL.",
        f"   - The all-time board's Redis slot needs {size(2 * hundred.slot)} during the "
        f"rebuild's swap, more than a {num(SHARD_BYTES / 1e9)} GB shard (A6). A board is one "
        "slot and cannot be spread over a cluster, so it needs a larger shard, or a rebuild "
        "that does not keep two copies.",
        f"   - The full fraud scan passes {window_h} hours {window(largest)}.",
        f"   - **PostgreSQL storage** reaches {size(hundred.size_year)} after a year at the "
        f"base volume and {size(hundred_high.size_year)} at the high volume, with "
        f"{sig(hundred_high.wal_peak / 1e6)} MB/s of WAL at the high volume's peak. At that "
        "point clips need partitioning by month, and archiving of scrubbed partitions to "
        "cheaper storage.",
    ]


# --- docs/testing.md ----------------------------------------------------------------------


def clock_time(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}:{rest:02d}"


@block("suite_time")
def suite_time(result: Result) -> list[str]:
    labels = {"embedded": "embedded (SQLite, embedded Redis)", "postgres": "PostgreSQL and Redis"}
    target = result["target_s"]
    rows = []
    for run in result["runs"]:
        counts = run["counts"]
        rows.append([
            labels[run["configuration"]],
            f"{counts.get('passed', 0)} passed, {counts.get('skipped', 0)} skipped",
            clock_time(run["pytest_s"]),
            clock_time(run["wall_s"]),
            verdict(f"≤ {clock_time(target)}", run["wall_s"] <= target),
            " / ".join(num(x, 2) for x in run["load_average_before"]),
        ])  # fmt: skip
    slowest = max(result["runs"], key=lambda run: run["pytest_s"])
    steps = [
        f"`{step['test']}` ({step['step']}, {secs(step['seconds'])} s)"
        for step in slowest["slowest"][:5]
    ]
    return [
        f"`python3 dev.py test`, one configuration after the other, {result['workers']} "
        "pytest-xdist workers, nothing else running:",
        "",
        *table(
            [
                "configuration",
                "tests",
                "pytest",
                "whole command",
                "target",
                "load before (1/5/15 min)",
            ],
            rows,
            "llrrll",
        ),
        "",
        f"The slowest steps ({labels[slowest['configuration']]}): " + "; ".join(steps) + ".",
    ]


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
