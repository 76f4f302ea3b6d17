"""Capturing what the services issue: every SELECT of a step with its parameters and
time (in a *dry* step, sent so that it returns no rows), then ``EXPLAIN (ANALYZE,
BUFFERS)`` of each, and the what-if indexes the plans ask for."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy import event

EXPLAIN_TIMEOUT_MS = 240_000


def _short(value: Any) -> Any:
    """A parameter as the report shows it (long lists cut)."""
    if isinstance(value, list | tuple) and len(value) > 5:
        return [*map(_short, value[:3]), f"... {len(value)} values"]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


class Capture:
    """Every SELECT run while a step is open, with its parameters and time; in a *dry*
    step, SELECTs (but ``dry_keep`` ones, and locking ones unless ``dry_locks``) return
    no rows."""

    def __init__(self, engine: Any) -> None:
        self.step: str | None = None
        self.dry = False
        self.dry_keep: Callable[[str], bool] = lambda _: False
        self.dry_locks = False
        self.items: list[dict[str, Any]] = []
        self.writes: dict[str, dict[str, float]] = {}
        event.listen(engine, "before_cursor_execute", self._before, retval=True)
        event.listen(engine, "after_cursor_execute", self._after)
        # SET LOCAL ends with the transaction: so does what the capture noted of it.
        for end in ("commit", "rollback"):
            event.listen(engine, end, lambda conn: conn.info.pop("scale_work_mem", None))

    @contextmanager
    def open(
        self,
        step: str,
        *,
        dry: bool = False,
        keep: Callable[[str], bool] | None = None,
        dry_locks: bool = False,
    ) -> Iterator[None]:
        self.step, self.dry, self.dry_keep = step, dry, keep or (lambda _: False)
        self.dry_locks = dry_locks
        try:
            yield
        finally:
            self.step, self.dry, self.dry_locks = None, False, False

    def _before(self, conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        head = statement.lstrip()[:40].upper()
        if head.startswith("SET LOCAL ENABLE_SEQSCAN"):
            conn.info["scale_seqscan_off"] = "OFF" in head
        if setting := WORK_MEM.match(statement.lstrip()):
            conn.info["scale_work_mem"] = setting[1]
        conn.info["scale_t0"] = time.perf_counter()
        conn.info["scale_item"] = None
        if self.step is None:
            return statement, parameters
        if head.startswith(("SELECT", "WITH")) and not executemany:
            locking = "FOR UPDATE" in statement and not self.dry_locks
            dry = self.dry and not locking and not self.dry_keep(statement)
            item = {
                "step": self.step,
                "sql": statement,
                "params": dict(parameters or {}),
                "seqscan_off": bool(conn.info.get("scale_seqscan_off")),
                "work_mem": conn.info.get("scale_work_mem"),
                "dry": dry,
            }
            conn.info["scale_item"] = item
            if dry:
                statement = f"SELECT * FROM ({statement}) AS dry_run LIMIT 0"
        return statement, parameters

    def _after(self, conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        elapsed = (time.perf_counter() - conn.info.get("scale_t0", time.perf_counter())) * 1000
        item = conn.info.pop("scale_item", None)
        if self.step is None:
            return
        if item is None:
            kind = statement.lstrip().split(None, 1)[0].upper()
            totals = self.writes.setdefault(self.step, {})
            totals[kind] = round(totals.get(kind, 0) + elapsed, 2)
            return
        for known in self.items:  # the same statement again in the same step
            if known["step"] == item["step"] and known["sql"] == item["sql"]:
                known["executions"] += 1
                known["observed_ms_total"] = round(known["observed_ms_total"] + elapsed, 2)
                return
        item["executions"] = 1
        item["observed_ms_first"] = round(elapsed, 2)
        item["observed_ms_total"] = round(elapsed, 2)
        self.items.append(item)


WORK_MEM = re.compile(r"SET LOCAL work_mem = '(\d+[kMG]B)'", re.IGNORECASE)
PLAN_INDEX = re.compile(
    r"(Index Only Scan|Index Scan|Bitmap Index Scan)(?: Backward)? (?:using|on) (\w+)"
)
PLAN_SEQ = re.compile(r"(Parallel )?Seq Scan on (\w+)")


def _run_explain(cursor: Any, item: dict[str, Any]) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS) of a captured statement with its parameters, inside
    the caller's transaction (a savepoint keeps a timeout from ending it)."""
    cursor.execute("SAVEPOINT scale_explain")
    if item["seqscan_off"]:
        cursor.execute("SET LOCAL enable_seqscan = off")
    if item.get("work_mem"):  # as the service set it for its transaction
        cursor.execute(f"SET LOCAL work_mem = '{item['work_mem']}'")
    started = time.perf_counter()
    try:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + item["sql"], item["params"])
        plan = [row[0] for row in cursor.fetchall()]
    except psycopg.errors.QueryCanceled:
        cursor.execute("ROLLBACK TO SAVEPOINT scale_explain")
        return {"timed_out_after_ms": EXPLAIN_TIMEOUT_MS}
    wall_ms = (time.perf_counter() - started) * 1000
    cursor.execute("ROLLBACK TO SAVEPOINT scale_explain")  # undoes locks, SET LOCAL too
    joined = "\n".join(plan)

    def figure(label: str) -> float | None:
        match = re.search(rf"{label}: ([\d.]+) ms", joined)
        return float(match.group(1)) if match else None

    jit = re.search(r"Timing: .*Total ([\d.]+) ms", joined)
    temp = [int(m) for m in re.findall(r"temp (?:read=\d+ )?written=(\d+)", joined)]
    return {
        # long array literals (thousands of hashes) are cut; the rest is as printed
        "plan": [cut(line) for line in plan],
        "planning_ms": figure("Planning Time"),
        "execution_ms": figure("Execution Time"),
        "explain_wall_ms": round(wall_ms, 1),
        "seq_scans": sorted({m.group(2) for m in PLAN_SEQ.finditer(joined)}),
        "indexes": sorted({m.group(2) for m in PLAN_INDEX.finditer(joined)}),
        "sorts": sorted(set(re.findall(r"Sort Method: ([^\n]+)", joined))),
        # 8 KiB blocks written to temporary files: the top node's count holds its children's
        "temp_written_blocks": max(temp, default=0),
        "work_mem": item.get("work_mem"),
        "jit": "JIT:" in joined,
        "jit_ms": float(jit.group(1)) if jit else None,
    }


