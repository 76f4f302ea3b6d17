"""Rank news on the boards a donor follows: told when they pass someone or are passed,
at once at a milestone and otherwise at most once a day, in their language; the job
tells nobody twice; following is idempotent, bounded and checked."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from rewards_engine.domain.notifications import Kind, rank_news
from rewards_engine.jobs import find_job
from rewards_engine.scheduler import run_job
from tests.support.factories import add_campaign, consenting_donor, donate, load_program

NOW = datetime(2025, 1, 15, 12)


@pytest.mark.parametrize(
    ("told", "rank", "told_at", "news"),
    [
        (None, 5, None, None),  # the first reading: where the news starts
        (5, 5, None, None),
        (12, 9, NOW - timedelta(hours=1), Kind.RANK_GAINED),  # entered the top 10: at once
        (9, 12, NOW - timedelta(hours=1), Kind.RANK_LOST),  # left it: at once
        (40, 35, NOW - timedelta(hours=1), None),  # no milestone: wait for the day
        (40, 35, NOW - timedelta(days=1), Kind.RANK_GAINED),
        (35, 40, None, Kind.RANK_LOST),
        (2, None, None, None),  # off the board (hidden, held): nothing to say
    ],
)
def test_when_rank_news_is_told(told, rank, told_at, news) -> None:  # type: ignore[no-untyped-def]
    assert rank_news(told, rank, told_at, NOW) == news


@pytest.fixture(autouse=True)
def program(runtime) -> None:  # type: ignore[no-untyped-def]
    load_program(runtime)


def test_a_donor_passed_on_a_followed_board_hears_it_once_in_their_language(
    client, runtime, auth
) -> None:
    campaign = add_campaign(runtime).id
    for name in ("ada", "bob"):
        consenting_donor(runtime, name)
        shown = client.patch("/v1/me", json={"visibility": "public"}, headers=auth(name))
        assert shown.status_code == 200  # a rank counts the donors listed above
    donate(client, auth("ada"), 3, campaign=campaign)
    donate(client, auth("bob"), 1, campaign=campaign)
    run_job(runtime, find_job("wall-drain"))
    ada = {**auth("ada"), "Accept-Language": "fr"}
    followed = client.put("/v1/me/follows/all-time", headers=ada)
    assert followed.status_code == 200 and followed.get_json()["last_rank"] == 1
    assert client.put("/v1/me/follows/all-time", headers=ada).get_json()["last_rank"] == 1
    assert [f["board"] for f in client.get("/v1/me/follows", headers=ada).get_json()] == [
        "all-time"
    ]

    donate(client, auth("bob"), 5, campaign=campaign)  # bob passes ada: she is #2 now
    run_job(runtime, find_job("wall-drain"))
    first = run_job(runtime, find_job("standings"))
    assert first["told"] == 1, first
    assert run_job(runtime, find_job("standings"))["told"] == 0  # told once
    news = [n for n in client.get("/v1/me/notifications", headers=ada).get_json()["items"]
            if n["kind"] == "rank_lost"]  # fmt: skip
    assert len(news) == 1
    assert news[0]["title"] == "Quelqu'un vous a dépassé"
    assert "Mur d'honneur (depuis le début)" in news[0]["body"] and "n° 2" in news[0]["body"]
    assert news[0]["data"] == {
        "board": "all-time", "rank": 2, "previous_rank": 1, "campaign": None
    }  # fmt: skip


def test_following_is_checked_bounded_and_undone(client, runtime, auth) -> None:
    consenting_donor(runtime, "ada")
    headers = auth("ada")
    bad = client.put("/v1/me/follows/month:2025-13", headers=headers)
    assert bad.status_code == 422
    for month in range(1, 11):
        assert (
            client.put(f"/v1/me/follows/month:2024-{month:02d}", headers=headers).status_code == 200
        )
    over = client.put("/v1/me/follows/all-time", headers=headers)
    assert over.status_code == 409 and over.get_json()["error"] == "too_many_follows"
    assert client.delete("/v1/me/follows/month:2024-01", headers=headers).status_code == 204
    assert client.delete("/v1/me/follows/month:2024-01", headers=headers).status_code == 404
    assert client.put("/v1/me/follows/all-time", headers=headers).status_code == 200
