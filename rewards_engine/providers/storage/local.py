"""The embedded video store: a folder, for an installation with nothing but Python.

The engine receives uploads itself, at ``{public_url}/v1/storage/uploads/<token>``
(the API's ``api/resources/storage.py``). The token is the credential: base64url JSON naming what
it allows (the key, the part, its exact size and Content-Type, the upload, the expiry)
and an HMAC-SHA256 of it under a key derived from the engine's secret. Nothing secret
is in the URL but that MAC. The same protocol as S3: one PUT for a small video,
numbered parts for a large one, listed for a resuming app and assembled at completion.

Layout under the root::

    <key>                         the objects (keys are relative paths)
    .meta/<key>.json              an object's Content-Type
    .uploads/<upload id>/         a multipart upload: manifest.json, lock,
                                  00001 (a part) and 00001.etag (its MD5)
    .tmp/                         bodies being received, renamed into place when whole

A body is written to ``.tmp`` and renamed into place only once it has exactly the
signed size, so a killed upload leaves no half object and can simply be sent again.
The writers of one multipart upload (parts arriving, completion, abort) take its lock
file (``fcntl.flock``), so they agree across worker processes.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import hmac
import json
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from stat import S_ISREG
from typing import IO, Any, BinaryIO

from rewards_engine.clock import Clock, SystemClock
from rewards_engine.providers.storage.base import (
    DEFAULT_PART_SIZE,
    MiB,
    StoredObject,
    UploadPart,
    UploadRefused,
    UploadTarget,
    check_key,
    check_parts,
    check_sizes,
    check_upload,
    part_size_for,
    plan_parts,
    url_lifetime,
)

UPLOADS_ROUTE = "/v1/storage/uploads/"
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
_PART_FILE = re.compile(r"^(\d{5})\.etag$")
_CHUNK = MiB
_STALE_TMP_S = 24 * 3600  # left by a killed process: swept when a store opens


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class LocalVideoStore:
    """Videos as files under ``root``, uploaded through URLs this engine signs."""

    def __init__(
        self,
        root: Path,
        *,
        secret: bytes,
        public_url: str,
        clock: Clock | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        multipart_threshold: int | None = None,
    ) -> None:
        if len(secret) < 16:
            raise ValueError("the store's URLs need a secret of at least 16 bytes")
        self.root = Path(root).resolve()
        # Empty: URLs relative to the server's root, for an app that knows its API base.
        self.public_url = public_url.rstrip("/")
        self.clock: Clock = clock or SystemClock()
        self.part_size = part_size
        self.multipart_threshold = multipart_threshold or part_size
        check_sizes(self.part_size, self.multipart_threshold)
        # A key of its own: the engine's secret signs nothing else in this format.
        self._mac_key = hmac.new(secret, b"rewards-engine/video-store-urls/v1", "sha256").digest()
        for folder in (".tmp", ".uploads", ".meta"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        self._sweep_stale_tmp()

    # -- paths -------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _meta_path(self, key: str) -> Path:
        return self.root / ".meta" / f"{check_key(key)}.json"

    def _upload_dir(self, upload_id: str) -> Path:
        if not isinstance(upload_id, str) or not _UPLOAD_ID.match(upload_id):
            raise UploadRefused("upload_missing", f"no upload {upload_id!r}")
        return self.root / ".uploads" / upload_id

    # -- tokens ------------------------------------------------------------------------

    def _sign(self, claims: dict[str, Any]) -> str:
        body = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
        mac = hmac.new(self._mac_key, body.encode("ascii"), "sha256").digest()
        return f"{body}.{_b64(mac)}"

    def _verify(self, token: str, action: str) -> dict[str, Any]:
        """The token's claims, if this engine made it for ``action`` and it is still
        valid: the MAC is checked before anything in the token is believed."""
        body, _, mac = token.partition(".")
        try:
            given = _unb64(mac)
            expected = hmac.new(self._mac_key, body.encode("ascii"), "sha256").digest()
        except (binascii.Error, ValueError):  # not base64, not ASCII
            raise UploadRefused("bad_signature", "this URL was not made by this server") from None
        if not hmac.compare_digest(given, expected) or _b64(given) != mac:
            raise UploadRefused("bad_signature", "this URL was not made by this server")
        claims: dict[str, Any] = json.loads(_unb64(body))
        if claims.get("a") != action:
            raise UploadRefused("bad_signature", f"this URL is not for {action}")
        if self.clock.now().timestamp() >= claims["e"]:
            raise UploadRefused("url_expired", "this URL's time ran out: ask for a fresh one")
        return claims

    def _upload_url(self, claims: dict[str, Any]) -> str:
        return f"{self.public_url}{UPLOADS_ROUTE}{self._sign({'a': 'put', **claims})}"

    # -- uploads -----------------------------------------------------------------------

    def upload_target(
        self,
        key: str,
        *,
        size_bytes: int,
        content_type: str,
        expires_at: datetime,
        upload_id: str | None = None,
    ) -> UploadTarget:
        check_key(key)
        check_upload(size_bytes, content_type)
        expires, _seconds = url_lifetime(self.clock.now(), expires_at)
        epoch = int(expires.timestamp())
        expires = datetime.fromtimestamp(epoch, UTC)  # what the token says, to the second
        if upload_id is None and size_bytes <= self.multipart_threshold:
            claims = {"k": key, "p": 0, "n": size_bytes, "t": content_type, "u": None, "e": epoch}
            headers = {"Content-Type": content_type, "Content-Length": str(size_bytes)}
            return UploadTarget(key, "PUT", headers, expires, url=self._upload_url(claims))
        if upload_id is None:
            upload_id = self._create_upload(key, size_bytes, content_type)
        part_size = self._manifest(upload_id).get("part_size") or part_size_for(
            size_bytes, self.part_size
        )
        parts = [
            UploadPart(
                number,
                # A part's Content-Type is not checked: S3's parts carry none either.
                self._upload_url(
                    {"k": key, "p": number, "n": size, "t": None, "u": upload_id, "e": epoch}
                ),
                size,
            )
            for number, size in enumerate(plan_parts(size_bytes, part_size), start=1)
        ]
        return UploadTarget(key, "PUT", {}, expires, upload_id=upload_id, parts=parts)

    def _create_upload(self, key: str, size_bytes: int, content_type: str) -> str:
        upload_id = uuid.uuid4().hex
        folder = self._upload_dir(upload_id)
        staging = Path(tempfile.mkdtemp(prefix="upload-", dir=self.root / ".tmp"))
        manifest = {
            "key": key,
            "size": size_bytes,
            "content_type": content_type,
            "part_size": part_size_for(size_bytes, self.part_size),
        }
        (staging / "manifest.json").write_text(json.dumps(manifest))
        (staging / "lock").touch()
        os.replace(staging, folder)  # the upload exists whole, with its manifest, or not at all
        return upload_id

    def _manifest(self, upload_id: str) -> dict[str, Any]:
        try:
            manifest: dict[str, Any] = json.loads(
                (self._upload_dir(upload_id) / "manifest.json").read_text()
            )
        except FileNotFoundError:
            return {}
        return manifest

    @contextmanager
    def _locked(self, key: str, upload_id: str) -> Iterator[tuple[Path, dict[str, Any]]]:
        """The upload's folder and manifest, held against its other writers; an upload
        that is gone (or another key's) is ``upload_missing``."""
        folder = self._upload_dir(upload_id)
        try:
            lock = open(folder / "lock", "a")  # noqa: SIM115  # held for the with-block below
        except FileNotFoundError:
            raise UploadRefused("upload_missing", f"no upload {upload_id} for {key}") from None
        with lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            manifest = self._manifest(upload_id)  # read under the lock: an abort renames first
            if manifest.get("key") != key:
                raise UploadRefused("upload_missing", f"no upload {upload_id} for {key}")
            yield folder, manifest

    def receive(
        self, token: str, content_type: str | None, stream: IO[bytes], content_length: int | None
    ) -> str:
        """Take the body of a PUT to an upload URL; answer its ETag (the MD5, in hex).

        Refused before a byte is read: a bad or expired token, another Content-Type
        than signed, a Content-Length other than the signed size. Then at most
        size + 1 bytes are read: more is ``body_too_large``, fewer ``size_mismatch``.
        Only a body of exactly the signed size is renamed into place.
        """
        claims = self._verify(token, "put")
        key, part, size = check_key(claims["k"]), int(claims["p"]), int(claims["n"])
        signed_type = claims["t"]
        if signed_type is not None and (content_type or "").strip() != signed_type:
            raise UploadRefused(
                "wrong_content_type", f"this URL takes Content-Type {signed_type} only"
            )
        if content_length is not None and content_length > size:
            raise UploadRefused("body_too_large", f"this URL takes exactly {size} bytes")
        if content_length is not None and content_length < size:
            raise UploadRefused("size_mismatch", f"this URL takes exactly {size} bytes")
        if part and not (self._upload_dir(claims["u"]) / "manifest.json").exists():
            # Aborted or completed: refused before its body is read.
            raise UploadRefused("upload_missing", f"no upload {claims['u']} for {key}")
        with self._spooled(stream, size) as (body, etag):
            if part == 0:
                self._install(body, key, signed_type)
            else:
                self._install_part(body, key, claims["u"], part, etag)
        return etag

    @contextmanager
    def _spooled(self, stream: IO[bytes], size: int | None) -> Iterator[tuple[Path, str]]:
        """``stream`` in a temporary file (flushed to disk), with its MD5; exactly
        ``size`` bytes when a size is given. The file is gone afterwards unless moved."""
        handle, name = tempfile.mkstemp(prefix="body-", dir=self.root / ".tmp")
        path, digest, total = Path(name), hashlib.md5(usedforsecurity=False), 0
        try:
            with os.fdopen(handle, "wb") as out:
                while True:
                    want = _CHUNK if size is None else min(_CHUNK, size + 1 - total)
                    chunk = stream.read(want) if want > 0 else b""
                    if not chunk:
                        break
                    total += len(chunk)
                    if size is not None and total > size:
                        raise UploadRefused(
                            "body_too_large", f"this URL takes exactly {size} bytes"
                        )
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if size is not None and total != size:
                raise UploadRefused(
                    "size_mismatch", f"{total} bytes arrived; this URL takes exactly {size}"
                )
            yield path, digest.hexdigest()
        finally:
            path.unlink(missing_ok=True)

    def _install(self, body: Path, key: str, content_type: str | None) -> None:
        """Rename a whole body into place as ``key``, its Content-Type first."""
        target, meta = self._path(key), self._meta_path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        meta.parent.mkdir(parents=True, exist_ok=True)
        with self._spooled_text(json.dumps({"content_type": content_type})) as written:
            os.replace(written, meta)
        os.replace(body, target)
        _fsync_dir(target.parent)

    @contextmanager
    def _spooled_text(self, text: str) -> Iterator[Path]:
        handle, name = tempfile.mkstemp(prefix="text-", dir=self.root / ".tmp")
        with os.fdopen(handle, "w") as out:
            out.write(text)
        try:
            yield Path(name)
        finally:
            Path(name).unlink(missing_ok=True)

    def _install_part(self, body: Path, key: str, upload_id: str, number: int, etag: str) -> None:
        with self._locked(key, upload_id) as (folder, _manifest):
            part = folder / f"{number:05d}"
            # The ETag goes last: a part is listed only once its bytes and ETag agree.
            (folder / f"{number:05d}.etag").unlink(missing_ok=True)
            os.replace(body, part)
            with self._spooled_text(etag) as written:
                os.replace(written, folder / f"{number:05d}.etag")

    def uploaded_parts(self, key: str, upload_id: str) -> list[tuple[int, str, int]]:
        folder = self._upload_dir(upload_id)
        if self._manifest(upload_id).get("key") != key:
            raise UploadRefused("upload_missing", f"no upload {upload_id} for {key}")
        return self._parts_in(folder)

    def _parts_in(self, folder: Path) -> list[tuple[int, str, int]]:
        parts = []
        for entry in os.scandir(folder):
            match = _PART_FILE.match(entry.name)
            if not match:
                continue
            with suppress(FileNotFoundError):  # a part being replaced right now
                size = (folder / match.group(1)).stat().st_size
                parts.append((int(match.group(1)), Path(entry.path).read_text(), size))
        return sorted(parts)

    def complete_upload(self, key: str, upload_id: str | None, *, size_bytes: int) -> StoredObject:
        if upload_id is None:
            stored = self.stat(key)
            if stored is None:
                raise UploadRefused("upload_missing", f"nothing was uploaded to {key}")
            if stored.size != size_bytes:
                raise UploadRefused(
                    "size_mismatch", f"{key} holds {stored.size} bytes, not {size_bytes}"
                )
            return stored
        try:
            with self._locked(key, upload_id) as (folder, manifest):
                if manifest["size"] != size_bytes:
                    raise UploadRefused(
                        "size_mismatch",
                        f"upload {upload_id} was planned for {manifest['size']} bytes",
                    )
                check_parts(self._parts_in(folder), plan_parts(size_bytes, manifest["part_size"]))
                self._assemble(folder, key, manifest)
                trash = self._discard(folder)
        except UploadRefused as refused:
            if refused.reason != "upload_missing":
                raise
            stored = self.stat(key)  # completed before: an app retrying its "done"
            if stored is not None and stored.size == size_bytes:
                return stored
            raise
        shutil.rmtree(trash, ignore_errors=True)
        stored = self.stat(key)
        assert stored is not None  # just renamed into place
        return stored

    def _assemble(self, folder: Path, key: str, manifest: dict[str, Any]) -> None:
        count = len(plan_parts(manifest["size"], manifest["part_size"]))
        handle, name = tempfile.mkstemp(prefix="assembled-", dir=self.root / ".tmp")
        try:
            with os.fdopen(handle, "wb") as out:
                for number in range(1, count + 1):
                    with open(folder / f"{number:05d}", "rb") as part:
                        shutil.copyfileobj(part, out, _CHUNK)
                out.flush()
                os.fsync(out.fileno())
            self._install(Path(name), key, manifest["content_type"])
        finally:
            Path(name).unlink(missing_ok=True)

    def _discard(self, folder: Path) -> Path:
        """Move an upload's folder out of ``.uploads`` (one rename: a part arriving after
        it finds no upload) into ``.tmp``, for the caller to delete after the lock."""
        trash = self.root / ".tmp" / f"discarded-{folder.name}-{uuid.uuid4().hex[:8]}"
        os.replace(folder, trash)
        return trash

    def abort_upload(self, key: str, upload_id: str | None) -> None:
        if upload_id is not None:
            trash = None
            # Gone already (upload_missing): nothing to remove.
            with suppress(UploadRefused), self._locked(key, upload_id) as (folder, _manifest):
                trash = self._discard(folder)
            if trash is not None:
                shutil.rmtree(trash, ignore_errors=True)
        self.delete(key)

    # -- objects -----------------------------------------------------------------------

    def stat(self, key: str) -> StoredObject | None:
        try:
            found = self._path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not S_ISREG(found.st_mode):
            return None
        try:
            content_type = json.loads(self._meta_path(key).read_text()).get("content_type")
        except (FileNotFoundError, NotADirectoryError, ValueError):
            content_type = None
        return StoredObject(key, found.st_size, content_type)

    @contextmanager
    def open(self, key: str) -> Iterator[BinaryIO]:
        with open(self._path(key), "rb") as stream:
            yield stream

    def put(self, key: str, source: IO[bytes], *, content_type: str) -> StoredObject:
        check_key(key)
        with self._spooled(source, None) as (body, _etag):
            self._install(body, key, content_type)
        stored = self.stat(key)
        assert stored is not None  # just renamed into place
        return stored

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)
        self._meta_path(key).unlink(missing_ok=True)

    def _sweep_stale_tmp(self) -> None:
        """Bodies a killed process left in ``.tmp`` a day ago or more."""
        cutoff = time.time() - _STALE_TMP_S
        for entry in os.scandir(self.root / ".tmp"):
            with suppress(FileNotFoundError):
                if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    if entry.is_dir(follow_symlinks=False):
                        shutil.rmtree(entry.path, ignore_errors=True)
                    else:
                        os.unlink(entry.path)
