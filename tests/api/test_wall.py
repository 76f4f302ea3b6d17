"""The Honor Wall through the API and its jobs, against a real Redis."""

import threading
from datetime import timedelta
from functools import partial

import pytest

from rewards_engine.domain.actors import Actor
from rewards_engine.jobs import find_job
from rewards_engine.redis_wall import HonorWall
from rewards_engine.scheduler import run_job
from rewards_engine.services import holds, wall
from tests.support.factories import (
    add_campaign,
    consenting_donor,
    donate_ids,
    load_program,
)

SUPPORT = Actor(id="support:agent", role="support")


@pytest.fixture
def campaign(runtime):  # type: ignore[no-untyped-def]
    load_program(runtime)
    return add_campaign(runtime, id="wall-test")


@pytest.fixture
def donors(runtime, auth, campaign, client):  # type: ignore[no-untyped-def]
    """Five donors who opted in to the wall: name -> (id, headers)."""
    people = {}
    for name in ("ada", "bruno", "chiara", "dev", "eve"):
        donor_id = consenting_donor(runtime, name)
        headers = auth(name)
        client.patch(
            "/v1/me", json={"display_name": name.title(), "visibility": "public"}, headers=headers
        )
        people[name] = (donor_id, headers)
    return people


donate = partial(donate_ids, campaign="wall-test")


def board(client, name: str = "all-time", **query) -> dict:  # type: ignore[no-untyped-def]
    response = client.get("/v1/honor-wall", query_string={"board": name, **query})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def rows(page: dict) -> list[tuple[int, str, int]]:
    return [(e["rank"], e["name"], e["clips"]) for e in page["entries"]]


def test_competition_ranking_with_earliest_first_among_equals(client, clock, donors) -> None:
    donate(client, donors["bruno"][1], 3)
    clock.advance(timedelta(seconds=10))
    donate(client, donors["ada"][1], 3)  # ties with Bruno, later
    clock.advance(timedelta(seconds=10))
    donate(client, donors["chiara"][1], 5)
    donate(client, donors["dev"][1], 1)
    page = board(client)
    assert rows(page) == [(1, "Chiara", 5), (2, "Bruno", 3), (2, "Ada", 3), (4, "Dev", 1)]
    assert page["ranked_donors"] == 4
    assert page["board"]["name"] == "all-time" and page["board"]["window_end"] is None
    for name in ("campaign:wall-test", "month:2025-01", "week:2025-W03"):
        assert rows(board(client, name)) == rows(page)
    assert board(client, "week:2025-W02")["entries"] == []


def test_a_reversed_clip_stops_counting(client, auth, donors) -> None:
    clips = donate(client, donors["ada"][1], 2)
    donate(client, donors["bruno"][1], 2)
    client.post(
        f"/v1/admin/submissions/{clips[0]}/reverse",
        json={"reason": "duplicate footage"},
        headers=auth("agent", "support"),
    )
    assert rows(board(client)) == [(1, "Bruno", 2), (2, "Ada", 1)]


def test_visibility_names_and_privacy(client, runtime, donors) -> None:
    _ada_id, ada = donors["ada"]
    donate(client, ada, 4)
    donate(client, donors["bruno"][1], 3)
    donate(client, donors["chiara"][1], 2)
    client.patch("/v1/me", json={"visibility": "alias"}, headers=donors["bruno"][1])
    alias = client.get("/v1/me", headers=donors["bruno"][1]).get_json()["alias"]
    assert [e["name"] for e in board(client)["entries"]] == ["Ada", alias, "Chiara"]

    client.patch("/v1/me", json={"visibility": "hidden"}, headers=ada)
    page = board(client)
    assert rows(page) == [(1, alias, 3), (2, "Chiara", 2)]  # no gap where Ada stands
    assert page["ranked_donors"] == 2
    me = client.get("/v1/honor-wall/me", headers=ada).get_json()
    assert (me["state"], me["rank"], me["clips"]) == ("hidden", 1, 4)
    assert [(e["name"], e["is_me"]) for e in me["entries"]][:2] == [("Ada", True), (alias, False)]
    assert client.get("/v1/me", headers=ada).get_json()["all_time_rank"] == 1

    members = runtime.redis.zrange(
        HonorWall(runtime.redis, runtime.settings.redis_namespace).keys("all-time").listed, 0, -1
    )
    assert all(member.isdigit() for member in members)  # opaque ids, never names


def test_donors_under_review_leave_public_pages(client, runtime, donors) -> None:
    ada_id, ada = donors["ada"]
    donate(client, ada, 3)
    donate(client, donors["bruno"][1], 1)
    holds.set_hold(runtime.db, runtime.clock, SUPPORT, ada_id, True, "velocity check")
    assert rows(board(client)) == [(1, "Bruno", 1)]
    assert client.get("/v1/honor-wall/me", headers=ada).get_json()["state"] == "under_review"
    holds.set_hold(runtime.db, runtime.clock, SUPPORT, ada_id, False, "genuine")
    assert rows(board(client)) == [(1, "Ada", 3), (2, "Bruno", 1)]


