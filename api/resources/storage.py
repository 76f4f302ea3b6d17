"""The embedded video store's upload and download URLs (docs/storage.md).

Only the embedded store (``STORAGE_URL`` empty or ``file:``) sends apps here; with S3
the apps upload to the bucket and these routes answer 404. There is no bearer token:
the signed token in the path is the credential, as in an S3 presigned URL, so a 403
here means a bad or expired URL, never a missing login.

The upload streams the request body to the store (``request.stream``), which reads at
most the signed size plus one byte: the API's 2 MiB body limit does not apply to it.
"""

from __future__ import annotations

from typing import Any, NoReturn

import marshmallow as ma
from flask import request, send_file
from flask.views import MethodView
from flask_smorest import Blueprint, abort

from api import context
from rewards_engine.providers.storage import LocalVideoStore, UploadRefused
from rewards_engine.providers.storage.base import MAX_SINGLE_PUT

blp = Blueprint(
    "storage",
    __name__,
    description="Uploads to and downloads from the embedded video store, by signed URL",
)

REFUSAL_STATUS = {
    "not_found": 404,
    "bad_signature": 403,
    "url_expired": 403,
    "body_too_large": 413,
    "wrong_content_type": 415,
    "size_mismatch": 400,
    "upload_missing": 404,
    "object_missing": 404,
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


@blp.route("/storage/objects/<token>")
class StoredVideo(MethodView):
    @blp.doc(
        responses={
            "200": {
                "description": "The video's bytes (Range requests work)",
                "content": {"*/*": _BINARY},
            }
        }
    )
    @blp.alt_response(403, description="bad_signature or url_expired")
    @blp.alt_response(404, description="object_missing: the video is gone")
    def get(self, token: str) -> Any:
        """Download a stored video through a URL the engine signed, until it expires"""
        store = _store()
        try:
            key = store.read_token(token)
        except UploadRefused as refused:
            _refuse(refused)
        stored = store.stat(key)
        if stored is None:
            _refuse(UploadRefused("object_missing", "this video is no longer stored"))
        response = send_file(
            store.file_path(key),
            mimetype=stored.content_type or "application/octet-stream",
            conditional=True,  # Range and If-None-Match, for a video player
            etag=True,
            max_age=0,
        )
        response.headers["Cache-Control"] = "private, no-cache"
        return response
