"""The video store's interface, its value types and the rules both stores share.

A donor's app uploads the video it claims straight to the store, through URLs the
engine signs; the engine pays only for a video the store received whole. The store is
a folder the engine receives uploads into itself (``local.py``) or an S3-compatible
bucket the app uploads to directly (``s3.py``); ``STORAGE_URL`` picks one
(docs/storage.md). Both speak the same protocol: one PUT for a small video, numbered
parts for a large one, so that a broken connection costs one part, not the video.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import IO, BinaryIO, Protocol

MiB = 1024 * 1024
GiB = 1024 * MiB
# boto3's own defaults for its managed transfers (TransferConfig: multipart_threshold
# and multipart_chunksize, both 8 MiB): large enough for S3's part minimum, small
# enough that a phone resends little after a dropped connection.
DEFAULT_PART_SIZE = 8 * MiB
# S3's multipart limits (https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html):
# parts numbered 1 to 10,000, each 5 MiB to 5 GiB but the last, which may be smaller.
# (A part size under 5 MiB works on the embedded store; S3 refuses it at completion.)
MAX_PART_SIZE = 5 * GiB
MAX_PARTS = 10_000
# One PUT carries at most 5 GB; larger objects need a multipart upload
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/upload-objects.html).
MAX_SINGLE_PUT = 5 * GiB
# The current qfacts page says 48.8 TiB; older copies and S3-compatible servers say
# 5 TiB. The smaller one holds everywhere.
MAX_OBJECT_SIZE = 5 * 1024 * GiB
# A SigV4 presigned URL lives at most 604,800 s (X-Amz-Expires; AWS CLI presign
# reference: "Maximum is 604800 seconds"). The embedded store keeps the same cap, so
# that an app sees the same lifetimes whichever store is configured.
MAX_URL_LIFETIME = timedelta(days=7)
MAX_KEY_BYTES = 1024  # S3's limit for an object key (UTF-8)

_CONTENT_TYPE = re.compile(r"^[\x21-\x7e][\x20-\x7e]{0,254}$")  # one printable header value


class UploadRefused(Exception):
    """The store will not accept or assemble an upload; ``reason`` says why, as a stable
    code an app can act on:

    - ``bad_signature``: the URL's token was altered or was not made by this engine.
    - ``url_expired``: the URL's time ran out; ask for fresh URLs.
    - ``wrong_content_type``: the PUT's Content-Type is not the one signed.
    - ``body_too_large``: the body is longer than the size signed.
    - ``size_mismatch``: the body is shorter than signed, or the parts or the object do
      not add up to the size given.
    - ``upload_missing``: no such upload (aborted, completed, or never made), or no
      object where a single PUT should have put one.
    - ``part_missing``: a part of a multipart upload has not arrived.
    - ``part_too_small``: S3 refused to assemble parts under its 5 MiB minimum.
    - ``upload_incomplete``: the store did not confirm the assembly; completing again
      is safe.
    """

    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(message or reason.replace("_", " "))
        self.reason = reason


@dataclass(frozen=True)
class UploadPart:
    """One part of a multipart upload and the URL that receives exactly ``size`` bytes."""

    number: int
    url: str
    size: int


@dataclass(frozen=True)
class UploadTarget:
    """Where and how the app uploads one video.

    A small video has one ``url``; a large one has an ``upload_id`` and ``parts``, each
    with its own URL. Every URL takes a PUT with ``headers`` (the Content-Type, and the
    Content-Length where it is signed: a single PUT; a part's length is its ``size``).
    ``expires_at`` is when the URLs stop working, which may be earlier than asked for
    (never past :data:`MAX_URL_LIFETIME`).
    """

    key: str
    method: str
    headers: dict[str, str]
    expires_at: datetime
    url: str | None = None
    upload_id: str | None = None
    parts: list[UploadPart] = field(default_factory=list)


@dataclass(frozen=True)
class StoredObject:
    """An object the store holds: what the verification job may read."""

    key: str
    size: int
    content_type: str | None


class VideoStore(Protocol):
    """Where donated videos are uploaded, kept and read back.

    Keys are relative paths (``campaign/donor/claim.mp4``); a key that could name
    something outside the store (``..``, an absolute path, a segment starting with a
    dot) is refused with ``ValueError`` by every method, whichever store this is.

    There is no download URL: a kept video is sealed with its donor's data key
    (``video_crypto.py``), so the store's bytes are ciphertext; donors get their videos
    decrypted through ``GET /v1/videos/<token>`` (``services/videos.py``).
    """

    multipart_threshold: int
    part_size: int

    def upload_target(
        self,
        key: str,
        *,
        size_bytes: int,
        content_type: str,
        expires_at: datetime,
        upload_id: str | None = None,
    ) -> UploadTarget:
        """URLs an app uploads ``size_bytes`` of ``content_type`` to, valid until
        ``expires_at`` (capped at seven days: SigV4's limit).

        At most ``multipart_threshold`` bytes go in one PUT; more go in parts of
        ``part_size`` (grown when 10,000 parts would not hold the video), so that a
        dropped connection costs one part. Without ``upload_id`` a multipart upload is
        created; with it, the same upload gets fresh URLs: that is how an app resumes
        after its URLs expired or it restarted (``uploaded_parts`` says what to skip).
        Asking again for a single PUT just signs again: a PUT replaces the object.
        The upload's existence is not checked here (``uploaded_parts`` does).
        """
        ...

    def uploaded_parts(self, key: str, upload_id: str) -> list[tuple[int, str, int]]:
        """``(number, etag, size)`` of each part received so far, by number: what a
        resuming app need not send again. ``UploadRefused("upload_missing")`` when the
        upload was aborted or completed (or never existed)."""
        ...

    def complete_upload(self, key: str, upload_id: str | None, *, size_bytes: int) -> StoredObject:
        """The video is all there: assemble a multipart upload, or confirm a single PUT's
        object. Only then may the engine treat the video as received.

        ``size_bytes`` is the size the upload was planned for (the claim's). It is
        needed because S3 does not tell what an unfinished multipart upload was meant
        to hold, and assembling is final: every planned part must be there in its
        planned size before anything is assembled (``part_missing``, ``size_mismatch``;
        the upload stays open and can be resumed). A single PUT's object must exist
        (``upload_missing``) and have that size (``size_mismatch``): a store that does
        not check signatures could otherwise have taken any body.
        Completing twice answers the same object, as long as it is still there.
        """
        ...

    def abort_upload(self, key: str, upload_id: str | None) -> None:
        """Give an upload up: remove its parts and any object at ``key``, so that an
        expired claim leaves nothing behind. Idempotent. On S3, a part still in flight
        may land after the abort (AbortMultipartUpload's documentation): abort again
        later to be sure, which is what an expiry sweep does anyway."""
        ...

    def stat(self, key: str) -> StoredObject | None:
        """The object at ``key``, or None: one cheap call, no body read."""
        ...

    def open(self, key: str) -> AbstractContextManager[BinaryIO]:
        """A stream of the object's bytes, read front to back (``FileNotFoundError``
        when it is missing). The caller copies it somewhere seekable if it must seek."""
        ...

    def put(self, key: str, source: IO[bytes], *, content_type: str) -> StoredObject:
        """Store ``source`` at ``key`` from inside the engine (a re-encode, a fixture):
        whole or not at all."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; a missing one is not an error (a retried job deletes
        twice)."""
        ...


def check_key(key: str) -> str:
    """``key`` when it is a relative path that stays inside the store; else ValueError.

    Segments may not be empty, ``.`` or ``..`` nor start with a dot (the embedded
    store keeps its own files under dotted names); no backslash, no control character.
    """
    if not isinstance(key, str) or not key:
        raise ValueError("a store key must be a non-empty string")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise ValueError(f"a store key is at most {MAX_KEY_BYTES} bytes")
    if key.startswith("/") or "\\" in key or any(ord(c) < 0x20 or ord(c) == 0x7F for c in key):
        raise ValueError(f"not a relative store key: {key!r}")
    if any(not part or part.startswith(".") for part in key.split("/")):
        raise ValueError(f"a store key's segments may not be empty or start with a dot: {key!r}")
    return key


def check_upload(size_bytes: int, content_type: str) -> None:
    if not isinstance(size_bytes, int) or not 0 < size_bytes <= MAX_OBJECT_SIZE:
        raise ValueError(f"an upload is 1 byte to {MAX_OBJECT_SIZE} bytes, not {size_bytes!r}")
    if not _CONTENT_TYPE.match(content_type or ""):
        raise ValueError(f"not a Content-Type header value: {content_type!r}")


def check_sizes(part_size: int, multipart_threshold: int) -> None:
    if not 0 < part_size <= MAX_PART_SIZE:
        raise ValueError(f"a part is 1 byte to 5 GiB, not {part_size}")
    if not 0 < multipart_threshold <= MAX_SINGLE_PUT:
        raise ValueError(f"one PUT carries 1 byte to 5 GiB, not {multipart_threshold}")


def part_size_for(size_bytes: int, part_size: int) -> int:
    """The part size of an upload: ``part_size``, or larger (whole MiB) when 10,000
    parts of it would not hold the video. A function of the size alone, so that a
    resumed upload is cut exactly as it was when it started."""
    needed = math.ceil(size_bytes / MAX_PARTS)
    if needed <= part_size:
        return part_size
    return math.ceil(needed / MiB) * MiB


def plan_parts(size_bytes: int, part_size: int) -> list[int]:
    """The size of each part, part 1 first: all ``part_size`` but the last."""
    whole, rest = divmod(size_bytes, part_size)
    return [part_size] * whole + ([rest] if rest else [])


def check_parts(received: Sequence[tuple[int, str, int]], planned: Sequence[int]) -> None:
    """Every planned part is there, in its planned size, and nothing more: else
    UploadRefused, before anything is assembled."""
    sizes = {number: size for number, _etag, size in received}
    missing = [number for number in range(1, len(planned) + 1) if number not in sizes]
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
        raise UploadRefused("part_missing", f"parts not received yet: {shown}")
    wrong = [
        number
        for number, size in sizes.items()
        if number > len(planned) or size != planned[number - 1]
    ]
    if wrong:
        raise UploadRefused(
            "size_mismatch", f"parts of another size than planned: {sorted(wrong)[:10]}"
        )


def url_lifetime(now: datetime, expires_at: datetime) -> tuple[datetime, int]:
    """When a URL asked to last until ``expires_at`` really expires, and its lifetime in
    whole seconds: never past seven days, and never a URL that is dead on arrival."""
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be an aware datetime")
    seconds = math.floor((min(expires_at, now + MAX_URL_LIFETIME) - now).total_seconds())
    if seconds < 1:
        raise ValueError(f"expires_at {expires_at.isoformat()} is not in the future")
    return now + timedelta(seconds=seconds), seconds
