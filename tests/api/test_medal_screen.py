"""The medal screen as the app draws it: display order and categories, art URLs served
with a year-long cache, secret medals as placeholders until earned, names in the
donor's language, and rarity counted by a job."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from rewards_engine.jobs import find_job
from rewards_engine.scheduler import run_job
from tests.support.factories import add_campaign, consenting_donor, donate, load_program


@pytest.fixture(autouse=True)
def program(runtime) -> None:  # type: ignore[no-untyped-def]
    load_program(runtime)


def screen(client, headers):  # type: ignore[no-untyped-def]
    answer = client.get("/v1/me/medals", headers=headers)
    assert answer.status_code == 200, answer.get_json()
    return answer


def test_medals_come_in_order_with_their_art_served_for_a_year(client, auth) -> None:
    medals = screen(client, auth("ada")).get_json()["medals"]
    orders = [m["sort_order"] for m in medals]
    assert orders == sorted(orders)
    apprentice = next(m for m in medals if m["code"] == "apprentice")
    assert apprentice["category"] == "clips" and apprentice["secret"] is False
    for url, locked in ((apprentice["icon_url"], False), (apprentice["icon_locked_url"], True)):
        parts = urlsplit(url)
        assert parts.path.endswith("-locked.svg") is locked and parts.query.startswith("v=")
        art = client.get(f"{parts.path}?{parts.query}")
        assert art.status_code == 200 and art.mimetype == "image/svg+xml"
        assert art.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert b"<svg" in art.data
    assert client.get("/static/medals/../../pyproject.toml").status_code == 404


def test_a_secret_medal_is_a_placeholder_until_earned(client, runtime, auth) -> None:
    consenting_donor(runtime, "ada")
    medals = {m["code"]: m for m in screen(client, auth("ada")).get_json()["medals"]}
    secret = medals["watch-100000"]
    assert secret["secret"] is True and secret["kind"] == "secret"
    assert secret["name"] == "Secret medal" and secret["progress"] is None
    assert "100,000" not in secret["description"] and secret["bonus_points"] == 0
    assert secret["icon_url"] == secret["icon_locked_url"]
    assert "medal-secret-locked.svg" in secret["icon_url"]
    french = {m["code"]: m for m in screen(client, {**auth("ada"), "Accept-Language": "fr"})
              .get_json()["medals"]}  # fmt: skip
    assert french["watch-100000"]["name"] == "Médaille secrète"


def test_names_come_in_the_donors_language_and_admins_write_translations(
    client, runtime, auth
) -> None:
    consenting_donor(runtime, "ada")
    french = screen(client, {**auth("ada"), "Accept-Language": "fr-FR"})
    assert french.headers["Content-Language"] == "fr"
    names = {m["code"]: m["name"] for m in french.get_json()["medals"]}
    assert names["apprentice"] == "Apprenti" and names["watch-10"] == "Guetteur"
    admin = auth("boss", "admin")
    made = client.post(
        "/v1/admin/medals",
        json={"code": "night-owl", "name": "Night Owl", "icon_key": "medal-apprentice",
              "tier": "silver", "rule": {"kind": "count", "threshold": 5},
              "translations": {"fr": {"name": "Oiseau de nuit"}}},
        headers=admin,
    )  # fmt: skip
    assert made.status_code == 201, made.get_json()
    names = {m["code"]: m for m in screen(client, {**auth("ada"), "Accept-Language": "fr"})
             .get_json()["medals"]}  # fmt: skip
    assert names["night-owl"]["name"] == "Oiseau de nuit"
    assert names["night-owl"]["description"] == ""  # none in French: the English one (empty)
    english = {m["code"]: m["name"] for m in screen(client, auth("ada")).get_json()["medals"]}
    assert english["night-owl"] == "Night Owl"
    refused = client.post(
        "/v1/admin/medals",
        json={"code": "day-owl", "name": "Day Owl", "icon_key": "x", "tier": "silver",
              "rule": {"kind": "count", "threshold": 5},
              "translations": {"de": {"name": "Tageule"}}},
        headers=admin,
    )  # fmt: skip
    assert refused.status_code == 422 and "translations" in refused.get_json()["errors"]["json"]


def test_rarity_is_the_share_of_active_donors_holding_it(client, runtime, auth) -> None:
    campaign = add_campaign(runtime).id
    for name in ("ada", "bob", "cy"):
        consenting_donor(runtime, name)
    donate(client, auth("ada"), 1, campaign=campaign)  # ada earns the apprentice medal
    before = {m["code"]: m["rarity"] for m in screen(client, auth("ada")).get_json()["medals"]}
    assert before["apprentice"] is None  # not counted yet
    report = run_job(runtime, find_job("medal-rarity"))
    active = report["active_donors"]
    after = {m["code"]: m["rarity"] for m in screen(client, auth("bob")).get_json()["medals"]}
    assert after["apprentice"] == round(1 / active, 4)
    assert after["watch-10"] == 0.0
