"""db.insert_rows: one COPY on PostgreSQL, an executemany on SQLite; the same rows
either way, the columns' own conversions kept, and SQLAlchemy's errors raised (the hash
race's retry and the 503 of a lock timeout see what an INSERT would raise)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from rewards_engine.db import insert_rows, table_of
from rewards_engine.models import Clip, SubmissionBatch
from rewards_engine.runtime import Runtime
from tests.support.factories import BOUNTY, add_campaign, consenting_donor, load_program


def test_rows_arrive_whole_in_their_order(runtime: Runtime) -> None:
    load_program(runtime)
    add_campaign(runtime, id="insert-rows")
    donor_id = consenting_donor(runtime, "insert-rows-donor")
    now = runtime.clock.now()
    clips = table_of(Clip)
    with runtime.db.transaction() as uow:
        batch = uow.session.execute(
            table_of(SubmissionBatch)
            .insert()
            .values(donor_id=donor_id, campaign_id="insert-rows", consent_version="v",
                    clip_count=3, accepted=3, points=30, cash_cents=3, currency="USD",
                    created_at=now)
            .returning(table_of(SubmissionBatch).c.id)
        ).scalar_one()  # fmt: skip
        rows = [
            {
                "batch_id": batch, "donor_id": donor_id, "campaign_id": "insert-rows",
                "video_sha256": f"{n:064x}", "perceptual_hash": None if n == 1 else -(2**62) + n,
                "event_id": f"événement-{n}", "incident_type": "package_theft",
                "camera_id": f"CAM-{n}", "recorded_at": now - timedelta(minutes=n),
                "duration_s": 30.5 + n, "staged": n == 2, "status": "accepted",
                "points": 10 * n, "cash_cents": n, "currency": "USD", "created_at": now,
                "accepted_at": None if n == 0 else now,
            }
            for n in (2, 0, 1)
        ]  # fmt: skip
        insert_rows(uow.session, clips, rows)
    with runtime.db.read() as session:
        stored = session.execute(select(clips).order_by(clips.c.id)).mappings().all()
    assert [row["video_sha256"] for row in stored] == [r["video_sha256"] for r in rows]
    for row, sent in zip(stored, rows, strict=True):
        assert {key: row[key] for key in sent} == sent


def test_no_rows_is_no_statement(runtime: Runtime) -> None:
    with runtime.db.transaction() as uow:
        insert_rows(uow.session, table_of(Clip), [])
    with runtime.db.read() as session:
        assert session.execute(select(table_of(Clip).c.id)).first() is None


EAST = timezone(timedelta(hours=5))


@pytest.fixture
def batch(runtime: Runtime) -> dict[str, Any]:
    load_program(runtime)
    donor_id = consenting_donor(runtime, "rows-donor")
    now = runtime.clock.now()
    with runtime.db.transaction() as uow:
        batch_id = uow.session.execute(
            table_of(SubmissionBatch)
            .insert()
            .returning(table_of(SubmissionBatch).c.id),
            {"donor_id": donor_id, "campaign_id": BOUNTY, "consent_version": "v",
             "clip_count": 2, "accepted": 0, "points": 0, "cash_cents": 0,
             "currency": "USD", "created_at": now},
        ).scalar_one()  # fmt: skip
    return {"batch_id": batch_id, "donor_id": donor_id, "campaign_id": BOUNTY}


def clip_row(batch: dict[str, Any], digest: str, recorded_at: datetime) -> dict[str, Any]:
    return {
        **batch, "video_sha256": digest, "perceptual_hash": None, "event_id": "ev",
        "incident_type": "package_theft", "camera_id": "CAM-1", "recorded_at": recorded_at,
        "duration_s": 12.5, "staged": True, "status": "accepted", "camera_rule": "allow",
        "points": 10, "cash_cents": 5, "currency": "USD", "created_at": recorded_at,
        "accepted_at": recorded_at,
    }  # fmt: skip


def test_rows_keep_their_values_order_and_time_zone(runtime: Runtime, batch) -> None:  # type: ignore[no-untyped-def]
    east = datetime(2025, 1, 15, 17, 0, tzinfo=EAST)  # 12:00 UTC
    rows = [clip_row(batch, f"{n:064x}", east + timedelta(minutes=n)) for n in (3, 1, 2)]
    with runtime.db.transaction() as uow:
        insert_rows(uow.session, table_of(Clip), rows)
    clips = table_of(Clip)
    with runtime.db.read() as session:
        stored = session.execute(
            select(clips.c.video_sha256, clips.c.recorded_at, clips.c.duration_s,
                   clips.c.staged, clips.c.perceptual_hash).order_by(clips.c.id)
        ).all()  # fmt: skip
    assert [r.video_sha256 for r in stored] == [row["video_sha256"] for row in rows]
    assert stored[0].recorded_at == datetime(2025, 1, 15, 12, 3, tzinfo=UTC)
    assert stored[0].recorded_at.utcoffset() == timedelta(0)
    assert (stored[0].duration_s, stored[0].staged, stored[0].perceptual_hash) == (
        12.5, True, None,
    )  # fmt: skip


def test_a_taken_hash_raises_sqlalchemy_s_integrity_error_and_writes_nothing(
    runtime: Runtime, batch
) -> None:  # type: ignore[no-untyped-def]
    now = runtime.clock.now()
    with runtime.db.transaction() as uow:
        insert_rows(uow.session, table_of(Clip), [clip_row(batch, "a" * 64, now)])
    rows = [clip_row(batch, "b" * 64, now), clip_row(batch, "a" * 64, now)]
    with pytest.raises(IntegrityError) as raised, runtime.db.transaction() as uow:
        insert_rows(uow.session, table_of(Clip), rows)
    assert "video_sha256" in str(raised.value.orig) or "uq_clips" in str(raised.value.orig)
    with runtime.db.read() as session:
        assert session.scalars(select(table_of(Clip).c.video_sha256)).all() == ["a" * 64]


def test_a_naive_time_is_refused_as_by_an_insert(runtime: Runtime, batch) -> None:  # type: ignore[no-untyped-def]
    naive = datetime(2025, 1, 15, 12, 0)
    with pytest.raises(Exception, match="naive datetime"), runtime.db.transaction() as uow:
        insert_rows(uow.session, table_of(Clip), [clip_row(batch, "c" * 64, naive)])


def test_columns_left_out_take_their_defaults_as_from_an_insert(runtime: Runtime, batch) -> None:  # type: ignore[no-untyped-def]
    now = runtime.clock.now()
    constant = clip_row(batch, "d" * 64, now)
    for name in ("points", "cash_cents", "intake"):
        constant.pop(name, None)
    computed = clip_row(batch, "e" * 64, now)
    computed.pop("created_at")  # a computed default: SQLAlchemy's INSERT runs instead
    clips = table_of(Clip)
    for row in (constant, computed):
        with runtime.db.transaction() as uow:
            insert_rows(uow.session, clips, [row])
    with runtime.db.read() as session:
        stored = {
            r.video_sha256: r
            for r in session.execute(
                select(clips.c.video_sha256, clips.c.points, clips.c.cash_cents,
                       clips.c.intake, clips.c.created_at)
            )
        }  # fmt: skip
    assert (stored["d" * 64].points, stored["d" * 64].cash_cents) == (0, 0)
    assert stored["d" * 64].intake == "imported"
    assert stored["e" * 64].created_at is not None
