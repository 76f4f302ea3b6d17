"""Tremendous webhooks: the signature check and what an event names, with no I/O.

Tremendous signs each webhook with the webhook's private key: the header
``Tremendous-Webhook-Signature: sha256=<hex>`` carries the HMAC-SHA256 of the raw
request body (developers.tremendous.com/docs/webhooks-1, "Verifying webhooks"). The
engine checks it over the bytes received, before parsing anything, in constant time;
with no secret configured every webhook is refused (a forged event then cannot be told
from a real one). The body (same page, "Webhook requests") is ``{"event", "uuid",
"created_utc", "payload": {"resource": {"id", "type"}, "meta"}}``; ``uuid`` identifies
the webhook itself, "to avoid executing the same webhook twice". ``payload.resource``
names the order or reward the event is about (its id and type only): the engine reads
that order from the API, so a late, repeated or out-of-order event applies the order's
state now, never the event's word for it.
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


def _refuse(message: str) -> InvalidInput:
    return InvalidInput(
        message, code="invalid_signature", field=SIGNATURE_HEADER, location="headers"
    )


def verify(secret: str | None, body: bytes, header: str | None) -> None:
    """Raise 422 ``invalid_signature`` naming the header unless ``header`` is the
    HMAC-SHA256 of ``body`` under ``secret``; no secret refuses every event."""
    if not secret:
        raise _refuse("Tremendous webhooks are not configured (TREMENDOUS_WEBHOOK_SECRET)")
    if not header:
        raise _refuse(f"the {SIGNATURE_HEADER} header is missing")
    if not hmac.compare_digest(signature_for(secret, body).encode(), header.strip().encode()):
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
