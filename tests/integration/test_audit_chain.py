"""The tamper-evident audit log (issue 24, part 4): insert-only at the database level,
hash-chained, verified by ``rewards-engine audit verify`` and the daily job, exported
for auditors, and erasure keeps it verifiable. On both backends; the tampering goes
round the triggers the way a database administrator would."""

from __future__ import annotations

import hashlib
import hmac
import io
import itertools
import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from alembic import command
from click.testing import CliRunner
from sqlalchemy import Connection, select, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import col

from rewards_engine import schema
from rewards_engine.cli import cli
from rewards_engine.domain import audit_chain as rules
from rewards_engine.domain.actors import Actor
from rewards_engine.jobs import find_job
from rewards_engine.models import AuditRecord, Donor
from rewards_engine.runtime import Runtime
from rewards_engine.scheduler import run_job
from rewards_engine.services import audit
from rewards_engine.services.audit import chain, checks
from rewards_engine.services.privacy.erasure import request_erasure, run_erasures

ADMIN = Actor(id="admin:ops", role="admin")


def audited(runtime: Runtime, count: int, *, target_id: str | int = "7", **values: Any) -> None:
    """``count`` audited actions, each in a transaction of its own."""
    for n in range(count):
        with runtime.db.transaction() as uow:
            audit.record(
                uow.session,
                runtime.clock,
                ADMIN,
                action="test.adjust",
                target_type="donor",
                target_id=target_id,
                before=values.get("before", {"points": n}),
                after=values.get("after", {"points": n + 1}),
                reason=values.get("reason", f"because {n}"),
            )


def ids_by_seq(runtime: Runtime) -> dict[int, int]:
    with runtime.db.read() as session:
        return dict(session.execute(select(AuditRecord.seq, AuditRecord.id)).all())


@contextmanager
def as_a_dba(runtime: Runtime) -> Iterator[Connection]:
    """A connection the audit log's triggers do not stop: replication role on
    PostgreSQL (this session only), the triggers dropped on SQLite (this test's copy)."""
    with runtime.db.engine.begin() as connection:
        if runtime.db.is_postgres:
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            connection.execute(text("DROP TRIGGER IF EXISTS audit_log_no_update"))
            connection.execute(text("DROP TRIGGER IF EXISTS audit_log_no_delete"))
        yield connection


def test_each_record_links_to_the_one_before_and_the_chain_verifies(runtime: Runtime) -> None:
    audited(runtime, 3)
    with runtime.db.transaction() as uow:  # two in one transaction, values absent
        for n in range(2):
            audit.record(uow.session, runtime.clock, ADMIN, action="test.noop",
                         target_type="donor", target_id=n)  # fmt: skip
    with runtime.db.read() as session:
        rows = list(session.scalars(select(AuditRecord).order_by(AuditRecord.seq)))
    assert [row.seq for row in rows] == [1, 2, 3, 4, 5]
    assert rows[0].prev_hash == rules.GENESIS
    assert all(row.prev_hash == before.record_hash for before, row in itertools.pairwise(rows))
    assert rows[0].before == {"points": 0} and rows[0].before_nonce and rows[0].before_digest
    assert rows[4].before is None and rows[4].before_nonce is None and rows[4].before_digest is None
    walk = chain.verify(runtime.db)
    assert (walk.ok, walk.records, walk.head_seq) == (True, 5, 5)
    assert walk.head_hash == rows[4].record_hash


def test_a_rolled_back_transaction_leaves_no_record_and_no_gap(runtime: Runtime) -> None:
    audited(runtime, 1)
    with pytest.raises(RuntimeError), runtime.db.transaction() as uow:
        audit.record(uow.session, runtime.clock, ADMIN, action="test.lost",
                     target_type="donor", target_id=1)  # fmt: skip
        raise RuntimeError("the use case failed")
    audited(runtime, 1)
    assert sorted(ids_by_seq(runtime)) == [1, 2]
    assert chain.verify(runtime.db).ok


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET actor_id = 'admin:someone-else' WHERE seq = 2",
        "UPDATE audit_log SET reason = 'nothing to see' WHERE seq = 2",
        "UPDATE audit_log SET record_hash = prev_hash WHERE seq = 2",
        "UPDATE audit_log SET reason_digest = NULL WHERE seq = 2",
        "UPDATE audit_log SET reason = NULL WHERE seq = 2",  # its nonce would stay
        "UPDATE audit_log SET reason_nonce = NULL WHERE seq = 2",  # its value would stay
        "DELETE FROM audit_log WHERE seq = 2",
        "DELETE FROM audit_log",
    ],
)
def test_the_database_refuses_to_change_or_delete_a_record(
    runtime: Runtime, statement: str
) -> None:
    audited(runtime, 3)
    with pytest.raises(DBAPIError, match="insert-only"), runtime.db.engine.begin() as connection:
        connection.execute(text(statement))
    assert sorted(ids_by_seq(runtime)) == [1, 2, 3]
    assert chain.verify(runtime.db).ok


