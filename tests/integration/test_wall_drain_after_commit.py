"""The Honor Wall's write after a commit (issue 23): the placements are read in the
use case's transaction before its commit, written to Redis after it with no database
session of its own, and the rows listed in Redis for the wall-drain job to mark
applied. Whatever happens to that list, the wall converges on the database. Both
backends (the reads before the commit take the donor's lock with them on PostgreSQL).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select
from sqlmodel import col

from rewards_engine.jobs import find_job
from rewards_engine.models import WallOutbox, WallTally
from rewards_engine.runtime import Runtime
from rewards_engine.scheduler import run_job
from rewards_engine.services import wall
from tests.support.factories import consenting_donor, donate, load_program

ALL_TIME = "all-time"


def pending(runtime: Runtime) -> int:
    """Rows the database still holds as not applied."""
    with runtime.db.read() as session:
        query = select(func.count(col(WallOutbox.id))).where(col(WallOutbox.applied_at).is_(None))
        return int(session.scalar(query) or 0)


def listed(runtime: Runtime) -> list[int]:
    key = wall.hall(runtime).applied_key
    return [int(i) for i in runtime.redis.lrange(key, 0, -1)]


def standing_clips(client: FlaskClient, headers: dict[str, str]) -> int:
    answer = client.get("/v1/honor-wall/me", query_string={"board": ALL_TIME}, headers=headers)
    assert answer.status_code == 200, answer.get_json()
    return int(answer.get_json()["clips"])


@pytest.fixture
def headers(runtime: Runtime, auth: Any) -> dict[str, str]:
    """Ada's, a consenting donor of the loaded program."""
    load_program(runtime)
    consenting_donor(runtime, "ada")
    return dict(auth("ada"))


def drain_job(runtime: Runtime) -> dict[str, Any]:
    return dict(run_job(runtime, find_job("wall-drain")))


def test_the_write_after_a_commit_sends_nothing_to_the_database(
    runtime: Runtime, client: FlaskClient, headers: dict[str, str]
) -> None:
    committed: list[object] = []
    runtime.db.subscribe(committed.extend)  # after the wall's own handler
    donate(client, headers, 3)
    assert standing_clips(client, headers) == 3  # on the wall at once
    [changed] = [e for e in committed if isinstance(e, wall.WallChanged)]

    sent: list[str] = []

    def seen(*args: Any) -> None:
        sent.append(args[2])

    event.listen(runtime.db.engine, "before_cursor_execute", seen)
    try:
        wall.handle_events(runtime, committed)  # the same write again, as after the commit
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", seen)
    assert sent == []
    assert listed(runtime) == [changed.outbox_id] * 2  # listed by each write


def test_the_job_marks_the_listed_rows_applied_without_writing_them_again(
    runtime: Runtime, client: FlaskClient, headers: dict[str, str]
) -> None:
    for _ in range(3):
        donate(client, headers, 2)
    waiting = pending(runtime)
    assert waiting >= 3 and len(listed(runtime)) == waiting  # every row written and listed

    result = drain_job(runtime)
    assert result["acknowledged"] == waiting
    assert result["rows"] == 0  # none left to write
    assert pending(runtime) == 0 and listed(runtime) == []
    assert standing_clips(client, headers) == 6


def test_a_lost_list_only_makes_the_job_write_the_rows_again(
    runtime: Runtime, client: FlaskClient, headers: dict[str, str]
) -> None:
    """Redis restarted without its data, or the list trimmed while the job was stopped:
    the rows are still pending in the database, and writing them again changes nothing
    (each write carries the donor's version)."""
    donate(client, headers, 2)
    donate(client, headers, 1)
    waiting = pending(runtime)
    runtime.redis.delete(wall.hall(runtime).applied_key)

    result = drain_job(runtime)
    assert result["acknowledged"] == 0
    assert result["rows"] == waiting and result["applied"] == 0  # nothing newer to write
    assert pending(runtime) == 0
    assert standing_clips(client, headers) == 3


def test_one_donor_s_concurrent_submissions_leave_the_wall_equal_to_the_database(
    app: Flask, runtime: Runtime, auth: Any
) -> None:
    """Each transaction reads the placements it will commit while it holds the donor's
    row (the ``wall_version`` bump): whichever order the writes after the commits reach
    Redis in, the newest version stays."""
    load_program(runtime)
    donor_id = consenting_donor(runtime, "ada")
    headers = auth("ada")
    errors: list[BaseException] = []

    def work() -> None:
        client = app.test_client()
        try:
            for _ in range(4):
                donate(client, headers, 2)
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with runtime.db.read() as session:
        tally = session.scalar(
            select(col(WallTally.clips)).where(
                col(WallTally.board) == ALL_TIME, col(WallTally.donor_id) == donor_id
            )
        )
    # The job first: it writes only rows no request listed as written (one whose Redis
    # call outlasted its budget on a busy machine), never rewriting a listed one, so a
    # placement wrongly read before a commit would still show.
    drain_job(runtime)
    assert tally == 6 * 4 * 2 == standing_clips(app.test_client(), headers)


def test_rows_published_after_an_early_prepare_are_prepared_at_the_commit(
    runtime: Runtime, client: FlaskClient, auth: Any
) -> None:
    """A use case prepares before it locks its hottest rows (``deciding.store``, before
    the campaign counters); what it publishes after is prepared by the commit, and
    nothing is read twice."""
    load_program(runtime)
    first, second = consenting_donor(runtime, "ada"), consenting_donor(runtime, "bea")
    committed: list[object] = []
    runtime.db.subscribe(committed.extend)
    with runtime.db.transaction() as uow:
        wall.record_donor_changed(uow, runtime.clock.now(), first)
        uow.prepare()
        wall.record_donor_changed(uow, runtime.clock.now(), second)
    prepared = [e for e in committed if isinstance(e, wall.WallPrepared)]
    assert [[row.donor_id for row in e.rows] for e in prepared] == [[first], [second]]
    assert len(listed(runtime)) == 2


def test_a_bulk_change_is_read_after_its_commit_not_under_its_locks(runtime: Runtime) -> None:
    """A job changing hundreds of donors at once would hold SQLite's one writer (or the
    donors' rows) for the whole read: past ``PREPARE_MAX`` rows the placements are read
    after the commit, and the rows are still written and listed at once."""
    from rewards_engine.services.donors import ensure_donor
    from rewards_engine.services.wall.draining import PREPARE_MAX

    ids = [ensure_donor(runtime.db, runtime.clock, f"bulk-{n}").id for n in range(PREPARE_MAX + 1)]
    committed: list[object] = []
    runtime.db.subscribe(committed.extend)
    with runtime.db.transaction() as uow:
        wall.record_donors_changed(uow, runtime.clock.now(), ids)
    assert not [e for e in committed if isinstance(e, wall.WallPrepared)]
    assert len(listed(runtime)) == len(ids)
    assert drain_job(runtime)["acknowledged"] == len(ids)
