"""The donor's data rights (consent withdrawal, export, erasure) and the public
transparency report."""

from __future__ import annotations

from typing import Any

from flask import Response, request, stream_with_context
from flask.views import MethodView

from api import context
from api.auth import auth_required, authenticate, staff_action
from api.conventions import Blueprint
from api.schemas.donors import ConsentTextSchema
from api.schemas.privacy import (
    ConsentPublishSchema,
    ConsentRecordSchema,
    DataRequestSchema,
    ExportSchema,
    TransparencySchema,
)
from rewards_engine.domain import staff_policy as policy
from rewards_engine.domain.roles import Role
from rewards_engine.services import consents, donors, privacy

blp = Blueprint("privacy", __name__, description="Consent, export, erasure and transparency")


@blp.route("/me/consents")
class MyConsentHistory(MethodView):
    @auth_required(Role.DONOR)
    @blp.response(200, ConsentRecordSchema(many=True))
    def get(self) -> Any:
        """Every grant and withdrawal of consent, with its version and time"""
        return consents.consent_history(context.runtime().db, context.donor().id)


@blp.route("/me/export")
class MyExport(MethodView):
    @auth_required(Role.DONOR)
    @blp.response(200, ExportSchema, content_type="application/json")
    def get(self) -> Any:
        """Everything the engine holds about you, as one JSON document"""
        runtime, donor_id = context.runtime(), context.donor().id
        chunks = privacy.export(runtime, donor_id)
        first = next(chunks)  # errors surface before the response starts
        return Response(
            stream_with_context(_chain(first, chunks)),
            mimetype="application/json",
            headers={
                "Content-Disposition": f"attachment; filename=my-data-{donor_id}.json",
                "Cache-Control": "no-store",
            },
        )


def _chain(first: str, rest: Any) -> Any:
    yield first
    yield from rest


@blp.route("/me/data-requests/<request_id>")
class DataRequest(MethodView):
    @blp.response(200, DataRequestSchema)
    @blp.alt_response(404, description="No such request (or not yours)")
    def get(self, request_id: str) -> Any:
        """A data request's state. With your token: any of your requests. Without a
        token (after an erasure your tokens are refused): an erasure request, by its id"""
        runtime = context.runtime()
        donor_id = None
        if request.headers.get("Authorization"):
            caller = authenticate()
            found = donors.find_by_account(runtime.db, caller.subject)
            if caller.role == Role.DONOR and found is not None:
                donor_id = found.id
        return privacy.get_request(runtime.db, request_id, donor_id)


@blp.route("/transparency")
class Transparency(MethodView):
    @blp.response(200, TransparencySchema)
    def get(self) -> Any:
        """The program in numbers, per quarter: clips received, accepted, rejected and
        deleted; donors; money paid out; erasure requests and how fast they were done;
        fraud flags opened, confirmed and dismissed (public; refreshed every 5 minutes)"""
        report = privacy.transparency(context.runtime())
        return report, 200, {"Cache-Control": "public, max-age=300"}


@blp.route("/admin/consent-versions")
class ConsentVersions(MethodView):
    @staff_action(policy.CONSENT_PUBLISH)
    @blp.arguments(ConsentPublishSchema())
    @blp.response(201, ConsentTextSchema)
    @blp.alt_response(409, description="That version exists (versions are never edited)")
    def post(self, body: dict[str, Any]) -> Any:
        """Publish a new consent text; donors must grant it before donating again"""
        return consents.publish_consent(context.runtime(), context.actor(), body)
