"""Tremendous's REST API (https://developers.tremendous.com/reference), through
``requests``: the gift-card orders of issue 25.

- ``POST /orders`` with ``external_id`` (``<installation id>-<redemption id>``): "When
  set, external_id makes order idempotent. All requests that use the same external_id after the
  initial order creation, will result in a response that returns the data of the
  initially created order. The response will have a 201 response code"
  (developers.tremendous.com/reference/core-orders-create). So ordering again with the
  same external id is safe; the engine never orders under another id.
- ``GET /orders?external_id=...`` finds the order after an answer was lost, ``GET
  /orders/{id}`` reads its state (developers.tremendous.com/reference/obj-schema-orders).
- A LINK reward's link is in the answer that creates the order and never again
  ("Tremendous treats links as passwords ... a link cannot be retrieved after the
  moment that it is created", developers.tremendous.com/docs/link-delivery): when an
  executed, delivered reward is answered without one (a look-up after a lost answer),
  ``POST /rewards/{id}/generate_link`` makes a new one; failing that, the order is
  returned without it (the redemption stays ordered, the job asks again).
- Errors carry ``{"errors": {"message", "payload"}}``; 4xx other than 409 and 429 made
  no order (a refusal), anything else is no answer (:class:`OrderUnknown`).

A call is never retried here: the caller decides, after looking the order up. The
API key is sent as a bearer token and never logged; neither is a reward's link.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import requests

from rewards_engine.config import TremendousSettings
from rewards_engine.providers.gift_cards import (
    OrderRefused,
    OrderRequest,
    OrderUnknown,
    ProviderOrder,
)

REFUSALS = frozenset({400, 401, 402, 403, 404, 422})  # the provider made nothing


class TremendousOrders:
    """One client per process (``Runtime.gift_card_orders``): a pooled session."""

    name = "tremendous"

    def __init__(self, settings: TremendousSettings) -> None:
        assert settings.api_key is not None and settings.funding_source_id is not None
        self.base_url = settings.base_url.rstrip("/")
        self.funding_source_id = settings.funding_source_id
        self.timeout_s = settings.timeout_s
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {settings.api_key}"

    def place(self, order: OrderRequest) -> ProviderOrder:
        body = {
            "external_id": order.external_id,
            "payment": {"funding_source_id": self.funding_source_id},
            "reward": {
                "value": {"denomination": float(order.amount), "currency_code": order.currency},
                "products": [order.product_id],
                "delivery": {"method": "LINK"},
                "recipient": {"name": order.recipient_name},
            },
        }
        answer = self._call("POST", "/orders", json=body)
        return self._with_link(_order(answer.get("order")))

    def find(self, external_id: str) -> ProviderOrder | None:
        answer = self._call("GET", "/orders", params={"external_id": external_id})
        orders = answer.get("orders")
        if not isinstance(orders, list):
            raise OrderUnknown("the order list has no orders")
        matching = [
            o for o in orders if isinstance(o, dict) and o.get("external_id") == external_id
        ]
        return self._with_link(_order(matching[0])) if matching else None

    def fetch(self, order_id: str) -> ProviderOrder:
        return self._with_link(_order(self._call("GET", f"/orders/{order_id}").get("order")))

    def _with_link(self, order: ProviderOrder) -> ProviderOrder:
        """The order with a link for its reward: a new one generated when the answer
        has none (the order stands without it if that call fails)."""
        if order.link or order.status != "EXECUTED" or order.delivery_status != "SUCCEEDED":
            return order
        if not order.reward_id:
            return order
        try:
            answer = self._call("POST", f"/rewards/{order.reward_id}/generate_link")
        except (OrderUnknown, OrderRefused):
            return order
        reward = answer.get("reward")
        link = reward.get("link") if isinstance(reward, dict) else None
        return replace(order, link=link) if isinstance(link, str) and link else order

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self.session.request(
                method, self.base_url + path, timeout=self.timeout_s, **kwargs
            )
        except requests.RequestException as exc:  # timeout, reset, refused: no answer
            raise OrderUnknown(f"{type(exc).__name__} calling {method} {path}") from None
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code in REFUSALS and method == "POST":
            raise OrderRefused(response.status_code, _message(data))
        if not 200 <= response.status_code < 300 or not isinstance(data, dict):
            raise OrderUnknown(f"{method} {path} answered {response.status_code}: {_message(data)}")
        return data


def _message(data: Any) -> str:
    errors = data.get("errors") if isinstance(data, dict) else None
    message = errors.get("message") if isinstance(errors, dict) else None
    return str(message)[:200] if message else "no message"


def _order(raw: Any) -> ProviderOrder:
    """The order and its first reward (one reward an order: the API no longer makes
    multi-reward orders, developers.tremendous.com/changelog)."""
    if not isinstance(raw, dict) or not raw.get("id") or not raw.get("status"):
        raise OrderUnknown("an answer without an order id and status")
    rewards = raw.get("rewards") or [{}]
    reward = rewards[0] if isinstance(rewards[0], dict) else {}
    delivery = reward.get("delivery") or {}
    return ProviderOrder(
        order_id=str(raw["id"]),
        external_id=raw.get("external_id"),
        status=str(raw["status"]),
        reward_id=reward.get("id"),
        delivery_status=delivery.get("status"),
        link=delivery.get("link"),
    )
