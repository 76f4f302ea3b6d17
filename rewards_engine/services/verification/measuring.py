"""Measuring an uploaded video, and storing it sealed before its clip is decided.

The video is copied from the store (never more bytes than were claimed) to a local
file that ``analyse`` measures (SHA-256, PyAV's probe, the engine's own perceptual
hash); a video that is the one claimed is sealed with its donor's data key
(rewards_engine/video_crypto.py) and stored, so a decided clip's video is always there.
Only ``analyse`` judges the video: a failing store is ``_StoreTrouble``, which costs the
claim nothing.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import IO

from rewards_engine.domain.uploads import Rejection, sealed_key
from rewards_engine.media import MediaRejected, VideoFacts, analyse
from rewards_engine.models import ClipClaim
from rewards_engine.runtime import Runtime
from rewards_engine.services import video_keys
from rewards_engine.video_crypto import encrypt_stream

SEALED_TYPE = "application/octet-stream"
_CHUNK = 1024 * 1024


class _StoreTrouble(Exception):
    """Reading the upload or storing its sealed copy failed: the store (or the disk, or
    the database that holds the data key) is in trouble, which says nothing of the
    video."""


@dataclass(frozen=True)
class _Measured:
    """What a run found on one claim's video: its facts, or why it cannot be used; and
    whether the run stored a sealed copy of it (which it must delete unless its claim's
    clip keeps it)."""

    facts: VideoFacts | str
    sealed: bool = False


def _measure_and_seal(runtime: Runtime, claim: ClipClaim) -> _Measured:
    """The uploaded video's facts, or why it cannot be used. A video that is the one
    claimed is also stored sealed with its donor's data key (before its clip is
    decided, so a decided clip's video is always there); the upload is deleted once
    the decision commits. A donor erased meanwhile has no key, and none is made again.
    Only ``analyse`` judges the video: any other failure is ``_StoreTrouble``."""
    store = runtime.video_store
    with tempfile.NamedTemporaryFile(prefix="verify-", suffix=".video") as copy:
        try:
            stored = store.stat(claim.storage_key)
            if stored is None:
                return _Measured(Rejection.VIDEO_MISSING.value)
            # The size again (a store may not hold the signed length to its word, or the
            # object may have been replaced since): never read more than was claimed.
            if stored.size != claim.size_bytes:
                return _Measured(Rejection.SIZE_MISMATCH.value)
            with store.open(claim.storage_key) as source:
                copied = _copy_at_most(source, copy, claim.size_bytes + 1)
            copy.flush()
            if copied != claim.size_bytes:
                return _Measured(Rejection.SIZE_MISMATCH.value)
        except FileNotFoundError:  # deleted between the two calls
            return _Measured(Rejection.VIDEO_MISSING.value)
        except Exception as exc:
            raise _StoreTrouble(f"reading {claim.storage_key}") from exc
        try:
            facts = analyse(copy.name)
        except MediaRejected as rejected:
            return _Measured(rejected.reason)
        if facts.sha256 != claim.video_sha256:
            return _Measured(facts)
        target = sealed_key(claim.storage_key)
        try:
            now = runtime.clock.now()
            key = video_keys.donor_key(runtime.db, runtime.vault, claim.donor_id, now)
            if key is None:
                return _Measured(Rejection.DONOR_NOT_ACTIVE.value)
            copy.seek(0)
            with tempfile.TemporaryFile(prefix="sealed-") as sealed:
                encrypt_stream(key, copy, sealed, context=target.encode())
                sealed.seek(0)
                store.put(target, sealed, content_type=SEALED_TYPE)
        except Exception as exc:
            raise _StoreTrouble(f"sealing {target}") from exc
    return _Measured(facts, sealed=True)


def _copy_at_most(source: IO[bytes], target: IO[bytes], limit: int) -> int:
    """Copy up to ``limit`` bytes; how many were copied."""
    copied = 0
    while copied < limit:
        chunk = source.read(min(_CHUNK, limit - copied))
        if not chunk:
            break
        target.write(chunk)
        copied += len(chunk)
    return copied
