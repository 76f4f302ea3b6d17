"""A donor's own videos, through the time-limited links of their data export. The link
is the credential (no bearer token): a 403 is a bad or expired link, a 404 a video no
longer kept (retention, erasure)."""

from __future__ import annotations

from typing import Any

from flask import Response, stream_with_context
from flask.views import MethodView

from api import context
from api.conventions import Blueprint
from rewards_engine.services import videos

blp = Blueprint("videos", __name__, description="A donor's own videos, by export link")


@blp.route("/videos/<string:token>")
class Video(MethodView):
    @blp.doc(security=[])
    @blp.response(200, content_type="video/mp4", description="The video, decrypted")
    @blp.alt_response(403, description="The link is not valid, or has expired")
    @blp.alt_response(404, description="The video is no longer kept")
    def get(self, token: str) -> Any:
        """One of the donor's videos, as they donated it"""
        opened = videos.open_video(context.runtime(), token)
        return Response(
            stream_with_context(opened.chunks),
            mimetype=opened.content_type,
            headers={"Cache-Control": "private, no-store"},
        )
