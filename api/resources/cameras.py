"""The camera registry: a donor's cameras, registered by the device cloud's
attestations (docs/cameras.md)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from api import context
from api.auth import auth_required, staff_action
from api.conventions import Blueprint
from api.schemas.cameras import (
    AttestationSchema,
    CameraHistorySchema,
    CameraSchema,
    RegisteredCameraSchema,
)
from api.schemas.common import PageArgs, page_of
from rewards_engine.domain import staff_policy as policy
from rewards_engine.domain.roles import Role
from rewards_engine.services import cameras

blp = Blueprint("cameras", __name__, description="Cameras registered to donors")

ANSWERS = {
    409: "The attestation was already used (attestation_replayed), or a newer one "
    "registers the camera (attestation_stale)",
    422: "The attestation is malformed, expired, badly signed, signed by an unknown key, "
    "or names another account (field: attestation)",
    503: "Camera registration is not configured (attestations_not_configured)",
}


def _register(body: dict[str, Any], via: str, account_id: str | None) -> Any:
    runtime = context.runtime()
    registered = cameras.register(
        runtime.db,
        runtime.clock,
        runtime.attestations,
        context.actor(),
        body["attestation"],
        via=via,
        account_id=account_id,
    )
    return registered, 200 if registered.outcome == "unchanged" else 201


def _answers(method: Any) -> Any:
    for status, description in ANSWERS.items():
        method = blp.alt_response(status, description=description)(method)
    return method


@blp.route("/me/cameras")
class MyCameras(MethodView):
    @auth_required(Role.DONOR)
    @blp.arguments(PageArgs(), location="query")
    @blp.response(200, page_of(CameraSchema))
    def get(self, args: dict[str, Any]) -> Any:
        """Your registered cameras, with your clips from each and its caps used (a
        camera's caps count its clips under every owner it had)"""
        runtime = context.runtime()
        return cameras.donor_cameras(runtime.db, runtime.clock.now(), context.donor().id, **args)

    @auth_required(Role.DONOR)
    @blp.arguments(AttestationSchema())
    @blp.response(201, RegisteredCameraSchema)
    @blp.alt_response(200, schema=RegisteredCameraSchema, description="The same attestation "
                      "again (a retry): nothing changed")  # fmt: skip
    @_answers
    def post(self, body: dict[str, Any]) -> Any:
        """Register a camera to you with the device cloud's attestation for your account;
        a camera registered to another account moves to you (and keeps its caps used).
        Safe to retry: the same attestation answers 200 unchanged"""
        return _register(body, "app", context.donor().account_id)


@blp.route("/intake/cameras")
class AttestedCameras(MethodView):
    @auth_required(Role.SERVICE)
    @blp.arguments(AttestationSchema())
    @blp.response(201, RegisteredCameraSchema)
    @blp.alt_response(200, schema=RegisteredCameraSchema, description="The same attestation "
                      "again (a retry): nothing changed")  # fmt: skip
    @blp.alt_response(404, description="No donor with the attested account")
    @_answers
    def post(self, body: dict[str, Any]) -> Any:
        """The device cloud registers a camera to the account its attestation names
        (a service token)"""
        return _register(body, "device_cloud", None)


@blp.route("/admin/donors/<int:donor_id>/cameras")
class DonorCameraHistory(MethodView):
    @staff_action(policy.DONORS_READ)
    @blp.arguments(PageArgs(), location="query")
    @blp.response(200, page_of(CameraHistorySchema))
    def get(self, args: dict[str, Any], donor_id: int) -> Any:
        """Every camera the donor holds or held, with each registration (moves between
        accounts, and by which attestation)"""
        return cameras.cameras_of_donor_for_support(context.runtime().db, donor_id, **args)
