"""The SQL that fills each table, one function per step of the load (see ``load``):
server-side ``INSERT ... SELECT FROM generate_series`` on the load's connection, the
calls and ledger events planned in unlogged work tables first, ids in time order."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import psycopg

from benchmarks.scale_db.data import (
    CAMPAIGN,
    CONSENT,
    COUNT_MEDALS,
    INCIDENTS,
    LOADED_TABLES,
    PAYEE_EVERY,
)

Saved = tuple[str, str, str]  # a secondary object: (table, name, definition)


@dataclass
class Load:
    """What the steps share: the connection, the data's shape and moments, the secondary
    objects dropped for the load, and the seconds each step took."""

    connection: psycopg.Connection[Any]
    donors: int
    counts: np.ndarray
    sizes: np.ndarray
    vault_text: str  # the payees' encrypted destination, a Fernet token
    now: datetime
    saved: dict[str, list[Saved]]
    steps: dict[str, float] = field(default_factory=dict)

    @property
    def first(self) -> datetime:
        return self.now - timedelta(days=365)

    def execute(self, *statements: str) -> None:
        for statement in statements:
            self.connection.execute(statement)


def ts(moment: datetime) -> str:
    return f"'{moment.isoformat()}'::timestamptz"


def create_work_tables(load: Load) -> None:
    load.execute(
        "DROP SCHEMA IF EXISTS scale_work CASCADE",
        "CREATE SCHEMA scale_work",
        "CREATE UNLOGGED TABLE scale_work.counts (donor_id int, clips int, batch_size int)",
    )


def copy_clip_counts(load: Load) -> None:
    with load.connection.cursor().copy(
        "COPY scale_work.counts (donor_id, clips, batch_size) FROM STDIN"
    ) as copy:
        pairs = zip(load.counts.tolist(), load.sizes.tolist(), strict=True)
        for donor, (n, size) in enumerate(pairs, start=1):
            copy.write_row((donor, n, size))


def insert_donors(load: Load) -> None:
    """70 % public, 20 % alias, 10 % hidden; 0.1 % banned, 0.2 % on hold; every tenth a
    payee with a PayPal destination set a month ago."""
    donors, first, now, vault_text = load.donors, load.first, load.now, load.vault_text
    load.execute(
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


def plan_calls(load: Load) -> None:
    """Each call at a random moment of the year; ids in time order."""
    first = load.first
    span_s = 365 * 86_400 - 600  # the newest call ten minutes ago
    load.execute(
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


def insert_clips(load: Load) -> None:
    """93 % accepted, 2.5 % duplicates (of the clip 1,000 ids earlier), 2.5 % rejected by
    a cap, 1 % pending review, 1 % reversed; vested a week after."""
    now = load.now
    load.execute(
        f"""
        INSERT INTO clips (id, batch_id, donor_id, campaign_id, video_sha256,
            perceptual_hash, event_id, incident_type, camera_id, recorded_at, duration_s,
            staged, status, reason, duplicate_of_id, points, cash_cents, currency,
            created_at, vests_at, vested_at, reviewed_at, reversed_at, accepted_at,
            metadata_deleted_at, intake)
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
            NULL,
            'verified'
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


def insert_submission_batches(load: Load) -> None:
    load.execute(
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


# The ledger: account ids are derived (1-2 the program's, 2d+1 and 2d+2 donor d's points
# accounts, 2D+2+d a payee's cash), transfers in time order.


def plan_ledger_transfers(load: Load) -> None:
    donors, now = load.donors, load.now
    cash_base = 2 * donors + 2
    load.execute(
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


def insert_ledger_transfers(load: Load) -> None:
    load.execute(
        """
        INSERT INTO ledger_transfers (id, kind, reference_type, reference_id, actor, reason,
            idempotency_key, reverses_id, created_at)
        SELECT id, kind, ref_type, ref_id, actor, reason, key, NULL, at
        FROM scale_work.events ORDER BY id
        """,
    )


def insert_ledger_entries(load: Load) -> None:
    load.execute(
        """
        INSERT INTO ledger_entries (id, transfer_id, account_id, amount, created_at)
        SELECT 2 * e.id - 1 + v.o, e.id, v.account, v.amount, e.at
        FROM scale_work.events e
        CROSS JOIN LATERAL (VALUES (0, e.a1, e.m1), (1, e.a2, e.m2)) v(o, account, amount)
        """,
    )


def insert_ledger_accounts(load: Load) -> None:
    donors, first = load.donors, load.first
    cash_base = 2 * donors + 2
    load.execute(
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


def insert_wall_tallies(load: Load) -> None:
    """The Honor Wall tallies of every board a clip counted on."""
    load.execute(
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


def insert_medal_awards(load: Load) -> None:
    """The count medals the all-time tallies reached."""
    medals = ", ".join(f"('{code}', {threshold})" for code, threshold in COUNT_MEDALS)
    load.execute(
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


def set_sequences(load: Load) -> None:
    """Sequences past the loaded ids; the work tables dropped."""
    load.execute(
        *[
            f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), "
            f"(SELECT coalesce(max(id), 1) FROM {t}))"
            for t in LOADED_TABLES
            if t != "wall_tallies"
        ],
        "DROP SCHEMA scale_work CASCADE",
    )
