"""PostgreSQL at scale: 1,000,000 donors and 10,000,000 clips, and the plans of the hot
queries as the services issue them.

1. Creates the database ``rewards_scale`` (``--reuse`` keeps one already filled at the
   same size), migrates it with the Alembic revisions and loads the fixtures.
2. Fills it with server-side SQL (``INSERT ... SELECT FROM generate_series``, ``md5()``
   for the hashes), its secondary indexes, unique constraints and foreign keys dropped
   during the load and recreated after it, then ``VACUUM (ANALYZE)``: donors; clips over
   365 days, in time order (ids grow with ``created_at``, as inserts make them), skewed
   (the leader at 201,531, nine more heavy donors, a Pareto tail with a handful each);
   their submission batches; the ledger (an earning transfer per batch, a vesting
   transfer per batch past its review window, a cash credit for each of 100,000 payees,
   cached balances equal to the entries); the Honor Wall tallies of every board (all
   time, campaign, month, week, incident type) and the count medals they earned.
3. Runs the real services with a ``before_cursor_execute`` listener on the engine and
   keeps every SELECT they issue with its parameters: a donor's clips and ledger pages
   (the leader and a typical donor), submissions (timed: the ingest rate at this size,
   WAL bytes and Redis CPU per call), the Honor Wall rebuild of ``all-time`` (Redis
   memory per donor, Redis CPU per standing lookup and per page read), the incremental
   fraud scan of the clips just submitted, and, in *dry* mode (each captured SELECT
   sent as ``SELECT * FROM (...) LIMIT 0``, so the service finds nothing to do and
   writes nothing), the payout gathering, the vesting job, the retention job and the
   nightly full fraud scan. Then ``EXPLAIN (ANALYZE, BUFFERS)`` of each captured SELECT
   with its parameters (a statement repeated within a step is explained once, with the
   parameters of its first run), on a connection of the same engine (server settings
   as they are), in a transaction rolled back afterwards; statements that JIT-compiled
   are explained again with ``jit = off``.
4. What-if: the indexes the plans ask for are built inside a rolled-back transaction
   and the statements they are meant for explained again; the submissions are timed
   again with an index on ``wall_tallies (donor_id)`` (created, then dropped).
5. Records table and index sizes, and writes ``benchmarks/results/scale_db.json``.

About 12 minutes on the 2-core CI machine (7 of them the load); docs/capacity.md reads
the results.

Redis: a private ``redis-server`` on a socket of its own (the one the engine runs with,
7.0 from Debian), so that its CPU and command counters are this benchmark's alone.

    python -m benchmarks.scale_db [--reuse] [--donors 1000000] [--clips 10000000]
                                  [--no-full-scan]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import secrets
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

from benchmarks.common import POSTGRES, _migrate, report, settings_for
from rewards_engine import schema
from rewards_engine.clock import SystemClock
from rewards_engine.config import normalise_database_url
from rewards_engine.crypto import Vault
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.submissions import ClipInput
from rewards_engine.models import Donor, FraudScanState
from rewards_engine.runtime import Runtime
from rewards_engine.services import fraud, ledger, payouts, privacy, submissions, vesting, wall
from rewards_engine.services.fixtures import load_fixtures

DATABASE = "rewards_scale"
CAMPAIGN = "video-donation-program"  # open-ended, points only (fixtures/campaigns.toml)
CONSENT = "2024-12-01"
INCIDENTS = ["package_theft", "car_door", "break_in", "vandalism", "loitering", "other"]
# The leader (as in the program: 201,531 clips), then nine more heavy donors.
HEAVY = [201_531, 90_000, 60_000, 45_000, 30_000, 20_000, 15_000, 12_000, 10_000, 8_000]
TAIL_CAP = 5_000  # the Pareto tail's largest donor
PAYEE_EVERY = 10  # every tenth donor (id % 10 == 3) has a payout destination and cash
LOADED_TABLES = [
    "donors", "submission_batches", "clips", "ledger_accounts", "ledger_transfers",
    "ledger_entries", "wall_tallies", "medal_awards",
]  # fmt: skip
COUNT_MEDALS = [
    ("apprentice", 1), ("watch-10", 10), ("watch-100", 100), ("watch-1000", 1000),
    ("watch-10000", 10_000), ("watch-100000", 100_000),
]  # fmt: skip
EXPLAIN_TIMEOUT_MS = 240_000


# --- the database ------------------------------------------------------------------------


def base_url() -> str:
    return os.environ.get("BENCH_DATABASE_URL", POSTGRES)


def database_url() -> str:
    url = make_url(normalise_database_url(base_url())).set(database=DATABASE)
    return url.render_as_string(hide_password=False)


def libpq_url() -> str:
    return (
        make_url(base_url())
        .set(database=DATABASE, drivername="postgresql")
        .render_as_string(hide_password=False)
    )


def marker(donors: int, clips: int) -> str:
    return f"scale_db donors={donors} clips={clips}"


def existing_marker() -> str | None:
    admin = create_engine(normalise_database_url(base_url()), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            return connection.execute(
                text(
                    "SELECT coalesce(shobj_description(oid, 'pg_database'), '') "
                    "FROM pg_database WHERE datname = :name"
                ),
                {"name": DATABASE},
            ).scalar()
    finally:
        admin.dispose()


def recreate_database() -> None:
    admin = create_engine(normalise_database_url(base_url()), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{DATABASE}"'))
    finally:
        admin.dispose()
    _migrate(database_url())


# --- the data ------------------------------------------------------------------------------


def clip_counts(donors: int, clips: int, seed: int = 17) -> np.ndarray:
    """Clips per donor (index 0 is donor 1): the heavy donors, then a Pareto tail of
    mostly a handful each, adding up to ``clips`` exactly."""
    scale = clips / 10_000_000
    heavy = np.array([max(1, int(c * scale)) for c in HEAVY][: donors - 1], dtype=np.int64)
    rest_n = donors - len(heavy)
    target = clips - int(heavy.sum())
    rng = np.random.default_rng(seed)
    weights = rng.pareto(1.3, rest_n)  # Lomax: 0 upwards, heavy tailed

    def counts_for(k: float) -> np.ndarray:
        return np.minimum(TAIL_CAP, 1 + np.floor(weights * k)).astype(np.int64)

    low, high = 0.0, 1_000.0
    for _ in range(60):
        middle = (low + high) / 2
        if counts_for(middle).sum() < target:
            low = middle
        else:
            high = middle
    rest = counts_for(low)
    diff = target - int(rest.sum())
    if diff > 0:
        rest[rng.choice(rest_n, size=diff, replace=False)] += 1
    elif diff < 0:
        candidates = np.flatnonzero(rest > 1)
        rest[rng.choice(candidates, size=-diff, replace=False)] -= 1
    counts = np.concatenate([heavy, rest])
    assert int(counts.sum()) == clips and counts.min() >= 1
    return counts


def batch_sizes(counts: np.ndarray) -> np.ndarray:
    """Clips per call: heavy donors send 500 at a time, occasional donors one or two."""
    return np.select(
        [counts >= 20_000, counts >= 2_000, counts >= 200, counts >= 20],
        [500, 100, 25, 5],
        default=2,
    ).astype(np.int64)


def ts(moment: datetime) -> str:
    return f"'{moment.isoformat()}'::timestamptz"


class Loader:
    """The bulk load, one timed step at a time, on one autocommit connection."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self.connection = connection
        self.steps: dict[str, float] = {}

    def run(self, name: str, *statements: str) -> None:
        started = time.perf_counter()
        for statement in statements:
            self.connection.execute(statement)  # type: ignore[arg-type]
        self.steps[name] = round(time.perf_counter() - started, 1)
        print(f"  {name}: {self.steps[name]} s", flush=True)


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
    uniques = connection.execute(
        """
        SELECT c.relname, k.conname, pg_get_constraintdef(k.oid)
        FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
        WHERE c.relname = ANY(%s) AND k.contype = 'u' ORDER BY 1, 2
        """,
        (tables,),
    ).fetchall()
    foreign = connection.execute(
        """
        SELECT c.relname, k.conname, pg_get_constraintdef(k.oid)
        FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
        WHERE c.relname = ANY(%s) AND k.contype = 'f' ORDER BY 1, 2
        """,
        (tables,),
    ).fetchall()
    return {"indexes": indexes, "uniques": uniques, "foreign": foreign}


