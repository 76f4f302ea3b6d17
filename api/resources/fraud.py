"""Fraud review: the flags the scans opened, their evidence, and a person's decision."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from api import context
from api.auth import staff_action
from api.conventions import Blueprint
from api.resources.approvals import ACCEPTED_DOC, accepted
from api.schemas.approvals import ApprovalSchema
from api.schemas.common import IdempotencyHeader, page_of
from api.schemas.fraud import (
    FlagDetailSchema,
    FlagQuerySchema,
    FraudFlagSchema,
    FraudRuleSchema,
    ResolutionSchema,
    ResolveSchema,
    RuleChangeSchema,
)
from rewards_engine.domain import staff_policy as policy
from rewards_engine.services import fraud
from rewards_engine.services.approvals import ApprovalView

blp = Blueprint("fraud", __name__, description="Fraud flags and their review")


@blp.route("/admin/fraud-flags")
class Flags(MethodView):
    @staff_action(policy.FRAUD_READ)
    @blp.arguments(FlagQuerySchema(), location="query")
    @blp.response(200, page_of(FraudFlagSchema))
    def get(self, args: dict[str, Any]) -> Any:
        """Flags, highest score first (or newest first); filter by status, rule, donor"""
        return fraud.list_flags(
            context.runtime().db,
            status=args.get("status"),
            rule=args.get("rule"),
            donor_id=args.get("donor_id"),
            sort=args["sort"],
            limit=args["limit"],
            cursor=args["cursor"],
        )


@blp.route("/admin/fraud-flags/<int:flag_id>")
class Flag(MethodView):
    @staff_action(policy.FRAUD_READ)
    @blp.response(200, FlagDetailSchema)
    def get(self, flag_id: int) -> Any:
        """A flag with its evidence (strongest first): the ids and figures behind it"""
        return fraud.flag_detail(context.runtime().db, flag_id)


@blp.route("/admin/fraud-flags/<int:flag_id>/resolve")
class Resolve(MethodView):
    @staff_action(policy.FRAUD_RESOLVE)
    @blp.arguments(ResolveSchema())
    @blp.response(200, ResolutionSchema)
    @blp.arguments(IdempotencyHeader(), location="headers")
    @blp.alt_response(202, schema=ApprovalSchema, description=ACCEPTED_DOC)
    @blp.alt_response(409, description="The flag was already resolved")
    def post(self, body: dict[str, Any], headers: dict[str, Any], flag_id: int) -> Any:
        """Confirm (reverse the clips the evidence names, keep the hold, optionally ban)
        or dismiss (release the hold; this evidence never flags again), with a reason.
        Dismissing a high-severity flag, and a ban, need a second person (202)"""
        confirm = body["decision"] == "confirm"
        result = fraud.resolve(
            context.runtime(),
            context.actor(),
            flag_id,
            confirm=confirm,
            reason=body["reason"],
            ban=confirm and body["ban"],
            keep_hold=body["keep_hold"],
            idempotency_key=headers["idempotency_key"],
        )
        return accepted(result) if isinstance(result, ApprovalView) else result


@blp.route("/admin/fraud-rules")
class Rules(MethodView):
    @staff_action(policy.FRAUD_READ)
    @blp.response(200, FraudRuleSchema(many=True))
    def get(self) -> Any:
        """Every fraud rule with its version and thresholds"""
        return fraud.list_rules(context.runtime().db)


@blp.route("/admin/fraud-rules/<code>")
class RuleResource(MethodView):
    @staff_action(policy.FRAUD_RULES_CHANGE)
    @blp.arguments(RuleChangeSchema())
    @blp.response(200, FraudRuleSchema)
    def put(self, body: dict[str, Any], code: str) -> Any:
        """Change a rule's thresholds, severity or state (a new version; audited)"""
        reason = body.pop("reason")
        return fraud.update_rule(context.runtime(), context.actor(), code, body, reason)
