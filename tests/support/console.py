"""A small program for the support console's tests: an ordinary donor, a flagged one and
redemptions, made through the API and the services as the app and the scans make them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from rewards_engine.domain.actors import Actor
from rewards_engine.models import FraudFlag
from rewards_engine.runtime import Runtime
from rewards_engine.services import fraud, payouts, support
from tests.support.factories import ADDRESS, clip, consenting_donor, load_program
from tests.support.factories import donate_ids as donate

SEEDER = Actor(id="support:seed", role="support")
CAMERA = "camera-outdoor-s2"
GIFT = "gift-card-amazon-10-usd"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class World:
    ada: int  # ordinary: a display name, clips on five days, points
    farm: int  # under an open high velocity flag
    farm_flagged_clips: list[int]
    flag_id: int
    camera_redemption: int  # Ada's, requested
    gift_code: str  # Ada's fulfilled gift card: staff must never see it in full
    payout_email: str  # where Ada's manual payout goes: staff see it masked


def build_world(runtime: Runtime, client: FlaskClient, auth: Any) -> World:
    load_program(runtime)
    clock = runtime.clock
    ada, farm = consenting_donor(runtime, "ada"), consenting_donor(runtime, "farm")
    ada_h, farm_h = auth("ada"), auth("farm")
    named = client.patch("/v1/me", json={"display_name": "Ada Lovelace"}, headers=ada_h)
    assert named.status_code == 200, named.get_json()
    for day in range(5):  # a few clips a day from both, so the cohort has a median
        hour_ago = clock.now() - timedelta(hours=1)
        donate(client, ada_h, [clip(recorded_at=hour_ago) for _ in range(1 + day % 3)])
        donate(client, farm_h, [clip(recorded_at=hour_ago) for _ in range(2)])
        clock.advance(timedelta(days=1))  # type: ignore[attr-defined]
    start = clock.now() - timedelta(hours=3)
    flagged = donate(  # 8 clips of 500 s within one hour on one camera: 4,000 s of footage
        client,
        farm_h,
        [
            clip(recorded_at=start + timedelta(minutes=5 * n), camera_id="CAM-FARM", duration_s=500)
            for n in range(8)
        ],
    )
    clock.advance(timedelta(minutes=1))  # type: ignore[attr-defined]
    fraud.scan(runtime, full=False)
    with runtime.db.read() as session:
        flag_id = session.scalar(
            select(FraudFlag.id).where(FraudFlag.donor_id == farm, FraudFlag.rule == "velocity")
        )
    assert flag_id is not None
    for _ in range(2):  # 10,000 at a time: at the four-eyes threshold, not above it
        support.adjust(
            runtime.db, clock, SEEDER, ada, asset="points", amount=10_000, reason="test points"
        )
    camera = client.post(
        "/v1/redemptions", json={"reward_id": CAMERA, "shipping_address": ADDRESS}, headers=ada_h
    )
    gift = client.post("/v1/redemptions", json={"reward_id": GIFT}, headers=ada_h)
    assert camera.status_code == 201 and gift.status_code == 201, (camera.json, gift.json)
    email = "ada.lovelace@example.com"  # a manual payout batch (no provider configured)
    client.patch("/v1/me", json={"payout": {"kind": "paypal_email", "value": email}}, headers=ada_h)
    support.adjust(
        runtime.db, clock, SEEDER, ada, asset="cash", currency="USD", amount=2_500, reason="bonus"
    )
    clock.advance(timedelta(days=4))  # type: ignore[attr-defined]  # past the cooling-off
    assert payouts.create_batches(runtime).items == 1
    return World(
        ada=ada,
        farm=farm,
        farm_flagged_clips=flagged,
        flag_id=flag_id,
        camera_redemption=camera.get_json()["id"],
        gift_code=gift.get_json()["code"],
        payout_email=email,
    )


def csrf_of(page: str) -> str:
    found = _CSRF.search(page)
    assert found, "the page has no CSRF token"
    return found.group(1)


def sign_in(client: FlaskClient, token: str) -> FlaskClient:
    """Sign in through the form, as a person would."""
    form = client.get("/console/sign-in")
    answer = client.post(
        "/console/sign-in", data={"token": token, "csrf_token": csrf_of(form.text)}
    )
    assert answer.status_code == 303, answer.text
    return client
