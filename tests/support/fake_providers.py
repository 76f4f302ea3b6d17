"""Local HTTP servers that speak the PayPal Payouts and Stripe APIs.

The real SDKs are pointed at them (``paypalrestsdk.Api(endpoint=...)``, Stripe's
``base_addresses``): nothing of the SDKs is mocked. The servers keep state like the
providers do (tokens, batches, idempotent replays, item outcomes) and can be told to
misbehave: answer 5xx, hang, reset the connection, refuse tokens, answer any error,
report items unclaimed then returned.

They answer as the providers do, not as the engine expects (issue 16: a fake that
replayed ``PayPal-Request-Id`` hid a double payment). Each behaviour cites its source:
the provider's documentation or a public report. What is undocumented is a knob, and
the engine is tested under every plausible setting of it
(tests/integration/test_payout_ambiguity.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from werkzeug.wrappers import Request, Response

from rewards_engine.config import PayPalSettings


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/json")


def reset_connection(environ: Any) -> None:
    """Drop the client's connection, no answer sent: what a load balancer or a dying
    server does mid-request. SO_LINGER 0, then shut down: a close alone leaves the socket
    open while the server's file objects hold it, and the answer still went out."""
    sock = environ.get("werkzeug.socket")
    if sock is None:
        raise RuntimeError("the server does not expose its socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.shutdown(socket.SHUT_RDWR)


# PayPal's answer to a sender_batch_id used in the last 30 days: HTTP 400,
# USER_BUSINESS_ERROR, details field SENDER_BATCH_ID (paypal/PayPal-Ruby-SDK#120 shows it
# verbatim with the issue "Duplicate batch request"), "with a HATEOAS link to the original
# payout" (developer.paypal.com/docs/api/payments.payouts-batch/v1/, sender_batch_id).
DUPLICATE_ISSUES = ("Batch with given sender_batch_id already exists", "Duplicate batch request")


@dataclass
class FakePayPal:
    client_id: str = "paypal-client"
    client_secret: str = "paypal-secret"
    webhook_secret: str = "paypal-webhook-secret"
    outcome_for: Callable[[dict[str, Any]], str] = lambda item: "SUCCESS"
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    # PayPal-Request-Id headers seen on batch create: recorded, never replayed. PayPal does
    # not honour it there (paypal/PayPal-Java-SDK#379: the same request id twice made
    # two batches); the sender_batch_id is what it checks.
    request_ids: list[str] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)  # statuses for the next payout POSTs
    # Answers (status, body) for the next payout POSTs, before anything is made: an
    # undocumented 4xx, a validation error...
    answer_next: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    # Statuses for the next payout POSTs *after* the batch was made (a 5xx or a reset
    # connection, 0, once PayPal has applied it).
    fail_after_next: list[int] = field(default_factory=list)
    reset_next: int = 0  # payout POSTs whose connection is reset before anything is made
    hang_next: int = 0  # payout POSTs that store the batch, then answer too late
    hang_s: float = 3.0  # longer than the client's timeout in the tests
    refuse_tokens: bool = False
    duplicate_links: bool = True  # whether the duplicate answer links the original batch
    duplicate_issue: str = DUPLICATE_ISSUES[0]
    slow_create_s: float = 0.0  # a slow provider: every payout POST takes this long
    slow_create_started: threading.Event = field(default_factory=threading.Event)  # one began
    # Answers (status, body) for the next batch reads (GET): not documented, so the engine
    # must be safe under any, e.g. a passing 400 or 500 on a batch that exists.
    read_answer_next: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    url: str = ""  # where it is served (tests.support.processes.serving)

    def client_settings(
        self, timeout_s: float = 1.0, webhook_id: str | None = "WH-TEST"
    ) -> PayPalSettings:
        """The engine's PayPal settings pointed at this server."""
        return PayPalSettings(
            client_id=self.client_id,
            client_secret=self.client_secret,
            endpoint=self.url,
            webhook_id=webhook_id,
            timeout_s=timeout_s,
        )

    def signature(self, event: dict[str, Any]) -> str:
        """Stands for PayPal's certificate signature: the engine never checks it itself,
        it asks PayPal's verify-webhook-signature API (developer.paypal.com/docs/api/
        webhooks/v1/#verify-webhook-signature_post), which this server answers."""
        body = json.dumps(event, sort_keys=True).encode()
        return hmac.new(self.webhook_secret.encode(), body, hashlib.sha256).hexdigest()

    def set_status(self, sender_item_id: str, status: str) -> None:
        with self.lock:
            for batch in self.batches.values():
                for item in batch["items"]:
                    if item["payout_item"]["sender_item_id"] == sender_item_id:
                        item["transaction_status"] = status

    def payments(self) -> dict[str, int]:
        """How many payments PayPal holds to each receiver, whatever their batch."""
        counts: dict[str, int] = {}
        with self.lock:
            for batch in self.batches.values():
                for item in batch["items"]:
                    receiver = item["payout_item"]["receiver"]
                    counts[receiver] = counts.get(receiver, 0) + 1
        return counts

    def __call__(self, environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        self.calls.append((request.method, request.path))
        return self.route(request)(environ, start_response)

    def route(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        # Client credentials for a bearer token, 401 invalid_client otherwise
        # (https://developer.paypal.com/api/rest/authentication/).
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
        """Create batch payout (POST /v1/payments/payouts,
        https://developer.paypal.com/docs/api/payments.payouts-batch/v1/#payouts_post):
        201 with the batch header, PENDING, when the request passes the first checks."""
        body = request.get_json()
        slow = self.slow_create_s  # read once: a test may change it for the next calls
        if slow:
            self.slow_create_started.set()
            time.sleep(slow)  # fixed sleep: this is the slow answer the fake imitates
        with self.lock:
            self.request_ids.append(request.headers.get("PayPal-Request-Id", ""))
            if self.reset_next:
                self.reset_next -= 1
                reset_connection(request.environ)
                return _json({}, 500)  # never reaches the client
            if self.fail_next:  # "If you receive an HTTP 5nn status code, you can safely
                # retry the request with the same sender_batch_id" (same page)
                return _json({"name": "INTERNAL_SERVICE_ERROR"}, self.fail_next.pop(0))
            if self.answer_next:
                status, answer = self.answer_next.pop(0)
                return _json(answer, status)
            sender_batch_id = body["sender_batch_header"]["sender_batch_id"]
            response = self.make(request, body, sender_batch_id)
            hang = self.hang_next > 0
            self.hang_next -= 1 if hang else 0
            after = self.fail_after_next.pop(0) if self.fail_after_next else None
        if after == 0:
            reset_connection(request.environ)  # done; the answer is lost with the connection
        elif after is not None:
            return _json({"name": "INTERNAL_SERVICE_ERROR"}, after)
        if hang:
            time.sleep(self.hang_s)  # fixed sleep: the late answer imitated (client gave up)
        return response

    def make(self, request: Request, body: dict[str, Any], sender_batch_id: str) -> Response:
        for made in self.batches.values():
            header = made["batch_header"]
            if header["sender_batch_header"]["sender_batch_id"] == sender_batch_id:
                return self.duplicate(request, header["payout_batch_id"])
        if len(body["items"]) > 15_000:  # at most 15,000 items a call (same page)
            return _json(
                {
                    "name": "VALIDATION_ERROR",
                    "message": "Invalid request - see details",
                    "details": [{"field": "items", "location": "body", "issue": "Too many items"}],
                },
                400,
            )
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
            },
            "links": [self.link(request, batch_id)],
        }
        self.batches[batch_id] = {**answer, "items": items}
        return _json(answer, 201)

    def duplicate(self, request: Request, batch_id: str) -> Response:
        answer: dict[str, Any] = {
            "name": "USER_BUSINESS_ERROR",
            "message": "User business error.",
            "debug_id": f"{next(self.ids):013x}",
            "information_link": "https://developer.paypal.com/docs/api/payments.payouts-batch/#errors",
            "details": [
                {"field": "SENDER_BATCH_ID", "location": "body", "issue": self.duplicate_issue}
            ],
        }
        if self.duplicate_links:
            answer["links"] = [self.link(request, batch_id)]
        return _json(answer, 400)

    @staticmethod
    def link(request: Request, batch_id: str) -> dict[str, str]:
        return {
            "href": f"{request.host_url.rstrip('/')}/v1/payments/payouts/{batch_id}",
            "rel": "self",
            "method": "GET",
            "encType": "application/json",
        }

    def find(self, batch_id: str, request: Request) -> Response:
        """Show payout batch details, paged (page, page_size), 404 INVALID_RESOURCE_ID for
        an unknown id (https://developer.paypal.com/docs/api/payments.payouts-batch/v1/
        #payouts_get)."""
        with self.lock:
            if self.read_answer_next:  # undocumented: a passing error on a read
                status, answer = self.read_answer_next.pop(0)
                return _json(answer, status)
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
        """Cancel unclaimed payout item: only UNCLAIMED items (developer.paypal.com/docs/api/
        payments.payouts-batch/v1/#payouts-item_cancel, ITEM_INCORRECT_STATUS)."""
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
        """A PAYMENT.PAYOUTS-ITEM.* event: its resource is the payout item, with its
        payout_batch_id (developer.paypal.com/docs/payouts/standard/reference/webhooks/,
        "Show payout item details")."""
        with self.lock:
            found = next(
                (
                    item
                    for batch in self.batches.values()
                    for item in batch["items"]
                    if item["payout_item"]["sender_item_id"] == sender_item_id
                ),
                None,
            )
        resource: dict[str, Any] = {
            "transaction_status": status,
            "payout_item": {"sender_item_id": sender_item_id},
        }
        if found is not None:
            resource.update(
                payout_item_id=found["payout_item_id"], payout_batch_id=found["payout_batch_id"]
            )
        return {"id": event_id or f"WH-{next(self.ids)}", "event_type": event_type,
                "resource": resource}  # fmt: skip

    def batch_event(self, event_type: str, batch_id: str) -> dict[str, Any]:
        """A PAYMENT.PAYOUTSBATCH.* event: the batch header, no items (same page: "The
        PAYOUTSBATCH webhooks do not contain item-related information")."""
        with self.lock:
            header = dict(self.batches[batch_id]["batch_header"])
        return {"id": f"WH-{next(self.ids)}", "event_type": event_type,
                "resource": {"batch_header": header}}  # fmt: skip


