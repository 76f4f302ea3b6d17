"""Tremendous's product list and its webhooks, for the local Tremendous server.

``TremendousProducts`` answers ``GET /api/v2/products`` as
developers.tremendous.com/reference/list-products documents it: ``{"products": [...]}``,
each product with ``id``, ``name``, ``category``, ``currency_codes`` (ISO 4217),
``countries`` (objects with ``abbr``, ISO 3166 alpha-2) and ``skus`` (denomination
ranges; each sku names its ``currency_code``, developers.tremendous.com/changelog/
product-skus-now-include-currency-code). The bearer key is checked as every call's
(401 otherwise). Knob: ``fail_with`` answers that status instead (a provider outage).

``webhook`` builds an event as Tremendous sends it (developers.tremendous.com/docs/
webhooks-1): a JSON body with ``event`` (e.g. ``ORDERS.APPROVED``,
``REWARDS.DELIVERY.SUCCEEDED``), ``uuid`` (the event's id), ``created_utc`` and
``payload.resource`` ``{id, type}``, signed in ``Tremendous-Webhook-Signature:
sha256=<hex>``, the HMAC-SHA256 of the raw body with the webhook's private key. The
resource in the body is only its id: the engine fetches its state from the API.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request, Response

from rewards_engine.domain.tremendous_events import SIGNATURE_HEADER, signature_for


def product(
    product_id: str, countries: list[str], currencies: list[str], name: str = ""
) -> dict[str, Any]:
    """One product as the list shows it."""
    return {
        "id": product_id,
        "name": name or f"Product {product_id}",
        "category": "merchant_card",
        "currency_codes": currencies,
        "countries": [{"abbr": c} for c in countries],
        "skus": [{"min": 5, "max": 500, "currency_code": c} for c in currencies],
        "images": [],
    }


@dataclass
class TremendousProducts:
    """A WSGI app serving the product list alone (a test's own server), or a part that
    a fuller Tremendous server mounts by calling :meth:`answer`."""

    api_key: str = "tremendous-test-key"
    products: list[dict[str, Any]] = field(default_factory=list)
    fail_with: int | None = None
    calls: int = 0

    def answer(self, request: Request) -> Response | None:
        """The answer to ``request`` if it is the product list, else None."""
        if request.method != "GET" or request.path.rstrip("/") != "/api/v2/products":
            return None
        self.calls += 1
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _json({"errors": {"message": "Unauthorized", "payload": {}}}, 401)
        if self.fail_with is not None:
            return _json({"errors": {"message": "Internal error", "payload": {}}}, self.fail_with)
        return _json({"products": self.products})

    def __call__(self, environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        response = self.answer(request) or _json(
            {"errors": {"message": "Not found", "payload": {}}}, 404
        )
        return response(environ, start_response)


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/json")


def webhook(
    secret: str,
    event: str,
    resource_id: str,
    resource_type: str = "orders",
    *,
    event_id: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    """An event's body and headers, signed with ``secret`` as Tremendous signs them."""
    body = json.dumps(
        {
            "event": event,
            "uuid": event_id or str(uuid.uuid4()),
            "created_utc": "2026-12-05T15:00:00.000Z",
            "payload": {
                "resource": {"id": resource_id, "type": resource_type},
                "meta": {},
            },
        }
    ).encode()
    return body, {SIGNATURE_HEADER: signature_for(secret, body), "Content-Type": "application/json"}
