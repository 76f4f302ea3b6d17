"""The run: the database created and loaded (or reused), the steps measured, the
captured statements explained, the results reported (see the package's doc)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import text

from benchmarks import scale_db
from benchmarks.common import RESULTS, report, settings_for
from benchmarks.scale_db.capture import Capture, _short, explain, what_if_indexes
from benchmarks.scale_db.data import CAMPAIGN, clip_counts, typical_donor
from benchmarks.scale_db.database import (
    DATABASE,
    database_url,
    existing_marker,
    libpq_url,
    marker,
    recreate_database,
)
from benchmarks.scale_db.load import load
from benchmarks.scale_db.redis_server import RedisMeter, private_redis
from benchmarks.scale_db.sizes import sizes
from benchmarks.scale_db.steps import (
    before_forms,
    fraud_full_dry,
    fraud_incremental,
    honor_wall,
    ingest,
    jobs,
    reads,
    wal_compression,
)
from rewards_engine import schema
from rewards_engine.bootstrap import build_runtime
from rewards_engine.clock import SystemClock
from rewards_engine.crypto import Vault
from rewards_engine.models import Campaign
from rewards_engine.runtime import Runtime
from rewards_engine.services.fixtures import load_fixtures


def decide_on_metadata(runtime: Runtime) -> None:
    """The program's campaign decides the measured submissions on their metadata, as
    the filled clips were (no video uploads: this measures the decision path)."""
    with runtime.db.transaction() as uow:
        campaign = uow.session.get(Campaign, CAMPAIGN)
        assert campaign is not None
        campaign.requires_upload = False


def prewarm() -> None:
    """Read every table and index of the reused database once (``pg_prewarm``, into the
    OS page cache): the times are warm-cache times, as after a load, however long the
    database sat or whatever ran since (a server restart, other work evicting it)."""
    with psycopg.connect(libpq_url(), autocommit=True) as connection:
        connection.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        connection.execute(
            "SELECT pg_prewarm(c.oid, 'read') FROM pg_class c "
            "WHERE c.relkind IN ('r', 'i') AND c.relnamespace = 'public'::regnamespace"
        )


def filled_by(donors: int, clips: int) -> dict[str, Any]:
    """The load of the run that filled the database a ``--reuse`` run reuses, as the
    last results recorded it (carried from run to run), with the date of the run that
    filled it."""
    path = RESULTS / "scale_db.json"
    if not path.exists():
        return {}
    last = json.loads(path.read_text())
    load = last.get("load", {})
    if (last.get("donors"), last.get("clips")) != (donors, clips) or "steps_seconds" not in load:
        return {}
    return {**load, "filled_by_run_of": load.get("filled_by_run_of", last["machine"]["date"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=scale_db.__doc__.splitlines()[0])
    parser.add_argument("--donors", type=int, default=1_000_000)
    parser.add_argument("--clips", type=int, default=10_000_000)
    parser.add_argument("--reuse", action="store_true", help="keep a database already filled")
    parser.add_argument("--no-full-scan", action="store_true", help="skip the full scan's plans")
    args = parser.parse_args()
    began = time.perf_counter()
    results: dict[str, Any] = {"donors": args.donors, "clips": args.clips}
    # The machine may be shared: its load (1 min) before and after says how much.
    results["load_average_before"] = round(os.getloadavg()[0], 2)
    instance = Path(tempfile.mkdtemp(prefix="scale-db-"))
    with private_redis() as redis_url:
        settings = settings_for(database_url(), redis_url, instance).with_encryption_key()
        settings = replace(settings, redis_namespace="scale")
        reuse = args.reuse and existing_marker() == marker(args.donors, args.clips)
        if not reuse:
            print(f"creating {DATABASE} ...", flush=True)
            recreate_database()
            runtime = build_runtime(settings, clock=SystemClock())
            load_fixtures(runtime.db, runtime.clock, settings.fixtures_dir)
            destination = Vault(settings.encryption_keys).encrypt("payee@example.com")
            runtime.close()
            print("loading ...", flush=True)
            results["load"] = load(args.donors, args.clips, destination)
        else:
            print(f"reusing {DATABASE}: reading it into the page cache ...", flush=True)
            prewarm()
            counts = clip_counts(args.donors, args.clips)
            results["load"] = {
                **filled_by(args.donors, args.clips),
                "reused": True,
                "typical_donor": typical_donor(counts),
            }
        typical = results["load"]["typical_donor"]
        runtime = build_runtime(settings, clock=SystemClock())
        decide_on_metadata(runtime)
        results["schema_differences"] = [str(d) for d in schema.differences(runtime.db.engine)]
        results["sizes"] = sizes(runtime)
        capture = Capture(runtime.db.engine)
        meter = RedisMeter(runtime.redis)
        print("reads ...", flush=True)
        reads(runtime, capture, typical)
        with runtime.db.engine.connect() as connection:
            watermark = int(connection.execute(text("SELECT max(id) FROM clips")).scalar())
        print("submissions ...", flush=True)
        results["ingest_at_scale"] = ingest(runtime, capture, meter, typical, args.donors)
        settled_at = time.monotonic() + 31  # the fraud scan leaves clips 30 s to settle
        print("honor wall ...", flush=True)
        results["honor_wall"] = honor_wall(runtime, capture, meter)
        print("jobs ...", flush=True)
        jobs(runtime, capture)
        time.sleep(max(0.0, settled_at - time.monotonic()))
        print("fraud scans ...", flush=True)
        results["fraud_incremental"] = fraud_incremental(runtime, capture, watermark)
        before_forms(runtime, capture, watermark)
        if not args.no_full_scan:
            fraud_full_dry(runtime, capture)
        print(f"explaining {len(capture.items)} statements ...", flush=True)
        queries = []
        for item in capture.items:
            started = time.perf_counter()
            explained = explain(runtime.db.engine, item)
            if explained.get("jit") and not item["dry"]:  # the same without JIT
                again = explain(runtime.db.engine, item, "SET LOCAL jit = off")
                explained["execution_ms_jit_off"] = again.get("execution_ms")
            if item.get("work_mem"):  # the same with the server's work_mem (R8's gain)
                again = explain(runtime.db.engine, {**item, "work_mem": None})
                explained["server_work_mem"] = {
                    key: again.get(key)
                    for key in ("execution_ms", "sorts", "temp_written_blocks", "plan")
                }
            if item["step"].startswith("wall rebuild") and "coalesce(" in item["sql"]:
                again = explain(
                    runtime.db.engine, item, "SET LOCAL jit = off", "SET LOCAL work_mem = '256MB'"
                )
                explained["execution_ms_jit_off_work_mem_256mb"] = again.get("execution_ms")
                explained["plan_jit_off_work_mem_256mb"] = again.get("plan")
            print(f"  {item['step']}: {time.perf_counter() - started:.1f} s", flush=True)
            queries.append(
                {
                    "step": item["step"],
                    "sql": item["sql"],
                    "params": {k: _short(v) for k, v in item["params"].items()},
                    "seqscan_off": item["seqscan_off"],
                    "dry": item["dry"],
                    "executions": item["executions"],
                    "observed_ms_first": None if item["dry"] else item["observed_ms_first"],
                    "observed_ms_total": None if item["dry"] else item["observed_ms_total"],
                    **explained,
                }
            )
        results["queries"] = queries
        results["writes_ms_by_step"] = capture.writes
        print("what if ...", flush=True)
        results["what_if_indexes"] = what_if_indexes(runtime.db.engine, capture.items)
        print("wal compression ...", flush=True)
        results["wal_compression"] = wal_compression(runtime)
        runtime.close()
    shutil.rmtree(instance, ignore_errors=True)
    results["run_seconds"] = round(time.perf_counter() - began, 1)
    results["load_average_after"] = round(os.getloadavg()[0], 2)
    full = args.donors >= 1_000_000 and args.clips >= 10_000_000
    report("scale_db", results, save=full)
