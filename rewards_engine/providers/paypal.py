"""PayPal Payouts through the deprecated ``paypalrestsdk``, with its known defects handled.

- ``Payout.find`` and ``PayoutItem.cancel`` build wrong URLs (the id twice): reads go
  through ``Api.get``/``Api.post`` with explicit paths;
- a server answering 401 for ever makes the SDK retry without end: one retry here;
- the SDK sets no HTTP timeout: every call has one;
- ``WebhookEvent.verify`` always fails with current pyOpenSSL: webhooks are verified
  with PayPal's verify-webhook-signature API;
- the SDK logs bearer tokens at DEBUG outside live mode: its logger is kept at INFO and
  every log line is scrubbed (``rewards_engine.logs``).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import paypalrestsdk
import requests
from paypalrestsdk import exceptions as sdk

from rewards_engine.config import PayPalSettings
from rewards_engine.domain.payouts import (
    PAYPAL_MAX_ITEMS,
    PAYPAL_STATUS,
    DestinationKind,
    ItemStatus,
)
from rewards_engine.providers.payouts import (
    DuplicateBatch,
    ItemOutcome,
    OutgoingBatch,
    ProviderRejected,
    ProviderUnavailable,
    Submitted,
)

log = logging.getLogger(__name__)
DUPLICATE_ERRORS = ("DUPLICATE_REQUEST_ID", "SENDER_BATCH_ID_ALREADY_USED", "BATCH_ALREADY_EXISTS")
FINAL_BATCH = ("SUCCESS", "DENIED", "CANCELED")


class BoundedApi(paypalrestsdk.Api):
    """The SDK's client with a timeout on every call and at most one retry on a 401."""

    def __init__(self, options: dict[str, Any], timeout_s: float) -> None:
        super().__init__(options)
        self.timeout = (min(5.0, timeout_s), timeout_s)  # to connect, to read

    def http_call(self, url: str, method: str, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self.timeout)
        return super().http_call(url, method, **kwargs)

    def request(
        self,
        url: str,
        method: str,
        body: Any = None,
        headers: Any = None,
        refresh_token: Any = None,
    ) -> Any:
        for attempt in (1, 2):
            http_headers = {
                **self.headers(refresh_token=refresh_token, headers=headers or {}),
                **(headers or {}),
            }
            try:
                return self.http_call(url, method, data=json.dumps(body), headers=http_headers)
            except sdk.BadRequest as error:
                return {"error": json.loads(error.content)}
            except sdk.UnauthorizedAccess:
                if attempt == 2 or not self.client_id:
                    raise
                self.token_hash = None  # the token expired: fetch one, once
        raise AssertionError("unreachable")


