"""Campaigns, their rules and their progress (public: the app shows them before sign-in)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from api import context
from api.auth import staff_action
from api.conventions import Blueprint
from api.resources.approvals import ACCEPTED_DOC, accepted
from api.schemas.approvals import ApprovalSchema
from api.schemas.campaigns import (
    CampaignDetailSchema,
    CampaignInputSchema,
    CampaignSchema,
    NewCampaignSchema,
)
from api.schemas.common import IdempotencyHeader, PageArgs, page_of
from rewards_engine.domain import staff_policy as policy
from rewards_engine.services import campaigns
from rewards_engine.services.approvals import ApprovalView

blp = Blueprint("campaigns", __name__, description="Donation campaigns and their rules")


@blp.route("/campaigns")
class Campaigns(MethodView):
    @blp.etag
    @blp.arguments(PageArgs(), location="query")
    @blp.response(200, page_of(CampaignSchema))
    def get(self, args: dict[str, Any]) -> Any:
        """Campaigns, newest first"""
        return campaigns.list_campaigns(context.runtime().db, language=context.language(), **args)


@blp.route("/campaigns/<string:campaign_id>")
class CampaignById(MethodView):
    @blp.etag
    @blp.response(200, CampaignDetailSchema)
    @blp.alt_response(404, description="No such campaign")
    def get(self, campaign_id: str) -> Any:
        """A campaign: its rules and accepted clips per incident type against the target"""
        return campaigns.get_campaign(context.runtime().db, campaign_id, context.language())


@blp.route("/admin/campaigns")
class AdminCampaigns(MethodView):
    @staff_action(policy.CAMPAIGN_CHANGE)
    @blp.arguments(NewCampaignSchema())
    @blp.response(201, CampaignDetailSchema)
    @blp.alt_response(409, description="A campaign with this id exists")
    def post(self, body: dict[str, Any]) -> Any:
        """Create a campaign and its rules (audited, with the reason)"""
        runtime = context.runtime()
        campaign_id, reason = body.pop("id"), body.pop("reason")
        campaigns.save_campaign(
            runtime.db, runtime.clock, context.actor(), campaign_id, body, reason, create=True
        )
        return campaigns.get_campaign(runtime.db, campaign_id)


@blp.route("/admin/campaigns/<string:campaign_id>")
class AdminCampaign(MethodView):
    @staff_action(policy.CAMPAIGN_CHANGE)
    @blp.arguments(CampaignInputSchema())
    @blp.response(200, CampaignDetailSchema)
    @blp.alt_response(404, description="No such campaign")
    @blp.arguments(IdempotencyHeader(), location="headers")
    @blp.alt_response(202, schema=ApprovalSchema, description=ACCEPTED_DOC)
    @blp.alt_response(409, description="The currency of a campaign with clips cannot change")
    def patch(self, body: dict[str, Any], headers: dict[str, Any], campaign_id: str) -> Any:
        """Change some of a campaign's fields: later clips are paid by the new rules,
        earlier ones keep what they earned (audited, with the reason). A change to its
        paying rules needs a second admin (202); its name and description do not"""
        runtime = context.runtime()
        reason = body.pop("reason")
        result = campaigns.save_campaign(
            runtime.db,
            runtime.clock,
            context.actor(),
            campaign_id,
            body,
            reason,
            create=False,
            idempotency_key=headers["idempotency_key"],
        )
        if isinstance(result, ApprovalView):
            return accepted(result)
        return campaigns.get_campaign(runtime.db, campaign_id)
