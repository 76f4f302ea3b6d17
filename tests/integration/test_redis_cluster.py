"""The engine on a real Redis Cluster (three masters, three replicas, on loopback):
keys that must meet share a slot, and when a master dies its replica takes over while
donations go on; the wall answers again and catches up from the database."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from rewards_engine.bootstrap import build_runtime
from rewards_engine.clock import FixedClock
from rewards_engine.jobs import find_job
from rewards_engine.models import Clip
from rewards_engine.runtime import Runtime
from rewards_engine.scheduler import RedisLease, run_job
from rewards_engine.services import wall
from tests.conftest import DEFAULT_NOW, app_for, make_token
from tests.support.cluster import LocalCluster
from tests.support.factories import BOUNTY, body, clip, consenting_donor, load_program
from tests.support.waiting import wait_until


@pytest.fixture
def cluster(tmp_path) -> Iterator[LocalCluster]:  # type: ignore[no-untyped-def]
    local = LocalCluster(tmp_path / "cluster").start()
    yield local
    local.stop()


@pytest.fixture
def on_cluster(settings, cluster) -> Iterator[Runtime]:  # type: ignore[no-untyped-def]
    runtime = build_runtime(
        replace(settings, redis_url=cluster.url, redis_namespace=f"c{secrets.token_hex(3)}"),
        clock=FixedClock(DEFAULT_NOW),
    )
    yield runtime
    runtime.close()


def slot(cluster: LocalCluster, key: str) -> int:
    return int(cluster.node(cluster.masters[0]).execute_command("CLUSTER", "KEYSLOT", key))


def test_keys_that_meet_in_one_command_share_a_slot(cluster, on_cluster) -> None:
    keys = wall.hall(on_cluster).keys("all-time")
    board = [keys.listed, keys.shadow, keys.versions, keys.rev]
    rebuild = [keys.temp_listed, keys.temp_shadow, keys.temp_versions]
    assert len({slot(cluster, key) for key in board + rebuild}) == 1  # swap, apply, page
    lease = RedisLease(on_cluster.redis, on_cluster.key("sched", "leader"), 5, owner="me")
    assert (
        lease.acquire() and not RedisLease(on_cluster.redis, lease.key, 5, owner="other").acquire()
    )


def accepted(runtime: Runtime, donor_id: int) -> int:
    with runtime.db.read() as session:
        return session.scalar(
            select(func.count(Clip.id)).where(Clip.donor_id == donor_id, Clip.status == "accepted")
        )


def test_a_master_fails_over_and_the_wall_answers_and_catches_up(cluster, on_cluster) -> None:
    load_program(on_cluster)
    names = ["ada", "bob", "cy"]
    ids = {name: consenting_donor(on_cluster, name) for name in names}
    client = app_for(on_cluster).test_client()
    headers = {
        n: {"Authorization": f"Bearer {make_token(on_cluster.settings, n, 'donor')}"} for n in names
    }

    def donate(name: str, count: int) -> None:
        sent = client.post(
            "/v1/submissions",
            json=body(BOUNTY, [clip() for _ in range(count)]),
            headers=headers[name],
        )
        assert sent.status_code == 201, sent.get_json()

    def standing(name: str) -> int:
        answer = client.get("/v1/honor-wall/me?board=all-time", headers=headers[name])
        assert answer.status_code == 200, answer.get_json()
        return int(answer.get_json()["clips"])

    for n, name in enumerate(names):
        donate(name, 2 + n)
    assert [standing(name) for name in names] == [2, 3, 4]

    board_master = cluster.master_of(wall.hall(on_cluster).keys("all-time").listed)
    cluster.kill(board_master)  # the master holding the all-time board dies
    for name in names:  # donations go on while the cluster elects the replica
        donate(name, 3)
    board_key = wall.hall(on_cluster).keys("all-time").listed
    wait_until(
        lambda: cluster.master_of(board_key) != board_master and cluster.healthy(),
        timeout=30,
        every=0.2,
        what="the replica to take over the board's slot",
    )

    run_job(on_cluster, find_job("wall-drain"))  # type: ignore[arg-type]
    for name in names:
        assert standing(name) == accepted(on_cluster, ids[name]) == 2 + names.index(name) + 3
    page = client.get("/v1/honor-wall?board=all-time")
    assert page.status_code == 200


def test_a_rebuild_streams_into_one_slot_and_swaps_on_the_cluster(cluster, on_cluster) -> None:
    load_program(on_cluster)
    client = app_for(on_cluster).test_client()
    ids = {}
    for n, name in enumerate(["ada", "bob", "cy", "dee", "eli"]):
        ids[name] = consenting_donor(on_cluster, name)
        headers = {"Authorization": f"Bearer {make_token(on_cluster.settings, name, 'donor')}"}
        client.patch("/v1/me", json={"visibility": "public"}, headers=headers)
        sent = client.post(
            "/v1/submissions", json=body(BOUNTY, [clip() for _ in range(n + 1)]), headers=headers
        )
        assert sent.status_code == 201, sent.get_json()
    hall = wall.hall(on_cluster)
    keys = hall.keys("all-time")
    live = on_cluster.redis.zrevrange(keys.listed, 0, -1, withscores=True)
    assert len(live) == 5
    on_cluster.redis.delete(hall.profiles_key)  # in another slot: written by the rebuild too
    result = wall.rebuild(on_cluster, "all-time", chunk=2)  # three chunks, one script each
    assert result["members"] == 5
    assert on_cluster.redis.zrevrange(keys.listed, 0, -1, withscores=True) == live
    assert len(on_cluster.redis.hgetall(hall.profiles_key)) == 5
    assert not on_cluster.redis.exists(keys.temp_listed, keys.temp_shadow, keys.temp_versions)
