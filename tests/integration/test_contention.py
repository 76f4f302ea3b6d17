"""Transactions that lose to others: retried when that helps, answered 503 when not.

The errors here are PostgreSQL's own (a real deadlock between two transactions, a real
lock held past ``lock_timeout``, ``serialization_failure`` raised by the server), not
stand-ins. SQLite serialises writers (``BEGIN IMMEDIATE``), so none of this can happen
there; its busy writer lock is covered by the classification.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text

from rewards_engine.bootstrap import build_runtime
from rewards_engine.db import Database, is_contention, lost_to_another, retry_on_contention
from rewards_engine.domain.errors import Unavailable
from rewards_engine.models import Clip
from rewards_engine.runtime import Runtime
from tests.conftest import app_for
from tests.support.factories import add_campaign, body, clip, consenting_donor, load_program
from tests.support.waiting import wait_until

pytestmark = pytest.mark.postgres_only


def raise_serialization_failure(db: Database) -> None:
    with db.transaction() as uow:
        uow.session.execute(
            text(
                "DO $$ BEGIN RAISE EXCEPTION 'could not serialize' "
                "USING ERRCODE = 'serialization_failure'; END $$"
            )
        )


def waiting_on_a_lock(db: Database) -> bool:
    """Whether a session on this test's database is waiting for a lock another holds."""
    with db.read() as session:
        waiting = session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
    return bool(waiting)


def test_a_use_case_that_lost_is_run_again_and_then_succeeds(runtime: Runtime) -> None:
    attempts = []

    @retry_on_contention
    def use_case() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise_serialization_failure(runtime.db)
        return "done"

    assert use_case() == "done"
    assert len(attempts) == 3


def test_a_use_case_that_keeps_losing_gets_a_503_not_the_driver_error(runtime: Runtime) -> None:
    attempts = []

    @retry_on_contention
    def use_case() -> None:
        attempts.append(1)
        raise_serialization_failure(runtime.db)

    with pytest.raises(Unavailable) as refused:
        use_case()
    assert refused.value.code == "database_busy" and refused.value.retry_after == 1
    assert len(attempts) == 5  # bounded
    assert lost_to_another(refused.value.__cause__)


