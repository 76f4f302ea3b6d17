"""Liveness and readiness for load balancers and orchestrators (not versioned)."""

from __future__ import annotations

import logging
from typing import Any

import marshmallow as ma
from flask_smorest import Api

from api import context
from api.conventions import Blueprint
from rewards_engine.services import health

log = logging.getLogger(__name__)
blp = Blueprint("health", __name__, description="Liveness and readiness")


class HealthSchema(ma.Schema):
    status = ma.fields.String(required=True)
    checks = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String())


@blp.route("/healthz")
@blp.response(200, HealthSchema)
def healthz() -> Any:
    """The process is alive (it checks nothing else)"""
    return {"status": "ok"}


@blp.route("/readyz")
@blp.response(200, HealthSchema)
@blp.alt_response(503, schema=HealthSchema, description="The database or Redis is unreachable")
def readyz() -> Any:
    """Ready to serve: the database and Redis both answer"""
    checks = health.readiness(context.runtime())
    ready = all(value == "ok" for value in checks.values())
    if not ready:
        log.warning("not ready", extra={"fields": checks})
    return {"status": "ready" if ready else "unavailable", "checks": checks}, 200 if ready else 503


def register(api: Api) -> None:
    api.register_blueprint(blp)
