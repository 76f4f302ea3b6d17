"""What a donor's data is used for, and for how long: pure rules, no I/O."""

from __future__ import annotations

import hashlib
import statistics
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum


class Usage(StrEnum):
    """What a clip is used for now, as its donor sees it."""

    PENDING_REVIEW = "pending_review"  # waiting for a person; not used yet
    IN_TRAINING_SET = "in_training_set"
    EXCLUDED = "excluded"  # rejected, a duplicate, reversed, or consent out of date
    WITHDRAWN = "withdrawn"  # the donor withdrew consent
    DELETED = "deleted"  # its metadata is gone (retention or erasure)


def usage_of(
    *,
    status: str,
    metadata_deleted: bool,
    consent_withdrawn: bool,
    consent_current: bool,
) -> tuple[Usage, str | None]:
    """The clip's usage and, when it is not used, why."""
    if metadata_deleted:
        return Usage.DELETED, "retention_period_over"
    if consent_withdrawn:
        return Usage.WITHDRAWN, "consent_withdrawn"
    if status == "pending_review":
        return Usage.PENDING_REVIEW, None
    if status != "accepted":
        return Usage.EXCLUDED, status
    if not consent_current:
        return Usage.EXCLUDED, "consent_outdated"
    return Usage.IN_TRAINING_SET, None


def delete_after(received_at: datetime, retention_days: int | None) -> datetime | None:
    """When a clip's metadata is deleted under its campaign's retention policy."""
    return None if retention_days is None else received_at + timedelta(days=retention_days)


def salted(salt: str, value: str) -> str:
    """A salted SHA-256 of a value (a content hash, an account id) kept after an erasure:
    enough to recognise the same value again, not to recover it."""
    return hashlib.sha256(f"{salt}:{value}".encode()).hexdigest()


def salted_camera(salt: str, serial: str) -> str:
    """What an erased or expired clip keeps of its camera: the camera's caps still count
    the clip, and nothing names the camera."""
    return salted(salt, f"camera:{serial}")


def camera_ids(salts: Iterable[str], serials: Iterable[str]) -> dict[str, str]:
    """Every ``camera_id`` a clip of these cameras may carry (the serial, or once its
    metadata is gone the serial salted with any of the salts, newest first: a rotation
    keeps the old ones), each mapped back to its serial: what a camera's caps count."""
    ids = {serial: serial for serial in serials}
    plain = list(ids)
    for salt in salts:
        ids.update({salted_camera(salt, serial): serial for serial in plain})
    return ids


def salted_all(salts: Iterable[str], value: str) -> list[str]:
    """The value salted with each salt (newest first): what a match across a salt
    rotation looks for."""
    return [salted(salt, value) for salt in salts]


def quarter_of(moment: datetime) -> str:
    return f"{moment.year}-Q{(moment.month - 1) // 3 + 1}"


def median_hours(durations: Sequence[timedelta]) -> float | None:
    if not durations:
        return None
    return round(statistics.median(d.total_seconds() for d in durations) / 3600, 2)