def test_the_database_lets_a_value_be_erased_with_its_nonce_only_and_never_put_back(
    runtime: Runtime,
) -> None:
    audited(runtime, 3)
    with runtime.db.engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_log SET reason = NULL, reason_nonce = NULL WHERE seq = 2")
        )
    with pytest.raises(DBAPIError, match="insert-only"), runtime.db.engine.begin() as connection:
        connection.execute(text("UPDATE audit_log SET reason = 'back again' WHERE seq = 2"))
    walk = chain.verify(runtime.db)
    assert (walk.ok, walk.records, walk.erased_values) == (True, 3, 1)


TAMPERING = {
    "an edited value": (
        ["UPDATE audit_log SET reason = 'nothing to see' WHERE seq = 3"],
        3,
        "reason was changed",
    ),
    "an edited value, its nonce too": (
        ["UPDATE audit_log SET after = '{\"points\": 9}', after_nonce = NULL WHERE seq = 3"],
        3,
        "after was changed",
    ),
    "an edited fact": (
        ["UPDATE audit_log SET actor_id = 'admin:someone-else' WHERE seq = 3"],
        3,
        "facts or value digests were changed",
    ),
    "a deleted record": (["DELETE FROM audit_log WHERE seq = 3"], 4, "missing"),
    "the last record deleted": (["DELETE FROM audit_log WHERE seq = 5"], None, None),
    "reordered records": (
        [
            "UPDATE audit_log SET seq = -1 WHERE seq = 2",
            "UPDATE audit_log SET seq = 2 WHERE seq = 3",
            "UPDATE audit_log SET seq = 3 WHERE seq = -1",
        ],
        3,  # the record now second does not link to the first
        "does not link",
    ),
    "an inserted record without a valid hash": (
        [
            "INSERT INTO audit_log (created_at, actor_id, actor_role, action, target_type, "
            "target_id, seq, prev_hash, record_hash) SELECT created_at, actor_id, actor_role, "
            "'test.forged', target_type, target_id, 6, record_hash, record_hash "
            "FROM audit_log WHERE seq = 5"
        ],
        "new",
        "facts or value digests were changed",
    ),
}


@pytest.mark.parametrize("case", list(TAMPERING))
def test_verify_names_the_first_record_that_was_tampered_with(runtime: Runtime, case: str) -> None:
    audited(runtime, 5)
    before = ids_by_seq(runtime)
    statements, broken_seq, problem = TAMPERING[case]
    with as_a_dba(runtime) as connection:
        for statement in statements:
            connection.execute(text(statement))
    walk = chain.verify(runtime.db)
    if broken_seq is None:  # the newest record gone: only the anchor can tell
        assert walk.ok and walk.head_seq == 4
        anchored = chain.verify(runtime.db, anchor=(5, "any hash the job kept"))
        assert not anchored.ok and "end was removed" in str(anchored.problem)
        return
    expected_id = max(ids_by_seq(runtime).values()) if broken_seq == "new" else before[broken_seq]
    assert not walk.ok
    assert walk.broken_id == expected_id
    assert problem in str(walk.problem)


def test_a_record_inserted_with_a_recomputed_hash_breaks_the_next_one(runtime: Runtime) -> None:
    """A DBA who knows the algorithm renumbers the records after the second and inserts
    a forged one, correctly hashed, in the gap: the record after it no longer matches
    its hash (its sequence number is hashed)."""
    audited(runtime, 4)
    before = ids_by_seq(runtime)
    with runtime.db.read() as session:
        second = session.scalars(select(AuditRecord).where(AuditRecord.seq == 2)).one()
    facts = {name: getattr(second, name) for name in rules.FACT_FIELDS} | {"action": "forged"}
    digests = dict.fromkeys(rules.VALUE_FIELDS)
    forged = rules.record_hash(
        seq=3, prev_hash=second.record_hash, created_at=second.created_at, facts=facts,
        digests=digests,
    )  # fmt: skip
    with as_a_dba(runtime) as connection:
        connection.execute(text("UPDATE audit_log SET seq = -(seq + 1) WHERE seq >= 3"))
        connection.execute(text("UPDATE audit_log SET seq = -seq WHERE seq < 0"))
        connection.execute(
            AuditRecord.__table__.insert().values(  # type: ignore[attr-defined]
                created_at=second.created_at, **facts, seq=3,
                prev_hash=second.record_hash, record_hash=forged,
            )
        )  # fmt: skip
    walk = chain.verify(runtime.db)
    assert not walk.ok and walk.broken_id == before[3]


