"""A donor's own videos, given back: time-limited links (in the export) that open the
sealed video with the donor's data key and stream it in the clear to whoever holds the
link. A link names one clip; it stops working at its expiry, or as soon as the video or
the donor's key is gone (retention, erasure)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlmodel import col

from rewards_engine.domain.errors import Forbidden, NotFound
from rewards_engine.models import Clip, ClipClaim
from rewards_engine.runtime import Runtime
from rewards_engine.services import video_keys
from rewards_engine.video_crypto import decrypted_chunks

LINK_LIFETIME = timedelta(days=7)
_PURPOSE = "donor video links"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def video_link(runtime: Runtime, donor_id: int, clip_id: int, now: datetime) -> str:
    """A link to one of the donor's videos, valid for ``LINK_LIFETIME``."""
    expires = int((now + LINK_LIFETIME).timestamp())
    body = _b64(json.dumps({"c": clip_id, "d": donor_id, "e": expires}).encode())
    mac = hmac.new(runtime.vault.derived_key(_PURPOSE), body.encode(), hashlib.sha256)
    return f"{runtime.settings.public_url}/v1/videos/{body}.{_b64(mac.digest())}"


@dataclass(frozen=True)
class OpenedVideo:
    content_type: str
    chunks: Iterator[bytes]  # closes the stored object once read to the end


def open_video(runtime: Runtime, token: str) -> OpenedVideo:
    """The video a link names, decrypted as it is read."""
    body, _, mac = token.partition(".")
    expected = hmac.new(runtime.vault.derived_key(_PURPOSE), body.encode(), hashlib.sha256)
    try:
        valid = hmac.compare_digest(_unb64(mac), expected.digest())
        claims = json.loads(_unb64(body)) if valid else None
    except ValueError:
        claims = None
    if not isinstance(claims, dict):
        raise Forbidden("this video link is not valid", code="bad_signature")
    if claims["e"] < runtime.clock.now().timestamp():
        raise Forbidden("this video link has expired: export your data again", code="link_expired")
    with runtime.db.read() as session:
        clip = session.get(Clip, claims["c"])
        key = video_keys.existing_key(session, runtime.vault, claims["d"])
        content_type = session.scalar(
            select(col(ClipClaim.content_type)).where(col(ClipClaim.clip_id) == claims["c"])
        )
    gone = clip is None or clip.donor_id != claims["d"] or clip.storage_key is None
    if gone or key is None:
        raise NotFound("this video is no longer kept", code="video_gone")
    assert clip is not None and clip.storage_key is not None
    if runtime.video_store.stat(clip.storage_key) is None:
        raise NotFound("this video is no longer kept", code="video_gone")
    return OpenedVideo(content_type or "video/mp4", _stream(runtime, clip.storage_key, key))


def _stream(runtime: Runtime, storage_key: str, key: bytes) -> Iterator[bytes]:
    with ExitStack() as stack:
        source = stack.enter_context(runtime.video_store.open(storage_key))
        yield from decrypted_chunks(key, source, context=storage_key.encode())
