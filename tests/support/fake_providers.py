"""Local HTTP servers that speak the PayPal Payouts and Stripe APIs.

The real SDKs are pointed at them (``paypalrestsdk.Api(endpoint=...)``, Stripe's
``base_addresses``): nothing of the SDKs is mocked. The servers keep state like the
providers do (tokens, batches, idempotent replays, item outcomes) and can be told to
misbehave: answer 5xx, hang, refuse tokens, report items unclaimed then returned.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from werkzeug.wrappers import Request, Response


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/json")


@dataclass
class FakePayPal:
    client_id: str = "paypal-client"
    client_secret: str = "paypal-secret"
    webhook_secret: str = "paypal-webhook-secret"
    outcome_for: Callable[[dict[str, Any]], str] = lambda item: "SUCCESS"
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_request_id: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)  # statuses for the next payout POSTs
    hang_next: int = 0  # payout POSTs that store the batch, then answer too late
    hang_s: float = 3.0  # longer than the client's timeout in the tests
    refuse_tokens: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def signature(self, event: dict[str, Any]) -> str:
        body = json.dumps(event, sort_keys=True).encode()
        return hmac.new(self.webhook_secret.encode(), body, hashlib.sha256).hexdigest()

    def set_status(self, sender_item_id: str, status: str) -> None:
        with self.lock:
            for batch in self.batches.values():
                for item in batch["items"]:
                    if item["payout_item"]["sender_item_id"] == sender_item_id:
                        item["transaction_status"] = status

    def __call__(self, environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        self.calls.append((request.method, request.path))
        return self.route(request)(environ, start_response)

    def route(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        if path == "/v1/oauth2/token":
            expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
            if self.refuse_tokens or request.headers.get("Authorization") != f"Basic {expected}":
                return _json({"error": "invalid_client"}, 401)
            return _json(
                {
                    "access_token": "A21AAtoken",
                    "token_type": "Bearer",
                    "expires_in": 32400,
                    "app_id": "APP-1",
                }
            )
        if request.headers.get("Authorization") != "Bearer A21AAtoken" or self.refuse_tokens:
            return _json({"name": "AUTHENTICATION_FAILURE"}, 401)
        if path == "/v1/payments/payouts" and request.method == "POST":
            return self.create(request)
        if path.startswith("/v1/payments/payouts/") and request.method == "GET":
            return self.find(path.rsplit("/", 1)[1], request)
        if path.startswith("/v1/payments/payouts-item/") and path.endswith("/cancel"):
            return self.cancel(path.split("/")[4])
        if path == "/v1/notifications/verify-webhook-signature":
            body = request.get_json()
            good = hmac.compare_digest(
                body.get("transmission_sig", ""), self.signature(body["webhook_event"])
            )
            return _json({"verification_status": "SUCCESS" if good else "FAILURE"})
        return _json({"name": "RESOURCE_NOT_FOUND"}, 404)

    def create(self, request: Request) -> Response:
        body = request.get_json()
        request_id = request.headers.get("PayPal-Request-Id", "")
        with self.lock:
            if self.fail_next:
                return _json({"name": "INTERNAL_SERVICE_ERROR"}, self.fail_next.pop(0))
            if request_id in self.by_request_id:  # PayPal: a repeat gets the first answer
                status, answer = self.by_request_id[request_id]
                return _json(answer, status)
            sender_batch_id = body["sender_batch_header"]["sender_batch_id"]
            if any(
                b["batch_header"]["sender_batch_header"]["sender_batch_id"] == sender_batch_id
                for b in self.batches.values()
            ):
                return _json(
                    {
                        "name": "USER_BUSINESS_ERROR",
                        "message": "Batch already exists",
                        "details": [{"issue": "SENDER_BATCH_ID_ALREADY_USED"}],
                    },
                    400,
                )
            if len(body["items"]) > 15_000:
                return _json({"name": "VALIDATION_ERROR", "message": "too many items"}, 400)
            batch_id = f"PB{next(self.ids):08d}"
            items = [
                {
                    "payout_item_id": f"PI{batch_id[2:]}{n:05d}",
                    "transaction_status": self.outcome_for(item),
                    "payout_item": {**item},
                    "payout_batch_id": batch_id,
                }
                for n, item in enumerate(body["items"])
            ]
            answer = {
                "batch_header": {
                    "payout_batch_id": batch_id,
                    "batch_status": "PENDING",
                    "sender_batch_header": body["sender_batch_header"],
                }
            }
            self.batches[batch_id] = {**answer, "items": items}
            self.by_request_id[request_id] = (201, answer)
            hang = self.hang_next > 0
            self.hang_next -= 1 if hang else 0
        if hang:
            time.sleep(self.hang_s)  # the batch exists; the client gave up on the answer
        return _json(answer, 201)

    def find(self, batch_id: str, request: Request) -> Response:
        with self.lock:
            batch = self.batches.get(batch_id)
            if batch is None:
                return _json({"name": "INVALID_RESOURCE_ID"}, 404)
            size = int(request.args.get("page_size", 1000))
            page = int(request.args.get("page", 1))
            items = batch["items"]
            pending = {"PENDING", "UNCLAIMED", "ONHOLD"}
            status = (
                "PROCESSING"
                if any(i["transaction_status"] in pending for i in items)
                else "SUCCESS"
            )
            return _json(
                {
                    "batch_header": {**batch["batch_header"], "batch_status": status},
                    "items": items[(page - 1) * size : page * size],
                    "total_items": len(items),
                    "total_pages": max(1, -(-len(items) // size)),
                }
            )

    def cancel(self, payout_item_id: str) -> Response:
        with self.lock:
            for batch in self.batches.values():
                for item in batch["items"]:
                    if item["payout_item_id"] != payout_item_id:
                        continue
                    if item["transaction_status"] != "UNCLAIMED":
                        return _json(
                            {"name": "ITEM_CANCELLATION_FAILED", "message": "not unclaimed"}, 400
                        )
                    item["transaction_status"] = "RETURNED"
                    return _json(item)
        return _json({"name": "INVALID_RESOURCE_ID"}, 404)

    def event(
        self, event_type: str, sender_item_id: str, status: str, event_id: str | None = None
    ) -> dict[str, Any]:
        return {
            "id": event_id or f"WH-{next(self.ids)}",
            "event_type": event_type,
            "resource": {
                "transaction_status": status,
                "payout_item": {"sender_item_id": sender_item_id},
            },
        }


@dataclass
class FakeStripe:
    api_key: str = "sk_test_fake"
    webhook_secret: str = "whsec_fake"
    transfers: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_key: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    fail_next: list[int] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def __call__(self, environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        self.calls.append((request.method, request.path))
        return self.route(request)(environ, start_response)

    def route(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self.error(401, "authentication_error", "bad key")
        if request.path == "/v1/transfers" and request.method == "POST":
            return self.create(request)
        if request.path == "/v1/transfers" and request.method == "GET":
            group = request.args.get("transfer_group")
            found = [t for t in self.transfers.values() if t["transfer_group"] == group]
            return _json(
                {"object": "list", "data": found, "has_more": False, "url": "/v1/transfers"}
            )
        return self.error(404, "invalid_request_error", "no such route")

    @staticmethod
    def error(status: int, kind: str, message: str, code: str | None = None) -> Response:
        return _json({"error": {"type": kind, "message": message, "code": code}}, status)

    def create(self, request: Request) -> Response:
        params = {k: v[0] for k, v in parse_qs(request.get_data(as_text=True)).items()}
        key = request.headers.get("Idempotency-Key", "")
        fingerprint = json.dumps(params, sort_keys=True)
        with self.lock:
            if self.fail_next:
                return self.error(self.fail_next.pop(0), "api_error", "try again")
            if key in self.by_key:
                seen, answer = self.by_key[key]
                if seen != fingerprint:
                    return self.error(
                        400, "idempotency_error", "keys reused", "idempotency_key_in_use"
                    )
                return _json(answer)
            if (
                not params.get("destination", "").startswith("acct_")
                or "closed" in params["destination"]
            ):
                return self.error(
                    400, "invalid_request_error", "No such destination", "account_invalid"
                )
            transfer = {
                "id": f"tr_{next(self.ids):010d}",
                "object": "transfer",
                "amount": int(params["amount"]),
                "currency": params["currency"],
                "destination": params["destination"],
                "transfer_group": params.get("transfer_group"),
                "metadata": {k[9:-1]: v for k, v in params.items() if k.startswith("metadata[")},
                "reversed": False,
            }
            self.transfers[transfer["id"]] = transfer
            self.by_key[key] = (fingerprint, transfer)
            return _json(transfer)

    def signed(
        self, event: dict[str, Any], secret: str | None = None, at: int | None = None
    ) -> tuple[bytes, str]:
        payload = json.dumps(event).encode()
        stamp = at or int(time.time())
        signature = hmac.new(
            (secret or self.webhook_secret).encode(), f"{stamp}.".encode() + payload, hashlib.sha256
        ).hexdigest()
        return payload, f"t={stamp},v1={signature}"
