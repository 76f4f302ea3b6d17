"""Trusted intake: the camera maker's video pipeline reports the clips it received
(a ``service`` token; docs/uploads.md)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from api import context
from api.auth import auth_required
from api.conventions import Blueprint, created
from api.schemas.common import IdempotencyHeader
from api.schemas.submissions import IntakeRequestSchema, SubmissionResultSchema
from rewards_engine.domain.roles import Role
from rewards_engine.domain.submissions import ClipInput
from rewards_engine.services import intake

blp = Blueprint("intake", __name__, description="Clips reported by the maker's video pipeline")

_REPORTED = ("storage_ref", "pdq")


@blp.route("/intake/clips")
class ReportedClips(MethodView):
    @auth_required(Role.SERVICE)
    @blp.arguments(IdempotencyHeader(), location="headers")
    @blp.arguments(IntakeRequestSchema())
    @blp.response(201, SubmissionResultSchema)
    @blp.alt_response(404, description="No donor with that account")
    @blp.alt_response(
        409, description="The donor's consent is not current, or the campaign is closed"
    )
    def post(self, headers: dict[str, Any], body: dict[str, Any]) -> Any:
        """Report 1 to 500 clips the pipeline received and measured; decided and paid by
        the campaign's rules at once, as trusted clips"""
        reported = [
            intake.ReportedClip(
                clip=ClipInput(**{k: v for k, v in clip.items() if k not in _REPORTED}),
                storage_ref=clip["storage_ref"],
                size_bytes=clip.get("size_bytes"),
                pdq=clip.get("pdq"),
            )
            for clip in body["clips"]
        ]
        runtime = context.runtime()
        result = intake.report_clips(
            runtime.db,
            runtime.clock,
            context.actor(),
            body["account_id"],
            body["campaign_id"],
            reported,
            headers["idempotency_key"],
        )
        return created(result)
