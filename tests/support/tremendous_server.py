"""A local HTTP server that speaks Tremendous's REST API (orders, funding, products).

The engine's client (rewards_engine/providers/tremendous.py) is pointed at it with
``TREMENDOUS_BASE_URL``; nothing is mocked. Like tests/support/fake_providers.py it
answers as the provider documents, not as the engine expects, and each behaviour
cites its page:

- [orders-create] https://developers.tremendous.com/reference/core-orders-create
- [order-schema] https://developers.tremendous.com/reference/obj-schema-orders
- [approvals] https://developers.tremendous.com/changelog/update-new-endpoints-for-order-approvals-and-rejections
- [link-delivery] https://developers.tremendous.com/docs/link-delivery
- [errors] the error bodies of the OpenAPI description (openapi.city/providers/
  tremendous/schemas): ``{"errors": {"message", "payload"}}``, 402, 422...

Where the docs are silent (which status an empty funding source gets, whether a list
by external id lags, a 5xx after the order was made), the answer is a knob, and the
engine is tested under each plausible setting (tests/integration/test_gift_card_orders.py).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request, Response

from rewards_engine.config import TremendousSettings
from tests.support.fake_providers import reset_connection


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/json")


def _error(message: str, status: int, payload: dict[str, Any] | None = None) -> Response:
    """[errors]: every error body is ``{"errors": {"message", "payload"}}``, the payload
    mirroring the request fields that caused it."""
    return _json({"errors": {"message": message, "payload": payload or {}}}, status)


@dataclass
class FakeTremendous:
    api_key: str = "TEST_tremendous-key"
    funding_source_id: str = "FS-BALANCE"
    balance: float = 1_000.0  # USD in the funding source; each order draws its value
    # product id -> currencies it is sold in and countries it is delivered to.
    products: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {
            "AMZN-US": {"name": "Amazon.com", "currencies": ["USD"], "countries": ["US"]},
            "TARGET-US": {"name": "Target", "currencies": ["USD"], "countries": ["US"]},
        }
    )
    unavailable: set[str] = field(default_factory=set)  # products no longer orderable
    # Knob: the status of the "insufficient funds" refusal. The OpenAPI description lists
    # 402 among the orders' error answers; an order that is made and then fails would be
    # status FAILED instead [order-schema] ("E.g. due to insufficient funds").
    insufficient_status: int = 402
    approval_required: bool = False  # orders wait in PENDING APPROVAL [order-schema]
    delivery_outcome: str = "SUCCEEDED"  # each reward's delivery.status once executed
    # Knob: the answer to a repeated external_id. Documented: 201 with the first order
    # [orders-create]; a 409 or 422 is the plausible other.
    duplicate_status: int = 201
    fail_next: list[int] = field(default_factory=list)  # 5xx before anything is made
    fail_after_next: list[int] = field(default_factory=list)  # after made; 0 = reset
    reset_next: int = 0  # connections reset before anything is made
    hang_next: int = 0  # orders made, then answered after hang_s (the client gave up)
    hang_s: float = 2.0
    read_fail_next: list[int] = field(default_factory=list)  # statuses for the next GETs
    # [link-delivery]: a LINK reward's link is in the answer that creates the order and
    # never again: "Tremendous treats links as passwords ... a link cannot be retrieved
    # after the moment that it is created"; POST /rewards/{id}/generate_link makes a new
    # one. Knob (undocumented): whether the 201 answer to a repeated external_id carries
    # the first order's link (hashed links say it cannot: False).
    link_on_replay: bool = False
    # Knob: "It also allows for retrieving by external_id instead of id only"
    # [order-schema] does not say how. False: the list ignores ?external_id= and answers
    # only the newest orders, none of them the one asked for (the engine must then rely
    # on ordering again with the same external id, which answers the first order).
    list_filters: bool = True
    link_fail_next: list[int] = field(default_factory=list)  # for the next generate_link
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    url: str = ""

    def client_settings(self, timeout_s: float = 1.0) -> TremendousSettings:
        return TremendousSettings(
            api_key=self.api_key,
            base_url=self.url + "/api/v2",
            funding_source_id=self.funding_source_id,
            webhook_secret="tremendous-webhook-secret",
            timeout_s=timeout_s,
            retry_after_s=60,
        )

    def orders_for(self, external_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [o for o in self.orders.values() if o.get("external_id") == external_id]

    def set_delivery(self, order_id: str, status: str) -> None:
        with self.lock:
            self.orders[order_id]["rewards"][0]["delivery"]["status"] = status

    def __call__(self, environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        self.calls.append((request.method, request.path))
        return self.route(request)(environ, start_response)

    def route(self, request: Request) -> Response:
        path = request.path.rstrip("/").removeprefix("/api/v2")
        # Bearer API key on every call (developers.tremendous.com/reference/authentication)
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error("Unauthorized: invalid API key", 401)
        reading = request.method == "GET" and path in {"/orders", "/products", "/funding_sources"}
        if reading and self.read_fail_next:
            return _error("Internal error", self.read_fail_next.pop(0))
        if path == "/orders" and request.method == "POST":
            return self.create(request)
        if path == "/orders" and request.method == "GET":
            return self.list_orders(request)
        if path.startswith("/orders/") and request.method == "GET":
            if self.read_fail_next:
                return _error("Internal error", self.read_fail_next.pop(0))
            order = self.orders.get(path.split("/")[2])
            return _json({"order": self.shown(order)}) if order else _error("Not found", 404)
        if path.startswith("/rewards/") and path.endswith("/generate_link"):
            return self.generate_link(path.split("/")[2])
        if path.startswith("/rewards/") and request.method == "GET":
            return self.reward(path.split("/")[2])
        if path.startswith("/order_approvals/") and request.method == "POST":
            return self.decide(path.split("/")[2], path.split("/")[3])
        if path.startswith("/rewards/") and path.endswith("/resend"):
            return self.resend(path.split("/")[2])
        if path == "/products":
            return _json({"products": self.product_list()})
        if path == "/funding_sources":
            return _json(
                {
                    "funding_sources": [
                        {
                            "id": self.funding_source_id,
                            "method": "balance",
                            "meta": {"available_cents": int(self.balance * 100)},
                        }
                    ]
                }
            )
        return _error("Resource not found", 404)

    def create(self, request: Request) -> Response:
        """POST /api/v2/orders [orders-create]: 201 with the order; the same external_id
        again answers the first order (201), making nothing."""
        body = request.get_json(silent=True) or {}
        with self.lock:
            if self.reset_next:
                self.reset_next -= 1
                reset_connection(request.environ)
                return _json({}, 500)  # never reaches the client
            if self.fail_next:
                return _error("Internal server error", self.fail_next.pop(0))
            response = self.make(body)
            hang = self.hang_next > 0
            self.hang_next -= 1 if hang else 0
            after = self.fail_after_next.pop(0) if self.fail_after_next else None
        if after == 0:
            reset_connection(request.environ)  # made; the answer lost with the connection
        elif after is not None:
            return _error("Internal server error", after)
        if hang:
            time.sleep(self.hang_s)  # fixed sleep: the late answer imitated (client gave up)
        return response

    def make(self, body: dict[str, Any]) -> Response:
        external_id = body.get("external_id")
        for order in self.orders.values():
            if external_id and order["external_id"] == external_id:
                if self.duplicate_status == 201:
                    return _json({"order": self.shown(order, link=self.link_on_replay)}, 201)
                return _error("external_id already used", self.duplicate_status)
        reward = body.get("reward") or {}
        products = reward.get("products") or []
        value = reward.get("value") or {}
        # Validation [errors] 422: the payload names the offending field.
        if not products or products[0] not in self.products:
            return _error(
                "Order failed: validation failure", 422, {"reward": {"products": "invalid"}}
            )
        if products[0] in self.unavailable:
            return _error(
                "Order failed: product unavailable",
                422,
                {"reward": {"products": "At least one valid product required"}},
            )
        payment = body.get("payment") or {}
        if payment.get("funding_source_id") != self.funding_source_id:
            return _error("Order failed: validation failure", 422,
                          {"payment": {"funding_source_id": "invalid"}})  # fmt: skip
        amount = float(value.get("denomination") or 0)
        if amount <= 0:
            return _error("Order failed: validation failure", 422,
                          {"reward": {"value": {"denomination": "invalid"}}})  # fmt: skip
        if amount > self.balance:
            return _error("Insufficient funds in the funding source", self.insufficient_status)
        self.balance -= amount
        number = next(self.ids)
        order_id, reward_id = f"ORD{number:09d}", f"RWD{number:09d}"
        held = self.approval_required
        order = {
            "id": order_id,
            "external_id": external_id,
            "created_at": "2026-12-05T15:00:00Z",
            "status": "PENDING APPROVAL" if held else "EXECUTED",
            "payment": {"subtotal": amount, "total": amount, "fees": 0.0},
            "rewards": [
                {
                    "id": reward_id,
                    "order_id": order_id,
                    "value": value,
                    "recipient": reward.get("recipient") or {},
                    "delivery": {
                        "method": (reward.get("delivery") or {}).get("method", "EMAIL"),
                        "status": "SCHEDULED" if held else self.delivery_outcome,
                        "link": f"https://testflight.tremendous.com/rewards/payout/{reward_id}z",
                    },
                }
            ],
        }
        self.orders[order_id] = order
        return _json({"order": self.shown(order, link=not held)}, 201)

    def list_orders(self, request: Request) -> Response:
        """GET /api/v2/orders?external_id=... [order-schema]: "It also allows for
        retrieving by external_id instead of id only"."""
        external_id = request.args.get("external_id")
        if not self.list_filters:
            return _json({"orders": [], "total_count": len(self.orders)})
        with self.lock:
            found = [o for o in self.orders.values()
                     if external_id is None or o["external_id"] == external_id]  # fmt: skip
        return _json({"orders": [self.shown(o) for o in found], "total_count": len(found)})

    @staticmethod
    def shown(order: dict[str, Any], *, link: bool = False) -> dict[str, Any]:
        """An order as answered: its reward's link only in the answer that created it
        [link-delivery]."""
        if link:
            return order
        reward = order["rewards"][0]
        delivery = {k: v for k, v in reward["delivery"].items() if k != "link"}
        return {**order, "rewards": [{**reward, "delivery": delivery}]}

    def reward(self, reward_id: str) -> Response:
        """GET /api/v2/rewards/{id}: the reward without its link ("Requests to GET
        /reward/{reward_id} will not contain the link" [link-delivery])."""
        with self.lock:
            for order in self.orders.values():
                if order["rewards"][0]["id"] == reward_id:
                    return _json({"reward": self.shown(order)["rewards"][0]})
        return _error("Resource not found", 404)

    def generate_link(self, reward_id: str) -> Response:
        """POST /api/v2/rewards/{id}/generate_link, "Generate a reward URL": a new link
        for an executed reward [link-delivery]; ``{"reward": {"id", "link"}}``."""
        with self.lock:
            if self.link_fail_next:
                return _error("Internal error", self.link_fail_next.pop(0))
            for order in self.orders.values():
                reward = order["rewards"][0]
                if reward["id"] == reward_id:
                    if order["status"] != "EXECUTED":
                        return _error("Reward not executed", 422)
                    link = f"https://testflight.tremendous.com/rewards/payout/{reward_id}-{next(self.ids)}"
                    reward["delivery"]["link"] = link
                    return _json({"reward": {"id": reward_id, "link": link}})
        return _error("Resource not found", 404)

    def decide(self, order_id: str, decision: str) -> Response:
        """POST /api/v2/order_approvals/{id}/approve | reject [approvals]."""
        with self.lock:
            order = self.orders.get(order_id)
            if order is None:
                return _error("Resource not found", 404)
            if order["status"] != "PENDING APPROVAL":
                return _error("Order is not pending approval", 422)
            delivery = order["rewards"][0]["delivery"]
            if decision == "approve":
                order["status"], delivery["status"] = "EXECUTED", self.delivery_outcome
            else:
                order["status"] = "CANCELED"
                self.balance += order["payment"]["total"]
            return _json({"order": self.shown(order)})

    def resend(self, reward_id: str) -> Response:
        """POST /api/v2/rewards/{id}/resend: delivery tried again. "Only rewards with a
        previous delivery failure can be resent" (developers.tremendous.com/reference/
        resend-reward): another is refused with a 422 (the status is not documented)."""
        with self.lock:
            for order in self.orders.values():
                reward = order["rewards"][0]
                if reward["id"] == reward_id:
                    if reward["delivery"]["status"] != "FAILED":
                        return _error("Only rewards with a delivery failure can be resent", 422)
                    reward["delivery"]["status"] = "SUCCEEDED"
                    return _json({})
        return _error("Resource not found", 404)

    def product_list(self) -> list[dict[str, Any]]:
        """GET /api/v2/products: id, name, currencies, countries (minimal)."""
        return [
            {
                "id": product_id,
                "name": spec["name"],
                "currency_codes": spec["currencies"],
                "countries": [{"abbr": c} for c in spec["countries"]],
            }
            for product_id, spec in self.products.items()
            if product_id not in self.unavailable
        ]
