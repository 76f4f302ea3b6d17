"""What the tamper-evident audit log costs (issue 24, part 4), on PostgreSQL.

- ``commits``: transactions a second, each inserting one row, from 1, 8 and 16 threads:
  a plain one-row insert against ``audit.record`` (chained at commit under the chain's
  lock, so audited commits go one at a time while plain ones are flushed together);
- ``backfill_s``: migration 0021 chaining the records already there (``records`` of
  them, written at revision 0020 with before, after and reason);
- ``verify_s`` / ``verify_per_s``: ``audit verify`` over those records.

    python -m benchmarks.audit_chain [--small]
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from typing import Any

from alembic import command
from sqlalchemy import text

from benchmarks.common import fresh_database, report
from rewards_engine import schema
from rewards_engine.clock import SystemClock
from rewards_engine.db import Database
from rewards_engine.domain.actors import Actor
from rewards_engine.services import audit
from rewards_engine.services.audit import chain

THREADS = (1, 8, 16)
EACH = 100


def commits_per_s(db: Database, threads: int, *, audited: bool) -> float:
    clock = SystemClock()

    def work(n: int) -> None:
        for m in range(EACH):
            with db.transaction() as uow:
                if audited:
                    audit.record(uow.session, clock, Actor(id=f"support:{n}", role="support"),
                                 action="bench.adjust", target_type="donor",
                                 target_id=f"{n}-{m}", before={"points": m},
                                 after={"points": m + 1}, reason="bench")  # fmt: skip
                else:
                    uow.session.execute(
                        text("INSERT INTO bench_plain (v) VALUES (:v)"), {"v": f"{n}-{m}"}
                    )

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return round(threads * EACH / (time.perf_counter() - started))


def commits(url: str) -> dict[str, Any]:
    db = Database(url, pool_size=max(THREADS))
    with db.engine.begin() as connection:
        connection.execute(text("CREATE TABLE bench_plain (id bigserial PRIMARY KEY, v text)"))
    figures = {
        f"threads_{threads}": {
            "plain_per_s": commits_per_s(db, threads, audited=False),
            "audited_per_s": commits_per_s(db, threads, audited=True),
        }
        for threads in THREADS
    }
    assert chain.verify(db).ok
    db.dispose()
    return figures


def backfill_and_verify(url: str, records: int) -> dict[str, Any]:
    db = Database(url)
    config = schema.alembic_config(db.engine)
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0020")
        connection.execute(
            text(
                "INSERT INTO audit_log (created_at, actor_id, actor_role, action, target_type, "
                "target_id, before, after, reason) SELECT now() - g * interval '1 second', "
                "'support:agent-' || (g % 50), 'support', 'points.adjust', 'donor', "
                "(g % 100000)::text, json_build_object('points', g), "
                "json_build_object('points', g + 10), 'goodwill for ticket ' || g "
                "FROM generate_series(1, :n) AS g"
            ),
            {"n": records},
        )
    started = time.perf_counter()
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0021")
    backfill = time.perf_counter() - started
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    started = time.perf_counter()
    walk = chain.verify(db)
    verify = time.perf_counter() - started
    assert walk.ok and walk.records == records
    db.dispose()
    return {
        "records": records,
        "backfill_s": round(backfill, 1),
        "verify_s": round(verify, 1),
        "verify_per_s": round(records / verify),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", action="store_true", help="10,000 records; print only")
    args = parser.parse_args()
    records = 10_000 if args.small else 100_000
    with fresh_database("postgres") as url:
        measured = commits(url)
    with fresh_database("postgres") as url:
        chained = backfill_and_verify(url, records)
    report(
        "audit_chain",
        {"load_average_1m": round(os.getloadavg()[0], 2), "commits": measured, **chained},
        save=not args.small,
    )


if __name__ == "__main__":
    main()
