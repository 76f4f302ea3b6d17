"""Table and index sizes, the period boards of the generated data and the server's
settings."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from benchmarks.scale_db.data import LOADED_TABLES
from rewards_engine.runtime import Runtime


def sizes(runtime: Runtime) -> dict[str, Any]:
    with runtime.db.engine.connect() as connection:
        tables = connection.execute(
            text(
                """
                SELECT c.relname, c.reltuples::bigint, pg_relation_size(c.oid),
                    pg_indexes_size(c.oid), pg_total_relation_size(c.oid)
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'public' AND c.relkind = 'r'
                ORDER BY pg_total_relation_size(c.oid) DESC
                """
            )
        ).all()
        indexes = connection.execute(
            text(
                """
                SELECT t.relname, i.relname, pg_relation_size(i.oid)
                FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
                JOIN pg_class t ON t.oid = x.indrelid
                JOIN pg_namespace n ON n.oid = t.relnamespace
                WHERE n.nspname = 'public' ORDER BY 3 DESC
                """
            )
        ).all()
        database = connection.execute(text("SELECT pg_database_size(current_database())")).scalar()
        boards = {
            kind: dict(
                zip(
                    ("boards", "mean_donors", "max_donors"),
                    map(float, row),
                    strict=True,
                )
            )
            for kind in ("week", "month")
            for row in connection.execute(
                text(
                    "SELECT count(*), avg(n), max(n) FROM (SELECT board, count(*) AS n "
                    "FROM wall_tallies WHERE board LIKE :kind GROUP BY board) b"
                ),
                {"kind": f"{kind}:%"},
            )
        }
        settings = dict(
            connection.execute(
                text(
                    "SELECT name, setting || coalesce(unit, '') FROM pg_settings WHERE name IN "
                    "('shared_buffers', 'work_mem', 'effective_cache_size', 'random_page_cost', "
                    "'jit', 'max_parallel_workers_per_gather', 'server_version')"
                )
            ).all()
        )
    by_table: dict[str, Any] = {}
    for name, rows, heap, index_bytes, total in tables:
        if total < 1 << 20 and name not in LOADED_TABLES:
            continue
        by_table[name] = {
            "rows": int(rows),
            "heap_bytes": int(heap),
            "indexes_bytes": int(index_bytes),
            "total_bytes": int(total),
            "indexes": {i: int(b) for t, i, b in indexes if t == name},
        }
    clips = by_table["clips"]
    rows = clips["rows"]
    return {
        "database_bytes": int(database),
        "tables": by_table,
        "per_clip": {
            "clips_heap_bytes": round(clips["heap_bytes"] / rows, 1),
            "clips_index_bytes": round(clips["indexes_bytes"] / rows, 1),
            "clips_total_bytes": round(clips["total_bytes"] / rows, 1),
            "database_bytes_per_clip": round(int(database) / rows, 1),
        },
        "server_settings": settings,
        "period_boards_in_generated_data": boards,
    }
