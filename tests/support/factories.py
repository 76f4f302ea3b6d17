"""Builders for test data: campaigns, consenting donors and clip payloads."""

from __future__ import annotations

import itertools
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rewards_engine.models import Campaign
from rewards_engine.runtime import Runtime
from rewards_engine.services import consents, donors
from rewards_engine.services.fixtures import load_fixtures

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
BOUNTY = "theft-bounty-2024"
PROGRAM = "video-donation-program"
CONSENT = "2024-12-01"
ADDRESS = {  # where a camera ships in the tests
    "name": "Ada L.",
    "line1": "1 Main St",
    "city": "Springfield",
    "postal_code": "12345",
    "country": "US",
}
_events = itertools.count(1)


def load_program(runtime: Runtime) -> None:
    """The real fixtures: campaigns, consent, medals, catalog, and the demo data."""
    load_fixtures(runtime.db, runtime.clock, FIXTURES, demo=True, vault=runtime.vault)


def add_campaign(runtime: Runtime, **overrides: Any) -> Campaign:
    """A campaign open around the test clock, with no caps unless asked."""
    now = runtime.clock.now()
    values: dict[str, Any] = {
        "id": f"c-{secrets.token_hex(3)}",
        "name": "Test campaign",
        "starts_at": now - timedelta(days=30),
        "ends_at": now + timedelta(days=30),
        "incident_types": ["package_theft", "car_door"],
        "points_per_clip": 10,
        "bounty_cents": 0,
        "review_window_days": 7,
        "requires_upload": False,  # most tests are about the rules, not the videos
    }
    values.update(overrides)
    campaign = Campaign(**values)
    with runtime.db.transaction() as uow:
        uow.session.add(campaign)
    return campaign


def consenting_donor(runtime: Runtime, account_id: str) -> int:
    """A donor who granted the current consent; returns their id."""
    donor = donors.ensure_donor(runtime.db, runtime.clock, account_id)
    consents.grant(runtime.db, runtime.clock, donor.id, CONSENT)
    return donor.id


def sha() -> str:
    return secrets.token_hex(32)


def clip(recorded_at: datetime | str | None = None, **overrides: Any) -> dict[str, Any]:
    """A valid clip payload for the JSON API (recorded an hour before the test clock)."""
    if recorded_at is None:
        recorded_at = datetime(2025, 1, 15, 11, 0, tzinfo=UTC)
    payload: dict[str, Any] = {
        "video_sha256": sha(),
        "event_id": f"ev-{next(_events)}",
        "incident_type": "package_theft",
        "camera_id": f"CAM-{secrets.token_hex(4)}",
        "recorded_at": recorded_at if isinstance(recorded_at, str) else recorded_at.isoformat(),
        "duration_s": 30,
        "staged": False,
    }
    payload.update(overrides)
    return payload


def body(campaign_id: str, clips: list[dict[str, Any]], consent: str = CONSENT) -> dict[str, Any]:
    return {"campaign_id": campaign_id, "consent_version": consent, "clips": clips}


def donate(
    client: Any,
    headers: dict[str, str],
    clips: list[dict[str, Any]] | int,
    campaign: str = BOUNTY,
    **fields: Any,
) -> list[dict[str, Any]]:
    """POST these clips (or that many new ones, with ``fields``) through the API as the
    donor of ``headers``; the call must succeed. Returns each clip's answer."""
    if isinstance(clips, int):
        clips = [clip(**fields) for _ in range(clips)]
    answer = client.post("/v1/submissions", json=body(campaign, clips), headers=headers)
    assert answer.status_code == 201, answer.get_json()
    return list(answer.get_json()["clips"])


def donate_ids(*args: Any, **kwargs: Any) -> list[int]:
    """``donate``, keeping only the new clips' ids."""
    return [c["clip_id"] for c in donate(*args, **kwargs)]
