"""Claims and their videos: what a claim must say before its upload, and whether a
received video is the one that was claimed.

The engine trusts nothing the app measured: the hash, the duration and the perceptual
hash it pays on are computed from the stored bytes. A claim only says what to expect,
so that a video that is not the one announced is refused instead of paid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from rewards_engine.domain.errors import InvalidInput
from rewards_engine.domain.submissions import ClipInput, Rules

# What phones record (MP4/H.264 or HEVC on both platforms; WebM and Matroska from some
# Android apps). The type is signed into the upload URL and checked again on the bytes.
CONTENT_TYPES = ("video/mp4", "video/quicktime", "video/webm", "video/x-matroska")
DURATION_TOLERANCE_S = 1.0  # container and app round differently
DURATION_TOLERANCE_SHARE = 0.05


class ClaimStatus(StrEnum):
    AWAITING_UPLOAD = "awaiting_upload"
    UPLOADED = "uploaded"  # the app said it finished; waiting for verification
    VERIFYING = "verifying"  # a verification run holds it (until its lease ends)
    VERIFIED = "verified"  # decided: see its clip
    REJECTED = "rejected"  # the video is not acceptable: nothing earned, nothing kept
    EXPIRED = "expired"  # no video within the claim's time


class Rejection(StrEnum):
    HASH_MISMATCH = "hash_mismatch"
    SIZE_MISMATCH = "size_mismatch"  # the store holds another size than was claimed
    DURATION_MISMATCH = "duration_mismatch"
    DURATION_OUT_OF_BOUNDS = "duration_out_of_bounds"
    UPLOAD_NOT_RECEIVED = "upload_not_received"
    VIDEO_MISSING = "video_missing"  # the store lost it between upload and check
    UNVERIFIABLE = "unverifiable"  # the video broke every verification attempt
    DONOR_NOT_ACTIVE = "donor_not_active"
    CONSENT_WITHDRAWN = "consent_withdrawn"
    DONOR_ERASED = "donor_erased"  # what is left of a claim until its URLs are dead


MAX_VERIFY_ATTEMPTS = 3
# An upload URL works until its claim's time ends, whatever became of the claim (a
# store cannot take a signed URL back), and a PUT begun just before may land a little
# after. So the objects of a decided or expired claim are deleted once more when no URL
# of it can deliver anything any more: then an app sending its video again, a PUT in
# flight at the expiry, or a deletion that failed leaves nothing behind for good.
LATE_PUT_GRACE = timedelta(hours=1)


def validate_claims(clips: Sequence[ClipInput], max_bytes: int) -> None:
    """Refuse the call, naming the clip and field, if a claim cannot be uploaded."""
    for index, clip in enumerate(clips):
        if clip.size_bytes is None:
            raise InvalidInput(
                f"clip {index}: this campaign takes uploads: send the video's size_bytes",
                field=f"clips.{index}.size_bytes",
                code="size_required",
            )
        if not 0 < clip.size_bytes <= max_bytes:
            raise InvalidInput(
                f"clip {index}: a video is 1 to {max_bytes} bytes",
                field=f"clips.{index}.size_bytes",
                code="upload_too_large",
            )
        if (clip.content_type or "video/mp4") not in CONTENT_TYPES:
            raise InvalidInput(
                f"clip {index}: videos are one of {', '.join(CONTENT_TYPES)}",
                field=f"clips.{index}.content_type",
                code="unsupported_content_type",
            )


def sealed_key(upload_key: str) -> str:
    """Where a verified video is kept, sealed with its donor's data key (its upload,
    in the clear, is deleted once the clip is decided)."""
    return "videos/" + upload_key.removeprefix("uploads/")


def expires_at(now: datetime, hours: int) -> datetime:
    return now + timedelta(hours=hours)


def final_sweep_at(claim_expires_at: datetime, now: datetime) -> datetime:
    """When a claim decided (or expired) at ``now`` has its objects deleted once more: its
    upload URLs are dead by then."""
    return max(claim_expires_at, now) + LATE_PUT_GRACE


@dataclass(frozen=True)
class Measured:
    """What the engine measured on the stored video."""

    sha256: str
    duration_s: float


def check_video(
    claimed_sha256: str, claimed_duration_s: float, measured: Measured, rules: Rules
) -> Rejection | None:
    """Why the received video cannot be paid as the claimed clip, or None. (The same
    hash means the same bytes, so the size needs no check of its own here.)"""
    if measured.sha256 != claimed_sha256:
        return Rejection.HASH_MISMATCH
    if not rules.min_duration_s <= measured.duration_s <= rules.max_duration_s:
        return Rejection.DURATION_OUT_OF_BOUNDS
    tolerance = max(DURATION_TOLERANCE_S, DURATION_TOLERANCE_SHARE * claimed_duration_s)
    if abs(measured.duration_s - claimed_duration_s) > tolerance:
        return Rejection.DURATION_MISMATCH
    return None
