"""Claimed clips and their videos, as the app follows them (docs/uploads.md)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from api import context
from api.auth import auth_required
from api.conventions import Blueprint
from api.schemas.common import page_of
from api.schemas.submissions import ClaimDetailSchema, ClaimFilterArgs, ClaimSchema
from rewards_engine.domain.roles import Role
from rewards_engine.services import uploads

blp = Blueprint("uploads", __name__, description="Claimed clips waiting for their videos")


@blp.route("/uploads")
class Claims(MethodView):
    @auth_required(Role.DONOR)
    @blp.arguments(ClaimFilterArgs(), location="query")
    @blp.response(200, page_of(ClaimSchema))
    def get(self, args: dict[str, Any]) -> Any:
        """The donor's claimed clips, newest first, filtered by status"""
        return uploads.list_claims(context.runtime(), context.donor().id, **args)


@blp.route("/uploads/<id64:claim_id>")
class ClaimById(MethodView):
    @auth_required(Role.DONOR)
    @blp.response(200, ClaimDetailSchema)
    @blp.alt_response(404, description="No such claim among the donor's")
    def get(self, claim_id: int) -> Any:
        """One claim: where to upload its video while it waits (fresh URLs, and the parts
        already received), its clip once verified, or why it was refused"""
        return uploads.view_claim(context.runtime(), context.donor().id, claim_id)


@blp.route("/uploads/<id64:claim_id>/complete")
class CompleteUpload(MethodView):
    @auth_required(Role.DONOR)
    @blp.response(200, ClaimDetailSchema)
    @blp.alt_response(404, description="No such claim among the donor's")
    @blp.alt_response(409, description="The upload is not all there, or its time ran out")
    def post(self, claim_id: int) -> Any:
        """Say the video is uploaded: it waits for verification (saying it twice is safe)"""
        return uploads.complete(context.runtime(), context.donor().id, claim_id)
