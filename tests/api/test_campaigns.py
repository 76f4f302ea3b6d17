from pathlib import Path

import pytest

from rewards_engine.services.fixtures import load_fixtures


@pytest.fixture
def loaded(runtime, fixtures_dir: Path) -> None:
    load_fixtures(runtime.db, runtime.clock, fixtures_dir)


@pytest.mark.usefixtures("loaded")
def test_campaigns_are_public_and_paginated(client) -> None:
    first = client.get("/v1/campaigns?limit=1")
    assert first.status_code == 200
    page = first.get_json()
    assert [c["id"] for c in page["items"]] == ["video-donation-program"]  # newest first
    assert page["next_cursor"]
    second = client.get(f"/v1/campaigns?limit=1&cursor={page['next_cursor']}").get_json()
    assert [c["id"] for c in second["items"]] == ["theft-bounty-2024"]
    assert second["next_cursor"] is None


@pytest.mark.usefixtures("loaded")
def test_campaign_detail_has_rules_and_progress(client) -> None:
    body = client.get("/v1/campaigns/theft-bounty-2024").get_json()
    assert body["rules"]["bounty_cents"] == 200
    assert body["rules"]["cap_per_camera_per_incident_type"] == 10
    assert body["rules"]["payout_provider"] == "paypal"
    assert {p["incident_type"]: p["target"] for p in body["progress"]} == {
        "package_theft": 20000,
        "car_door": 20000,
    }


def test_unknown_campaign_is_404(client) -> None:
    response = client.get("/v1/campaigns/nope")
    assert response.status_code == 404
    assert response.get_json()["error"] == "campaign_not_found"


@pytest.mark.parametrize(
    ("query", "field"),
    [("limit=0", "limit"), ("limit=101", "limit"), ("limit=x", "limit"), ("cursor=abc", "cursor")],
)
def test_bad_paging_is_422_naming_the_parameter(client, query, field) -> None:
    response = client.get(f"/v1/campaigns?{query}")
    assert response.status_code == 422
    assert field in response.get_json()["errors"]["query"]
