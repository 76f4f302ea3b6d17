"""The app that donates, for the demo: real videos claimed, uploaded, completed and
verified at the moment of each donation, through the same use cases as real traffic.

A clock of its own (``FixedClock``) is moved to each donation, so the engine dates
and pays every clip as it would have then; the runtime's database, Redis and video
store are shared.
"""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlmodel import col

from rewards_engine.clock import FixedClock
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.submissions import ClipInput
from rewards_engine.media.synthetic import DistinctVideos
from rewards_engine.models import ClipClaim
from rewards_engine.runtime import Runtime
from rewards_engine.services import submissions, uploads, verification

VIDEO_TYPE = "video/mp4"
VERIFIED_AFTER = timedelta(seconds=20)  # the verify-uploads job's interval


@dataclass(frozen=True)
class PlannedClip:
    """A clip a demo donor is about to donate: its video is made when it is donated."""

    event_id: str
    incident_type: str
    camera_id: str
    recorded_at: datetime
    seconds: int
    staged: bool = False


@dataclass(frozen=True)
class Call:
    """One call of the app: a donor's clips, donated at ``moment``."""

    donor_id: int
    moment: datetime
    clips: Sequence[PlannedClip]


@dataclass(frozen=True)
class _Claimed:
    """A call's claims, their videos uploaded, waiting for the app to say so."""

    call: Call
    claim_ids: list[int]


class DemoApp:
    """The demo's donations, made as the app makes them: each clip a real video (a
    scene of its own, ``DistinctVideos``), claimed (``submissions.submit``), put into
    the video store under its claim's key (as the app's upload would), completed
    (``uploads.complete``), then verified and paid by the verify-uploads job's code
    (``verification.verify_uploads``, until it finds nothing more), all at the moment
    of the donation. Any video the engine refuses is a bug of the demo: it raises."""

    def __init__(self, runtime: Runtime, campaign: str, version: str, *, seed: int) -> None:
        self.campaign, self.version = campaign, version
        self.clock = FixedClock(runtime.clock.now())
        self.runtime = _on_clock(runtime, self.clock)
        self.videos = DistinctVideos(seed)

    def donate(self, donor_id: int, moment: datetime, clips: Sequence[PlannedClip]) -> int:
        """Donate ``clips`` as one call at ``moment``; the clips decided."""
        return self._finish(self._claim(Call(donor_id, moment, clips)))

    def donate_all(
        self, calls: Sequence[Call], on_done: Callable[[int, int], None] | None = None
    ) -> None:
        """Donate ``calls`` in their order; ``on_done(calls done, clips decided)`` after
        each. While one call's uploads are completed and verified, a second thread
        makes, claims and uploads the next call's videos (its claims wait for their
        completion, so no verification run takes them before their moment)."""
        if not calls:
            return
        with ThreadPoolExecutor(1, thread_name_prefix="demo-app") as app:
            ahead = app.submit(self._claim, calls[0])
            for done, following in enumerate([*calls[1:], None], start=1):
                claimed = ahead.result()
                if following is not None:
                    ahead = app.submit(self._claim, following)
                decided = self._finish(claimed)
                if on_done:
                    on_done(done, decided)

    def _claim(self, call: Call) -> _Claimed:
        """Make the call's videos, claim them and upload each (on its own clock: this
        may run beside ``_finish`` of the previous call)."""
        runtime = self.runtime
        videos = self.videos.make([clip.seconds for clip in call.clips])
        clips = [
            ClipInput(
                video_sha256=hashlib.sha256(video).hexdigest(),
                event_id=clip.event_id,
                incident_type=clip.incident_type,
                camera_id=clip.camera_id,
                recorded_at=clip.recorded_at,
                duration_s=float(clip.seconds),
                staged=clip.staged,
                size_bytes=len(video),
                content_type=VIDEO_TYPE,
            )
            for clip, video in zip(call.clips, videos, strict=True)
        ]
        result = submissions.submit(
            runtime.db,
            FixedClock(call.moment),
            Actor(id=f"donor:{call.donor_id}", role="donor"),
            call.donor_id,
            submissions.SubmissionRequest(self.campaign, self.version, clips),
            uploads=runtime.settings.uploads,
        )
        claim_ids = [outcome.claim_id for outcome in result.outcomes if outcome.claim_id]
        assert len(claim_ids) == len(clips), "the program takes uploads: each clip is a claim"
        with runtime.db.read() as session:
            rows = session.execute(
                select(col(ClipClaim.id), col(ClipClaim.storage_key)).where(
                    col(ClipClaim.id).in_(claim_ids)
                )
            )
            keys = dict(rows.all())
        for claim_id, video in zip(claim_ids, videos, strict=True):
            runtime.video_store.put(keys[claim_id], io.BytesIO(video), content_type=VIDEO_TYPE)
        return _Claimed(call, claim_ids)

    def _finish(self, claimed: _Claimed) -> int:
        """Complete the call's uploads at its moment, then verify them: the clips
        decided."""
        runtime, call = self.runtime, claimed.call
        self.clock.set(call.moment)
        for claim_id in claimed.claim_ids:
            uploads.complete(runtime, call.donor_id, claim_id)
        self.clock.set(call.moment + VERIFIED_AFTER)
        decided, refused = 0, Counter[str]()
        while (report := verification.verify_uploads(runtime)).taken:
            decided += sum(report.decided.values())
            refused.update(report.rejected)
        if refused or decided != len(call.clips):
            raise RuntimeError(f"the demo's videos were not all paid: refused {dict(refused)}")
        return decided


def _on_clock(runtime: Runtime, clock: FixedClock) -> Runtime:
    """``runtime`` as seen at ``clock``: the same database, Redis and video store."""
    runtime.video_store  # noqa: B018 - built once, then shared
    moved = replace(runtime, clock=clock)
    for shared in ("db", "redis", "video_store", "vault"):
        if shared in vars(runtime):
            vars(moved)[shared] = vars(runtime)[shared]
    return moved
