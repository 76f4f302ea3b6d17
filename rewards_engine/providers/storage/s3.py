"""The video store on S3 or an S3-compatible server (MinIO, R2, Ceph...), through boto3.

Apps upload straight to the bucket through presigned URLs: no video passes through an
API worker. The engine signs, lists, assembles and reads; S3 checks each signature.

Facts relied on, with their sources:

- A presigned URL carries the request's signed headers; a PUT whose Content-Type or
  Content-Length differs from the signed value fails its signature (SigV4 query
  authentication signs every header in X-Amz-SignedHeaders:
  https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html).
  boto3 signs ``ContentType``/``ContentLength`` given in ``Params``
  (``generate_presigned_url``, boto3 S3 reference).
- A presigned URL works any number of times until it expires, and a PUT replaces the
  object (https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-presigned-url.html).
  X-Amz-Expires is at most 604,800 s (AWS CLI ``s3 presign`` reference).
- Multipart: 1 to 10,000 parts, 5 MiB to 5 GiB each but the last; a smaller part
  fails at completion with EntityTooSmall; ListParts returns at most 1,000 parts a
  page (https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html).
- CompleteMultipartUpload may answer 200 and still fail, with the error in the body
  (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html).
  botocore turns such a 200 into a 500 and retries it (``_handle_200_error`` in
  botocore/handlers.py); a 200 without a result is still refused here.
- After AbortMultipartUpload, a part upload in progress may still succeed
  (https://docs.aws.amazon.com/AmazonS3/latest/API/API_AbortMultipartUpload.html).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import IO, Any, BinaryIO

import boto3  # type: ignore[import-untyped]  # boto3 ships no type information
from botocore.config import Config  # type: ignore[import-untyped]  # nor does botocore
from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from rewards_engine.clock import Clock, SystemClock
from rewards_engine.providers.storage.base import (
    DEFAULT_PART_SIZE,
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

_URL_OPTIONS = {"endpoint_url", "region", "addressing_style"}
_MISSING = {"404", "NoSuchKey", "NotFound"}


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class S3VideoStore:
    """Videos as objects under ``prefix`` in ``bucket``, reached with a boto3 S3 client."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str = "",
        *,
        clock: Clock | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        multipart_threshold: int | None = None,
    ) -> None:
        if not bucket:
            raise ValueError("an S3 store needs a bucket")
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.clock: Clock = clock or SystemClock()
        self.part_size = part_size
        self.multipart_threshold = multipart_threshold or part_size
        check_sizes(self.part_size, self.multipart_threshold)

    @classmethod
    def from_url(cls, url: str, *, clock: Clock | None = None) -> S3VideoStore:
        """``s3://bucket/prefix?endpoint_url=http://...&region=...&addressing_style=...``.

        Credentials come from boto3's usual chain (``AWS_ACCESS_KEY_ID``..., the shared
        config and credentials files, an instance role), never from the URL. A custom
        endpoint (MinIO and most S3-compatible servers) gets path-style addressing
        unless ``addressing_style`` says otherwise.
        """
        parts = urllib.parse.urlsplit(url)
        options = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
        unknown = sorted(set(options) - _URL_OPTIONS)
        if unknown:
            raise ValueError(
                f"STORAGE_URL: unknown S3 options {unknown}; known: {sorted(_URL_OPTIONS)}"
            )
        option = {name: values[-1] for name, values in options.items()}
        endpoint_url = option.get("endpoint_url") or None
        style = option.get("addressing_style") or ("path" if endpoint_url else "auto")
        if style not in ("path", "virtual", "auto"):
            raise ValueError(
                f"STORAGE_URL: addressing_style is path, virtual or auto, not {style!r}"
            )
        session = boto3.session.Session(region_name=option.get("region") or None)
        client = session.client(
            "s3",
            endpoint_url=endpoint_url,
            config=Config(
                signature_version="s3v4",  # presigned URLs must be SigV4 (7-day cap, regions)
                s3={"addressing_style": style},
                retries={"mode": "standard"},
                connect_timeout=10,
                read_timeout=120,  # CompleteMultipartUpload may take minutes (its docs)
            ),
        )
        return cls(client, parts.netloc, urllib.parse.unquote(parts.path), clock=clock)

    def _name(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _presign(self, method: str, params: dict[str, Any], seconds: int) -> str:
        url: str = self.client.generate_presigned_url(
            method, Params={"Bucket": self.bucket, **params}, ExpiresIn=seconds
        )
        return url

    def upload_target(
        self,
        key: str,
        *,
        size_bytes: int,
        content_type: str,
        expires_at: datetime,
        upload_id: str | None = None,
    ) -> UploadTarget:
        name = self._name(key)
        check_upload(size_bytes, content_type)
        expires, seconds = url_lifetime(self.clock.now(), expires_at)
        if upload_id is None and size_bytes <= self.multipart_threshold:
            # ContentType and ContentLength are signed: another type or size fails S3's check.
            url = self._presign(
                "put_object",
                {"Key": name, "ContentType": content_type, "ContentLength": size_bytes},
                seconds,
            )
            headers = {"Content-Type": content_type, "Content-Length": str(size_bytes)}
            return UploadTarget(key, "PUT", headers, expires, url=url)
        if upload_id is None:
            # The object's Content-Type is set here, once; parts carry none.
            created = self.client.create_multipart_upload(
                Bucket=self.bucket, Key=name, ContentType=content_type
            )
            upload_id = str(created["UploadId"])
        parts = [
            UploadPart(
                number,
                self._presign(
                    "upload_part",
                    {
                        "Key": name,
                        "UploadId": upload_id,
                        "PartNumber": number,
                        "ContentLength": size,  # signed: a part cut short or padded fails
                    },
                    seconds,
                ),
                size,
            )
            for number, size in enumerate(
                plan_parts(size_bytes, part_size_for(size_bytes, self.part_size)), start=1
            )
        ]
        return UploadTarget(key, "PUT", {}, expires, upload_id=upload_id, parts=parts)

    def _listed_parts(self, key: str, upload_id: str) -> list[dict[str, Any]]:
        """The parts S3 holds, as S3 reports them (ETags quoted), over every page."""
        listed: list[dict[str, Any]] = []
        try:
            pages = self.client.get_paginator("list_parts").paginate(
                Bucket=self.bucket, Key=self._name(key), UploadId=upload_id
            )
            for page in pages:
                listed.extend(page.get("Parts", []))
        except ClientError as error:
            if _code(error) == "NoSuchUpload":
                raise UploadRefused("upload_missing", f"no upload {upload_id} for {key}") from error
            raise
        return listed

    def uploaded_parts(self, key: str, upload_id: str) -> list[tuple[int, str, int]]:
        return sorted(
            (int(part["PartNumber"]), str(part["ETag"]).strip('"'), int(part["Size"]))
            for part in self._listed_parts(key, upload_id)
        )

    def _already_complete(self, key: str, size_bytes: int, refused: UploadRefused) -> StoredObject:
        """The upload is gone: completed before (an app retrying), or aborted."""
        stored = self.stat(key)
        if stored is not None and stored.size == size_bytes:
            return stored
        raise refused

    def complete_upload(self, key: str, upload_id: str | None, *, size_bytes: int) -> StoredObject:
        name = self._name(key)
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
            listed = self._listed_parts(key, upload_id)
        except UploadRefused as refused:
            return self._already_complete(key, size_bytes, refused)
        received = [(int(p["PartNumber"]), str(p["ETag"]), int(p["Size"])) for p in listed]
        check_parts(received, plan_parts(size_bytes, part_size_for(size_bytes, self.part_size)))
        try:
            answer = self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=name,
                UploadId=upload_id,
                # The parts exactly as ListParts reported them (number and ETag).
                MultipartUpload={
                    "Parts": [{"PartNumber": n, "ETag": etag} for n, etag, _ in sorted(received)]
                },
            )
        except ClientError as error:
            code = _code(error)
            if code == "NoSuchUpload":  # completed by a concurrent call, or aborted
                gone = UploadRefused("upload_missing", f"no upload {upload_id} for {key}")
                return self._already_complete(key, size_bytes, gone)
            if code == "EntityTooSmall":
                raise UploadRefused(
                    "part_too_small", "S3 refuses parts under 5 MiB but the last"
                ) from error
            if code in ("InvalidPart", "InvalidPartOrder"):
                raise UploadRefused("part_missing", str(error)) from error
            raise
        if not answer.get("ETag"):  # a 200 that is no CompleteMultipartUploadResult
            raise UploadRefused("upload_incomplete", "S3 did not confirm the assembly; retry")
        stored = self.stat(key)
        if stored is None:
            raise UploadRefused("upload_incomplete", "the assembled object is not there yet")
        return stored

    def abort_upload(self, key: str, upload_id: str | None) -> None:
        name = self._name(key)
        if upload_id is not None:
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload_id)
            except ClientError as error:
                if _code(error) != "NoSuchUpload":
                    raise
        self.delete(key)

    def stat(self, key: str) -> StoredObject | None:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._name(key))
        except ClientError as error:
            if _code(error) in _MISSING:
                return None
            raise
        return StoredObject(key, int(head["ContentLength"]), head.get("ContentType"))

    @contextmanager
    def open(self, key: str) -> Iterator[BinaryIO]:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._name(key))
        except ClientError as error:
            if _code(error) in _MISSING:
                raise FileNotFoundError(f"no object {key}") from error
            raise
        body = answer["Body"]  # a botocore StreamingBody: read() front to back
        try:
            yield body
        finally:
            body.close()

    def put(self, key: str, source: IO[bytes], *, content_type: str) -> StoredObject:
        # boto3's managed transfer: one PUT or a multipart upload, aborted on failure.
        self.client.upload_fileobj(
            source, self.bucket, self._name(key), ExtraArgs={"ContentType": content_type}
        )
        stored = self.stat(key)
        if stored is None:
            raise FileNotFoundError(f"{key} is not there after its upload")
        return stored

    def delete(self, key: str) -> None:
        # DeleteObject of a missing key succeeds (204): nothing to catch.
        self.client.delete_object(Bucket=self.bucket, Key=self._name(key))
