"""Two API nodes (``rewards-engine serve`` processes on two ports) on one database and
one Redis, and two schedulers started at once: idempotent replays answered by the
other node, concurrent redemptions split across nodes, and every job run once a tick."""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from rewards_engine.domain.actors import Actor
from rewards_engine.runtime import Runtime
from rewards_engine.services import ledger, support
from tests.conftest import make_token
from tests.support.factories import add_campaign, body, clip, consenting_donor
from tests.support.processes import api_nodes, engine_process, stop_processes
from tests.support.waiting import wait_until

GIFT = "gift-card-amazon-10-usd"  # 1,000 points; 5 demo codes


@pytest.fixture
def nodes(cli_env) -> Iterator[list[str]]:  # type: ignore[no-untyped-def]
    with api_nodes(2) as bases:
        yield bases


@pytest.fixture
def live(live: Runtime) -> Runtime:
    """The shared ``live`` runtime, with a campaign open on the real clock."""
    add_campaign(live, id="open-now", starts_at=live.clock.now() - timedelta(days=5))
    return live


def bearer(settings: Any, subject: str, role: str = "donor") -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(settings, subject, role)}"}


def test_a_replay_sent_to_the_other_node_is_answered_from_the_first(nodes, live, cli_env) -> None:
    consenting_donor(live, "ada")
    headers = {**bearer(cli_env, "ada"), "Idempotency-Key": uuid.uuid4().hex}
    payload = body("open-now", [clip(recorded_at=live.clock.now() - timedelta(hours=1))])
    first = requests.post(f"{nodes[0]}/v1/submissions", json=payload, headers=headers, timeout=30)
    again = requests.post(f"{nodes[1]}/v1/submissions", json=payload, headers=headers, timeout=30)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["clips"] == first.json()["clips"]
    me = [requests.get(f"{b}/v1/me", headers=bearer(cli_env, "ada"), timeout=30) for b in nodes]
    assert me[0].json()["balances"] == me[1].json()["balances"]  # one truth on both nodes


def test_concurrent_redemptions_split_across_nodes_never_overspend(nodes, live, cli_env) -> None:
    donor_id = consenting_donor(live, "ada")
    support.adjust(
        live.db, live.clock, Actor(id="support:seed", role="support"), donor_id,
        asset="points", amount=3_000, reason="enough for three gift cards",
    )  # fmt: skip
    answers: list[requests.Response] = []
    lock = threading.Lock()

    def redeem(index: int) -> None:
        response = requests.post(
            f"{nodes[index % 2]}/v1/redemptions",
            json={"reward_id": GIFT},
            headers={**bearer(cli_env, "ada"), "Idempotency-Key": uuid.uuid4().hex},
            timeout=60,
        )
        with lock:
            answers.append(response)

    threads = [threading.Thread(target=redeem, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = Counter(a.status_code for a in answers)
    assert statuses == {201: 3, 409: 7}, statuses
    codes = {a.json()["code"] for a in answers if a.status_code == 201}
    assert len(codes) == 3  # three different codes
    assert ledger.donor_balances(live.db, donor_id).points_available == 0
    assert ledger.verify(live.db).ok


def logged(path: Path) -> list[dict[str, Any]]:
    """The JSON log lines a process has written so far (whole lines only)."""
    lines = path.read_text(errors="replace").splitlines(keepends=True)
    return [json.loads(line) for line in lines if line.startswith("{") and line.endswith("\n")]


def drains_of(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e.get("event") == "job finished" and e["job"] == "wall-drain"]


def test_two_schedulers_started_at_once_run_each_job_once_a_tick(cli_env, tmp_path) -> None:
    # DEBUG: an idle job run is logged there (INFO keeps only runs that did something).
    paths = [tmp_path / f"scheduler-{n}.log" for n in range(2)]
    first, second = (engine_process("scheduler", log=path, LOG_LEVEL="DEBUG") for path in paths)

    def both_up_and_two_drains() -> bool:  # the wall drain ticks every 5 s
        events = [logged(path) for path in paths]
        up = all(any(e.get("event") == "scheduler started" for e in each) for each in events)
        return up and sum(len(drains_of(each)) for each in events) >= 2

    wait_until(
        both_up_and_two_drains,
        timeout=90,  # two cores shared with the database
        every=0.2,
        what="both schedulers to start and the wall drain to run twice",
    )
    stopped_at = datetime.now(UTC).isoformat(timespec="milliseconds")
    stop_processes(first, second)  # together: neither takes over from the other
    # Only what happened before the stop: while one shuts down the other may lead.
    events = [[e for e in logged(path) if e["ts"] < stopped_at] for path in paths]
    leaders = [any(e.get("event") == "scheduler leadership changed" and e.get("leader")
                   for e in process) for process in events]  # fmt: skip
    assert sorted(leaders) == [False, True]  # exactly one leads
    runs = [[e["job"] for e in process if e.get("event") == "job finished"] for process in events]
    follower = runs[leaders.index(False)]
    leader = events[leaders.index(True)]
    assert follower == []  # the other one ran nothing
    drains = drains_of(leader)
    began = [datetime.fromisoformat(e["ts"]) - timedelta(seconds=e["seconds"]) for e in drains]
    started = min(datetime.fromisoformat(e["ts"]) for e in leader)
    ticks = (datetime.fromisoformat(stopped_at) - started) / timedelta(seconds=5)
    assert 2 <= len(drains) <= ticks + 1, (len(drains), ticks)  # once per 5 s tick
    gaps = [later - earlier for earlier, later in itertools.pairwise(began)]
    assert all(gap > timedelta(seconds=2.5) for gap in gaps), gaps  # never twice a tick
