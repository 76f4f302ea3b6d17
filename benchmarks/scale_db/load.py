"""The bulk load: ``STEPS``, the named steps that fill the migrated database, in order.

``load`` runs them one by one on one autocommit connection with server-side SQL
(``INSERT ... SELECT FROM generate_series``), each timed and reported as it ends
(``load.steps_seconds`` in the results): the secondary indexes, unique constraints and
foreign keys dropped first and recreated one by one at the end, then ``VACUUM (ANALYZE)``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import psycopg

from benchmarks.scale_db.data import (
    LOADED_TABLES,
    PAYEE_EVERY,
    batch_sizes,
    clip_counts,
    typical_donor,
)
from benchmarks.scale_db.database import DATABASE, libpq_url, marker
from benchmarks.scale_db.fill import (
    Load,
    Saved,
    copy_clip_counts,
    create_work_tables,
    insert_clips,
    insert_donors,
    insert_ledger_accounts,
    insert_ledger_entries,
    insert_ledger_transfers,
    insert_medal_awards,
    insert_submission_batches,
    insert_wall_tallies,
    plan_calls,
    plan_ledger_transfers,
    set_sequences,
)


@dataclass(frozen=True)
class Step:
    """A named part of the load, timed on its own. A step with ``each`` runs once for
    every object ``each`` lists, named ``name`` formatted with the object's fields."""

    name: str
    run: Callable[..., None]  # (load) or, with ``each``, (load, object)
    each: Callable[[Load], Sequence[Saved]] | None = None


def secondary_objects(connection: psycopg.Connection[Any]) -> dict[str, list[tuple[str, str, str]]]:
    """What to drop during the load and recreate after it: (table, name, definition)."""
    tables = LOADED_TABLES
    indexes = connection.execute(
        """
        SELECT c.relname, i.relname, pg_get_indexdef(x.indexrelid)
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_class c ON c.oid = x.indrelid
        WHERE c.relname = ANY(%s) AND NOT x.indisprimary
          AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid)
        ORDER BY 1, 2
        """,
        (tables,),
    ).fetchall()
    constraints = connection.execute(
        """
        SELECT k.contype, c.relname, k.conname, pg_get_constraintdef(k.oid)
        FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
        WHERE c.relname = ANY(%s) AND k.contype IN ('u', 'f') ORDER BY 2, 3
        """,
        (tables,),
    ).fetchall()
    uniques = [tuple(row[1:]) for row in constraints if row[0] == "u"]
    foreign = [tuple(row[1:]) for row in constraints if row[0] == "f"]
    return {"indexes": indexes, "uniques": uniques, "foreign": foreign}


def drop_secondary_objects(load: Load) -> None:
    saved = load.saved
    drops = [f'ALTER TABLE "{t}" DROP CONSTRAINT "{n}"' for t, n, _ in saved["foreign"]]
    drops += [f'ALTER TABLE "{t}" DROP CONSTRAINT "{n}"' for t, n, _ in saved["uniques"]]
    drops += [f'DROP INDEX "{n}"' for _, n, _ in saved["indexes"]]
    load.execute(*drops)


def add_constraint(load: Load, saved: Saved) -> None:
    table, name, definition = saved
    load.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')


def create_index(load: Load, saved: Saved) -> None:
    load.execute(saved[2])


def vacuum_analyze(load: Load) -> None:
    load.execute(*[f"VACUUM (ANALYZE) {t}" for t in LOADED_TABLES], "ANALYZE")


STEPS = [
    Step("drop secondary indexes and constraints", drop_secondary_objects),
    Step("work tables", create_work_tables),
    Step("copy clip counts", copy_clip_counts),
    Step("donors", insert_donors),
    Step("batches (work table)", plan_calls),
    Step("clips", insert_clips),
    Step("submission batches", insert_submission_batches),
    Step("ledger transfers (work table)", plan_ledger_transfers),
    Step("ledger transfers", insert_ledger_transfers),
    Step("ledger entries", insert_ledger_entries),
    Step("ledger accounts", insert_ledger_accounts),
    Step("wall tallies", insert_wall_tallies),
    Step("medal awards", insert_medal_awards),
    Step("sequences and work tables", set_sequences),
    Step("unique {1}", add_constraint, each=lambda load: load.saved["uniques"]),
    Step("index {1}", create_index, each=lambda load: load.saved["indexes"]),
    Step("foreign key {1}", add_constraint, each=lambda load: load.saved["foreign"]),
    Step("vacuum analyze", vacuum_analyze),
]


def run_steps(load: Load, steps: Sequence[Step]) -> None:
    """Each step in order, timed and reported as it ends."""
    for step in steps:
        runs: list[tuple[str, tuple[Saved, ...]]] = [(step.name, ())]
        if step.each is not None:
            runs = [(step.name.format(*saved), (saved,)) for saved in step.each(load)]
        for name, args in runs:
            started = time.perf_counter()
            step.run(load, *args)
            load.steps[name] = round(time.perf_counter() - started, 1)
            print(f"  {name}: {load.steps[name]} s", flush=True)


def load(donors: int, clips: int, vault_text: str) -> dict[str, Any]:
    """Fill the migrated database; returns the timings of each step."""
    counts = clip_counts(donors, clips)
    sizes = batch_sizes(counts)
    now = datetime.now(UTC).replace(microsecond=0)
    payees = sum(1 for d in range(1, donors + 1) if d % PAYEE_EVERY == 3)
    assert re.fullmatch(r"[A-Za-z0-9_=-]+", vault_text)  # a Fernet token: safe to inline
    with psycopg.connect(libpq_url(), autocommit=True) as connection:
        connection.execute("SET synchronous_commit = off")
        connection.execute("SET maintenance_work_mem = '1GB'")
        connection.execute("SET work_mem = '256MB'")
        connection.execute("SET max_parallel_maintenance_workers = 2")
        saved = secondary_objects(connection)
        state = Load(connection, donors, counts, sizes, vault_text, now, saved)
        run_steps(state, STEPS)
        connection.execute(f"COMMENT ON DATABASE \"{DATABASE}\" IS '{marker(donors, clips)}'")
    typical = typical_donor(counts)
    return {
        "loaded_at": now.isoformat(),
        "steps_seconds": state.steps,
        "seconds": round(sum(state.steps.values()), 1),
        "calls": int(np.ceil(counts / sizes).sum()),
        "payees": payees,
        "heavy_donor_clips": counts[:10].tolist(),
        "tail_median_clips": float(np.median(counts[10:])),
        "tail_p99_clips": float(np.percentile(counts[10:], 99)),
        "typical_donor": typical,
    }