def cut(line: str, limit: int = 300) -> str:
    return line if len(line) <= limit else f"{line[:limit]}... ({len(line)} chars)"


@contextmanager
def transaction(engine: Any, *prelude: str) -> Iterator[Any]:
    """A cursor in a transaction of the engine's own kind, rolled back at the end."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(f"SET LOCAL statement_timeout = {EXPLAIN_TIMEOUT_MS}")
        for statement in prelude:
            cursor.execute(statement)
        yield cursor
    finally:
        raw.rollback()
        raw.close()


def explain(engine: Any, item: dict[str, Any], *prelude: str) -> dict[str, Any]:
    with transaction(engine, *prelude) as cursor:
        return _run_explain(cursor, item)


# Indexes the plans ask for, tried inside a transaction that is rolled back: built, then
# the statements they are meant for explained again. (step prefix, text the SQL holds)
# R1, R4 and R5 are applied (migrations 0010, 0020, 0011): what is left is the plain
# index on the hash that R2 first proposed, tried on the exact-duplicate statement as it
# was (one statement, captured as before R2) against the two partial indexes applied.
BEFORE_R2 = "fraud scan: exact duplicates in one statement (as before R2)"
WHAT_IF_INDEXES = [
    (
        "clips (video_sha256)",
        "CREATE INDEX scale_what_if ON clips (video_sha256)",
        [(BEFORE_R2, "WHERE clips.video_sha256 IN (SELECT")],
    ),
]  # fmt: skip


def what_if_indexes(engine: Any, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    results = []
    for name, ddl, wanted in WHAT_IF_INDEXES:
        chosen = [
            item
            for item in items
            if any(
                item["step"].startswith(step) and text in " ".join(item["sql"].split())
                for step, text in wanted
            )
        ]
        with transaction(engine, "SET LOCAL maintenance_work_mem = '512MB'") as cursor:
            started = time.perf_counter()
            cursor.execute(ddl)
            built = time.perf_counter() - started
            cursor.execute("SELECT pg_relation_size('scale_what_if')")
            size = cursor.fetchone()[0]
            explained = []
            for item in chosen:
                after = _run_explain(cursor, item)
                explained.append(
                    {
                        "step": item["step"],
                        "sql_starts": " ".join(item["sql"].split())[:160],
                        "dry": item["dry"],
                        **after,
                    }
                )
        print(f"  what if {name}: built in {built:.1f} s", flush=True)
        results.append(
            {
                "index": name,
                "ddl": ddl,
                "build_seconds": round(built, 1),
                "index_bytes": int(size),
                "queries": explained,
            }
        )
    return results
