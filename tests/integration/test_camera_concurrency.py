"""Accounts registering one serial at once, on PostgreSQL over real HTTP (gunicorn
workers): whatever the interleaving, one account holds the camera in the end (the one
whose attestation is the newest), exactly one registration is in force, the rest are
told why (409), nothing answers 5xx; and donations from the camera racing the moves
never pass its cap."""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import requests
from sqlalchemy import func, select

from rewards_engine.attestations import sign_development_attestation
from rewards_engine.models import Camera, CameraRegistration, Clip, Donor
from rewards_engine.runtime import Runtime
from tests.conftest import make_token
from tests.support.factories import add_campaign, body, clip, consenting_donor
from tests.support.processes import api_nodes

pytestmark = [pytest.mark.postgres_only, pytest.mark.timeout(300)]
ACCOUNTS, CAP = 8, 3


def _auth(live: Runtime, account: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(live.settings, account, 'donor')}"}


def test_accounts_registering_one_serial_at_once_leave_one_owner(live: Runtime) -> None:
    accounts = [f"claimant-{n}" for n in range(ACCOUNTS)]
    for account in accounts:
        consenting_donor(live, account)
    now = datetime.now(UTC)
    rng = random.Random()
    # Two rounds: every attestation issued at the same second (the first to commit
    # holds it), then each at its own second in a shuffled order (the newest holds it).
    rounds = {
        "SN-SAME": dict.fromkeys(accounts, now),
        "SN-ORDERED": {
            a: now - timedelta(seconds=ago)
            for a, ago in zip(accounts, rng.sample(range(600), len(accounts)), strict=True)
        },
    }
    statuses: Counter[int] = Counter()
    codes: Counter[str] = Counter()
    lock = threading.Lock()
    with api_nodes(1, workers=4) as [base]:
        for serial, issued in rounds.items():
            tokens = {
                a: sign_development_attestation(live.settings, a, serial, "Cam 2", at)
                for a, at in issued.items()
            }
            start = threading.Barrier(len(accounts))

            def claim(
                account: str, tokens: dict[str, str] = tokens, start: threading.Barrier = start
            ) -> None:
                session = requests.Session()
                start.wait()
                answer = session.post(
                    f"{base}/v1/me/cameras",
                    json={"attestation": tokens[account]},
                    headers=_auth(live, account),
                    timeout=60,
                )
                with lock:
                    statuses[answer.status_code] += 1
                    if answer.status_code == 409:
                        codes[answer.json()["error"]] += 1

            threads = [threading.Thread(target=claim, args=(a,)) for a in accounts]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            with live.db.read() as session:
                camera = session.scalars(select(Camera).where(Camera.serial == serial)).one()
                open_ones = session.scalars(
                    select(CameraRegistration).where(
                        CameraRegistration.camera_id == camera.id,
                        CameraRegistration.ended_at.is_(None),
                    )
                ).all()
                kept = session.scalars(
                    select(func.count()).where(CameraRegistration.camera_id == camera.id)
                ).one()
            assert len(open_ones) == 1 and open_ones[0].donor_id == camera.donor_id
            assert camera.moves == kept - 1  # each kept registration after the first moved it
            if serial == "SN-ORDERED":  # the newest attestation holds it, whoever came first
                newest = max(issued, key=lambda a: issued[a])
                with live.db.read() as session:
                    holder = session.get(Donor, camera.donor_id)
                assert holder is not None and holder.account_id == newest
            else:
                assert kept == 1  # the same second: one wins, the others are stale
    assert not [s for s in statuses if s >= 500], statuses
    assert set(statuses) <= {200, 201, 409}, statuses
    assert set(codes) <= {"attestation_stale"}, codes
    assert statuses[201] >= 2  # one per serial at least


def test_donations_racing_the_moves_of_a_camera_never_pass_its_cap(live: Runtime) -> None:
    campaign = add_campaign(
        live,
        starts_at=datetime.now(UTC) - timedelta(days=1),
        ends_at=datetime.now(UTC) + timedelta(days=1),
        cap_per_camera_per_incident_type=CAP,
        unregistered_cameras="review",
    ).id
    accounts = [f"holder-{n}" for n in range(4)]
    for account in accounts:
        consenting_donor(live, account)
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    recorded = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    with api_nodes(1, workers=4) as [base]:

        def mover() -> None:
            session = requests.Session()
            for step in range(12):
                account = accounts[step % len(accounts)]
                at = datetime.now(UTC) + timedelta(seconds=step)
                token = sign_development_attestation(live.settings, account, "SN-LENT", "Cam 2", at)
                answer = session.post(f"{base}/v1/me/cameras", json={"attestation": token},
                                      headers=_auth(live, account), timeout=60)  # fmt: skip
                with lock:
                    statuses[answer.status_code] += 1

        def donor(account: str) -> None:
            session = requests.Session()
            for _ in range(4):
                payload = body(campaign, [clip(camera_id="SN-LENT", recorded_at=recorded)])
                answer = session.post(f"{base}/v1/submissions", json=payload,
                                      headers=_auth(live, account), timeout=60)  # fmt: skip
                with lock:
                    statuses[answer.status_code] += 1

        threads = [threading.Thread(target=mover)]
        threads += [threading.Thread(target=donor, args=(a,)) for a in accounts]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not [s for s in statuses if s >= 500], statuses
    with live.db.read() as session:
        counted = session.scalars(
            select(func.count()).where(
                Clip.campaign_id == campaign,
                Clip.camera_id == "SN-LENT",
                Clip.status.in_(["accepted", "pending_review"]),
            )
        ).one()
        rules = Counter(
            session.scalars(select(Clip.camera_rule).where(Clip.campaign_id == campaign))
        )
    assert counted == CAP  # 16 clips sent, the cap counted across every holder
    assert set(rules) <= {"registered", "review"}
