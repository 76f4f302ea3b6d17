"""db.insert_rows: one statement of arrays on PostgreSQL, the same rows as an
executemany on either database."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from rewards_engine.db import insert_rows, table_of
from rewards_engine.models import Clip, SubmissionBatch
from rewards_engine.runtime import Runtime
from tests.support.factories import add_campaign, consenting_donor, load_program


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
