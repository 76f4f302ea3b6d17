"""Staff limits in the use cases (issue 24, part 1): per action (403 ``over_limit``) and
per agent per day (403 ``daily_limit_exceeded``, with the alert), atomic when agents act
at once; an admin's change of a role applies to the next action, in any process.

Run on SQLite and on PostgreSQL (TEST_DATABASE_URL): the daily count is one conditional
UPDATE, whose behaviour under concurrency is the database's.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from rewards_engine.bootstrap import build_runtime
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.errors import Forbidden, InvalidInput, NotFound
from rewards_engine.models import AuditRecord, LedgerTransfer, StaffDailyUsage, StaffRole
from rewards_engine.runtime import Runtime
from rewards_engine.services import bulk_review, ledger, staff_policy, support
from rewards_engine.services.donors import ensure_donor
from rewards_engine.services.fixtures import KINDS, load_fixtures

AGENT = Actor(id="support:agent-7", role="support")
OTHER = Actor(id="support:agent-8", role="support")
ADMIN = Actor(id="admin:boss", role="admin")


def _donor(runtime: Runtime, name: str = "ada") -> int:
    return ensure_donor(runtime.db, runtime.clock, name).id


def _cash(runtime: Runtime, actor: Actor, donor_id: int, cents: int) -> None:
    support.adjust(
        runtime.db, runtime.clock, actor, donor_id, asset="cash", currency="USD",
        amount=cents, reason="goodwill credit",
    )  # fmt: skip


def _set_support(runtime: Runtime, cash: dict[str, int], reason: str = "tighter limits") -> None:
    shipped = staff_policy.shipped_policy().roles["support"]
    staff_policy.update_role(
        runtime.db,
        runtime.clock,
        ADMIN,
        "support",
        {"may": sorted(shipped.may), "limits": {"cash.adjust": cash}},
        reason,
    )


def _used(runtime: Runtime, actor_id: str) -> int:
    """The agent's cash.adjust used today, as the table holds it."""
    with runtime.db.read() as session:
        used = session.scalar(
            select(StaffDailyUsage.used).where(
                StaffDailyUsage.actor_id == actor_id,
                StaffDailyUsage.action == "cash.adjust",
                StaffDailyUsage.day == runtime.clock.now().date(),
            )
        )
        return int(used or 0)


def _transfers(runtime: Runtime) -> int:
    with runtime.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(LedgerTransfer)) or 0)


def test_an_adjustment_over_the_role_s_per_action_limit_is_refused_and_writes_nothing(
    runtime: Runtime,
) -> None:
    donor = _donor(runtime)
    _cash(runtime, AGENT, donor, 5_000)  # tier 1's limit: $50 an adjustment
    with pytest.raises(Forbidden) as refused:
        _cash(runtime, AGENT, donor, -5_001)  # the size counts, either way
    assert refused.value.code == "over_limit" and refused.value.details["limit"] == 5_000
    assert _transfers(runtime) == 1
    assert _used(runtime, AGENT.id) == 5_000