def load(donors: int, clips: int, vault_text: str) -> dict[str, Any]:
    """Fill the migrated database; returns the timings of each step."""
    counts = clip_counts(donors, clips)
    sizes = batch_sizes(counts)
    now = datetime.now(UTC).replace(microsecond=0)
    first = now - timedelta(days=365)
    span_s = 365 * 86_400 - 600  # the newest call ten minutes ago
    payees = sum(1 for d in range(1, donors + 1) if d % PAYEE_EVERY == 3)
    assert re.fullmatch(r"[A-Za-z0-9_=-]+", vault_text)  # a Fernet token: safe to inline
    with psycopg.connect(libpq_url(), autocommit=True) as connection:
        connection.execute("SET synchronous_commit = off")
        connection.execute("SET maintenance_work_mem = '1GB'")
        connection.execute("SET work_mem = '256MB'")
        connection.execute("SET max_parallel_maintenance_workers = 2")
        loader = Loader(connection)
        saved = secondary_objects(connection)
        drops = [f'ALTER TABLE "{t}" DROP CONSTRAINT "{n}"' for t, n, _ in saved["foreign"]]
        drops += [f'ALTER TABLE "{t}" DROP CONSTRAINT "{n}"' for t, n, _ in saved["uniques"]]
        drops += [f'DROP INDEX "{n}"' for _, n, _ in saved["indexes"]]
        loader.run("drop secondary indexes and constraints", *drops)

        loader.run(
            "work tables",
            "DROP SCHEMA IF EXISTS scale_work CASCADE",
            "CREATE SCHEMA scale_work",
            "CREATE UNLOGGED TABLE scale_work.counts (donor_id int, clips int, batch_size int)",
        )
        started = time.perf_counter()
        with connection.cursor().copy(
            "COPY scale_work.counts (donor_id, clips, batch_size) FROM STDIN"
        ) as copy:
            pairs = zip(counts.tolist(), sizes.tolist(), strict=True)
            for donor, (n, size) in enumerate(pairs, start=1):
                copy.write_row((donor, n, size))
        loader.steps["copy clip counts"] = round(time.perf_counter() - started, 1)

        # Donors: 70 % public, 20 % alias, 10 % hidden; 0.1 % banned, 0.2 % on hold;
        # every tenth a payee with a PayPal destination set a month ago.
        loader.run(
            "donors",
            f"""
            INSERT INTO donors (id, account_id, display_name, alias, visibility, status,
                timezone, created_at, updated_at, consent_version, on_hold, wall_version,
                payout_kind, payout_destination, payout_masked, payout_changed_at,
                payout_fingerprint)
            SELECT g, 'scale-' || g, 'Donor ' || g, 'Alias ' || g,
                CASE WHEN g % 10 < 7 THEN 'public' WHEN g % 10 < 9 THEN 'alias' ELSE 'hidden' END,
                CASE WHEN g % 1000 = 999 THEN 'banned' ELSE 'active' END,
                NULL, {ts(first)} - interval '30 days', {ts(first)} - interval '30 days',
                '{CONSENT}', g % 500 = 250, 1,
                CASE WHEN g % {PAYEE_EVERY} = 3 THEN 'paypal_email' END,
                CASE WHEN g % {PAYEE_EVERY} = 3 THEN '{vault_text}' END,
                CASE WHEN g % {PAYEE_EVERY} = 3 THEN 'p***@example.com' END,
                CASE WHEN g % {PAYEE_EVERY} = 3 THEN {ts(now)} - interval '30 days' END,
                CASE WHEN g % {PAYEE_EVERY} = 3 THEN md5('payee' || g) END
            FROM generate_series(1, {donors}) g
            """,
        )

        # Calls: each at a random moment of the year; ids in time order.
        loader.run(
            "batches (work table)",
            f"""
            CREATE UNLOGGED TABLE scale_work.calls AS
            SELECT row_number() OVER (ORDER BY at, donor_id, k) AS id, donor_id, size, at
            FROM (
                SELECT c.donor_id, k, least(c.batch_size, c.clips - k * c.batch_size) AS size,
                    {ts(first)} + make_interval(secs => floor(
                        ('x' || substr(md5(c.donor_id || ':' || k), 1, 8))::bit(32)::bigint
                        / 4294967296.0 * {span_s})) AS at
                FROM scale_work.counts c, generate_series(0, (c.clips - 1) / c.batch_size) k
            ) s
            """,
            """
            CREATE UNLOGGED TABLE scale_work.batches AS
            SELECT id, donor_id, size, at,
                sum(size) OVER (ORDER BY id) - size + 1 AS first_clip
            FROM scale_work.calls ORDER BY id
            """,
        )

        # Clips: 93 % accepted, 2.5 % duplicates (of the clip 1,000 ids earlier), 2.5 %
        # rejected by a cap, 1 % pending review, 1 % reversed; vested a week after.
        loader.run(
            "clips",
            f"""
            INSERT INTO clips (id, batch_id, donor_id, campaign_id, video_sha256,
                perceptual_hash, event_id, incident_type, camera_id, recorded_at, duration_s,
                staged, status, reason, duplicate_of_id, points, cash_cents, currency,
                created_at, vests_at, vested_at, reviewed_at, reversed_at, accepted_at,
                metadata_deleted_at)
            SELECT id, batch_id, donor_id, '{CAMPAIGN}', sha,
                ('x' || substr(sha, 33, 16))::bit(64)::bigint,
                'ev-' || batch_id || '-' || ((g - 1) / 2),
                (ARRAY{INCIDENTS!r})[1 + (id * 40503) % 6],
                'SN' || lpad(to_hex((donor_id::bigint * 2654435761) % 4294967296), 8, '0')
                    || '-' || (g % CASE WHEN donor_id = 1 THEN 40 ELSE 1 + donor_id % 3 END),
                at - make_interval(secs => CASE WHEN (id * 97) % 1000 < 3
                    THEN 86400 * (40 + (id % 60)) ELSE 60 + (id * 7919) % 172800 END),
                5 + ((id * 31337) % 11500) / 100.0,
                (id * 7) % 10 = 0,
                status,
                CASE status WHEN 'duplicate' THEN 'already_received'
                    WHEN 'rejected' THEN CASE WHEN id % 2 = 0 THEN 'event_cap_reached'
                        ELSE 'daily_cap_reached' END END,
                CASE WHEN status = 'duplicate' AND id > 1000 THEN id - 1000 END,
                CASE WHEN status IN ('accepted', 'reversed') THEN 10 ELSE 0 END, 0, 'USD',
                at,
                CASE WHEN status IN ('accepted', 'reversed') THEN at + interval '7 days' END,
                CASE WHEN status = 'accepted' AND at + interval '7 days 10 minutes' <= {ts(now)}
                    THEN at + interval '7 days 5 minutes' END,
                NULL,
                CASE WHEN status = 'reversed' THEN at + interval '3 days' END,
                CASE WHEN status IN ('accepted', 'reversed') THEN at END,
                NULL
            FROM (
                SELECT b.first_clip + g - 1 AS id, b.id AS batch_id, b.donor_id, b.at, g,
                    CASE WHEN u < 930 THEN 'accepted' WHEN u < 955 THEN 'duplicate'
                        WHEN u < 980 THEN 'rejected' WHEN u < 990 THEN 'pending_review'
                        ELSE 'reversed' END AS status,
                    md5('s' || CASE WHEN u >= 930 AND u < 955 AND b.first_clip + g > 1001
                        THEN b.first_clip + g - 1001 ELSE b.first_clip + g - 1 END)
                    || md5('t' || CASE WHEN u >= 930 AND u < 955 AND b.first_clip + g > 1001
                        THEN b.first_clip + g - 1001 ELSE b.first_clip + g - 1 END) AS sha
                FROM scale_work.batches b
                CROSS JOIN LATERAL generate_series(1, b.size) g
                CROSS JOIN LATERAL (SELECT ((b.first_clip + g - 1) * 2654435761) % 1000 AS u) h
            ) c
            """,
        )
        loader.run(
            "submission batches",
            f"""
            INSERT INTO submission_batches (id, donor_id, campaign_id, consent_version,
                clip_count, accepted, points, cash_cents, currency, created_at)
            SELECT b.id, b.donor_id, '{CAMPAIGN}', '{CONSENT}', b.size, a.accepted,
                10 * a.accepted, 0, 'USD', b.at
            FROM scale_work.batches b JOIN (
                SELECT batch_id, count(*) FILTER (WHERE status IN ('accepted', 'reversed'))
                    AS accepted
                FROM clips GROUP BY batch_id
            ) a ON a.batch_id = b.id
            ORDER BY b.id
            """,
        )

        # The ledger: account ids are derived (1-2 the program's, 2d+1 and 2d+2 donor
        # d's points accounts, 2D+2+d a payee's cash), transfers in time order.
        cash_base = 2 * donors + 2
        loader.run(
            "ledger transfers (work table)",
            f"""
            CREATE UNLOGGED TABLE scale_work.events AS
            SELECT row_number() OVER (ORDER BY at, o, ref) AS id, *
            FROM (
                SELECT sb.created_at AS at, 0 AS o, sb.id AS ref, 'earning' AS kind,
                    'batch' AS ref_type, sb.id::text AS ref_id, 'donor:' || sb.donor_id AS actor,
                    sb.accepted || ' accepted clips in campaign {CAMPAIGN}' AS reason,
                    'earn:batch:' || sb.id AS key,
                    2 * sb.donor_id + 1 AS a1, sb.points AS m1, 1 AS a2, -sb.points AS m2
                FROM submission_batches sb WHERE sb.points > 0
                UNION ALL
                SELECT sb.created_at + interval '7 days 5 minutes', 1, sb.id, 'vesting',
                    'donor', sb.donor_id::text, 'system:vest-earnings',
                    sb.accepted || ' clips passed their review window',
                    'vest:' || sb.donor_id || ':' || b.first_clip || ':'
                        || (b.first_clip + b.size - 1) || ':' || sb.accepted,
                    2 * sb.donor_id + 1, -sb.points, 2 * sb.donor_id + 2, sb.points
                FROM submission_batches sb JOIN scale_work.batches b ON b.id = sb.id
                WHERE sb.points > 0 AND sb.created_at + interval '7 days 10 minutes' <= {ts(now)}
                UNION ALL
                SELECT {ts(now)} - make_interval(secs => 86400 * 20 + g % 86400), 2, g,
                    'adjustment', 'donor', g::text, 'support:scale-bench', 'bounties',
                    'scale-cash:' || g, {cash_base} + g, 500 + (g % 50) * 100, 2,
                    -(500 + (g % 50) * 100)
                FROM generate_series(1, {donors}) g WHERE g % {PAYEE_EVERY} = 3
            ) e
            ORDER BY at, o, ref
            """,
        )
        loader.run(
            "ledger transfers",
            """
            INSERT INTO ledger_transfers (id, kind, reference_type, reference_id, actor, reason,
                idempotency_key, reverses_id, created_at)
            SELECT id, kind, ref_type, ref_id, actor, reason, key, NULL, at
            FROM scale_work.events ORDER BY id
            """,
        )
        loader.run(
            "ledger entries",
            """
            INSERT INTO ledger_entries (id, transfer_id, account_id, amount, created_at)
            SELECT 2 * e.id - 1 + v.o, e.id, v.account, v.amount, e.at
            FROM scale_work.events e
            CROSS JOIN LATERAL (VALUES (0, e.a1, e.m1), (1, e.a2, e.m2)) v(o, account, amount)
            """,
        )
        loader.run(
            "ledger accounts",
            f"""
            INSERT INTO ledger_accounts (id, owner, donor_id, kind, currency, balance, created_at)
            VALUES (1, 'program', NULL, 'rewards_issued', 'PTS', 0, {ts(first)}),
                   (2, 'program', NULL, 'rewards_issued', 'USD', 0, {ts(first)})
            """,
            f"""
            INSERT INTO ledger_accounts (id, owner, donor_id, kind, currency, balance, created_at)
            SELECT a.id, 'donor:' || a.donor_id, a.donor_id, a.kind, a.currency,
                coalesce(s.balance, 0), {ts(first)}
            FROM (
                SELECT 2 * g + 1 AS id, g AS donor_id, 'points_pending' AS kind, 'PTS' AS currency
                FROM generate_series(1, {donors}) g
                UNION ALL
                SELECT 2 * g + 2, g, 'points_available', 'PTS' FROM generate_series(1, {donors}) g
                UNION ALL
                SELECT {cash_base} + g, g, 'cash_available', 'USD'
                FROM generate_series(1, {donors}) g WHERE g % {PAYEE_EVERY} = 3
            ) a LEFT JOIN (
                SELECT account_id, sum(amount) AS balance FROM ledger_entries
                WHERE account_id > 2 GROUP BY account_id
            ) s ON s.account_id = a.id
            ORDER BY a.id
            """,
        )

        # Honor Wall tallies of every board a clip counted on, and the count medals.
        loader.run(
            "wall tallies",
            """
            CREATE UNLOGGED TABLE scale_work.tally AS
            SELECT donor_id, date_trunc('week', accepted_at AT TIME ZONE 'UTC') AS week,
                date_trunc('month', accepted_at AT TIME ZONE 'UTC') AS month, incident_type,
                count(*) AS clips, max(accepted_at) AS reached_at
            FROM clips WHERE status = 'accepted' GROUP BY 1, 2, 3, 4
            """,
            f"""
            INSERT INTO wall_tallies (board, donor_id, clips, reached_at)
            SELECT 'all-time', donor_id, sum(clips), max(reached_at)
                FROM scale_work.tally GROUP BY donor_id
            UNION ALL
            SELECT 'campaign:{CAMPAIGN}', donor_id, sum(clips), max(reached_at)
                FROM scale_work.tally GROUP BY donor_id
            UNION ALL
            SELECT 'month:' || to_char(month, 'YYYY-MM'), donor_id, sum(clips), max(reached_at)
                FROM scale_work.tally GROUP BY donor_id, month
            UNION ALL
            SELECT 'week:' || to_char(week, 'IYYY-"W"IW'), donor_id, sum(clips), max(reached_at)
                FROM scale_work.tally GROUP BY donor_id, week
            UNION ALL
            SELECT 'type:' || incident_type, donor_id, sum(clips), max(reached_at)
                FROM scale_work.tally GROUP BY donor_id, incident_type
            """,
        )
        medals = ", ".join(f"('{code}', {threshold})" for code, threshold in COUNT_MEDALS)
        loader.run(
            "medal awards",
            f"""
            INSERT INTO medal_awards (donor_id, code, version, period_key, awarded_at, evidence,
                provisional_until, revoked_at, revoke_reason, grants, notification_id)
            SELECT t.donor_id, m.code, d.version, '', t.reached_at,
                json_build_object('count', t.clips, 'threshold', m.threshold, 'scope', 'all-time'),
                NULL, NULL, NULL, 1, NULL
            FROM wall_tallies t
            JOIN (VALUES {medals}) m(code, threshold) ON t.clips >= m.threshold
            JOIN (SELECT code, max(version) AS version FROM medal_definitions GROUP BY code) d
                ON d.code = m.code
            WHERE t.board = 'all-time'
            ORDER BY t.reached_at
            """,
        )
        loader.run(
            "sequences and work tables",
            *[
                f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), "
                f"(SELECT coalesce(max(id), 1) FROM {t}))"
                for t in LOADED_TABLES
                if t != "wall_tallies"
            ],
            "DROP SCHEMA scale_work CASCADE",
        )
        for table, name, definition in saved["uniques"]:
            loader.run(
                f"unique {name}", f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}'
            )
        for _, name, definition in saved["indexes"]:
            loader.run(f"index {name}", definition)
        for table, name, definition in saved["foreign"]:
            loader.run(
                f"foreign key {name}", f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}'
            )
        loader.run("vacuum analyze", *[f"VACUUM (ANALYZE) {t}" for t in LOADED_TABLES], "ANALYZE")
        connection.execute(f"COMMENT ON DATABASE \"{DATABASE}\" IS '{marker(donors, clips)}'")
    typical = typical_donor(counts)
    return {
        "loaded_at": now.isoformat(),
        "steps_seconds": loader.steps,
        "seconds": round(sum(loader.steps.values()), 1),
        "calls": int(np.ceil(counts / sizes).sum()),
        "payees": payees,
        "heavy_donor_clips": counts[:10].tolist(),
        "tail_median_clips": float(np.median(counts[10:])),
        "tail_p99_clips": float(np.percentile(counts[10:], 99)),
        "typical_donor": typical,
    }