def test_standing_around_the_donor(client, clock, donors) -> None:
    for count, name in enumerate(("eve", "dev", "chiara", "bruno", "ada"), start=1):
        donate(client, donors[name][1], count * 2)  # Ada 10, Bruno 8 ... Eve 2
    second = client.get("/v1/honor-wall/me?around=1", headers=donors["bruno"][1]).get_json()
    assert (second["rank"], second["clips"], second["clips_to_pass_next"]) == (2, 8, 3)
    assert [e["name"] for e in second["entries"]] == ["Ada", "Bruno", "Chiara"]  # first shown
    top = client.get("/v1/honor-wall/me?around=2", headers=donors["ada"][1]).get_json()
    assert [e["name"] for e in top["entries"]] == ["Ada", "Bruno", "Chiara"]
    assert top["clips_to_pass_next"] is None and top["percentile"] == 100.0
    last = client.get("/v1/honor-wall/me?around=1", headers=donors["eve"][1]).get_json()
    assert last["rank"] == 5 and last["percentile"] == 20.0
    assert [e["is_me"] for e in last["entries"]] == [False, True]


def test_a_donor_without_clips_is_unranked(client, donors, auth) -> None:
    donate(client, donors["ada"][1], 2)
    fresh = client.get("/v1/honor-wall/me", headers=auth("newcomer")).get_json()
    assert (fresh["state"], fresh["rank"], fresh["clips"]) == ("unranked", None, 0)
    assert fresh["clips_to_pass_next"] == 3


def test_pages_cursors_and_etags(client, donors) -> None:
    for count, (_name, (_, headers)) in enumerate(donors.items(), start=1):
        donate(client, headers, count)
    first = board(client, limit=2)
    second = board(client, limit=2, cursor=first["next_cursor"])
    third = board(client, limit=2, cursor=second["next_cursor"])
    assert [e["clips"] for e in first["entries"] + second["entries"] + third["entries"]] == [
        5,
        4,
        3,
        2,
        1,
    ]
    assert third["next_cursor"] is None
    response = client.get("/v1/honor-wall?board=all-time&limit=2")
    etag = response.headers["ETag"]
    assert (
        client.get(
            "/v1/honor-wall?board=all-time&limit=2", headers={"If-None-Match": etag}
        ).status_code
        == 304
    )
    donate(client, donors["eve"][1], 1)
    assert (
        client.get(
            "/v1/honor-wall?board=all-time&limit=2", headers={"If-None-Match": etag}
        ).status_code
        == 200
    )


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("board=galaxy", "board"),
        ("board=campaign:nope", "board"),
        ("board=week:2031-W05", "board"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("cursor=bogus", "cursor"),
        ("board=all-time&cursor=" + "eyJ4IjoxfQ", "cursor"),
    ],
)
def test_bad_wall_queries_are_422(client, campaign, query, field) -> None:
    response = client.get(f"/v1/honor-wall?{query}")
    assert response.status_code == 422
    assert field in response.get_json()["errors"]["query"]


def test_a_cursor_of_one_board_is_refused_on_another(client, donors) -> None:
    for _, headers in donors.values():
        donate(client, headers, 1)
    cursor = board(client, limit=2)["next_cursor"]
    response = client.get(f"/v1/honor-wall?board=month:2025-01&limit=2&cursor={cursor}")
    assert response.status_code == 422


def test_submissions_succeed_while_redis_is_down_and_the_wall_catches_up(
    settings, tmp_path, clock
) -> None:
    from dataclasses import replace

    from api import create_app
    from api.context import EXTENSION
    from tests.conftest import make_token
    from tests.support.processes import RedisProcess

    server = RedisProcess(tmp_path / "redis").start()
    app = create_app(replace(settings, redis_url=server.url), clock=clock)
    runtime = app.extensions[EXTENSION]
    client = app.test_client()
    try:
        load_program(runtime)
        add_campaign(runtime, id="wall-test")
        headers = {}
        for name in ("ada", "bruno"):
            consenting_donor(runtime, name)
            headers[name] = {"Authorization": f"Bearer {make_token(settings, name, 'donor')}"}
            client.patch(
                "/v1/me",
                json={"visibility": "public", "display_name": name.title()},
                headers=headers[name],
            )
        donate(client, headers["ada"], 2)
        server.stop()  # Redis goes away in the middle of ingestion
        for _ in range(3):
            donate(client, headers["bruno"], 2)  # still 201: nothing is lost
        donate(client, headers["ada"], 1)
        server.start()  # an empty server: this Redis keeps nothing on disk
        assert rows(board(client)) == []
        result = run_job(runtime, find_job("wall-drain"))
        assert result["rebuilt"] == 1
        assert rows(board(client)) == [(1, "Bruno", 6), (2, "Ada", 3)]
        assert run_job(runtime, find_job("wall-drain"))["rows"] == 0
    finally:
        server.stop()
        runtime.close()


