"""Where donated videos are kept: one interface, two stores, chosen by ``STORAGE_URL``.

- ``base``: the interface (:class:`VideoStore`), its value types and ``UploadRefused``.
- ``local``: the embedded default, a folder; the engine receives the uploads itself.
- ``s3``: an S3-compatible bucket; apps upload to it through presigned URLs (boto3 is
  imported only when this store is configured).

docs/storage.md says what ``STORAGE_URL`` accepts and how apps upload.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path

from rewards_engine.clock import Clock
from rewards_engine.providers.storage.base import (
    StoredObject,
    UploadPart,
    UploadRefused,
    UploadTarget,
    VideoStore,
)
from rewards_engine.providers.storage.local import LocalVideoStore

__all__ = [
    "LocalVideoStore",
    "StoredObject",
    "UploadPart",
    "UploadRefused",
    "UploadTarget",
    "VideoStore",
    "open_store",
]


def open_store(
    url: str,
    *,
    instance_dir: Path,
    secret: bytes,
    public_url: str,
    clock: Clock | None = None,
) -> VideoStore:
    """The store ``url`` names (``STORAGE_URL``):

    - empty: the folder ``<instance_dir>/videos``;
    - ``file:///absolute/path``, or ``file:relative/path`` (under ``instance_dir``);
    - ``s3://bucket/prefix?endpoint_url=...&region=...&addressing_style=...``.

    ``secret`` signs the embedded store's URLs and ``public_url`` is how apps reach
    this server (both unused by S3, which signs with the AWS credentials).
    """
    url = url.strip()
    scheme = url.partition(":")[0].lower() if ":" in url else ""
    if not url or scheme == "file":
        root = _file_root(url, instance_dir) if url else instance_dir / "videos"
        return LocalVideoStore(root, secret=secret, public_url=public_url, clock=clock)
    if scheme == "s3":
        from rewards_engine.providers.storage.s3 import S3VideoStore

        return S3VideoStore.from_url(url, clock=clock)
    raise ValueError(
        f"STORAGE_URL: {url.split('?')[0]!r} names no store this engine knows: "
        "leave it empty, or use file:///path, file:relative/path or s3://bucket/prefix"
    )


def _file_root(url: str, instance_dir: Path) -> Path:
    parts = urllib.parse.urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise ValueError(f"STORAGE_URL: a file: URL names a folder on this machine, not {url!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"STORAGE_URL: a file: URL takes no options: {url!r}")
    path = Path(urllib.parse.unquote(parts.path))
    if not str(path) or str(path) == ".":
        raise ValueError(f"STORAGE_URL: {url!r} names no folder")
    return path if path.is_absolute() else instance_dir / path
