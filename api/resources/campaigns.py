"""Campaigns, their rules and their progress (public: the app shows them before sign-in)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from api import context
from api.schemas.campaigns import CampaignDetailSchema, CampaignSchema
from api.schemas.common import PageArgs, page_of
from rewards_engine.services import campaigns

blp = Blueprint("campaigns", __name__, description="Donation campaigns and their rules")


@blp.route("/campaigns")
class Campaigns(MethodView):
    @blp.arguments(PageArgs(), location="query")
    @blp.response(200, page_of(CampaignSchema))
    def get(self, args: dict[str, Any]) -> Any:
        """Campaigns, newest first"""
        return campaigns.list_campaigns(context.runtime().db, **args)


@blp.route("/campaigns/<string:campaign_id>")
class CampaignById(MethodView):
    @blp.response(200, CampaignDetailSchema)
    @blp.alt_response(404, description="No such campaign")
    def get(self, campaign_id: str) -> Any:
        """A campaign: its rules and accepted clips per incident type against the target"""
        return campaigns.get_campaign(context.runtime().db, campaign_id)
