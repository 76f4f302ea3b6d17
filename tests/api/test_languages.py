"""Campaigns, rewards and the consent text in the reader's language: French where it is
written, English otherwise, field by field; admins write translations, and a change
that does not mention them keeps them."""

from __future__ import annotations

import pytest

from tests.support.factories import consenting_donor, load_program

FR = {"Accept-Language": "fr-CA,fr;q=0.9"}


@pytest.fixture(autouse=True)
def program(runtime) -> None:  # type: ignore[no-untyped-def]
    load_program(runtime)


def test_campaigns_rewards_and_consent_are_shown_in_french_when_asked(client) -> None:
    campaigns = client.get("/v1/campaigns", headers=FR)
    assert campaigns.headers["Content-Language"] == "fr"
    names = {c["id"]: c["name"] for c in campaigns.get_json()["items"]}
    assert names["video-donation-program"] == "Programme de don de vidéos"
    one = client.get("/v1/campaigns/theft-bounty-2024", headers=FR).get_json()
    assert one["name"].startswith("Prime contre les vols")
    assert "2 $ par clip" in one["description"]

    rewards = {r["id"]: r for r in client.get("/v1/rewards", headers=FR).get_json()}
    assert rewards["camera-outdoor-s2"]["name"] == "Caméra extérieure S2 (2K, solaire)"
    # No French description: the English one.
    starbucks = rewards["gift-card-starbucks-5-usd"]
    english = {r["id"]: r for r in client.get("/v1/rewards").get_json()}
    assert starbucks["name"] == "Carte cadeau Starbucks, 5 $"
    assert starbucks["description"] == english["gift-card-starbucks-5-usd"]["description"]

    consent = client.get("/v1/consent", headers=FR)
    assert consent.headers["Content-Language"] == "fr"
    assert consent.get_json()["title"] == "Consentement au don de vidéos"
    assert consent.get_json()["version"] == client.get("/v1/consent").get_json()["version"]
    assert client.get("/v1/consent").get_json()["title"] == "Video donation consent"
    assert (
        client.get("/v1/consent", headers={"Accept-Language": "de"}).headers["Content-Language"]
        == "en"
    )


def test_a_donors_saved_language_decides_their_home_screen(client, runtime, auth) -> None:
    consenting_donor(runtime, "ada")
    headers = auth("ada")
    assert client.patch("/v1/me", json={"locale": "fr"}, headers=headers).status_code == 200
    home = client.get("/v1/me/home", headers={**headers, "Accept-Language": "en"})
    assert home.headers["Content-Language"] == "fr"
    names = [c["name"] for c in home.get_json()["campaigns"]]
    assert "Prime contre les vols de colis et de portières" in names


def test_admins_write_translations_and_a_change_without_them_keeps_them(client, auth) -> None:
    admin = auth("boss", "admin")
    made = client.post(
        "/v1/admin/campaigns",
        json={"id": "spring", "name": "Spring", "starts_at": "2025-01-01T00:00:00Z",
              "incident_types": ["package_theft"], "reason": "the spring campaign",
              "translations": {"fr": {"name": "Printemps"}}},
        headers=admin,
    )  # fmt: skip
    assert made.status_code == 201, made.get_json()
    changed = client.patch(
        "/v1/admin/campaigns/spring",
        json={"description": "Spring thefts", "reason": "a clearer description"},
        headers=admin,
    )
    assert changed.status_code == 200, changed.get_json()
    assert client.get("/v1/campaigns/spring", headers=FR).get_json()["name"] == "Printemps"
    for bad in ({"de": {"name": "Frühling"}}, {"fr": {"rules": "x"}}, {"fr": {"name": 3}}):
        refused = client.patch(
            "/v1/admin/campaigns/spring",
            json={"translations": bad, "reason": "a bad translation"},
            headers=admin,
        )
        assert refused.status_code == 422, bad
        assert "translations" in refused.get_json()["errors"]["json"]
    assert client.get("/v1/campaigns/spring", headers=FR).get_json()["name"] == "Printemps"
