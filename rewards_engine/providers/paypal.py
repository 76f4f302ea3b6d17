"""PayPal Payouts through the deprecated ``paypalrestsdk``, with its known defects handled.

- ``Payout.find`` and ``PayoutItem.cancel`` build wrong URLs (the id twice): reads go
  through ``Api.get``/``Api.post`` with explicit paths;
- a server answering 401 for ever makes the SDK retry without end: one retry here;
- the SDK sets no HTTP timeout: every call has one;
- ``WebhookEvent.verify`` always fails with current pyOpenSSL: webhooks are verified
  with PayPal's verify-webhook-signature API;
- the SDK logs bearer tokens at DEBUG outside live mode: its logger is kept at INFO and
  every log line is scrubbed (``rewards_engine.logs``).

How answers to a batch create are read (issue 16):

- PayPal refuses a ``sender_batch_id`` used in the last 30 days with HTTP 400
  ``USER_BUSINESS_ERROR``, ``details[0].field`` ``SENDER_BATCH_ID`` and an issue such as
  "Duplicate batch request" (paypal/PayPal-Ruby-SDK#120), with a HATEOAS link to the
  original batch (https://developer.paypal.com/docs/api/payments.payouts-batch/v1/
  "sender_batch_id"): that is :class:`DuplicateBatch`, the batch exists;
- ``PayPal-Request-Id`` is not honoured on batch create (paypal/PayPal-Java-SDK#379):
  every resend meets the duplicate answer, never a replay of the first one;
- a 5xx may be retried with the same ``sender_batch_id`` (same page), as may a timeout,
  a reset connection, a refused token or a 429: :class:`ProviderUnavailable`;
- ``VALIDATION_ERROR`` (400) and 422 are documented refusals (the request failed its
  checks): :class:`ProviderRejected`; whether that returns money is the service's call;
- any other 4xx, or a 201 without a batch id (paypal/PayPal-Ruby-SDK#324), says neither
  made nor refused: :class:`ProviderUnclear`.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, NoReturn

import paypalrestsdk
import requests
from paypalrestsdk import exceptions as sdk

from rewards_engine.config import PayPalSettings
from rewards_engine.domain.payouts import (
    PAYPAL_MAX_ITEMS,
    PAYPAL_STATUS,
    RESEND_WINDOW,
    DestinationKind,
    ItemStatus,
)
from rewards_engine.providers.payouts import (
    BatchMismatch,
    DuplicateBatch,
    ItemOutcome,
    OutgoingBatch,
    ProviderRejected,
    ProviderUnavailable,
    ProviderUnclear,
    Submitted,
)

log = logging.getLogger(__name__)
# Older or other spellings of the duplicate answer, recognised too: reading one as a
# refusal is what paid donors twice.
DUPLICATE_ERRORS = ("DUPLICATE_REQUEST_ID", "SENDER_BATCH_ID_ALREADY_USED", "BATCH_ALREADY_EXISTS")
DUPLICATE_WORDS = ("duplicate", "already")
REFUSALS = {400: ("VALIDATION_ERROR",), 422: None}  # None: whatever the name
RETRYABLE_4XX = (408, 429)
FINAL_BATCH = ("SUCCESS", "DENIED", "CANCELED")
BATCH_LINK = re.compile(r"/v1/payments/payouts/([A-Za-z0-9_-]{1,64})(?:[/?#]|$)")


class BoundedApi(paypalrestsdk.Api):  # type: ignore[misc]  # paypalrestsdk is untyped: Api is Any
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
                return {"error": _error_body(error)}
            except sdk.UnauthorizedAccess:
                if attempt == 2 or not self.client_id:
                    raise
                self.token_hash = None  # the token expired: fetch one, once
        raise AssertionError("unreachable")


class PayPalProvider:
    name = "paypal"
    max_items = PAYPAL_MAX_ITEMS
    resend_window = RESEND_WINDOW  # it forgets a sender_batch_id after 30 days

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
        # Sent, although PayPal does not honour it on batch create (PayPal-Java-SDK#379):
        # the sender_batch_id is what makes a resend harmless.
        payout.request_id = batch.sender_batch_id
        try:
            created = payout.create()
        except (requests.RequestException, sdk.ServerError, sdk.UnauthorizedAccess) as exc:
            raise ProviderUnavailable(
                f"PayPal did not answer clearly: {type(exc).__name__}"
            ) from exc
        except sdk.ClientError as exc:
            status = _status(exc)
            if status in RETRYABLE_4XX:
                raise ProviderUnavailable(f"PayPal answered {status}: try again") from exc
            self._raise_for(status, _error_body(exc))
        except sdk.ConnectionError as exc:  # a redirect, an unknown status
            raise ProviderUnavailable(
                f"PayPal did not answer clearly: {type(exc).__name__}"
            ) from exc
        if not created:
            self._raise_for(400, payout.error or {})  # the API turns a 400 into .error
        header = payout.to_dict().get("batch_header") or {}
        if not header.get("payout_batch_id"):
            raise ProviderUnclear("PayPal answered success without a payout_batch_id")
        return Submitted(str(header["payout_batch_id"]))

    @staticmethod
    def _raise_for(status: int | None, error: dict[str, Any]) -> NoReturn:
        name = str(error.get("name", ""))
        details = [d for d in error.get("details", []) or [] if isinstance(d, dict)]
        issues = sorted(f"{d.get('field', '')}: {d.get('issue', '')}".strip(": ") for d in details)
        said = f"{status} {name}: {error.get('message', '')} {'; '.join(issues)}".strip()
        if _is_duplicate(name, details):
            found = _linked_batch(error)
            raise DuplicateBatch(f"PayPal says the batch exists: {said}", found)
        refusals = REFUSALS.get(status or 0, ())
        if refusals is None or name in (refusals or ()):
            raise ProviderRejected(f"PayPal refused the batch: {said}")
        raise ProviderUnclear(f"PayPal answered neither made nor refused: {said}")

    def poll(self, batch: OutgoingBatch) -> Submitted:
        """The batch's items and their statuses, page by page (``Api.get``, not the SDK's
        ``Payout.find``, whose URL repeats the id). The batch must carry our
        ``sender_batch_id``: an id typed wrong, or a link to another batch, settles
        nothing (:class:`BatchMismatch`)."""
        assert batch.provider_batch_id is not None
        outcomes: list[ItemOutcome] = []
        page = 1
        while True:
            try:
                answer = self.api.get(
                    f"v1/payments/payouts/{batch.provider_batch_id}"
                    f"?page_size=1000&page={page}&total_required=true"
                )
            except sdk.ResourceNotFound as exc:
                raise BatchMismatch(f"PayPal has no batch {batch.provider_batch_id}") from exc
            except (requests.RequestException, sdk.ConnectionError, ValueError) as exc:
                # ValueError: a 200 whose body is not JSON. Neither says anything of the batch.
                raise ProviderUnavailable(f"PayPal did not answer: {type(exc).__name__}") from exc
            if "error" in answer:  # a 4xx on a read (the client hands it back as data)
                raise ProviderUnavailable(f"PayPal refused the read: {answer['error']}")
            header = answer.get("batch_header") or {}
            theirs = (header.get("sender_batch_header") or {}).get("sender_batch_id")
            if theirs != batch.sender_batch_id:
                raise BatchMismatch(
                    f"PayPal batch {batch.provider_batch_id} is sender_batch_id {theirs!r},"
                    f" not {batch.sender_batch_id!r}"
                )
            outcomes.extend(_item_outcome(item) for item in answer.get("items", []))
            total_pages = int(answer.get("total_pages") or 1)
            if page >= total_pages:
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
            answer: dict[str, Any] = self.api.post(  # JSON
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
        except (requests.RequestException, sdk.ConnectionError, sdk.ServerError, ValueError) as exc:
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


def _is_duplicate(name: str, details: list[dict[str, Any]]) -> bool:
    """PayPal's answer to a reused sender_batch_id (400 USER_BUSINESS_ERROR, field
    SENDER_BATCH_ID), or one of its other spellings."""
    issues = {str(d.get("issue", "")) for d in details}
    if name in DUPLICATE_ERRORS or issues & set(DUPLICATE_ERRORS):
        return True
    on_batch_id = [
        d for d in details if str(d.get("field", "")).upper().endswith("SENDER_BATCH_ID")
    ]
    if not on_batch_id:
        return False
    if name == "USER_BUSINESS_ERROR":
        return True
    said = " ".join(str(d.get("issue", "")) for d in on_batch_id).lower()
    return any(word in said for word in DUPLICATE_WORDS)


def _linked_batch(error: dict[str, Any]) -> str | None:
    """The original batch's id, from the HATEOAS link the duplicate answer carries."""
    for link in error.get("links", []) or []:
        found = BATCH_LINK.search(str((link or {}).get("href", "")))
        if found:
            return found.group(1)
    return None


def _status(exc: sdk.ConnectionError) -> int | None:
    return getattr(getattr(exc, "response", None), "status_code", None)


def _error_body(exc: sdk.ConnectionError) -> dict[str, Any]:
    try:
        body: dict[str, Any] = json.loads(exc.content)
    except (TypeError, ValueError):
        return {}
    return body
