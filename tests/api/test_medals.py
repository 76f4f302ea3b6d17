"""Medals end to end: each rule kind, exactly once, revocation, versions, backfill."""

import threading
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from sqlalchemy import func, select

from rewards_engine.domain.actors import Actor
from rewards_engine.jobs import find_job
from rewards_engine.models import LedgerTransfer, MedalAward, MedalNotification
from rewards_engine.scheduler import run_job
from rewards_engine.services import holds, ledger, medals
from tests.support.factories import (
    add_campaign,
    consenting_donor,
    donate_ids,
    load_program,
)

ADMIN = Actor(id="admin:boss", role="admin")
AGENT = Actor(id="support:agent", role="support")


@pytest.fixture
def program(runtime):  # type: ignore[no-untyped-def]
    load_program(runtime)
    return add_campaign(
        runtime,
        id="medal-test",
        starts_at=runtime.clock.now() - timedelta(days=60),
        ends_at=None,
        incident_types=["package_theft", "car_door"],
    )


@pytest.fixture
def ada(runtime, program, auth):  # type: ignore[no-untyped-def]
    return consenting_donor(runtime, "ada"), auth("ada")


donate = partial(donate_ids, campaign="medal-test")


def points(client, headers) -> dict[str, int]:  # type: ignore[no-untyped-def]
    balance = client.get("/v1/me", headers=headers).get_json()["balances"]["points"]
    return {"pending": balance["pending"], "available": balance["available"]}


def pending(client, headers) -> int:  # type: ignore[no-untyped-def]
    return points(client, headers)["pending"]


def screen(client, headers) -> dict:  # type: ignore[no-untyped-def]
    response = client.get("/v1/me/medals", headers=headers)
    assert response.status_code == 200
    return {m["code"]: m for m in response.get_json()["medals"]} | {
        "_notifications": response.get_json()["notifications"]
    }


def held(client, headers) -> set[str]:  # type: ignore[no-untyped-def]
    return {
        code
        for code, m in screen(client, headers).items()
        if not code.startswith("_") and m["held"]
    }


def add_medal(runtime, code: str, rule: dict, bonus: int = 0):  # type: ignore[no-untyped-def]
    return medals.save_definition(
        runtime.db,
        runtime.clock,
        ADMIN,
        medals.DefinitionInput(
            code=code,
            name=code.title(),
            icon_key=code,
            tier="bronze",
            rule=rule,
            bonus_points=bonus,
        ),
        create=True,
    )


def test_count_medals_at_and_around_their_thresholds(client, runtime, ada) -> None:
    _donor_id, headers = ada
    assert held(client, headers) == set()
    assert screen(client, headers)["apprentice"]["progress"] == {
        "current": 0,
        "target": 1,
        "percent": 0.0,
        "current_run": None,
        "period": None,
    }
    donate(client, headers, 1)
    assert held(client, headers) == {"apprentice"}
    donate(client, headers, 8)
    view = screen(client, headers)
    assert "watch-10" not in held(client, headers)
    assert (
        view["watch-10"]["progress"]["current"] == 9
        and view["watch-10"]["progress"]["percent"] == 90.0
    )
    donate(client, headers, 1)
    assert held(client, headers) == {"apprentice", "watch-10"}
    award = screen(client, headers)["watch-10"]["awards"][0]
    assert award["version"] == 1 and award["evidence"]["count"] == 10
    assert award["evidence"]["threshold"] == 10 and "batch_id" in award["evidence"]
    balance = points(client, headers)
    # 10 points a clip, and the Apprentice and Lookout bonuses once each: all pending
    # (the bonuses vest with the clips behind them).
    assert (balance["pending"], balance["available"]) == (10 * 10 + 10 + 20, 0)


def test_per_incident_type_counts_only_that_type(client, runtime, ada) -> None:
    _, headers = ada
    donate(client, headers, 24, incident_type="car_door")
    donate(client, headers, 5)
    assert "car-door-25" not in held(client, headers)
    donate(client, headers, 1, incident_type="car_door")
    assert "car-door-25" in held(client, headers)


def test_one_notification_for_medals_granted_together(client, runtime, ada) -> None:
    _, headers = ada
    donate(client, headers, 10)  # Apprentice and Lookout in one call
    notifications = screen(client, headers)["_notifications"]
    assert [sorted(n["codes"]) for n in notifications] == [["apprentice", "watch-10"]]
    read = client.post(f"/v1/me/medal-notifications/{notifications[0]['id']}/read", headers=headers)
    assert read.status_code == 204
    assert screen(client, headers)["_notifications"][0]["read"] is True


