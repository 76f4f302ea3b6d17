"""Per-request access to the runtime, the caller and their donor record."""

from __future__ import annotations

from flask import current_app, g, request

from rewards_engine.domain.actors import Actor
from rewards_engine.domain.languages import choose_language
from rewards_engine.runtime import Runtime
from rewards_engine.services.donors import DonorRef
from rewards_engine.tokens import Principal, TokenVerifier

EXTENSION = "rewards_engine"
TOKENS = "rewards_engine.tokens"


def runtime() -> Runtime:
    built: Runtime = current_app.extensions[EXTENSION]
    return built


def token_verifier() -> TokenVerifier:
    verifier: TokenVerifier = current_app.extensions[TOKENS]
    return verifier


def principal() -> Principal:
    caller: Principal = g.principal
    return caller


def donor() -> DonorRef:
    """The calling donor (set by ``auth_required(Role.DONOR)``)."""
    caller: DonorRef = g.donor
    return caller


def actor() -> Actor:
    """Who acts, as the ledger and the audit log record it. A donor is named by their
    donor id, never their account id: after an erasure the records it leaves behind
    link to no one."""
    caller = principal()
    name = f"donor:{g.donor.id}" if "donor" in g else caller.actor_id
    return Actor(id=name, role=caller.role.value, request_id=g.get("request_id"))


def language() -> str:
    """The language to write texts in: the calling donor's saved one, else the
    request's ``Accept-Language`` (a public call has only that); the answer says which
    (``Content-Language``)."""
    saved = g.donor.locale if "donor" in g else None
    chosen = choose_language(saved, request.headers.get("Accept-Language"))
    g.content_language = chosen
    return chosen
