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


# --- admins create and change campaigns ------------------------------------------------------

NEW = {
    "id": "doorstep-2025",
    "name": "Doorstep thefts 2025",
    "starts_at": "2025-01-01T00:00:00+00:00",
    "ends_at": "2025-12-31T00:00:00+00:00",
    "incident_types": ["package_theft"],
    "targets": {"package_theft": 1000},
    "bounty_cents": 150,
    "points_per_clip": 5,
    "requires_upload": False,  # its clips are decided at once (uploads: test_uploads.py)
    "reason": "the 2025 doorstep campaign, approved by the program board",
}


def donate(client, auth, campaign: str) -> dict:  # type: ignore[no-untyped-def]
    from tests.support.factories import body, clip

    answer = client.post("/v1/submissions", json=body(campaign, [clip()]), headers=auth("ada"))
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


@pytest.mark.usefixtures("loaded")
def test_an_admin_creates_a_campaign_and_changes_what_later_clips_earn(
    client, runtime, auth
) -> None:
    from sqlalchemy import select

    from rewards_engine.models import AuditRecord
    from tests.support.factories import consenting_donor

    admin = auth("boss", "admin")
    created = client.post("/v1/admin/campaigns", json=NEW, headers=admin)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["rules"]["bounty_cents"] == 150
    assert client.get("/v1/campaigns/doorstep-2025").get_json()["progress"][0]["target"] == 1000
    consenting_donor(runtime, "ada")
    before = donate(client, auth, "doorstep-2025")
    assert before["earned"]["cash_cents"] == 150

    change = {"bounty_cents": 300, "reason": "doubling the bounty for the holidays"}
    asked = client.patch("/v1/admin/campaigns/doorstep-2025", json=change, headers=admin)
    assert asked.status_code == 202  # a paying rule: a second admin approves (four eyes)
    approval = f"/v1/admin/approvals/{asked.get_json()['id']}/approve"
    assert client.post(approval, json={}, headers=auth("boss-2", "admin")).status_code == 200
    changed = client.get("/v1/campaigns/doorstep-2025")
    assert changed.status_code == 200 and changed.get_json()["rules"]["bounty_cents"] == 300
    after = donate(client, auth, "doorstep-2025")
    assert after["earned"]["cash_cents"] == 300  # later clips: the new rule
    first = client.get(f"/v1/submissions/{before['clips'][0]['clip_id']}", headers=auth("ada"))
    assert first.get_json()["earned"]["cash_cents"] == 150  # earlier clips keep theirs
    with runtime.db.read() as session:
        records = list(
            session.scalars(select(AuditRecord).where(AuditRecord.target_type == "campaign"))
        )
    assert [(r.action, r.actor_id) for r in records] == [
        ("campaign.create", "admin:boss"),
        ("campaign.change", "admin:boss"),
    ]
    assert records[1].before["bounty_cents"] == 150 and records[1].after["bounty_cents"] == 300

    currency = {"currency": "EUR", "reason": "moving the campaign to Europe"}
    locked = client.patch("/v1/admin/campaigns/doorstep-2025", json=currency, headers=admin)
    assert locked.status_code == 409 and locked.get_json()["error"] == "currency_locked"


@pytest.mark.usefixtures("loaded")
@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"ends_at": "2024-06-01T00:00:00+00:00"}, "ends_at"),
        ({"targets": {"car_door": 5}}, "targets"),
        ({"targets": None, "stop_at_target": True}, "stop_at_target"),
        ({"min_duration_s": 700, "max_duration_s": 600}, "min_duration_s"),
        ({"reason": ""}, "reason"),
    ],
)
def test_incoherent_campaigns_are_refused_by_field(client, auth, changes, field) -> None:
    answer = client.post("/v1/admin/campaigns", json=NEW | changes, headers=auth("boss", "admin"))
    assert answer.status_code == 422
    assert field in answer.get_json()["errors"]["json"]
    assert client.get("/v1/campaigns/doorstep-2025").status_code == 404  # nothing written


@pytest.mark.usefixtures("loaded")
def test_an_existing_id_is_409_and_an_unknown_one_404(client, auth) -> None:
    admin = auth("boss", "admin")
    assert client.post("/v1/admin/campaigns", json=NEW, headers=admin).status_code == 201
    assert client.post("/v1/admin/campaigns", json=NEW, headers=admin).status_code == 409
    missing = client.patch(
        "/v1/admin/campaigns/nope", json={"name": "x", "reason": "typo fix"}, headers=admin
    )
    assert missing.status_code == 404