def test_per_period_medals_once_per_period(client, runtime, clock, ada) -> None:
    _, headers = ada
    add_medal(runtime, "hat-trick-week", {"kind": "period", "period": "week", "threshold": 3})
    donate(client, headers, 2)
    assert screen(client, headers)["hat-trick-week"]["progress"]["period"] == "week:2025-W03"
    donate(client, headers, 2)
    clock.advance(timedelta(days=7))
    donate(client, headers, 3)
    awards = screen(client, headers)["hat-trick-week"]["awards"]
    assert sorted(a["period"] for a in awards) == ["week:2025-W03", "week:2025-W04"]


def test_streaks_count_days_in_the_donors_time_zone(client, runtime, clock, ada) -> None:
    _donor_id, headers = ada
    add_medal(runtime, "streak-3", {"kind": "streak", "days": 3}, bonus=5)
    client.patch("/v1/me", json={"timezone": "America/Los_Angeles"}, headers=headers)
    # 2025-01-15 06:00 UTC is still the 14th in Los Angeles; 20:00 UTC is the 15th.
    clock.set(datetime(2025, 1, 15, 6, 0, tzinfo=UTC))
    donate(client, headers, 1, recorded_at="2025-01-15T05:00:00+00:00")
    clock.set(datetime(2025, 1, 15, 20, 0, tzinfo=UTC))
    donate(client, headers, 1, recorded_at="2025-01-15T19:00:00+00:00")
    run_job(runtime, find_job("medals-evaluate"))
    assert screen(client, headers)["streak-3"]["progress"]["current_run"] == 2
    assert "streak-3" not in held(client, headers)
    clock.set(datetime(2025, 1, 16, 20, 0, tzinfo=UTC))  # the 16th in Los Angeles
    donate(client, headers, 1, recorded_at="2025-01-16T19:00:00+00:00")
    run_job(runtime, find_job("medals-evaluate"))
    award = screen(client, headers)["streak-3"]["awards"][0]
    assert award["provisional"] is True
    assert (award["evidence"]["first_day"], award["evidence"]["last_day"]) == (
        "2025-01-14",
        "2025-01-16",
    )
    run_job(runtime, find_job("medals-evaluate"))  # again: nothing granted twice
    with runtime.db.read() as session:
        assert (
            session.scalar(
                select(func.count()).select_from(MedalAward).where(MedalAward.code == "streak-3")
            )
            == 1
        )


def test_a_utc_donor_gets_no_streak_from_two_clips_on_one_day(client, runtime, clock, ada) -> None:
    _, headers = ada
    add_medal(runtime, "streak-2", {"kind": "streak", "days": 2})
    clock.set(datetime(2025, 1, 15, 0, 30, tzinfo=UTC))
    donate(client, headers, 1, recorded_at="2025-01-15T00:10:00+00:00")
    clock.set(datetime(2025, 1, 15, 23, 30, tzinfo=UTC))
    donate(client, headers, 1, recorded_at="2025-01-15T23:10:00+00:00")
    run_job(runtime, find_job("medals-evaluate"))
    assert "streak-2" not in held(client, headers)
    clock.set(datetime(2025, 1, 16, 0, 5, tzinfo=UTC))  # just past midnight UTC
    donate(client, headers, 1, recorded_at="2025-01-16T00:01:00+00:00")
    run_job(runtime, find_job("medals-evaluate"))
    assert "streak-2" in held(client, headers)


def test_a_streak_is_provisional_until_late_reviews_are_over(client, runtime, clock, ada) -> None:
    _, headers = ada
    add_medal(runtime, "streak-2", {"kind": "streak", "days": 2}, bonus=7)
    donate(client, headers, 1, recorded_at="2025-01-15T11:00:00+00:00")
    clock.advance(timedelta(days=1))
    donate(client, headers, 1, recorded_at="2025-01-16T11:00:00+00:00")
    run_job(runtime, find_job("medals-evaluate"))
    assert screen(client, headers)["streak-2"]["awards"][0]["provisional"] is True
    clock.advance(timedelta(days=10))  # inside the 14-day review window: still provisional
    assert run_job(runtime, find_job("medals-evaluate"))["confirmed"] == 0
    clock.advance(timedelta(days=10))
    assert run_job(runtime, find_job("medals-evaluate"))["confirmed"] == 1
    assert screen(client, headers)["streak-2"]["awards"][0]["provisional"] is False