def typical_donor(counts: np.ndarray) -> int:
    """A public, active donor, not a payee, with the tail's median number of clips."""
    median = int(np.median(counts[10:]))
    for index in range(5_000, len(counts)):
        donor = index + 1
        ordinary = donor % 10 < 7 and donor % PAYEE_EVERY != 3  # public, not a payee
        ordinary = ordinary and donor % 1000 != 999 and donor % 500 != 250  # active, no hold
        if counts[index] == median and ordinary:
            return donor
    return len(counts)


# --- capturing what the services issue -----------------------------------------------------


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
    step, SELECTs (but ``dry_keep`` ones and locking ones) return no rows."""

    def __init__(self, engine: Any) -> None:
        self.step: str | None = None
        self.dry = False
        self.dry_keep: Callable[[str], bool] = lambda _: False
        self.items: list[dict[str, Any]] = []
        self.writes: dict[str, dict[str, float]] = {}
        event.listen(engine, "before_cursor_execute", self._before, retval=True)
        event.listen(engine, "after_cursor_execute", self._after)

    @contextmanager
    def open(
        self, step: str, *, dry: bool = False, keep: Callable[[str], bool] | None = None
    ) -> Iterator[None]:
        self.step, self.dry, self.dry_keep = step, dry, keep or (lambda _: False)
        try:
            yield
        finally:
            self.step, self.dry = None, False

    def _before(self, conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        head = statement.lstrip()[:40].upper()
        if head.startswith("SET LOCAL ENABLE_SEQSCAN"):
            conn.info["scale_seqscan_off"] = "OFF" in head
        conn.info["scale_t0"] = time.perf_counter()
        conn.info["scale_item"] = None
        if self.step is None:
            return statement, parameters
        if head.startswith(("SELECT", "WITH")) and not executemany:
            dry = self.dry and "FOR UPDATE" not in statement and not self.dry_keep(statement)
            item = {
                "step": self.step,
                "sql": statement,
                "params": dict(parameters or {}),
                "seqscan_off": bool(conn.info.get("scale_seqscan_off")),
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
    return {
        # long array literals (thousands of hashes) are cut; the rest is as printed
        "plan": [cut(line) for line in plan],
        "planning_ms": figure("Planning Time"),
        "execution_ms": figure("Execution Time"),
        "explain_wall_ms": round(wall_ms, 1),
        "seq_scans": sorted({m.group(2) for m in PLAN_SEQ.finditer(joined)}),
        "indexes": sorted({m.group(2) for m in PLAN_INDEX.finditer(joined)}),
        "sorts": sorted(set(re.findall(r"Sort Method: ([^\n]+)", joined))),
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
WHAT_IF_INDEXES = [
    (
        "wall_tallies (donor_id)",
        "CREATE INDEX scale_what_if ON wall_tallies (donor_id)",
        [("submission", "FROM wall_tallies WHERE wall_tallies.donor_id"),
         ("fraud scan: incremental", "LEFT OUTER JOIN wall_tallies ON wall_tallies.donor_id = "
          "donors.id WHERE")],
    ),
    (
        "clips (video_sha256)",
        "CREATE INDEX scale_what_if ON clips (video_sha256)",
        [("fraud scan: incremental", "WHERE clips.video_sha256 IN (SELECT")],
    ),
    (
        "clips (vests_at) WHERE vested_at IS NULL AND status = 'accepted'",
        "CREATE INDEX scale_what_if ON clips (vests_at) "
        "WHERE vested_at IS NULL AND status = 'accepted'",
        [("vesting", "SELECT DISTINCT clips.donor_id FROM clips JOIN donors")],
    ),
    (
        "clips (campaign_id, created_at) WHERE metadata_deleted_at IS NULL",
        "CREATE INDEX scale_what_if ON clips (campaign_id, created_at) "
        "WHERE metadata_deleted_at IS NULL",
        [("retention", "FROM clips WHERE clips.campaign_id")],
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


# --- Redis -----------------------------------------------------------------------------------


@contextmanager
def private_redis() -> Iterator[str]:
    """A redis-server of this run's own on a socket, without persistence."""
    directory = Path(tempfile.mkdtemp(prefix="scale-redis-"))
    sock = directory / "redis.sock"
    process = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", "--port", "0", "--unixsocket", str(sock),
         "--unixsocketperm", "700", "--save", "", "--appendonly", "no", "--dir", str(directory)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not sock.exists():
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.1)
        yield f"unix://{sock}"
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(directory, ignore_errors=True)


