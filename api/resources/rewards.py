"""The rewards catalog and redemptions, for donors and for support staff."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from api import context, limits
from api.auth import auth_required, staff_action
from api.conventions import Blueprint, created
from api.schemas.common import IdempotencyHeader, PageArgs, page_of
from api.schemas.rewards import (
    AdminRedemptionQuery,
    CatalogQuery,
    CodesReportSchema,
    CodesUploadSchema,
    NewRewardSchema,
    RedeemSchema,
    RedemptionSchema,
    RestockSchema,
    RetireRewardSchema,
    RewardInputSchema,
    RewardSchema,
    TransitionSchema,
)
from rewards_engine.domain import staff_policy as policy
from rewards_engine.domain.redemptions import Status
from rewards_engine.domain.roles import Role
from rewards_engine.services import gift_card_products, redemptions, rewards

blp = Blueprint("rewards", __name__, description="Rewards catalog and redemptions")


@blp.route("/rewards")
class Catalog(MethodView):
    @blp.etag
    @blp.arguments(CatalogQuery(), location="query")
    @blp.response(200, RewardSchema(many=True))
    def get(self, args: dict[str, Any]) -> Any:
        """The catalog: gift cards and cameras, their point cost and stock, in the
        language of Accept-Language; provider gift cards only where their product serves
        the donor's country and currency (public)"""
        runtime = context.runtime()
        return rewards.list_items(
            runtime.db,
            language=context.language(),
            providers=gift_card_products.configured(runtime.settings),
            **args,
        )


@blp.route("/redemptions")
class Redemptions(MethodView):
    @auth_required(Role.DONOR)
    @limits.per_donor("redemptions", limits.settings_limit("redemptions_per_donor"))
    @blp.arguments(IdempotencyHeader(), location="headers")
    @blp.arguments(RedeemSchema())
    @blp.response(201, RedemptionSchema)
    @blp.alt_response(409, description="Not enough points, out of stock, not eligible, limit")
    @blp.alt_response(429, description="Too many calls this minute: see Retry-After")
    def post(self, headers: dict[str, Any], body: dict[str, Any]) -> Any:
        """Spend points on a reward; gift cards come with their code at once"""
        runtime = context.runtime()
        return created(
            redemptions.redeem(
                runtime.db,
                runtime.clock,
                context.actor(),
                context.donor().id,
                body["reward_id"],
                body["shipping_address"],
                idempotency_key=headers["idempotency_key"],
                auto_fulfil=runtime.settings.gift_cards_auto_fulfil,
                vault=context.runtime().vault,
                orders=runtime.gift_card_orders,
                country=body["country"],
            )
        )

    @auth_required(Role.DONOR)
    @blp.arguments(PageArgs(), location="query")
    @blp.response(200, page_of(RedemptionSchema))
    def get(self, args: dict[str, Any]) -> Any:
        """The donor's redemptions, newest first, with their gift-card codes"""
        return redemptions.donor_redemptions(
            context.runtime().db, context.runtime().vault, context.donor().id, **args
        )


@blp.route("/redemptions/<id64:redemption_id>")
class RedemptionById(MethodView):
    @auth_required(Role.DONOR)
    @blp.response(200, RedemptionSchema)
    def get(self, redemption_id: int) -> Any:
        """One of the donor's redemptions"""
        return redemptions.donor_redemption(
            context.runtime().db, context.runtime().vault, context.donor().id, redemption_id
        )


@blp.route("/admin/redemptions")
class AdminRedemptions(MethodView):
    @staff_action(policy.REDEMPTIONS_READ)
    @blp.arguments(AdminRedemptionQuery(), location="query")
    @blp.response(200, page_of(RedemptionSchema))
    def get(self, args: dict[str, Any]) -> Any:
        """Redemptions, oldest first, by status or donor (gift-card codes masked)"""
        return redemptions.all_redemptions(context.runtime().db, **args)


@blp.route("/admin/redemptions/<id64:redemption_id>/transition")
class Transition(MethodView):
    @staff_action(policy.REDEMPTION_SHIP)
    @blp.arguments(TransitionSchema())
    @blp.response(200, RedemptionSchema)
    @blp.alt_response(409, description="Not a legal move from the current state")
    def post(self, body: dict[str, Any], redemption_id: int) -> Any:
        """Approve, fulfil, ship (carrier and tracking), deliver, cancel or fail (audited)"""
        runtime = context.runtime()
        return redemptions.transition(
            runtime.db,
            runtime.clock,
            context.actor(),
            redemption_id,
            Status(body.pop("to")),
            **body,
        )


@blp.route("/admin/rewards")
class AdminCatalog(MethodView):
    @staff_action(policy.CATALOG_READ)
    @blp.response(200, RewardSchema(many=True))
    def get(self) -> Any:
        """Every item, retired ones too, with stock"""
        return rewards.list_items(context.runtime().db, include_retired=True)

    @staff_action(policy.CATALOG_CHANGE)
    @blp.arguments(NewRewardSchema())
    @blp.response(201, RewardSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Add an item to the catalog"""
        runtime = context.runtime()
        item_id = body.pop("id")
        item = rewards.save_item(
            runtime.db, runtime.clock, context.actor(), item_id, body, create=True
        )
        return rewards.CatalogItem(item, item.stock or 0)


@blp.route("/admin/rewards/<string:item_id>")
class AdminReward(MethodView):
    @staff_action(policy.CATALOG_CHANGE)
    @blp.arguments(RewardInputSchema())
    @blp.response(200, RewardSchema)
    def put(self, body: dict[str, Any], item_id: str) -> Any:
        """Change an item (redemptions already made keep their cost)"""
        runtime = context.runtime()
        item = rewards.save_item(
            runtime.db, runtime.clock, context.actor(), item_id, body, create=False
        )
        return rewards.CatalogItem(item, item.stock or 0)


@blp.route("/admin/rewards/<string:item_id>/retire")
class RetireReward(MethodView):
    @staff_action(policy.CATALOG_CHANGE)
    @blp.arguments(RetireRewardSchema())
    @blp.response(200, RewardSchema)
    def post(self, body: dict[str, Any], item_id: str) -> Any:
        """Take an item off the catalog"""
        runtime = context.runtime()
        item = rewards.retire_item(
            runtime.db, runtime.clock, context.actor(), item_id, body["reason"]
        )
        return rewards.CatalogItem(item, item.stock or 0)


@blp.route("/admin/rewards/<string:item_id>/stock")
class Restock(MethodView):
    @staff_action(policy.CATALOG_CHANGE)
    @blp.arguments(RestockSchema())
    @blp.response(200, RewardSchema)
    def post(self, body: dict[str, Any], item_id: str) -> Any:
        """Add or remove camera units"""
        runtime = context.runtime()
        item = rewards.restock(
            runtime.db, runtime.clock, context.actor(), item_id, body["delta"], body["reason"]
        )
        return rewards.CatalogItem(item, item.stock or 0)


@blp.route("/admin/rewards/<string:item_id>/codes")
class UploadCodes(MethodView):
    @staff_action(policy.CATALOG_CHANGE)
    @blp.arguments(CodesUploadSchema())
    @blp.response(201, CodesReportSchema)
    def post(self, body: dict[str, Any], item_id: str) -> Any:
        """Upload gift-card codes (CSV), encrypted at rest; never logged"""
        runtime = context.runtime()
        return rewards.import_codes(
            runtime.db,
            runtime.clock,
            context.actor(),
            context.runtime().vault,
            item_id,
            rewards.parse_codes(body["csv"]),
        )