def test_a_rewritten_log_fails_against_the_anchor_the_job_kept(runtime: Runtime) -> None:
    audited(runtime, 3)
    assert run_job(runtime, find_job("audit-verify"), use_lock=False)["ok"] == 1  # type: ignore[arg-type]
    with as_a_dba(runtime) as connection:  # all three rehashed after an edit
        connection.execute(text("UPDATE audit_log SET seq = seq + 100"))
    with runtime.db.read() as session:
        rows = list(session.scalars(select(AuditRecord).order_by(AuditRecord.seq)))
    prev = rules.GENESIS
    with as_a_dba(runtime) as connection:
        for seq, row in enumerate(rows, start=1):
            facts = {name: getattr(row, name) for name in rules.FACT_FIELDS}
            digests = {name: getattr(row, f"{name}_digest") for name in rules.VALUE_FIELDS}
            if seq == 2:
                facts["actor_id"] = "admin:someone-else"
            hashed = rules.record_hash(seq=seq, prev_hash=prev, created_at=row.created_at,
                                       facts=facts, digests=digests)  # fmt: skip
            connection.execute(
                text("UPDATE audit_log SET seq = :seq, actor_id = :actor, prev_hash = :prev, "
                     "record_hash = :hash WHERE id = :id"),
                {"seq": seq, "actor": facts["actor_id"], "prev": prev, "hash": hashed,
                 "id": row.id},
            )  # fmt: skip
            prev = hashed
    assert chain.verify(runtime.db).ok  # without an anchor nothing can tell
    result = run_job(runtime, find_job("audit-verify"), use_lock=False)  # type: ignore[arg-type]
    assert result["ok"] == 0 and result["broken_record_id"] == rows[2].id
    status = checks.last_status(runtime)
    assert status is not None and not status.ok and status.broken_record_id == rows[2].id


def test_erasure_erases_the_values_and_the_chain_still_verifies(runtime: Runtime) -> None:
    from tests.support.factories import consenting_donor, load_program

    load_program(runtime)
    donor_id = consenting_donor(runtime, "ada")
    audited(runtime, 2, target_id=donor_id, reason="asked by ada@example.org")
    audited(runtime, 1, target_id="someone-else", reason="kept")
    request_erasure(runtime, donor_id, Actor(id=f"donor:{donor_id}", role="donor"))
    run_erasures(runtime)
    with runtime.db.read() as session:
        about = list(session.scalars(select(AuditRecord).where(
            col(AuditRecord.target_type) == "donor", col(AuditRecord.target_id) == str(donor_id)
        )))  # fmt: skip
        kept = session.scalars(
            select(AuditRecord).where(col(AuditRecord.target_id) == "someone-else")
        ).one()
    assert len(about) == 2
    for row in about:
        assert (row.before, row.after, row.reason) == (None, None, None)
        assert (row.before_nonce, row.after_nonce, row.reason_nonce) == (None, None, None)
        assert row.reason_digest is not None  # the chain keeps what it covered
    assert kept.reason == "kept" and kept.reason_nonce is not None
    walk = chain.verify(runtime.db)
    assert walk.ok and walk.erased_values == 6
    page = audit.list_records(runtime.db, audit.AuditFilter(target_id=str(donor_id)),
                              limit=10, cursor=None)  # fmt: skip
    assert [entry.reason for entry in page.items] == ["erased", "erased"]