def test_reversing_a_day_of_a_streak_revokes_it(client, runtime, clock, ada, auth) -> None:
    _, headers = ada
    add_medal(runtime, "streak-2", {"kind": "streak", "days": 2}, bonus=7)
    day_one = donate(client, headers, 1, recorded_at="2025-01-15T11:00:00+00:00")
    clock.advance(timedelta(days=1))
    donate(client, headers, 1, recorded_at="2025-01-16T11:00:00+00:00")
    run_job(runtime, find_job("medals-evaluate"))
    points = pending(client, headers)
    client.post(
        f"/v1/admin/submissions/{day_one[0]}/reverse",
        json={"reason": "not a theft"},
        headers=auth("agent", "support"),
    )
    award = screen(client, headers)["streak-2"]["awards"][0]
    assert award["revoked"] is True and "streak" in award["revoke_reason"]
    # The clip's 10 points and the streak's bonus; one clip is left: Apprentice stands.
    assert points - pending(client, headers) == 10 + 7


def test_placement_medals_when_a_month_closes(client, runtime, clock, ada, auth) -> None:
    _, headers = ada
    add_medal(runtime, "podium-month", {"kind": "placement", "period": "month", "top": 2})
    others = {}
    for name, count in (("bruno", 5), ("chiara", 3), ("dev", 1)):
        consenting_donor(runtime, name)
        others[name] = auth(name)
        client.patch("/v1/me", json={"visibility": "public"}, headers=others[name])
        donate(client, others[name], count)
    client.patch("/v1/me", json={"visibility": "public"}, headers=headers)
    donate(client, headers, 3)  # ties with Chiara: both second
    clock.set(datetime(2025, 2, 3, tzinfo=UTC))
    run_job(runtime, find_job("wall-rollover"))
    run_job(runtime, find_job("medals-evaluate"))
    winners = {
        name for name, h in {**others, "ada": headers}.items() if "podium-month" in held(client, h)
    }
    assert winners == {"bruno", "chiara", "ada"}
    award = screen(client, others["bruno"])["podium-month"]["awards"][0]
    assert award["period"] == "month:2025-01" and award["evidence"]["rank"] == 1


def test_campaign_goal_rewards_every_contributor(client, runtime, clock, ada, auth) -> None:
    _, headers = ada
    goal = add_campaign(runtime, id="small-goal", targets={"package_theft": 3}, stop_at_target=True)
    add_medal(runtime, "small-goal-reached", {"kind": "campaign_goal", "campaign": goal.id})
    consenting_donor(runtime, "bruno")
    donate(client, headers, 2, campaign=goal.id)
    run_job(runtime, find_job("medals-evaluate"))
    progress = screen(client, headers)["small-goal-reached"]["progress"]
    assert (progress["current"], progress["target"]) == (2, 3)
    donate(client, auth("bruno"), 1, campaign=goal.id)
    run_job(runtime, find_job("medals-evaluate"))
    assert "small-goal-reached" in held(client, headers)
    assert "small-goal-reached" in held(client, auth("bruno"))


def test_revocation_takes_back_the_bonus_and_shows_why(client, runtime, ada, auth) -> None:
    _, headers = ada
    clips = donate(client, headers, 10)
    before = pending(client, headers)
    client.post(
        f"/v1/admin/submissions/{clips[0]}/reverse",
        json={"reason": "duplicate footage"},
        headers=auth("agent", "support"),
    )
    lookout = screen(client, headers)["watch-10"]
    assert lookout["held"] is False
    assert lookout["awards"][0]["revoked"] is True
    assert "9 of 10" in lookout["awards"][0]["revoke_reason"]
    assert before - pending(client, headers) == 10 + 20  # the clip and the bonus
    assert "apprentice" in held(client, headers)  # still 9 clips: Apprentice stands
    donate(client, headers, 1)  # qualifies again: granted again, bonus again
    lookout = screen(client, headers)["watch-10"]
    assert lookout["held"] is True and len(lookout["awards"]) == 1
    assert pending(client, headers) == before