class PayPalProvider:
    name = "paypal"
    max_items = PAYPAL_MAX_ITEMS

    def __init__(self, settings: PayPalSettings) -> None:
        options: dict[str, Any] = {
            "mode": settings.mode,
            "client_id": settings.client_id,
            "client_secret": settings.client_secret,
        }
        if settings.endpoint:
            options["endpoint"] = settings.endpoint.rstrip("/")
        self.api = BoundedApi(options, settings.timeout_s)
        self.webhook_id = settings.webhook_id

    def submit(self, batch: OutgoingBatch) -> Submitted:
        payout = paypalrestsdk.Payout(
            {
                "sender_batch_header": {
                    "sender_batch_id": batch.sender_batch_id,
                    "email_subject": "Your video donation reward",
                },
                "items": [
                    {
                        "recipient_type": "EMAIL"
                        if item.destination_kind is DestinationKind.PAYPAL_EMAIL
                        else "PAYPAL_ID",
                        "receiver": item.destination,
                        "amount": {
                            "value": f"{item.amount_cents / 100:.2f}",
                            "currency": item.currency,
                        },
                        "sender_item_id": item.sender_item_id,
                        "note": "Thank you for donating clips",
                    }
                    for item in batch.items
                ],
            },
            api=self.api,
        )
        payout.request_id = batch.sender_batch_id  # a repeat is answered with the first reply
        try:
            created = payout.create()
        except (
            requests.RequestException,
            sdk.ConnectionError,
            sdk.ServerError,
            sdk.UnauthorizedAccess,
            sdk.ForbiddenAccess,
        ) as exc:
            raise ProviderUnavailable(
                f"PayPal did not answer clearly: {type(exc).__name__}"
            ) from exc
        except sdk.ResourceInvalid as exc:
            self._raise_rejection(_error_body(exc))
        if not created:
            self._raise_rejection(payout.error or {})
        return Submitted(payout.batch_header.payout_batch_id)

    @staticmethod
    def _raise_rejection(error: dict[str, Any]) -> None:
        name = str(error.get("name", ""))
        issues = {str(d.get("issue", "")) for d in error.get("details", []) or []}
        said = f"{name}: {error.get('message', '')} {' '.join(sorted(issues))}".strip()
        if name in DUPLICATE_ERRORS or issues & set(DUPLICATE_ERRORS):
            raise DuplicateBatch(f"PayPal: {said}")
        raise ProviderRejected(f"PayPal refused the batch: {said}")

    def poll(self, batch: OutgoingBatch) -> Submitted:
        """The batch's items and their statuses, page by page (``Api.get``, not the SDK's
        ``Payout.find``, whose URL repeats the id)."""
        assert batch.provider_batch_id is not None
        outcomes: list[ItemOutcome] = []
        page = 1
        while True:
            try:
                answer = self.api.get(
                    f"v1/payments/payouts/{batch.provider_batch_id}"
                    f"?page_size=1000&page={page}&total_required=true"
                )
            except (requests.RequestException, sdk.ConnectionError, sdk.ServerError) as exc:
                raise ProviderUnavailable(f"PayPal did not answer: {type(exc).__name__}") from exc
            outcomes.extend(_item_outcome(item) for item in answer.get("items", []))
            total_pages = int(answer.get("total_pages") or 1)
            if page >= total_pages:
                header = answer.get("batch_header", {})
                final = str(header.get("batch_status", "")).upper() in FINAL_BATCH
                return Submitted(batch.provider_batch_id, outcomes, complete=final)
            page += 1

    def cancel_unclaimed(self, provider_item_id: str) -> ItemOutcome:
        """Take back an unclaimed payment now rather than in 30 days (explicit path: the
        SDK's ``PayoutItem.cancel`` repeats the id in its URL)."""
        try:
            answer = self.api.post(f"v1/payments/payouts-item/{provider_item_id}/cancel", {})
        except (requests.RequestException, sdk.ConnectionError, sdk.ServerError) as exc:
            raise ProviderUnavailable(f"PayPal did not answer: {type(exc).__name__}") from exc
        if "error" in answer:
            error = answer["error"]
            raise ProviderRejected(f"PayPal refused: {error.get('name')}: {error.get('message')}")
        return _item_outcome(answer)

    def verify_webhook(self, headers: dict[str, str], event: dict[str, Any]) -> bool:
        """Ask PayPal whether this event and its signature are genuine."""
        if not self.webhook_id:
            return False
        try:
            answer = self.api.post(
                "v1/notifications/verify-webhook-signature",
                {
                    "auth_algo": headers.get("Paypal-Auth-Algo", ""),
                    "cert_url": headers.get("Paypal-Cert-Url", ""),
                    "transmission_id": headers.get("Paypal-Transmission-Id", ""),
                    "transmission_sig": headers.get("Paypal-Transmission-Sig", ""),
                    "transmission_time": headers.get("Paypal-Transmission-Time", ""),
                    "webhook_id": self.webhook_id,
                    "webhook_event": event,
                },
            )
        except (requests.RequestException, sdk.ConnectionError, sdk.ServerError) as exc:
            raise ProviderUnavailable("PayPal could not verify the webhook now") from exc
        return answer.get("verification_status") == "SUCCESS"


def _item_outcome(item: dict[str, Any]) -> ItemOutcome:
    status = str(item.get("transaction_status", "PENDING")).upper()
    return ItemOutcome(
        sender_item_id=item.get("payout_item", {}).get("sender_item_id", ""),
        status=PAYPAL_STATUS.get(status, ItemStatus.PENDING),
        provider_item_id=item.get("payout_item_id"),
        provider_status=status,
        error=(item.get("errors") or {}).get("name"),
    )


def _error_body(exc: sdk.ConnectionError) -> dict[str, Any]:
    try:
        return json.loads(exc.content)
    except (TypeError, ValueError):
        return {}