def test_a_real_deadlock_is_retried_and_both_sides_apply_once(runtime: Runtime) -> None:
    db = runtime.db
    with db.transaction() as uow:
        uow.session.execute(text("CREATE TABLE tug (id int PRIMARY KEY, pulls int NOT NULL)"))
        uow.session.execute(text("INSERT INTO tug VALUES (1, 0), (2, 0)"))
    both_hold_one = threading.Barrier(2)
    attempts: list[int] = []

    @retry_on_contention
    def pull(first: int, second: int) -> None:
        attempts.append(first)
        with db.transaction() as uow:
            bump = text("UPDATE tug SET pulls = pulls + 1 WHERE id = :id")
            uow.session.execute(bump, {"id": first})
            if len(attempts) <= 2:  # the first tries meet, holding one row each
                both_hold_one.wait(10)
            uow.session.execute(bump, {"id": second})

    threads = [threading.Thread(target=pull, args=order) for order in ((1, 2), (2, 1))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        with db.read() as session:
            pulls = dict(session.execute(text("SELECT id, pulls FROM tug")).all())
    finally:
        with db.transaction() as uow:  # the run's database is shared by its tests
            uow.session.execute(text("DROP TABLE tug"))
    assert pulls == {1: 2, 2: 2}  # each pull applied once, none lost
    assert len(attempts) == 3  # PostgreSQL broke the deadlock; the loser ran again


def test_a_row_held_past_the_lock_timeout_answers_503_and_writes_nothing(
    runtime: Runtime, settings, auth
) -> None:  # type: ignore[no-untyped-def]
    load_program(runtime)
    campaign = add_campaign(runtime, starts_at=runtime.clock.now() - timedelta(days=2))
    donor_id = consenting_donor(runtime, "ada")
    patient = build_runtime(replace(settings, database_lock_timeout_ms=200), clock=runtime.clock)
    client = app_for(patient).test_client()
    headers = {**auth("ada"), "Idempotency-Key": "first-try"}
    payload = body(campaign.id, [clip(recorded_at=runtime.clock.now() - timedelta(hours=1))])
    try:
        with runtime.db.transaction() as uow:  # support, say, holds the donor's row
            uow.session.execute(text("SELECT 1 FROM donors WHERE id = :id FOR UPDATE"),
                                {"id": donor_id})  # fmt: skip
            answer = client.post("/v1/submissions", json=payload, headers=headers)
        assert answer.status_code == 503, answer.get_json()
        assert answer.get_json()["error"] == "database_busy"
        assert answer.headers["Retry-After"] == "1"
        with runtime.db.read() as session:
            assert session.scalar(select(func.count()).select_from(Clip)) == 0
        again = client.post("/v1/submissions", json=payload, headers=headers)
        assert again.status_code == 201  # the same key, once the row is free
    finally:
        patient.close()


def test_what_counts_as_contention(runtime: Runtime) -> None:
    with pytest.raises(Exception) as lost:
        raise_serialization_failure(runtime.db)
    assert lost_to_another(lost.value) and is_contention(lost.value)
    with pytest.raises(Exception) as bug, runtime.db.transaction() as uow:
        uow.session.execute(text("SELECT no_such_column FROM donors"))
    assert not is_contention(bug.value)


def test_a_bonus_vesting_while_its_medal_is_revoked_is_taken_back_once(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """vest-earnings and medals-evaluate at once on an award due both to vest and to be
    revoked (a streak whose day was reversed): whichever locks the award second sees what
    the first did, so the bonus ends neither spendable nor taken twice."""
    from datetime import UTC, datetime

    from rewards_engine.clock import FixedClock
    from rewards_engine.domain.actors import Actor
    from rewards_engine.domain.ledger import POINTS, AccountKind, TransferKind, issue
    from rewards_engine.models import MedalAward, MedalDefinition
    from rewards_engine.services import donors, ledger, medals, vesting

    now = datetime(2025, 3, 1, 12, tzinfo=UTC)
    clock = FixedClock(now)
    donor_id = donors.ensure_donor(runtime.db, clock, "streaker").id
    with runtime.db.transaction() as uow:
        session = uow.session
        session.add(
            MedalDefinition(code="streak3", version=1, name="Streak", icon_key="s",
                            tier="bronze", bonus_points=100, active=True, created_at=now,
                            rule={"kind": "streak", "days": 3}, created_by="test")
        )  # fmt: skip
        award = MedalAward(donor_id=donor_id, code="streak3", version=1, period_key="",
                           awarded_at=now - timedelta(days=20), grants=1,
                           evidence={"first_day": "2025-02-01", "last_day": "2025-02-03",
                                     "days": 3, "timezone": "UTC"},
                           provisional_until=now - timedelta(hours=1),
                           bonus_vests_at=now - timedelta(hours=1))  # fmt: skip
        session.add(award)
        session.flush()
        ledger.post(session, now=now - timedelta(days=20), kind=TransferKind.BONUS,
                    reference=("medal_award", award.id), actor=Actor.system("test"),
                    idempotency_key=f"medal:{award.id}:grant:1",
                    legs=issue(donor_id, AccountKind.POINTS_PENDING, POINTS, 100),
                    reason="grant")  # fmt: skip
    # Vesting holds its transaction open after moving the bonus, as a slow commit would,
    # until medals-evaluate is seen waiting on its lock.
    moved, release = threading.Event(), threading.Event()
    post = vesting.ledger.post

    def slow_post(*args, **kwargs):  # type: ignore[no-untyped-def]
        result = post(*args, **kwargs)
        moved.set()
        release.wait(30)
        return result

    monkeypatch.setattr(vesting.ledger, "post", slow_post)
    vest = threading.Thread(target=vesting.vest_due, args=(runtime.db, clock))
    vest.start()
    reports: list[Any] = []
    try:
        assert moved.wait(10)
        evaluate = threading.Thread(
            target=lambda: reports.append(medals.evaluate_scheduled(runtime.db, clock))
        )
        evaluate.start()
        wait_until(
            lambda: waiting_on_a_lock(runtime.db),
            timeout=30,
            what="medals-evaluate to wait on vesting's lock",
        )
    finally:
        release.set()
    evaluate.join(30)
    vest.join(30)
    assert not evaluate.is_alive() and not vest.is_alive()
    assert [report.revoked for report in reports] == [1]  # once vesting committed
    balances = ledger.donor_balances(runtime.db, donor_id)
    assert (balances.points_pending, balances.points_available) == (0, 0)
    assert ledger.verify(runtime.db).ok


def test_two_admins_creating_the_same_medal_at_once_get_one_medal_and_a_409(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first admin's transaction is slow to finish (its audit record, say); the
    second waits on the medal's lock, then finds the medal there: 409, never a 500 on
    the unique key (found by review)."""
    from rewards_engine.domain.actors import Actor
    from rewards_engine.domain.errors import Conflict
    from rewards_engine.models import MedalDefinition
    from rewards_engine.services import audit, medals

    record = audit.record
    first_in, release = threading.Event(), threading.Event()

    def slow_record(*args, **kwargs):  # type: ignore[no-untyped-def]
        first_in.set()
        release.wait(30)  # until the second admin is seen waiting on the medal's lock
        return record(*args, **kwargs)

    monkeypatch.setattr(audit, "record", slow_record)
    rule = {"kind": "count", "threshold": 1}
    data = medals.DefinitionInput(
        code="early-bird", name="Early bird", icon_key="bird", tier="bronze", rule=rule
    )
    answers: list[str] = []

    def create(admin: str) -> None:
        try:
            medals.save_definition(runtime.db, runtime.clock, Actor(id=admin, role="admin"),
                                   data, create=True)  # fmt: skip
            answers.append("created")
        except Conflict as exc:
            answers.append(exc.code)

    threads = [threading.Thread(target=create, args=(f"admin:{n}",)) for n in range(2)]
    threads[0].start()
    try:
        assert first_in.wait(10)  # the first admin holds the medal's lock
        threads[1].start()
        wait_until(
            lambda: waiting_on_a_lock(runtime.db),
            timeout=30,
            what="the second admin to wait on the medal's lock",
        )
    finally:
        release.set()
    for thread in threads:
        thread.join(30)
    assert sorted(answers) == ["created", "medal_exists"], answers
    with runtime.db.read() as session:
        versions = session.scalars(
            select(MedalDefinition.version).where(MedalDefinition.code == "early-bird")
        ).all()
    assert versions == [1]


def test_a_clip_review_that_lost_is_run_again_whole(runtime: Runtime, client, auth) -> None:  # type: ignore[no-untyped-def]
    """review_clip is retried as a whole use case when it loses to another transaction
    (the server's serialization failure, raised once by a trigger on the clip's update).
    Its retry decorator once sat on a helper inside its transaction instead: the
    reviewer got a 500 and the clip stayed waiting."""
    from rewards_engine.domain.actors import Actor
    from rewards_engine.services import clip_review
    from tests.support.factories import donate_ids

    load_program(runtime)
    campaign = add_campaign(
        runtime,
        review_if_older_than_days=30,
        starts_at=runtime.clock.now() - timedelta(days=90),
    )
    consenting_donor(runtime, "ada")
    old = clip(recorded_at=runtime.clock.now() - timedelta(days=40))
    [waiting] = donate_ids(client, auth("ada"), [old], campaign.id)
    with runtime.db.transaction() as uow:  # a sequence is not rolled back: fails once only
        uow.session.execute(text("CREATE SEQUENCE review_tries"))
        uow.session.execute(
            text(
                "CREATE FUNCTION lose_once() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                " IF nextval('review_tries') = 1 THEN RAISE EXCEPTION 'could not serialize'"
                " USING ERRCODE = 'serialization_failure'; END IF; RETURN NEW; END $$"
            )
        )
        uow.session.execute(
            text(
                "CREATE TRIGGER lose_once BEFORE UPDATE ON clips"
                " FOR EACH ROW EXECUTE FUNCTION lose_once()"
            )
        )
    try:
        decided = clip_review.review_clip(
            runtime.db,
            runtime.clock,
            Actor(id="admin:boss", role="admin"),
            waiting,
            accept=True,
            reason="verified footage",
        )
        with runtime.db.read() as session:
            tries = session.scalar(text("SELECT last_value FROM review_tries"))
    finally:
        with runtime.db.transaction() as uow:  # the run's database is shared by its tests
            uow.session.execute(text("DROP TRIGGER lose_once ON clips"))
            uow.session.execute(text("DROP FUNCTION lose_once()"))
            uow.session.execute(text("DROP SEQUENCE review_tries"))
    assert decided.status == "accepted"
    assert tries == 2  # lost once, then applied
