"""Reading scale_db.json's captured statements and their plans: finding a statement,
counting what a plan line says, and quoting the lines that matter. Shared by the
docs/capacity.md blocks of section 3 and the capacity model."""

from __future__ import annotations

import re

from benchmarks.report import Result, num

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
