"""Medals: the donor's medal screen, and admin tools for definitions and backfills."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from api import context
from api.auth import auth_required, staff_action
from api.conventions import Blueprint
from api.schemas.medals import (
    BackfillRequestSchema,
    BackfillSchema,
    DefinitionInputSchema,
    DefinitionSchema,
    MedalScreenSchema,
    NewDefinitionSchema,
    RetireSchema,
)
from rewards_engine.domain import staff_policy as policy
from rewards_engine.domain.roles import Role
from rewards_engine.services import medals

blp = Blueprint("medals", __name__, description="Medals")


@blp.route("/me/medals")
class MyMedals(MethodView):
    @auth_required(Role.DONOR)
    @blp.etag
    @blp.response(200, MedalScreenSchema)
    def get(self) -> Any:
        """Every medal in display order, in your language: those earned (when, version,
        evidence, revoked or not) and the progress toward the others, their art and
        rarity (secret ones are placeholders until earned), with recent notifications;
        one call, one screen"""
        runtime = context.runtime()
        donor_id = context.donor().id
        display = medals.medal_display(runtime.settings, context.language())
        return {
            "medals": medals.donor_medals(runtime.db, runtime.clock, donor_id, display),
            "notifications": medals.notifications(runtime.db, donor_id),
        }


@blp.route("/me/medal-notifications/<int:notification_id>/read")
class NotificationRead(MethodView):
    @auth_required(Role.DONOR)
    @blp.response(204)
    def post(self, notification_id: int) -> None:
        """Mark a medal notification as read"""
        runtime = context.runtime()
        medals.mark_read(runtime.db, runtime.clock, context.donor().id, notification_id)


@blp.route("/admin/medals")
class Definitions(MethodView):
    @staff_action(policy.CATALOG_READ)
    @blp.response(200, DefinitionSchema(many=True))
    def get(self) -> Any:
        """Every version of every medal definition"""
        return medals.list_definitions(context.runtime().db)

    @staff_action(policy.CATALOG_CHANGE)
    @blp.arguments(NewDefinitionSchema())
    @blp.response(201, DefinitionSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Create a medal (version 1); apply it to the past with a backfill"""
        runtime = context.runtime()
        return medals.save_definition(
            runtime.db, runtime.clock, context.actor(), medals.DefinitionInput(**body), create=True
        )


@blp.route("/admin/medals/<string:code>")
class DefinitionByCode(MethodView):
    @staff_action(policy.CATALOG_CHANGE)
    @blp.arguments(DefinitionInputSchema())
    @blp.response(200, DefinitionSchema)
    def put(self, body: dict[str, Any], code: str) -> Any:
        """Change a medal: a new version (awards keep the version that granted them)"""
        runtime = context.runtime()
        data = medals.DefinitionInput(code=code, **body)
        return medals.save_definition(
            runtime.db, runtime.clock, context.actor(), data, create=False
        )


@blp.route("/admin/medals/<string:code>/retire")
class RetireDefinition(MethodView):
    @staff_action(policy.CATALOG_CHANGE)
    @blp.arguments(RetireSchema())
    @blp.response(200, DefinitionSchema)
    def post(self, body: dict[str, Any], code: str) -> Any:
        """Stop granting a medal; awards already given stay"""
        runtime = context.runtime()
        return medals.retire_definition(
            runtime.db, runtime.clock, context.actor(), code, body["reason"]
        )


@blp.route("/admin/medals/backfill")
class Backfill(MethodView):
    @staff_action(policy.CATALOG_CHANGE)
    @blp.arguments(BackfillRequestSchema())
    @blp.response(200, BackfillSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Who would gain and lose each medal over history (dry run, the default), or
        apply exactly that"""
        runtime = context.runtime()
        return medals.backfill(
            runtime.db,
            runtime.clock,
            code=body["medal"],
            dry_run=body["dry_run"],
            actor=context.actor(),
        )