class RedisMeter:
    """The private server's CPU seconds and commands between two readings."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def reading(self) -> tuple[float, int]:
        cpu = self.client.info("cpu")
        stats = self.client.info("commandstats")
        calls = sum(int(v["calls"]) for v in stats.values())
        return float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"]), calls

    @contextmanager
    def measure(self, out: dict[str, Any], operations: int) -> Iterator[None]:
        cpu0, calls0 = self.reading()
        yield
        cpu1, calls1 = self.reading()
        calls = calls1 - calls0 - 2  # the INFO calls of the reading itself
        out["redis_cpu_us_per_op"] = round((cpu1 - cpu0) * 1e6 / operations, 1)
        out["redis_commands_per_op"] = round(calls / operations, 2)


# --- the steps ------------------------------------------------------------------------------


def new_clips(donor_id: int, count: int, now: datetime) -> list[ClipInput]:
    return [
        ClipInput(
            video_sha256=secrets.token_hex(32),
            event_id=f"new-{secrets.token_hex(6)}",
            incident_type=INCIDENTS[i % len(INCIDENTS)],
            camera_id=f"NEW-{donor_id}-{i % 3}",
            recorded_at=now - timedelta(minutes=30 + i % 600),
            duration_s=30.0,
            staged=False,
            perceptual_hash=secrets.randbits(63),
        )
        for i in range(count)
    ]


def submit(runtime: Runtime, donor_id: int, count: int) -> float:
    now = runtime.clock.now()
    request = submissions.SubmissionRequest(CAMPAIGN, CONSENT, new_clips(donor_id, count, now))
    started = time.perf_counter()
    submissions.submit(
        runtime.db, runtime.clock, Actor(id=f"donor:{donor_id}", role="donor"), donor_id, request
    )
    return time.perf_counter() - started


def wal_stats(runtime: Runtime) -> tuple[int, int, int]:
    """The cluster's WAL so far: bytes, records and full-page images (pg_stat_wal)."""
    with runtime.db.engine.connect() as connection:
        row = connection.execute(
            text(
                "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint, wal_records, "
                "wal_fpi FROM pg_stat_wal"
            )
        ).one()
    return int(row[0]), int(row[1]), int(row[2])