def test_a_lost_wall_is_rebuilt_by_the_drain_job(client, runtime, clock, donors) -> None:
    donate(client, donors["ada"][1], 2)
    clock.advance(timedelta(hours=2))  # long after the changes: nothing left to replay
    runtime.redis.flushdb()
    wall.hall(runtime)._profiles.clear()  # as a freshly started worker
    assert board(client)["entries"] == []
    assert run_job(runtime, find_job("wall-drain"))["rebuilt"] == 1
    assert rows(board(client)) == [(1, "Ada", 2)]


def test_rebuild_fixes_drift_and_readers_never_see_a_half_built_board(
    client, runtime, donors, monkeypatch
) -> None:
    for count, (_, headers) in enumerate(donors.values(), start=1):
        donate(client, headers, count)
    expected = rows(board(client))
    hall = wall.hall(runtime)
    keys = hall.keys("all-time")
    runtime.redis.zadd(keys.listed, {"000000000001": 1e15})  # corrupt: a phantom leader
    seen_during: list = []
    original = hall.rebuild

    def slow_rebuild(name, entries, batch=10_000):  # type: ignore[no-untyped-def]
        def watched():  # type: ignore[no-untyped-def]
            for index, entry in enumerate(entries):
                if index == 2:  # half-way: what does a reader see?
                    seen_during.append(len(runtime.redis.zrange(keys.listed, 0, -1)))
                yield entry

        return original(name, watched(), batch=1)

    hall.rebuild = slow_rebuild  # type: ignore[method-assign]
    monkeypatch.setattr("rewards_engine.services.wall.rebuilding.hall", lambda _runtime: hall)
    wall.rebuild(runtime, "all-time")
    assert seen_during == [6]  # the old board, whole, while the new one was being built
    assert rows(board(client)) == expected


def test_periods_are_archived_and_answered_from_the_archive(client, runtime, clock, donors) -> None:
    donate(client, donors["ada"][1], 3)
    donate(client, donors["bruno"][1], 2)
    donate(client, donors["chiara"][1], 2)
    clock.advance(timedelta(days=20))  # into February; January is closed
    result = run_job(runtime, find_job("wall-rollover"))
    assert result["archived"] == 2  # month:2025-01 and week:2025-W03
    assert run_job(runtime, find_job("wall-rollover"))["archived"] == 0
    keys = wall.hall(runtime).keys("month:2025-01")
    assert runtime.redis.ttl(keys.listed) > 0
    clock.advance(timedelta(days=10))  # beyond the grace: Redis no longer serves it
    client.patch("/v1/me", json={"visibility": "hidden"}, headers=donors["ada"][1])
    page = board(client, "month:2025-01")
    assert page["archived"] is True
    assert rows(page) == [(1, "Bruno", 2), (1, "Chiara", 2)]  # Ada hidden since; re-ranked
    from rewards_engine.models import WallSnapshot

    with runtime.db.read() as session:
        snapshot = session.query(WallSnapshot).filter_by(board="month:2025-01").one()
    assert snapshot.entries == 3 and len(snapshot.content_hash) == 64


def test_concurrent_submissions_keep_the_wall_exact(app, runtime, donors) -> None:
    def work(name: str) -> None:
        client = app.test_client()
        for _ in range(4):
            donate(client, donors[name][1], 2)

    threads = [threading.Thread(target=work, args=(name,)) for name in donors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    page = app.test_client().get("/v1/honor-wall").get_json()
    assert [e["clips"] for e in page["entries"]] == [8] * 5
    assert [e["rank"] for e in page["entries"]] == [1] * 5


def test_live_boards_follow_the_grace_rule(runtime, clock, campaign) -> None:
    from datetime import UTC, datetime

    clock.set(datetime(2025, 3, 20, tzinfo=UTC))  # February ended 19 days ago
    names = wall.live_boards(runtime)
    assert "month:2025-03" in names and "week:2025-W12" in names
    assert "week:2025-W11" in names  # the previous week is within its grace
    assert "month:2025-02" not in names  # archived, no longer kept in Redis
    clock.set(datetime(2025, 3, 5, tzinfo=UTC))
    assert "month:2025-02" in wall.live_boards(runtime)


def test_replaying_the_outbox_never_counts_twice(client, runtime, clock, donors) -> None:
    donate(client, donors["ada"][1], 2)
    donate(client, donors["ada"][1], 1)
    before = rows(board(client))
    replay = wall.drain(runtime, since=clock.now() - timedelta(hours=1))
    assert replay.rows == 2 + 5  # the two donations and the five profile changes
    assert replay.applied == 0  # nothing newer than what Redis holds
    assert rows(board(client)) == before == [(1, "Ada", 3)]
