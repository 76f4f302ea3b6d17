"""A verification run killed (SIGKILL) while it holds claims: once its lease ends the
next run takes them over, each claim is decided once, paid once, and no object is left
behind but the kept, sealed videos."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from rewards_engine.bootstrap import build_runtime
from rewards_engine.clock import FixedClock
from rewards_engine.domain.submissions import ClipInput
from rewards_engine.models import Clip, ClipClaim
from rewards_engine.runtime import Runtime
from rewards_engine.services import ledger, submissions, uploads, verification
from tests.support.factories import add_campaign, consenting_donor
from tests.support.processes import engine_process, stop_process
from tests.support.videos import make_video
from tests.support.waiting import wait_until

CLAIMS = 8
LEASE_S = 30  # the shortest lease the settings allow


def test_a_killed_verification_leaves_its_claims_to_the_next_run(
    live: Runtime, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    campaign = add_campaign(
        live,
        requires_upload=True,
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=1),
        min_duration_s=1,
    )
    donor_id = consenting_donor(live, "kept-going")
    claim_ids = []
    for seed in range(CLAIMS):
        video = make_video(tmp_path / f"v{seed}.mp4", seconds=4, size=(320, 240), seed=seed)
        content = video.read_bytes()
        request = submissions.SubmissionRequest(
            campaign.id,
            "2024-12-01",
            [
                ClipInput(
                    video_sha256=hashlib.sha256(content).hexdigest(),
                    event_id=f"ev-{seed}",
                    incident_type="package_theft",
                    camera_id="CAM-1",
                    recorded_at=now - timedelta(hours=1),
                    duration_s=4,
                    staged=False,
                    size_bytes=len(content),
                )
            ],
        )
        result = submissions.submit(
            live.db,
            live.clock,
            verification.SYSTEM,
            donor_id,
            request,
            uploads=live.settings.uploads,
        )
        [outcome] = result.outcomes
        assert outcome.claim_id is not None
        claim = claim_row(live, outcome.claim_id)
        with video.open("rb") as source:  # the app's PUT
            live.video_store.put(claim.storage_key, source, content_type="video/mp4")
        uploads.complete(live, donor_id, claim.id)
        claim_ids.append(claim.id)

    job = engine_process(
        "jobs", "run", "verify-uploads", VERIFY_BATCH=str(CLAIMS), VERIFY_LEASE_S=str(LEASE_S)
    )
    wait_until(
        lambda: statuses(live) == {"verifying"} or job.poll() is not None,
        timeout=60,
        every=0.01,
        what="the run to take every claim",
    )
    job.kill()  # SIGKILL while it measures: it decides nothing
    stop_process(job)
    assert statuses(live) == {"verifying"}, "the run finished before it could be killed"
    assert verification.verify_uploads(live).taken == 0  # its lease still holds

    later = build_runtime(live.settings, clock=FixedClock(now + timedelta(seconds=LEASE_S + 60)))
    try:
        report = verification.verify_uploads(later)
        assert report.taken == CLAIMS
        assert report.decided["accepted"] == CLAIMS
        assert verification.verify_uploads(later).taken == 0
        assert statuses(live) == {"verified"}
        with live.db.read() as session:
            clips = session.scalars(select(Clip).where(Clip.campaign_id == campaign.id)).all()
            claims = session.scalars(select(ClipClaim)).all()
        assert len(clips) == CLAIMS
        assert sorted(c.clip_id for c in claims if c.clip_id) == sorted(c.id for c in clips)
        kept = {c.storage_key for c in clips}
        assert all(later.video_store.stat(key) is not None for key in kept)
        assert all(later.video_store.stat(c.storage_key) is None for c in claims)  # uploads gone
        assert ledger.verify(live.db).ok
    finally:
        later.close()


def claim_row(runtime: Runtime, claim_id: int) -> ClipClaim:
    with runtime.db.read() as session:
        row = session.get(ClipClaim, claim_id)
        assert row is not None
        return row


def statuses(runtime: Runtime) -> set[Any]:
    with runtime.db.read() as session:
        return set(session.scalars(select(ClipClaim.status)).all())