def wal_figures(before: tuple[int, int, int], after: tuple[int, int, int], clips: int) -> dict:
    wal_bytes, records, fpi = (b - a for a, b in zip(before, after, strict=True))
    return {
        "wal_bytes_per_clip": round(wal_bytes / clips),
        "wal_records_per_clip": round(records / clips, 1),
        "wal_full_page_images_per_clip": round(fpi / clips, 2),
    }


def ingest(
    runtime: Runtime, capture: Capture, meter: RedisMeter, typical: int, donors: int
) -> dict[str, Any]:
    """Submissions at this size, timed: the leader and 16 heavy-ish donors send 500 clips,
    40 occasional donors 25 (the mobile mix's average); the leader's and one typical
    donor's calls are captured."""
    results: dict[str, Any] = {}
    big: list[float] = []
    small: list[float] = []
    wal0 = wal_stats(runtime)
    redis_big: dict[str, Any] = {}
    with meter.measure(redis_big, 17):
        with capture.open("submission: the leader, 500 clips"):
            big.append(submit(runtime, 1, 500))
        for donor in range(11, 27):
            big.append(submit(runtime, donor, 500))
    wal1 = wal_stats(runtime)
    redis_small: dict[str, Any] = {}
    with meter.measure(redis_small, 40):
        with capture.open("submission: a typical donor, 25 clips"):
            small.append(submit(runtime, typical, 25))
        for donor in range(donors // 5 + 1, donors // 5 + 40):
            small.append(submit(runtime, donor, 25))
    wal2 = wal_stats(runtime)
    results["calls_of_500"] = {
        "calls": len(big),
        "ms_median": round(statistics.median(big) * 1000, 1),
        "clips_per_s": round(500 * len(big) / sum(big)),
        **wal_figures(wal0, wal1, 500 * len(big)),
        "leader_call_ms": round(big[0] * 1000, 1),
        **redis_big,
    }
    results["calls_of_25"] = {
        "calls": len(small),
        "ms_median": round(statistics.median(small) * 1000, 1),
        "clips_per_s": round(25 * len(small) / sum(small)),
        **wal_figures(wal1, wal2, 25 * len(small)),
        "wal_bytes_per_call": round((wal2[0] - wal1[0]) / len(small)),
        "typical_call_ms": round(small[0] * 1000, 1),
        **redis_small,
    }
    results["note"] = (
        "in-process submissions.submit (with the Honor Wall drain to Redis after each "
        "commit) on the filled database; WAL is the cluster's, so other databases' writes "
        "at the same moment would count too"
    )
    return results


def ingest_with_tally_index(runtime: Runtime, meter: RedisMeter, donors: int) -> dict[str, Any]:
    """The same calls as ``ingest`` (other donors), with an index on wall_tallies
    (donor_id) created for the occasion and dropped afterwards."""
    with runtime.db.engine.connect() as connection:
        connection.execute(text("CREATE INDEX scale_what_if_tallies ON wall_tallies (donor_id)"))
        connection.commit()
    try:
        big = [submit(runtime, donor, 500) for donor in range(27, 44)]
        small: list[float] = []
        redis_small: dict[str, Any] = {}
        with meter.measure(redis_small, 40):
            for donor in range(donors // 5 + 100, donors // 5 + 140):
                small.append(submit(runtime, donor, 25))
    finally:
        with runtime.db.engine.connect() as connection:
            connection.execute(text("DROP INDEX scale_what_if_tallies"))
            connection.commit()
    return {
        "calls_of_500": {
            "calls": len(big),
            "ms_median": round(statistics.median(big) * 1000, 1),
            "clips_per_s": round(500 * len(big) / sum(big)),
        },
        "calls_of_25": {
            "calls": len(small),
            "ms_median": round(statistics.median(small) * 1000, 1),
            "clips_per_s": round(25 * len(small) / sum(small)),
            **redis_small,
        },
    }


def reads(runtime: Runtime, capture: Capture, typical: int) -> None:
    db = runtime.db
    none = submissions.ClipFilter()
    with capture.open("clips: the leader, first page"):
        page = submissions.list_donor_clips(db, 1, none, limit=25, cursor=None)
    with capture.open("clips: the leader, next page"):
        submissions.list_donor_clips(db, 1, none, limit=25, cursor=page.next_cursor)
    with capture.open("clips: the leader, status=reversed"):
        submissions.list_donor_clips(
            db, 1, submissions.ClipFilter(status="reversed"), limit=25, cursor=None
        )
    with capture.open("clips: the leader, status=pending_review"):
        submissions.list_donor_clips(
            db, 1, submissions.ClipFilter(status="pending_review"), limit=25, cursor=None
        )
    with capture.open("clips: a typical donor, first page"):
        submissions.list_donor_clips(db, typical, none, limit=25, cursor=None)
    with capture.open("ledger: the leader, first page"):
        entries = ledger.donor_entries(db, 1, limit=25, cursor=None)
    with capture.open("ledger: the leader, next page"):
        ledger.donor_entries(db, 1, limit=25, cursor=entries.next_cursor)
    with capture.open("ledger: a typical donor, first page"):
        ledger.donor_entries(db, typical, limit=25, cursor=None)
    with capture.open("ledger: a payee, first page"):
        ledger.donor_entries(db, 1_003, limit=25, cursor=None)


def honor_wall(runtime: Runtime, capture: Capture, meter: RedisMeter) -> dict[str, Any]:
    client = runtime.redis
    memory0 = int(client.info("memory")["used_memory"])
    result: dict[str, Any] = {}
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with meter.measure(result, 1), capture.open("wall rebuild: all-time"):
        rebuilt = wall.rebuild(runtime, "all-time")
    result["rebuild_seconds"] = round(time.perf_counter() - started, 1)
    result["process_peak_rss_mib_before"] = round(rss_before / 1024)
    result["process_peak_rss_mib_after"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    result["redis_cpu_s_rebuild"] = round(result.pop("redis_cpu_us_per_op") / 1e6, 2)
    result["redis_commands_rebuild"] = result.pop("redis_commands_per_op")
    result.update(rebuilt)
    hall = wall.hall(runtime)
    keys = hall.keys("all-time")
    listed = int(client.zcard(keys.listed))
    shadow = int(client.zcard(keys.shadow))
    sizes = {
        "listed_zset": client.memory_usage(keys.listed, samples=0) or 0,
        "shadow_zset": client.memory_usage(keys.shadow, samples=0) or 0,
        "versions_hash": client.memory_usage(keys.versions, samples=0) or 0,
        "profiles_hash": client.memory_usage(hall.profiles_key, samples=0) or 0,
    }
    result["listed_donors"] = listed
    result["shadow_donors"] = shadow
    result["key_bytes"] = sizes
    result["bytes_per_listed_donor_zset"] = round(sizes["listed_zset"] / listed, 1)
    result["bytes_per_donor_versions"] = round(sizes["versions_hash"] / (listed + shadow), 1)
    result["bytes_per_listed_donor_profile"] = round(sizes["profiles_hash"] / listed, 1)
    result["used_memory_growth_bytes"] = int(client.info("memory")["used_memory"]) - memory0
    result["used_memory_per_donor"] = round(
        result["used_memory_growth_bytes"] / (listed + shadow), 1
    )

    rng = np.random.default_rng(5)
    ids = [1, *rng.integers(1, listed, size=1999).tolist()]
    people = [Donor(id=int(i), display_name=f"Donor {i}", alias=f"Alias {i}", on_hold=False)
              for i in ids]  # fmt: skip
    for person in people[:100]:
        wall.read_standing(runtime, "all-time", person, 3)
    lookups: dict[str, Any] = {}
    started = time.perf_counter()
    with meter.measure(lookups, len(people)):
        for person in people:
            wall.read_standing(runtime, "all-time", person, 3)
    lookups["per_s_one_client"] = round(len(people) / (time.perf_counter() - started))
    result["standing_lookup"] = lookups
    pages: dict[str, Any] = {}
    cache = wall.page_cache(runtime)
    count = 1000
    started = time.perf_counter()
    with meter.measure(pages, count):
        for _ in range(count):
            cache.clear()  # each read goes to Redis, as the first in a second does
            wall.read_page(runtime, "all-time", limit=25, cursor=None)
    pages["per_s_one_client"] = round(count / (time.perf_counter() - started))
    result["page_read_uncached"] = pages
    return result


def jobs(runtime: Runtime, capture: Capture) -> None:
    with capture.open("payouts: gathering payees (dry)", dry=True):
        payouts.create_batches(runtime)
    with capture.open("vesting: donors with due clips (dry)", dry=True):
        vesting.vest_due(runtime.db, runtime.clock)
    with capture.open(
        "retention: clips past retention (dry)", dry=True, keep=lambda sql: "FROM campaigns" in sql
    ):
        privacy.apply_retention(runtime)


def fraud_incremental(runtime: Runtime, capture: Capture, watermark: int) -> dict[str, Any]:
    with runtime.db.transaction() as uow:
        state = uow.session.get(FraudScanState, "clips")
        if state is None:
            uow.session.add(FraudScanState(name="clips", watermark=watermark))
        else:
            state.watermark = watermark
    # The scheduler keeps the hash index between scans: start from one that has seen
    # everything up to the watermark (its cold load is captured by the full scan).
    index = fraud.hash_index(runtime)
    index.reset()
    index.up_to_id = watermark
    started = time.perf_counter()
    with capture.open("fraud scan: incremental"):
        found = fraud.scan(runtime, full=False)
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "clips_in_scope": found.clips_in_scope,
        "seconds_by_rule": found.seconds_by_rule,
        "flags_opened": found.flags_opened,
    }


def fraud_full_dry(runtime: Runtime, capture: Capture) -> None:
    fraud.hash_index(runtime).reset()

    def keep(sql: str) -> bool:  # the rules and the newest settled clip: as they are
        return "max(clips.id)" in sql or "FROM fraud_rules" in sql

    with capture.open("fraud scan: full (dry)", dry=True, keep=keep):
        fraud.scan(runtime, full=True)


# --- sizes ----------------------------------------------------------------------------------


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


# --- main -----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--donors", type=int, default=1_000_000)
    parser.add_argument("--clips", type=int, default=10_000_000)
    parser.add_argument("--reuse", action="store_true", help="keep a database already filled")
    parser.add_argument("--no-full-scan", action="store_true", help="skip the full scan's plans")
    args = parser.parse_args()
    began = time.perf_counter()
    results: dict[str, Any] = {"donors": args.donors, "clips": args.clips}
    instance = Path(tempfile.mkdtemp(prefix="scale-db-"))
    with private_redis() as redis_url:
        settings = settings_for(database_url(), redis_url, instance).with_encryption_key()
        settings = replace(settings, redis_namespace="scale")
        reuse = args.reuse and existing_marker() == marker(args.donors, args.clips)
        if not reuse:
            print(f"creating {DATABASE} ...", flush=True)
            recreate_database()
            runtime = Runtime(settings, clock=SystemClock())
            load_fixtures(runtime.db, runtime.clock, settings.fixtures_dir)
            destination = Vault(settings.encryption_keys).encrypt("payee@example.com")
            runtime.close()
            print("loading ...", flush=True)
            results["load"] = load(args.donors, args.clips, destination)
        else:
            print(f"reusing {DATABASE}", flush=True)
            counts = clip_counts(args.donors, args.clips)
            results["load"] = {"reused": True, "typical_donor": typical_donor(counts)}
        typical = results["load"]["typical_donor"]
        runtime = Runtime(settings, clock=SystemClock())
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
        results["ingest_with_tally_index"] = ingest_with_tally_index(runtime, meter, args.donors)
        runtime.close()
    shutil.rmtree(instance, ignore_errors=True)
    results["run_seconds"] = round(time.perf_counter() - began, 1)
    full = args.donors >= 1_000_000 and args.clips >= 10_000_000
    report("scale_db", results, save=full)


if __name__ == "__main__":
    main()