def test_a_bonus_vests_with_the_clips_behind_it_and_never_while_held(
    client, runtime, clock, ada, auth
) -> None:
    donor_id, headers = ada
    donate(client, headers, 1)  # Apprentice: 10 bonus points
    assert points(client, headers) == {"pending": 10 + 10, "available": 0}
    clock.advance(timedelta(days=8))  # the clip's 7-day window passed, not the longest (14)
    run_job(runtime, find_job("vest-earnings"))
    assert points(client, headers) == {"pending": 10, "available": 10}
    holds.set_hold(runtime.db, runtime.clock, AGENT, donor_id, True, "review")
    clock.advance(timedelta(days=7))
    run_job(runtime, find_job("vest-earnings"))
    assert points(client, headers) == {"pending": 10, "available": 10}  # held: it waits
    holds.set_hold(runtime.db, runtime.clock, AGENT, donor_id, False, "fine")
    assert run_job(runtime, find_job("vest-earnings"))["bonus_points"] == 10
    assert run_job(runtime, find_job("vest-earnings"))["bonus_points"] == 0  # once
    assert points(client, headers) == {"pending": 0, "available": 20}
    assert ledger.verify(runtime.db).ok


def test_a_bonus_revoked_before_it_vests_is_taken_from_pending(
    client, runtime, clock, ada, auth
) -> None:
    _, headers = ada
    [only] = donate(client, headers, 1)
    clock.advance(timedelta(days=8))
    run_job(runtime, find_job("vest-earnings"))  # the clip vests; the bonus waits
    client.post(
        f"/v1/admin/submissions/{only}/reverse",
        json={"reason": "not a theft"},
        headers=auth("agent", "support"),
    )
    assert screen(client, headers)["apprentice"]["awards"][0]["revoked"] is True
    assert points(client, headers) == {"pending": 0, "available": 0}
    clock.advance(timedelta(days=30))
    assert run_job(runtime, find_job("vest-earnings"))["bonus_points"] == 0
    assert points(client, headers) == {"pending": 0, "available": 0}
    assert ledger.verify(runtime.db).ok


