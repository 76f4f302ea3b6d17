"""The app's home screen in one call, and without the wall when Redis cannot answer."""

from __future__ import annotations

from dataclasses import replace

import pytest

from rewards_engine.bootstrap import build_runtime
from rewards_engine.jobs import find_job
from rewards_engine.scheduler import run_job
from tests.conftest import app_for
from tests.support.factories import add_campaign, consenting_donor, donate, load_program


@pytest.fixture(autouse=True)
def program(runtime) -> None:  # type: ignore[no-untyped-def]
    load_program(runtime)


def test_home_brings_balances_standing_next_medal_unread_and_open_campaigns(
    client, runtime, auth
) -> None:
    campaign = add_campaign(runtime, name="Porch pirates").id
    consenting_donor(runtime, "ada")
    headers = auth("ada")
    donate(client, headers, 3, campaign=campaign)
    run_job(runtime, find_job("wall-drain"))

    home = client.get("/v1/me/home", headers=headers)
    assert home.status_code == 200, home.get_json()
    body = home.get_json()
    assert body["balances"] == client.get("/v1/me", headers=headers).get_json()["balances"]
    assert body["balances"]["points"]["pending"] >= 30  # the clips' 30, and any medal bonus
    assert (body["standing"]["rank"], body["standing"]["clips"]) == (1, 3)
    assert body["unread"] == 1  # the first medal's notification
    medal = body["next_medal"]
    assert not medal["held"] and 0 < medal["progress"]["percent"] < 100
    screen = client.get("/v1/me/medals", headers=headers).get_json()
    open_ones = [m for m in screen["medals"] if m["progress"] and not m["held"]]
    closest = max(m["progress"]["percent"] for m in open_ones if m["progress"]["percent"] < 100)
    assert medal["progress"]["percent"] == closest
    names = [c["name"] for c in body["campaigns"]]
    assert "Porch pirates" in names
    assert "Package theft and car-door bounty" in names  # the first campaign, open then


def test_home_answers_without_a_standing_while_redis_cannot(runtime, auth, settings) -> None:
    consenting_donor(runtime, "ada")
    unreachable = replace(settings, redis_url="redis://127.0.0.1:1/0")
    client = app_for(build_runtime(unreachable, runtime.clock)).test_client()
    home = client.get("/v1/me/home", headers=auth("ada"))
    assert home.status_code == 200, home.get_json()
    assert home.get_json()["standing"] is None
    assert home.get_json()["balances"]["points"]["pending"] == 0
