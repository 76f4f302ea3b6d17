"""The embedded video store's upload URLs (docs/storage.md).

Only the embedded store (``STORAGE_URL`` empty or ``file:``) sends apps here; with S3
the apps upload to the bucket and this route answers 404. Nothing is downloaded from
the store by URL: kept videos are sealed per donor, and donors get theirs decrypted
through ``GET /v1/videos/<token>`` (``api/resources/videos.py``).

There is no bearer token: the signed token in the path is the credential, as in an S3
presigned URL, so a 403 here means a bad or expired URL, never a missing login.

The upload streams the request body to the store (``request.stream``), which reads at
most the signed size plus one byte: the API's 2 MiB body limit does not apply to it.
"""

from __future__ import annotations

from typing import Any, NoReturn

import marshmallow as ma
from flask import request
from flask.views import MethodView
from flask_smorest import abort

from api import context
from api.conventions import Blueprint
from rewards_engine.providers.storage import LocalVideoStore, UploadRefused
from rewards_engine.providers.storage.base import MAX_SINGLE_PUT

blp = Blueprint(
    "storage",
    __name__,
    description="Uploads to the embedded video store, by signed URL",
)

REFUSAL_STATUS = {
    "not_found": 404,
    "bad_signature": 403,
    "url_expired": 403,
    "body_too_large": 413,
    "wrong_content_type": 415,
    "size_mismatch": 400,
    "upload_missing": 404,
}
_BINARY = {"schema": {"type": "string", "format": "binary"}}


class UploadReceivedSchema(ma.Schema):
    etag = ma.fields.String(
        required=True, metadata={"description": "The MD5 of the body, in hex (also the ETag)"}
    )


def _store() -> LocalVideoStore:
    store = context.runtime().video_store
    if isinstance(store, LocalVideoStore):
        return store
    # S3: apps upload to the bucket, never here.
    _refuse(UploadRefused("not_found", "this server does not receive videos itself"))


def _refuse(refused: UploadRefused) -> NoReturn:
    abort(REFUSAL_STATUS.get(refused.reason, 400), message=str(refused), error=refused.reason)
    raise AssertionError("unreachable: abort raises")


@blp.route("/storage/uploads/<token>")
class Upload(MethodView):
    @blp.doc(
        requestBody={
            "required": True,
            "description": "The video's bytes (or one part's): exactly the size signed",
            "content": {"*/*": _BINARY},
        }
    )
    @blp.response(
        200,
        UploadReceivedSchema,
        headers={"ETag": {"description": "The body's MD5, quoted", "schema": {"type": "string"}}},
    )
    @blp.alt_response(400, description="size_mismatch: fewer bytes than signed")
    @blp.alt_response(403, description="bad_signature or url_expired: ask for fresh URLs")
    @blp.alt_response(404, description="upload_missing, or this server's store is not embedded")
    @blp.alt_response(413, description="body_too_large: more bytes than signed")
    @blp.alt_response(415, description="wrong_content_type: not the Content-Type signed")
    def put(self, token: str) -> Any:
        """Upload a video, or one part of it, to a URL the engine signed (no bearer
        token: the URL is the credential). Send the upload's headers; sending a part
        again replaces it. A body cut short leaves nothing: send it again."""
        store = _store()
        # The store reads at most the signed size + 1; None would mean the app's 2 MiB.
        request.max_content_length = MAX_SINGLE_PUT + 1
        try:
            etag = store.receive(
                token, request.headers.get("Content-Type"), request.stream, request.content_length
            )
        except UploadRefused as refused:
            _refuse(refused)
        return {"etag": etag}, 200, {"ETag": f'"{etag}"'}
