"""Uploads at scale's edges, on PostgreSQL over real HTTP: donors claiming and uploading
through gunicorn workers, the maker's pipeline reporting clips on the same camera, and
several verification processes at once (``jobs run verify-uploads --no-lock``), all
competing for one camera's cap and the campaign's target. Whatever the interleaving:
caps and the target exact, every claim decided once, no 5xx, the ledger balanced."""

from __future__ import annotations

import hashlib
import random
import threading
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import select

from rewards_engine.models import CampaignCounter, Clip, ClipClaim
from rewards_engine.runtime import Runtime
from rewards_engine.services import ledger
from tests.conftest import make_token
from tests.support.factories import add_campaign, body, clip, consenting_donor
from tests.support.processes import api_nodes, engine_process, stop_processes
from tests.support.videos import make_video
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.postgres_only, pytest.mark.timeout(600)]
DONORS, CLIPS_EACH, REPORTED = 6, 3, 4
CAMERA_CAP, TARGET = 3, 10
SHARED = "CAM-SHARED"  # lent from donor to donor: one physical camera, one cap


def _headers(settings: Any, subject: str, role: str = "donor") -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(settings, subject, role)}"}


def test_uploads_reports_and_verifiers_at_once_keep_caps_and_targets_exact(
    live: Runtime, tmp_path: Path
) -> None:
    settings = live.settings
    rng = random.Random()
    campaign = add_campaign(
        live,
        requires_upload=True,
        starts_at=datetime.now(UTC) - timedelta(days=2),
        ends_at=datetime.now(UTC) + timedelta(days=2),
        cap_per_camera_per_incident_type=CAMERA_CAP,
        targets={"package_theft": TARGET},
        stop_at_target=True,
        min_duration_s=1,
    ).id
    accounts = [f"uploader-{n}" for n in range(DONORS)]
    for account in [*accounts, "reported-donor"]:
        consenting_donor(live, account)
    recorded = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def note(status: int) -> None:
        with lock:
            statuses[status] += 1

    def donor(base: str, account: str, seeds: list[int]) -> None:
        session, auth = requests.Session(), _headers(settings, account)
        for seed in seeds:
            video = make_video(tmp_path / f"{account}-{seed}.mp4", seconds=2, seed=seed)
            content = video.read_bytes()
            camera = SHARED if seed % 2 else f"CAM-{account}"
            payload = clip(
                video_sha256=hashlib.sha256(content).hexdigest(),
                size_bytes=len(content),
                duration_s=2,
                camera_id=camera,
                recorded_at=recorded,
            )
            key = {"Idempotency-Key": uuid.uuid4().hex}
            answer = session.post(
                f"{base}/v1/submissions", json=body(campaign, [payload]), headers={**auth, **key},
                timeout=120,
            )  # fmt: skip
            note(answer.status_code)
            [claimed] = answer.json()["clips"]
            target = claimed["upload"]
            path = urlsplit(target["url"])
            put = session.put(
                f"{base}{path.path}", data=content, headers=target["headers"], timeout=120
            )
            note(put.status_code)
            done = session.post(
                f"{base}/v1/uploads/{claimed['claim_id']}/complete", headers=auth, timeout=120
            )
            note(done.status_code)

    def pipeline(base: str) -> None:
        session, auth = requests.Session(), _headers(settings, "video-pipeline", "service")
        for n in range(REPORTED):
            reported = clip(
                camera_id=SHARED, recorded_at=recorded, storage_ref=f"maker://clips/{n}"
            )
            request = {"account_id": "reported-donor", "campaign_id": campaign, "clips": [reported]}
            key = {"Idempotency-Key": uuid.uuid4().hex}
            answer = session.post(
                f"{base}/v1/intake/clips", json=request, headers={**auth, **key}, timeout=120
            )
            note(answer.status_code)

    def claims_waiting() -> int:
        with live.db.read() as session:
            rows = session.scalars(
                select(ClipClaim.status).where(ClipClaim.campaign_id == campaign)
            ).all()
        return sum(status in ("awaiting_upload", "uploaded", "verifying") for status in rows)

    with api_nodes(1, workers=3) as [base]:
        seeds = list(range(100, 100 + DONORS * CLIPS_EACH))
        rng.shuffle(seeds)
        workers = [
            threading.Thread(
                target=donor, args=(base, a, seeds[i * CLIPS_EACH : (i + 1) * CLIPS_EACH])
            )
            for i, a in enumerate(accounts)
        ]
        workers.append(threading.Thread(target=pipeline, args=(base,)))
        verifiers: list[Any] = []
        for worker in workers:
            worker.start()
        # Verifiers start while uploads are still arriving, two processes at a time.
        while any(w.is_alive() for w in workers) or claims_waiting():
            running = [
                engine_process("jobs", "run", "verify-uploads", "--no-lock") for _ in range(2)
            ]
            verifiers += running
            for process in running:
                process.wait(timeout=300)
        for worker in workers:
            worker.join()
        wait_until(lambda: claims_waiting() == 0, timeout=120)
        stop_processes(*verifiers)

    assert not [s for s in statuses if s >= 500], statuses
    with live.db.read() as session:
        clips = session.scalars(select(Clip).where(Clip.campaign_id == campaign)).all()
        claims = session.scalars(select(ClipClaim).where(ClipClaim.campaign_id == campaign)).all()
        counter = session.get(CampaignCounter, (campaign, "package_theft"))
    paid = [c for c in clips if c.status in ("accepted", "pending_review")]
    shared = [c for c in paid if c.camera_id == SHARED]
    assert len(claims) == DONORS * CLIPS_EACH
    assert {c.status for c in claims} == {"verified"}
    assert len({c.clip_id for c in claims}) == len(claims)  # each decided once
    assert len(clips) == len(claims) + REPORTED
    assert len(shared) <= CAMERA_CAP  # 13 tried the shared camera
    assert len(paid) == TARGET  # more than the target tried: exactly the target paid
    assert counter is not None and counter.accepted == TARGET
    assert {c.intake for c in clips} == {"verified", "trusted"}
    assert ledger.verify(live.db).ok
