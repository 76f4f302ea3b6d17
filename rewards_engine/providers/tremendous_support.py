"""Support's two calls on a Tremendous order: resend a reward's delivery, reject an
order held for approval.

- ``POST /rewards/{id}/resend`` (developers.tremendous.com/reference/resend-reward):
  the reward's delivery is tried again; "only rewards with a previous delivery failure
  can be resent" (another is refused with a 4xx).
- ``POST /order_approvals/{id}/reject`` (developers.tremendous.com/changelog/
  update-new-endpoints-for-order-approvals-and-rejections): an order in ``PENDING
  APPROVAL`` is cancelled and its money returned; any other order is refused (4xx).
  Tremendous offers no cancel for an executed order: its card exists and is paid for.

Neither call's answer is trusted for the order's state: the caller reads the order
again (``GET /orders/{id}``) and records what it says.
"""

from __future__ import annotations

import requests

from rewards_engine.config import TremendousSettings


class CallFailed(Exception):
    """The provider refused (``code`` its HTTP status) or did not answer (``code`` 0)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _post(settings: TremendousSettings, path: str) -> None:
    try:
        answer = requests.post(
            f"{settings.base_url.rstrip('/')}{path}",
            headers={"Authorization": f"Bearer {settings.api_key}", "Accept": "application/json"},
            json={},
            timeout=settings.timeout_s,
        )
    except requests.RequestException as exc:
        raise CallFailed(0, f"{type(exc).__name__} calling POST {path}") from None
    if not 200 <= answer.status_code < 300:
        try:
            errors = answer.json().get("errors") or {}
            message = str(errors.get("message") or "no message")[:200]
        except (ValueError, AttributeError):
            message = "no message"
        raise CallFailed(answer.status_code, f"HTTP {answer.status_code}: {message}")


def resend_reward(settings: TremendousSettings, reward_id: str) -> None:
    _post(settings, f"/rewards/{reward_id}/resend")


def reject_order(settings: TremendousSettings, order_id: str) -> None:
    _post(settings, f"/order_approvals/{order_id}/reject")
