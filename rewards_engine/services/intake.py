"""Trusted intake: where the videos already live in the camera maker's own cloud, its
video pipeline (a ``service`` credential) reports each clip it received, with the hash,
duration and perceptual hash it computed on the video. The same rules decide and pay
them as any clip; they are marked ``trusted`` and keep the pipeline's reference to the
video. docs/uploads.md says when to use this path and when uploads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rewards_engine.clock import Clock
from rewards_engine.db import Database
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.errors import NotFound
from rewards_engine.domain.submissions import ClipInput
from rewards_engine.services import donors, submissions
from rewards_engine.services.submissions import SubmissionRequest, SubmissionResult


@dataclass(frozen=True)
class ReportedClip:
    """A clip as the pipeline measured it, and where it keeps the video."""

    clip: ClipInput
    storage_ref: str
    size_bytes: int | None = None
    pdq: str | None = None  # 64 hex characters, when the pipeline computes PDQ


def report_clips(
    db: Database,
    clock: Clock,
    actor: Actor,
    account_id: str,
    campaign_id: str,
    clips: Sequence[ReportedClip],
    idempotency_key: str | None = None,
) -> SubmissionResult:
    """Decide and pay clips the pipeline received for the donor of ``account_id``, who
    must hold the current consent (as for any donation)."""
    donor = donors.find_by_account(db, account_id)
    if donor is None:
        raise NotFound(f"no donor with account {account_id!r}", code="donor_not_found")
    version = donors.get_profile(db, donor.id).donor.consent_version
    request = SubmissionRequest(campaign_id, version or "", [c.clip for c in clips])
    columns = [
        {
            "intake": "trusted",
            "storage_key": c.storage_ref,
            "size_bytes": c.size_bytes,
            "pdq": c.pdq,
        }
        for c in clips
    ]
    return submissions.submit(db, clock, actor, donor.id, request, idempotency_key, trusted=columns)