def test_the_day_s_total_stops_at_the_cap_per_agent_and_resets_the_next_day(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    _set_support(runtime, {"per_action": 5_000, "per_day": 12_000})
    donor = _donor(runtime)
    _cash(runtime, AGENT, donor, 5_000)
    _cash(runtime, AGENT, donor, -5_000)  # a debit counts too: the size moved
    with caplog.at_level(logging.WARNING), pytest.raises(Forbidden) as refused:
        _cash(runtime, AGENT, donor, 2_001)
    assert refused.value.code == "daily_limit_exceeded"
    assert refused.value.details == {
        "action": "cash.adjust", "limit": 12_000, "per": "day", "used": 10_000,
    }  # fmt: skip
    [event] = [r for r in caplog.records if r.getMessage() == "staff.daily_limit_exceeded"]
    assert event.levelname == "WARNING"
    assert event.fields == {  # type: ignore[attr-defined]  # who and what; no donor's data
        "alert": "staff.daily_limit_exceeded", "actor": AGENT.id, "role": "support",
        "action": "cash.adjust", "limit": 12_000, "used": 10_000, "amount": 2_001,
    }  # fmt: skip
    assert _transfers(runtime) == 2  # the refused one rolled back whole
    _cash(runtime, AGENT, donor, 2_000)  # up to the cap exactly
    _cash(runtime, OTHER, donor, 5_000)  # another agent has a day of their own
    runtime.clock.advance(timedelta(days=1))  # type: ignore[attr-defined]  # a FixedClock
    _cash(runtime, AGENT, donor, 5_000)
    assert _used(runtime, AGENT.id) == 5_000


def test_jobs_are_not_bound_by_the_staff_policy_and_donors_may_do_nothing(
    runtime: Runtime,
) -> None:
    donor = _donor(runtime)
    _cash(runtime, Actor.system("demo"), donor, 90_000)
    with pytest.raises(Forbidden) as refused:
        _cash(runtime, Actor(id=f"donor:{donor}", role="donor"), donor, 1)
    assert refused.value.code == "forbidden"


def test_concurrent_adjustments_never_pass_the_day_s_cap(settings, clock) -> None:  # type: ignore[no-untyped-def]
    """Eight agents' sessions at once for one agent (a script, a double click): exactly
    the cap's worth applies. Each thread credits its own donor, so that nothing but the
    daily count serialises them."""
    runtime = build_runtime(settings, clock=clock)
    try:
        _set_support(runtime, {"per_action": 1_000, "per_day": 7_000})
        donors = [_donor(runtime, f"d{n}") for n in range(8)]
        outcomes: list[str] = []
        start = threading.Barrier(len(donors))

        def work(donor_id: int) -> None:
            start.wait()
            for _ in range(3):
                try:
                    _cash(runtime, AGENT, donor_id, 1_000)
                    outcomes.append("ok")
                except Forbidden as error:
                    outcomes.append(error.code)

        threads = [threading.Thread(target=work, args=(d,)) for d in donors]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert len(outcomes) == 24
        assert outcomes.count("ok") == 7
        assert outcomes.count("daily_limit_exceeded") == 17
        assert _used(runtime, AGENT.id) == 7_000
        credited = [
            ledger.donor_balances(runtime.db, d).cash[0].available_cents
            for d in donors
            if ledger.donor_balances(runtime.db, d).cash
        ]
        assert sum(credited) == 7_000
    finally:
        runtime.close()


def test_an_admin_s_change_is_audited_and_applies_to_the_next_action(runtime: Runtime) -> None:
    donor = _donor(runtime)
    _cash(runtime, AGENT, donor, 1_000)
    shipped = staff_policy.shipped_policy().roles["support"]
    view = staff_policy.update_role(
        runtime.db, runtime.clock, ADMIN, "support",
        {"may": sorted(shipped.may - {"cash.adjust"}), "description": "no cash for tier 1"},
        "cash corrections go to finance",
    )  # fmt: skip
    assert view.version == 2 and "cash.adjust" not in view.may and view.updated_by == ADMIN.id
    with pytest.raises(Forbidden) as refused:
        _cash(runtime, AGENT, donor, 1_000)
    assert refused.value.code == "forbidden"
    with runtime.db.read() as session:
        [record] = session.scalars(
            select(AuditRecord).where(AuditRecord.action == "staff_role.changed")
        ).all()
        assert record.actor_id == ADMIN.id and record.target_id == "support"
        assert "cash.adjust" in record.before["may"] and "cash.adjust" not in record.after["may"]
        assert record.before["limits"]["cash.adjust"] == {"per_action": 5_000, "per_day": 50_000}
        assert record.after["version"] == 2 and record.reason == "cash corrections go to finance"
        # The other roles were written from the shipped file at the first edit.
        assert session.scalar(select(func.count()).select_from(StaffRole)) == 4


def test_another_process_s_change_is_seen_at_the_next_read(runtime: Runtime) -> None:
    """The cache holds per pool; a change written by another process moves the roles'
    stamp (the sum of versions), and the next read here loads it."""
    _set_support(runtime, {"per_action": 5_000})
    with runtime.db.read() as session:
        assert staff_policy.load(session).allows("support", "cash.adjust")
    with runtime.db.transaction() as uow:  # what another process's admin edit writes
        uow.session.execute(
            update(StaffRole)
            .where(StaffRole.role == "support")
            .values(may=["donors.read"], version=StaffRole.version + 1)
        )
    with runtime.db.read() as session:
        assert not staff_policy.load(session).allows("support", "cash.adjust")


def test_bad_edits_name_their_field_and_change_nothing(runtime: Runtime) -> None:
    cases = [
        ("support", {"may": ["donors.read", "teleport"]}, "may.1"),
        ("support", {"may": ["cash.adjust"], "limits": {"cash.adjust": {"per_day": -1}}},
         "limits.cash.adjust.per_day"),
        ("admin", {"may": ["donors.read"]}, "may"),
    ]  # fmt: skip
    for role, changes, field in cases:
        with pytest.raises(InvalidInput) as refused:
            staff_policy.update_role(runtime.db, runtime.clock, ADMIN, role, changes, "a change")
        assert refused.value.field == field
    with pytest.raises(NotFound):
        staff_policy.update_role(runtime.db, runtime.clock, ADMIN, "janitor", {"may": []}, "x y")
    with pytest.raises(Forbidden):  # only roles.change may change roles
        staff_policy.update_role(runtime.db, runtime.clock, AGENT, "support", {"may": []}, "x y")
    with runtime.db.read() as session:
        assert session.scalar(select(func.count()).select_from(StaffRole)) == 0
        assert session.scalar(select(func.count()).select_from(StaffDailyUsage)) == 0


def test_tier_1_reviews_one_clip_at_a_time(runtime: Runtime) -> None:
    """A bulk review is ``clips.review`` with the number of clips as its amount: tier 1's
    limit of one refuses two before any clip is read."""
    with pytest.raises(Forbidden) as refused:
        bulk_review.review_clips(
            runtime.db, runtime.clock, AGENT, [1, 2], accept=True, reason="looks fine"
        )
    assert refused.value.code == "over_limit" and refused.value.details["limit"] == 1
    with pytest.raises(NotFound):  # a lead may: past authorization, the clips do not exist
        bulk_review.review_clips(
            runtime.db,
            runtime.clock,
            Actor(id="support_lead:lead-1", role="support_lead"),
            [1, 2],
            accept=True,
            reason="looks fine",
        )


def test_the_roles_file_loads_once_and_an_admin_s_change_is_kept(
    runtime: Runtime, fixtures_dir
) -> None:  # type: ignore[no-untyped-def]
    kinds = [kind for kind in KINDS if kind.name == "staff_role"]
    first = load_fixtures(runtime.db, runtime.clock, fixtures_dir, kinds=kinds)
    assert first.created == {"staff_role": 4}
    again = load_fixtures(runtime.db, runtime.clock, fixtures_dir, kinds=kinds)
    assert not again.changed_anything and again.unchanged == {"staff_role": 4}
    _set_support(runtime, {"per_action": 1_000})
    kept = load_fixtures(runtime.db, runtime.clock, fixtures_dir, kinds=kinds)
    assert kept.differing == ["staff_role support: description, limits"]  # reported, kept
    with runtime.db.read() as session:
        assert staff_policy.load(session).limit("support", "cash.adjust").per_action == 1_000
    load_fixtures(runtime.db, runtime.clock, fixtures_dir, kinds=kinds, update=True)
    with runtime.db.read() as session:
        row = session.get(StaffRole, "support")
        assert row is not None and row.version == 3  # the file's values as a new version
        assert staff_policy.load(session).limit("support", "cash.adjust").per_action == 5_000
