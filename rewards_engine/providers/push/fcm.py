"""Firebase Cloud Messaging, HTTP v1 API.

- Send: ``POST {FCM_ENDPOINT}/v1/projects/{project}/messages:send`` with a ``message``
  (https://firebase.google.com/docs/reference/fcm/rest/v1/projects.messages/send); the
  answer's ``name`` is the message id.
- Auth: an OAuth 2.0 access token for the ``firebase.messaging`` scope, minted from the
  service account (https://firebase.google.com/docs/cloud-messaging/auth-server,
  "Use credentials to mint access tokens") by google-auth, which posts a signed JWT to
  the ``token_uri`` of the service-account JSON and refreshes before expiry.
- Errors: ``google.rpc.Status`` with an ``FcmError`` ``errorCode``
  (https://firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode), classified by
  ``domain.push.classify_fcm``; ``Retry-After`` on 429 and 503
  (https://firebase.google.com/docs/cloud-messaging/scale-fcm#handling-retries).
- Collapsing: ``android.collapse_key`` and, for iOS apps on FCM, ``apns-collapse-id``
  (https://firebase.google.com/docs/cloud-messaging/concept-options#collapsible_and_non-collapsible_messages).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import google.auth.transport.requests
import httpx
import requests
from google.oauth2 import service_account

from rewards_engine.config import PushSettings
from rewards_engine.domain.push import Answer, Outcome, classify_fcm, retry_after
from rewards_engine.providers.push.base import PushMessage

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"


class FcmSender:
    def __init__(self, settings: PushSettings) -> None:
        assert settings.fcm_service_account_file
        self.credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]  # google-auth is untyped here
            settings.fcm_service_account_file, scopes=[SCOPE]
        )
        project = self.credentials.project_id
        if not project:
            raise ValueError("the FCM service account JSON names no project_id")
        self.url = f"{settings.fcm_endpoint}/v1/projects/{project}/messages:send"
        self.timeout = settings.timeout_s
        self.client = httpx.Client(timeout=settings.timeout_s)
        self._token_session = requests.Session()
        self._lock = threading.Lock()

    def _bearer(self, force: bool = False) -> str:
        with self._lock:
            if force or not self.credentials.valid:
                request = google.auth.transport.requests.Request(self._token_session)
                self.credentials.refresh(request)
            return str(self.credentials.token)

    def send(self, message: PushMessage) -> Answer:
        body = _message(message, datetime.now(UTC))
        answer = self._post(body, force_auth=False)
        if answer.status_code == 401:  # our access token was refused: mint a new one, once
            answer = self._post(body, force_auth=True)
        try:
            parsed: Any = answer.json()
        except ValueError:
            parsed = None
        result = classify_fcm(answer.status_code, parsed if isinstance(parsed, dict) else None)
        if answer.status_code == 401:
            return Answer(Outcome.RETRY, error=result.error)
        if result.outcome is Outcome.RETRY:
            wait = retry_after(answer.headers.get("retry-after"), datetime.now(UTC))
            return Answer(Outcome.RETRY, error=result.error, retry_after_s=wait)
        return result

    def _post(self, body: dict[str, Any], *, force_auth: bool) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self._bearer(force_auth)}"}
        return self.client.post(self.url, json=body, headers=headers)

    def close(self) -> None:
        self.client.close()
        self._token_session.close()


def _message(message: PushMessage, now: datetime) -> dict[str, Any]:
    ttl = max(int((message.expires_at - now).total_seconds()), 0)
    return {
        "message": {
            "token": message.token,
            "notification": {"title": message.title, "body": message.body},
            "data": message.data,
            "android": {"collapse_key": message.collapse_key, "ttl": f"{ttl}s"},
            "apns": {
                "headers": {
                    "apns-collapse-id": message.collapse_key,
                    "apns-expiration": str(int(message.expires_at.timestamp())),
                }
            },
        }
    }