def test_two_workers_awarding_at_once_award_once(runtime, ada) -> None:
    donor_id, _ = ada
    add_medal(runtime, "first-light", {"kind": "count", "threshold": 1}, bonus=9)
    from collections import Counter

    from rewards_engine.services import wall

    with runtime.db.transaction() as uow:  # the tallies say one clip; no award yet
        wall.record_accepted(
            uow, runtime.clock.now(), donor_id, Counter({("medal-test", "car_door"): 1})
        )
    barrier = threading.Barrier(4)
    granted: list[list[str]] = []

    def evaluate() -> None:
        barrier.wait()
        with runtime.db.transaction() as uow:
            granted.append(medals.evaluate_donor(uow, runtime.clock.now(), donor_id))

    threads = [threading.Thread(target=evaluate) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(codes.count("first-light") for codes in granted) == 1
    with runtime.db.read() as session:
        awards = session.scalar(
            select(func.count()).select_from(MedalAward).where(MedalAward.code == "first-light")
        )
        bonuses = session.scalar(
            select(func.count())
            .select_from(LedgerTransfer)
            .where(LedgerTransfer.idempotency_key.like("medal:%"))
        )
    assert awards == 1
    assert bonuses == 2  # first-light and the fixture's Apprentice, once each


def test_versions_keep_what_they_granted(client, runtime, ada) -> None:
    _, headers = ada
    donate(client, headers, 10)
    medals.save_definition(
        runtime.db,
        runtime.clock,
        ADMIN,
        medals.DefinitionInput(
            code="watch-10",
            name="Lookout",
            icon_key="medal-clips-10",
            tier="level-1",
            rule={"kind": "count", "threshold": 12},
            bonus_points=20,
        ),
        create=False,
    )
    lookout = screen(client, headers)["watch-10"]
    assert lookout["version"] == 2 and lookout["held"] is True  # no silent revocation
    assert lookout["awards"][0]["version"] == 1


def test_backfill_dry_run_equals_the_real_run(client, runtime, ada, auth) -> None:
    _, headers = ada
    consenting_donor(runtime, "bruno")
    donate(client, headers, 6)
    donate(client, auth("bruno"), 2)
    for code, threshold in (("tier-2", 2), ("tier-4", 4), ("tier-6", 6)):
        add_medal(runtime, code, {"kind": "count", "threshold": threshold})
    dry = medals.backfill(runtime.db, runtime.clock, dry_run=True)
    assert sorted((c.code, c.period_key) for c in dry.gains if c.code.startswith("tier")) == [
        ("tier-2", ""),
        ("tier-2", ""),
        ("tier-4", ""),
        ("tier-6", ""),
    ]
    with runtime.db.read() as session:
        assert (
            session.scalar(
                select(func.count()).select_from(MedalAward).where(MedalAward.code.like("tier-%"))
            )
            == 0
        )  # dry: nothing written
    real = medals.backfill(runtime.db, runtime.clock, dry_run=False)
    assert real.gains == dry.gains and real.losses == dry.losses and real.applied
    assert held(client, headers) >= {"tier-2", "tier-4", "tier-6"}
    with runtime.db.read() as session:
        notes = session.scalars(select(MedalNotification)).all()
    # Ada gained three tiers at once: one notification names all three.
    assert sorted(sorted(n.codes) for n in notes if "tier-2" in n.codes) == [
        ["tier-2"],
        ["tier-2", "tier-4", "tier-6"],
    ]
    assert medals.backfill(runtime.db, runtime.clock, dry_run=True).gains == []

    medals.save_definition(
        runtime.db,
        runtime.clock,
        ADMIN,
        medals.DefinitionInput(
            code="tier-4",
            name="T4",
            icon_key="t",
            tier="silver",
            rule={"kind": "count", "threshold": 7},
        ),
        create=False,
    )
    losses = medals.backfill(runtime.db, runtime.clock, code="tier-4", dry_run=True).losses
    assert [(c.code, c.donor_id) for c in losses] == [("tier-4", ada[0])]
    medals.backfill(runtime.db, runtime.clock, code="tier-4", dry_run=False)
    assert "tier-4" not in held(client, headers)


def test_medal_admin_routes_and_their_roles(client, runtime, auth, program) -> None:
    admin, support, donor = auth("boss", "admin"), auth("agent", "support"), auth("d1")
    new = {
        "code": "night-owl",
        "name": "Night Owl",
        "icon_key": "owl",
        "tier": "silver",
        "rule": {"kind": "count", "threshold": 3},
    }
    assert client.post("/v1/admin/medals", json=new, headers=donor).status_code == 403
    assert client.post("/v1/admin/medals", json=new, headers=support).status_code == 403
    created = client.post("/v1/admin/medals", json=new, headers=admin)
    assert created.status_code == 201 and created.get_json()["version"] == 1
    assert client.post("/v1/admin/medals", json=new, headers=admin).status_code == 409
    bad = client.post(
        "/v1/admin/medals", json={**new, "code": "x2", "rule": {"kind": "count"}}, headers=admin
    )
    assert bad.status_code == 422 and bad.get_json()["errors"]["json"]["rule"]["threshold"]
    changed = client.put(
        "/v1/admin/medals/night-owl",
        json={k: v for k, v in new.items() if k != "code"}
        | {"rule": {"kind": "count", "threshold": 4}},
        headers=admin,
    )
    assert changed.get_json()["version"] == 2
    retired = client.post(
        "/v1/admin/medals/night-owl/retire", json={"reason": "seasonal"}, headers=admin
    )
    assert retired.get_json()["active"] is False
    versions = [
        d
        for d in client.get("/v1/admin/medals", headers=support).get_json()
        if d["code"] == "night-owl"
    ]
    assert [(d["version"], d["active"]) for d in versions] == [(1, True), (2, True), (3, False)]
    dry = client.post("/v1/admin/medals/backfill", json={"dry_run": True}, headers=admin)
    assert dry.status_code == 200 and dry.get_json()["applied"] is False
    assert client.post("/v1/admin/medals/backfill", json={}, headers=support).status_code == 403
    log = client.get("/v1/admin/audit-log?target_type=medal", headers=admin).get_json()["items"]
    assert [e["action"] for e in log] == ["medal.retire", "medal.change", "medal.create"]


def test_the_medal_screen_has_an_etag_and_the_wall_shows_medal_counts(client, runtime, ada) -> None:
    _, headers = ada
    client.patch("/v1/me", json={"visibility": "public", "display_name": "Ada"}, headers=headers)
    donate(client, headers, 10)
    first = client.get("/v1/me/medals", headers=headers)
    assert (
        client.get(
            "/v1/me/medals", headers={**headers, "If-None-Match": first.headers["ETag"]}
        ).status_code
        == 304
    )
    entry = client.get("/v1/honor-wall").get_json()["entries"][0]
    assert (entry["name"], entry["medals"]) == ("Ada", 2)