@dataclass
class FakeStripe:
    api_key: str = "sk_test_fake"
    webhook_secret: str = "whsec_fake"
    transfers: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_key: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    fail_next: list[int] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)
    list_calls: list[dict[str, str]] = field(default_factory=list)  # query of each list
    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def __call__(self, environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        self.calls.append((request.method, request.path))
        return self.route(request)(environ, start_response)

    def route(self, request: Request) -> Response:
        # Secret key as a bearer token, 401 authentication_error otherwise
        # (https://docs.stripe.com/api/authentication, https://docs.stripe.com/api/errors).
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self.error(401, "authentication_error", "bad key")
        if request.path == "/v1/transfers" and request.method == "POST":
            return self.create(request)
        if request.path == "/v1/transfers" and request.method == "GET":
            return self.list(request)
        return self.error(404, "invalid_request_error", "no such route")

    def list(self, request: Request) -> Response:
        """List transfers (https://docs.stripe.com/api/transfers/list), paged as every
        Stripe list is (https://docs.stripe.com/api/pagination): newest first, at most
        ``limit`` objects (default 10, 1 to 100), ``has_more`` when more follow, the next
        page from ``starting_after=<last id>``."""
        try:
            limit = int(request.args.get("limit", 10))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 100:
            return self.error(400, "invalid_request_error", "limit must be 1 to 100",
                              "parameter_invalid_integer")  # fmt: skip
        group = request.args.get("transfer_group")
        with self.lock:
            self.list_calls.append(dict(request.args))
            found = [
                t for t in reversed(list(self.transfers.values()))
                if group is None or t["transfer_group"] == group
            ]  # fmt: skip
        after = request.args.get("starting_after")
        if after is not None:
            ids = [t["id"] for t in found]
            if after not in ids:
                return self.error(400, "invalid_request_error", f"No such transfer: '{after}'",
                                  "resource_missing")  # fmt: skip
            found = found[ids.index(after) + 1 :]
        page = found[:limit]
        return _json(
            {"object": "list", "data": page, "has_more": len(found) > limit,
             "url": "/v1/transfers"}
        )  # fmt: skip

    @staticmethod
    def error(status: int, kind: str, message: str, code: str | None = None) -> Response:
        return _json({"error": {"type": kind, "message": message, "code": code}}, status)

    def create(self, request: Request) -> Response:
        """Create a transfer (https://docs.stripe.com/api/transfers/create). The first
        answer to an Idempotency-Key is saved and replayed; the same key with other
        parameters is an idempotency_error (https://docs.stripe.com/api/idempotent_requests);
        a request that fails before executing (here the 5xx) saves nothing."""
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
        """A webhook payload and its Stripe-Signature header, ``t=<ts>,v1=<HMAC-SHA256 of
        "<ts>.<payload>">`` (https://docs.stripe.com/webhooks#verify-manually)."""
        payload = json.dumps(event).encode()
        stamp = at or int(time.time())
        signature = hmac.new(
            (secret or self.webhook_secret).encode(), f"{stamp}.".encode() + payload, hashlib.sha256
        ).hexdigest()
        return payload, f"t={stamp},v1={signature}"
