"""Apple Push Notification service, HTTP/2 API with token-based authentication.

- Send: ``POST {APNS_ENDPOINT}/3/device/{token}`` over HTTP/2 with ``apns-topic`` (the
  bundle id), ``apns-push-type: alert``, ``apns-collapse-id`` (at most 64 bytes),
  ``apns-expiration`` (UNIX seconds) and ``apns-priority``
  (https://developer.apple.com/documentation/usernotifications/sending-notification-requests-to-apns,
  "Send a POST request to APNs"); the answer's ``apns-id`` header is the message id.
- Auth: ``authorization: bearer <JWT>``, ES256, header ``kid`` (the key id), claims
  ``iss`` (the team id) and ``iat``; refreshed no more than once every 20 minutes and
  no less than once every 60 (https://developer.apple.com/documentation/usernotifications/
  establishing-a-token-based-connection-to-apns, "Refresh your token regularly"): here
  every 50 minutes, or at once when APNs answers 403 ``ExpiredProviderToken``.
- Errors: a JSON ``reason`` (https://developer.apple.com/documentation/usernotifications/
  handling-notification-responses-from-apns), classified by ``domain.push.classify_apns``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import jwt

from rewards_engine.config import PushSettings
from rewards_engine.domain.push import Answer, Outcome, classify_apns, retry_after
from rewards_engine.providers.push.base import PushMessage

TOKEN_LIFETIME_S = 50 * 60
PROVIDER_TOKEN_REFUSED = {"ExpiredProviderToken", "InvalidProviderToken"}


class _NoDeviceUrls(logging.Filter):
    """httpx logs each request's URL at INFO; an APNs URL holds the device token,
    which is never logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "/3/device/" not in record.getMessage()


logging.getLogger("httpx").addFilter(_NoDeviceUrls())
# The HTTP/2 stack logs every header it encodes at DEBUG, the path (the device token)
# and the provider token among them: those loggers say nothing below INFO.
for _name in ("hpack", "h2", "httpcore"):
    if logging.getLogger(_name).level in (logging.NOTSET, logging.DEBUG):
        logging.getLogger(_name).setLevel(logging.INFO)


class ApnsSender:
    def __init__(self, settings: PushSettings) -> None:
        assert settings.apns_key_file and settings.apns_key_id and settings.apns_team_id
        self.key = Path(settings.apns_key_file).read_text()
        self.key_id, self.team_id = settings.apns_key_id, settings.apns_team_id
        self.topic = settings.apns_topic
        self.endpoint = settings.apns_endpoint
        # HTTP/2 only, as APNs requires: over TLS by ALPN, over cleartext (a local test
        # server) by prior knowledge.
        self.client = httpx.Client(http1=False, http2=True, timeout=settings.timeout_s)
        self._jwt: tuple[str, float] | None = None
        self._lock = threading.Lock()

    def _bearer(self, force: bool = False) -> str:
        with self._lock:
            now = time.time()
            if force or self._jwt is None or now - self._jwt[1] >= TOKEN_LIFETIME_S:
                token = jwt.encode(
                    {"iss": self.team_id, "iat": int(now)},
                    self.key,
                    algorithm="ES256",
                    headers={"kid": self.key_id},
                )
                self._jwt = (token, now)
            return self._jwt[0]

    def send(self, message: PushMessage) -> Answer:
        payload = {
            "aps": {
                "alert": {"title": message.title, "body": message.body},
                "sound": "default",
                "thread-id": message.collapse_key,
            },
            **message.data,
        }
        content = json.dumps(payload, separators=(",", ":")).encode()
        answer = self._post(message, content, force_auth=False)
        reason = _reason(answer)
        if answer.status_code == 403 and reason in PROVIDER_TOKEN_REFUSED:
            answer = self._post(message, content, force_auth=True)
            reason = _reason(answer)
        result = classify_apns(answer.status_code, reason, answer.headers.get("apns-id"))
        if answer.status_code == 403 and reason in PROVIDER_TOKEN_REFUSED:
            return Answer(Outcome.RETRY, error=result.error)
        if result.outcome is Outcome.RETRY:
            wait = retry_after(answer.headers.get("retry-after"), datetime.now(UTC))
            return Answer(Outcome.RETRY, error=result.error, retry_after_s=wait)
        return result

    def _post(self, message: PushMessage, content: bytes, *, force_auth: bool) -> httpx.Response:
        headers = {
            "authorization": f"bearer {self._bearer(force_auth)}",
            "apns-push-type": "alert",
            "apns-priority": "10",
            "apns-collapse-id": message.collapse_key,
            "apns-expiration": str(int(message.expires_at.timestamp())),
            "content-type": "application/json",
        }
        if self.topic:
            headers["apns-topic"] = self.topic
        return self.client.post(
            f"{self.endpoint}/3/device/{message.token}", content=content, headers=headers
        )

    def close(self) -> None:
        self.client.close()


def _reason(answer: httpx.Response) -> str | None:
    if answer.status_code == 200 or not answer.content:
        return None
    try:
        body = answer.json()
    except ValueError:
        return None
    return str(body.get("reason")) if isinstance(body, dict) and body.get("reason") else None