def test_many_concurrent_audited_actions_make_one_linear_chain(runtime: Runtime) -> None:
    """Threads, each with transactions of its own, audit at once (on PostgreSQL they
    wait for the chain's lock at commit): one chain, no gap, no fork."""
    threads, each = 12, 8
    failures: list[BaseException] = []
    start = threading.Barrier(threads)

    def act(n: int) -> None:
        try:
            start.wait(10)
            for m in range(each):
                with runtime.db.transaction() as uow:
                    audit.record(uow.session, runtime.clock, Actor(id=f"support:{n}",
                                 role="support"), action="test.concurrent",
                                 target_type="donor", target_id=f"{n}-{m}",
                                 after={"n": n, "m": m}, reason="load")  # fmt: skip
        except BaseException as exc:  # reported below
            failures.append(exc)

    workers = [threading.Thread(target=act, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert not failures
    assert sorted(ids_by_seq(runtime)) == list(range(1, threads * each + 1))
    walk = chain.verify(runtime.db, chunk=7)  # several chunks
    assert walk.ok and walk.records == threads * each


def test_the_chain_lock_never_waits_in_a_cycle_with_a_row_lock(runtime: Runtime) -> None:
    """One transaction holds a donor's row and audits; another audits and changes that
    donor, unflushed, then commits first. Its row write goes out before it takes the
    chain's lock, so it waits for the row holder, who then commits: no deadlock
    (before, the chain's lock was taken first and each waited for the other)."""
    from tests.support.factories import consenting_donor, load_program

    load_program(runtime)
    donor_id = consenting_donor(runtime, "ada")
    already = chain.verify(runtime.db).records  # the program's own records
    holding, committing = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def row_holder() -> None:
        try:
            with runtime.db.transaction() as uow:
                uow.session.get(Donor, donor_id, with_for_update=True)
                audit.record(uow.session, runtime.clock, ADMIN, action="test.holder",
                             target_type="donor", target_id=donor_id)  # fmt: skip
                holding.set()
                committing.wait(10)
                time.sleep(0.5)  # the other is at its commit by now
        except BaseException as exc:  # reported below
            failures.append(exc)

    def row_changer() -> None:
        try:
            holding.wait(10)
            with runtime.db.transaction() as uow:
                audit.record(uow.session, runtime.clock, ADMIN, action="test.changer",
                             target_type="donor", target_id=donor_id)  # fmt: skip
                donor = uow.session.get(Donor, donor_id)
                assert donor is not None
                donor.updated_at = runtime.clock.now() + timedelta(seconds=1)  # unflushed
                committing.set()
        except BaseException as exc:  # reported below
            failures.append(exc)

    workers = [threading.Thread(target=row_holder), threading.Thread(target=row_changer)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert not failures
    walk = chain.verify(runtime.db)
    assert walk.ok and walk.records == already + 2


def test_the_cli_exits_0_when_intact_and_1_naming_the_broken_record(
    runtime: Runtime, cli_env: Any
) -> None:
    audited(runtime, 3)
    intact = CliRunner().invoke(cli, ["audit", "verify"])
    assert intact.exit_code == 0, intact.output
    assert "verified 3 records" in intact.output and "intact" in intact.output
    broken_id = ids_by_seq(runtime)[2]
    with as_a_dba(runtime) as connection:
        connection.execute(text("UPDATE audit_log SET action = 'test.other' WHERE seq = 2"))
    broken = CliRunner().invoke(cli, ["audit", "verify"])
    assert broken.exit_code == 1
    assert f"BROKEN at record {broken_id}" in broken.output
    bad = CliRunner().invoke(cli, ["audit", "verify", "--anchor", "nonsense"])
    assert bad.exit_code == 2 and "--anchor" in bad.output


def test_a_broken_chain_logs_an_error_event_and_shows_in_the_metrics(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.conftest import app_for

    audited(runtime, 2)
    client = app_for(runtime).test_client()
    assert "audit_chain_intact" not in client.get("/metrics").get_data(as_text=True)
    run_job(runtime, find_job("audit-verify"), use_lock=False)  # type: ignore[arg-type]
    assert "audit_chain_intact 1.0" in client.get("/metrics").get_data(as_text=True)
    broken_id = ids_by_seq(runtime)[1]
    with as_a_dba(runtime) as connection:
        connection.execute(text("UPDATE audit_log SET target_id = '8' WHERE seq = 1"))
    with caplog.at_level(logging.INFO):
        run_job(runtime, find_job("audit-verify"), use_lock=False)  # type: ignore[arg-type]
    [event] = [r for r in caplog.records if r.getMessage() == "audit.chain_broken"]
    assert event.levelno == logging.ERROR
    assert event.fields["record_id"] == broken_id  # type: ignore[attr-defined]
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "audit_chain_intact 0.0" in metrics and "audit_chain_records 0.0" in metrics
    assert f"audit_chain_broken_record_id {float(broken_id)}" in metrics


def recompute_from_export(lines: list[dict[str, Any]], prev_hash: str) -> None:
    """What docs/operations.md tells an auditor to do, written from that page alone
    (hashlib and hmac, nothing of the engine's)."""
    for line in lines:
        assert line["prev_hash"] == prev_hash
        for name in ("before", "after", "reason"):
            if line[f"{name}_nonce"] is not None:
                value = json.dumps(line[name], sort_keys=True, separators=(",", ":"),
                                   ensure_ascii=False).encode()  # fmt: skip
                digest = hmac.new(bytes.fromhex(line[f"{name}_nonce"]), value, hashlib.sha256)
                assert digest.hexdigest() == line[f"{name}_digest"]
        body = {key: line[key] for key in ("seq", "prev_hash", "created_at", "actor_id",
                "actor_role", "action", "target_type", "target_id", "request_id",
                "before_digest", "after_digest", "reason_digest")} | {"v": line["v"]}  # fmt: skip
        encoded = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert hashlib.sha256(encoded.encode()).hexdigest() == line["record_hash"]
        prev_hash = line["record_hash"]


def test_the_export_lets_an_auditor_recompute_the_chain(
    runtime: Runtime, cli_env: Any, tmp_path: Any
) -> None:
    audited(runtime, 2, reason="première")  # not ASCII: the encoding is UTF-8
    runtime.clock.advance(timedelta(days=2))  # type: ignore[attr-defined]
    audited(runtime, 3)
    with runtime.db.engine.begin() as connection:  # one erased value
        connection.execute(text("UPDATE audit_log SET after = NULL, after_nonce = NULL "
                                "WHERE seq = 4"))  # fmt: skip
    out = tmp_path / "audit.jsonl"
    done = CliRunner().invoke(cli, ["audit", "export", "--out", str(out)])
    assert done.exit_code == 0, done.output
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [line["seq"] for line in lines] == [1, 2, 3, 4, 5]
    assert lines[3]["after"] is None and lines[3]["after_digest"] is not None
    recompute_from_export(lines, rules.GENESIS)
    since = (runtime.clock.now() - timedelta(days=1)).isoformat()
    window = CliRunner().invoke(cli, ["audit", "export", "--since", since, "--out", str(out)])
    assert window.exit_code == 0, window.output
    later = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [line["seq"] for line in later] == [3, 4, 5]
    recompute_from_export(later, lines[1]["record_hash"])  # links to the earlier export
    refused = CliRunner().invoke(cli, ["audit", "export", "--since", "soon", "--out", str(out)])
    assert refused.exit_code == 2 and "--since" in refused.output


def test_the_migration_chains_the_records_already_there(runtime: Runtime) -> None:
    """Records written before 0021 get nonces, digests and a chain in id order."""
    audited(runtime, 3)
    config = schema.alembic_config(runtime.db.engine)
    with runtime.db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0020")
        connection.execute(text("DELETE FROM audit_log"))
        for n in range(4):
            connection.execute(
                text("INSERT INTO audit_log (created_at, actor_id, actor_role, action, "
                     "target_type, target_id, before, reason) VALUES (:at, 'admin:old', "
                     "'admin', 'old.action', 'donor', :n, :before, :reason)"),
                {"at": runtime.clock.now().replace(tzinfo=None), "n": str(n),
                 "before": json.dumps({"n": n}) if n % 2 else None,
                 "reason": "erased" if n == 3 else None},
            )  # fmt: skip
        command.upgrade(config, "head")
    walk = chain.verify(runtime.db)
    assert walk.ok and walk.records == 4
    with runtime.db.read() as session:
        rows = list(session.scalars(select(AuditRecord).order_by(AuditRecord.seq)))
    assert [row.target_id for row in rows] == ["0", "1", "2", "3"]
    assert rows[1].before == {"n": 1} and rows[1].before_digest is not None
    assert rows[0].before is None and rows[0].before_digest is None
    audited(runtime, 1)  # new records continue the chain
    assert chain.verify(runtime.db).records == 5
    with pytest.raises(DBAPIError, match="insert-only"), runtime.db.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_log"))


def test_export_line_is_what_verify_reads(runtime: Runtime) -> None:
    audited(runtime, 1)
    buffer = io.StringIO()
    assert chain.export(runtime.db, buffer) == 1
    [line] = [json.loads(raw) for raw in buffer.getvalue().splitlines()]
    assert line["v"] == rules.VERSION and line["reason"] == "because 0"
