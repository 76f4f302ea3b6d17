"""Donating clips and reading one's own clips."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from api import context, limits
from api.auth import auth_required
from api.conventions import Blueprint, created
from api.schemas.common import IdempotencyHeader, page_of
from api.schemas.submissions import (
    ClipFilterArgs,
    ClipSchema,
    SubmissionRequestSchema,
    SubmissionResultSchema,
)
from rewards_engine.domain.roles import Role
from rewards_engine.domain.submissions import ClipInput
from rewards_engine.services import clips, privacy, submissions, uploads

blp = Blueprint("submissions", __name__, description="Donated clips")


@blp.route("/submissions")
class Submissions(MethodView):
    @auth_required(Role.DONOR)
    @limits.per_donor("submissions", limits.settings_limit("submissions_per_donor"))
    @blp.arguments(IdempotencyHeader(), location="headers")
    @blp.arguments(SubmissionRequestSchema())
    @blp.response(201, SubmissionResultSchema)
    @blp.alt_response(409, description="Consent not current, or the campaign is not open")
    @blp.alt_response(429, description="Too many calls this minute: see Retry-After")
    def post(self, headers: dict[str, Any], body: dict[str, Any]) -> Any:
        """Donate 1 to 500 clips; each is accepted, pending review, a duplicate or rejected

        The whole call is one transaction: a clip that breaks a rule of the
        campaign is a 422 naming its index and field, and nothing is written. In a
        campaign that takes uploads (``requires_upload``), each clip is a claim,
        ``awaiting_upload`` with where to send its video; it is decided once the
        engine has received and verified the video (follow it at /v1/uploads/{id}).
        """
        runtime = context.runtime()
        request = submissions.SubmissionRequest(
            campaign_id=body["campaign_id"],
            consent_version=body["consent_version"],
            clips=[ClipInput(**clip) for clip in body["clips"]],
        )
        donor_id = context.donor().id
        result = submissions.submit(
            runtime.db,
            runtime.clock,
            context.actor(),
            donor_id,
            request,
            headers["idempotency_key"],
            runtime.settings.uploads,
        )
        result = uploads.attach_targets(runtime, donor_id, result)
        return created(result)

    @auth_required(Role.DONOR)
    @blp.arguments(ClipFilterArgs(), location="query")
    @blp.response(200, page_of(ClipSchema))
    def get(self, args: dict[str, Any]) -> Any:
        """The donor's clips, newest first, filtered by status or campaign, each with
        what it is used for (usage) and when its metadata will be deleted"""
        filters = clips.ClipFilter(args.pop("status"), args.pop("campaign_id"))
        runtime = context.runtime()
        return privacy.list_clips(runtime.db, runtime.clock, context.donor().id, filters, **args)


@blp.route("/submissions/<id64:clip_id>")
class SubmissionById(MethodView):
    @auth_required(Role.DONOR)
    @blp.response(200, ClipSchema)
    @blp.alt_response(404, description="No such clip among the donor's")
    def get(self, clip_id: int) -> Any:
        """One of the donor's clips"""
        runtime = context.runtime()
        return privacy.clip_view(runtime.db, runtime.clock, context.donor().id, clip_id)
