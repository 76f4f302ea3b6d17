"""Tremendous webhooks: the signature check and what an event names, with no I/O.

Tremendous signs each webhook with the webhook's private key (the ``private_key`` of
``POST /webhooks``'s answer: "Private key for the webhook", tremendous-rewards/
tremendous-python, models/list_webhooks200_response_webhooks_inner.py). What is signed
is shown by Tremendous's own receiver, tremendous-rewards/
tremendous-for-platforms-sample-app, controllers/webhooks_controller.rb: it reads the
``Tremendous-Webhook-Signature`` header, splits it at the first ``=`` into an algorithm
and a hex digest, and compares the digest with ``OpenSSL::HMAC.hexdigest(sha256,
private_key, JSON.parse(body).to_json)``: HMAC-SHA256 of the body re-serialised as
compact JSON, which is the body itself when Tremendous sends it compact. The engine
accepts either: the HMAC of the bytes received or of their compact JSON form
(:func:`compact_json`, Ruby's ``to_json``: no spaces, UTF-8 kept, ``/`` unescaped),
each compared in constant time: the raw body first; only if that fails is the body
parsed to check its compact form, and no event is read from a body that did not
verify. The header must be ``sha256=<hex>`` (the sample ignores the algorithm; the
engine refuses any other). With no secret configured every webhook is refused (a
forged event then cannot be told from a real one).

The body (developers.tremendous.com/docs/webhooks-1, "Webhook requests") is
``{"event", "uuid", "created_utc", "payload": {"resource": {"id", "type"}, "meta"}}``;
``uuid`` identifies the webhook itself, "to avoid executing the same webhook twice".
``payload.resource`` names the order or reward the event is about (its id and type
only): the engine reads that order from the API, so a late, repeated or out-of-order
event applies the order's state now, never the event's word for it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass

from rewards_engine.domain.errors import InvalidInput

SIGNATURE_HEADER = "Tremendous-Webhook-Signature"
_SCHEME = "sha256="


def signature_for(secret: str, body: bytes) -> str:
    """The header's value Tremendous sends for ``body`` (used by the test server too)."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"{_SCHEME}{digest}"


def compact_json(body: bytes) -> bytes | None:
    """``body`` re-serialised as Ruby's ``JSON.parse(body).to_json`` writes it (what
    Tremendous's sample receiver signs), or None when it is not JSON."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
        return None
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def _refuse(message: str) -> InvalidInput:
    return InvalidInput(
        message, code="invalid_signature", field=SIGNATURE_HEADER, location="headers"
    )


def verify(secret: str | None, body: bytes, header: str | None) -> None:
    """Raise 422 ``invalid_signature`` naming the header unless ``header`` is
    ``sha256=`` and the HMAC-SHA256 under ``secret`` of ``body`` or of its compact JSON
    form; no secret refuses every event."""
    if not secret:
        raise _refuse("Tremendous webhooks are not configured (TREMENDOUS_WEBHOOK_SECRET)")
    if not header:
        raise _refuse(f"the {SIGNATURE_HEADER} header is missing")
    given = header.strip()
    if not given.lower().startswith(_SCHEME):
        raise _refuse("the webhook signature does not verify")
    given = _SCHEME + given[len(_SCHEME) :].lower()  # hex digits in either case
    if hmac.compare_digest(signature_for(secret, body).encode(), given.encode()):
        return
    compact = compact_json(body)  # only after the raw body did not verify
    if compact is None or compact == body:
        raise _refuse("the webhook signature does not verify")
    if not hmac.compare_digest(signature_for(secret, compact).encode(), given.encode()):
        raise _refuse("the webhook signature does not verify")


@dataclass(frozen=True)
class Event:
    """What a verified event names: its id (processed once), its name, the resource."""

    event_id: str
    name: str
    resource_type: str
    resource_id: str


def parse(body: bytes) -> Event:
    """The event's id, name and resource, or 422 naming the missing field."""
    try:
        data = json.loads(body)
    except ValueError:
        raise InvalidInput("the body is not JSON", code="invalid_webhook") from None
    if not isinstance(data, dict):
        raise InvalidInput("the body is not a JSON object", code="invalid_webhook")
    payload = data.get("payload")
    payload = payload if isinstance(payload, dict) else {}
    resource = payload.get("resource")
    resource = resource if isinstance(resource, dict) else {}
    values = {
        "uuid": data.get("uuid"),
        "event": data.get("event"),
        "payload.resource.id": resource.get("id"),
    }
    for field, value in values.items():
        if not isinstance(value, str) or not value or len(value) > 128:
            raise InvalidInput(
                f"{field} is required (text of at most 128 characters)",
                code="invalid_webhook",
                field=field,
            )
    kind = resource.get("type")
    return Event(
        event_id=str(values["uuid"]),
        name=str(values["event"]).upper(),
        resource_type=str(kind).lower() if isinstance(kind, str) else "",
        resource_id=str(values["payload.resource.id"]),
    )
