"""Local stand-ins for the push providers, run by the tests on loopback: an FCM HTTP v1
server with its OAuth 2.0 token endpoint, and an APNs HTTP/2 server (cleartext h2 with
prior knowledge). The engine reaches them with its real clients (google-auth, httpx),
configured by FCM_ENDPOINT / the service account's token_uri and APNS_ENDPOINT.

Each behaviour imitated cites the provider's documentation:

FCM (https://firebase.google.com/docs/reference/fcm/rest/v1/projects.messages/send):
- ``POST /v1/projects/{project}/messages:send`` with ``Authorization: Bearer`` (an
  OAuth 2.0 access token for the firebase.messaging scope) and ``{"message": ...}``;
  success is 200 with the message's ``name``
  (https://firebase.google.com/docs/cloud-messaging/send-message, "Send messages").
- Errors are ``google.rpc.Status`` with an ``FcmError`` detail whose ``errorCode`` is
  UNREGISTERED (404), INVALID_ARGUMENT (400), QUOTA_EXCEEDED (429), UNAVAILABLE (503),
  INTERNAL (500) (https://firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode);
  429 and 503 may carry ``Retry-After``
  (https://firebase.google.com/docs/cloud-messaging/scale-fcm#handling-retries).
- A missing or unknown access token is 401 UNAUTHENTICATED (same ErrorCode page,
  THIRD_PARTY_AUTH_ERROR/UNAUTHENTICATED).
- The token endpoint takes ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer``
  and an ``assertion`` JWT signed (RS256) by the service account's key with ``iss`` the
  client e-mail, ``aud`` https://oauth2.googleapis.com/token, ``scope``, ``iat`` and
  ``exp``, and answers ``access_token``, ``expires_in``, ``token_type``
  (https://developers.google.com/identity/protocols/oauth2/service-account#httprest,
  "Preparing to make an authorized API call" and "Handling the response").

APNs (https://developer.apple.com/documentation/usernotifications/sending-notification-requests-to-apns):
- HTTP/2 only; ``POST /3/device/{token}`` with ``authorization: bearer <JWT>``,
  ``apns-topic``, ``apns-push-type``, ``apns-collapse-id``, ``apns-expiration``; success
  is 200 with an ``apns-id`` header ("Send a POST request to APNs").
- The provider token is an ES256 JWT with ``kid`` in its header and ``iss`` (team id)
  and ``iat`` claims; a bad one is 403 InvalidProviderToken, one older than an hour
  403 ExpiredProviderToken (https://developer.apple.com/documentation/usernotifications/
  establishing-a-token-based-connection-to-apns).
- Errors are a JSON ``{"reason": ...}``: 400 BadDeviceToken, 410 Unregistered (with a
  ``timestamp``), 429 TooManyRequests, 500 InternalServerError, 503 ServiceUnavailable
  (https://developer.apple.com/documentation/usernotifications/handling-notification-responses-from-apns).
"""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.events
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from werkzeug.wrappers import Request, Response

from tests.support.processes import serving

PROJECT = "rewards-push-test"
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"


@dataclass(frozen=True)
class Reply:
    """A scripted answer: status, JSON body (None: empty), headers."""

    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


def fcm_error(status: int, code: str, message: str, **headers: str) -> Reply:
    """An FCM error as the ErrorCode page shows it (google.rpc.Status + FcmError)."""
    status_names = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED",
                    500: "INTERNAL", 503: "UNAVAILABLE", 403: "PERMISSION_DENIED"}  # fmt: skip
    body = {
        "error": {
            "code": status,
            "message": message,
            "status": status_names.get(status, "UNKNOWN"),
            "details": [
                {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}
            ],
        }
    }
    return Reply(status, body, headers)


def apns_error(status: int, reason: str, **headers: str) -> Reply:
    body: dict[str, Any] = {"reason": reason}
    if status == 410:
        body["timestamp"] = int(time.time() * 1000)
    return Reply(status, body, headers)


@dataclass
class Received:
    token: str
    collapse_key: str | None
    title: str
    body: str
    data: dict[str, Any]
    headers: dict[str, str]
    at: float


class _Scripted:
    """Answers per device token, in order; success when none is left."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self._script: dict[str, list[Reply]] = {}
        self.hold = threading.Event()
        self.hold.set()  # cleared: answers wait until it is set again
        self.holding = threading.Event()  # set while a request waits on ``hold``

    def script(self, token: str, *replies: Reply) -> None:
        with self.lock:
            self._script.setdefault(token, []).extend(replies)

    def _next(self, token: str) -> Reply | None:
        with self.lock:
            queue = self._script.get(token)
            return queue.pop(0) if queue else None

    def _record(self, item: Received) -> None:
        with self.lock:
            self.received.append(item)

    def to(self, token: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.token == token]


class FcmServer(_Scripted):
    def __init__(self, key: rsa.RSAPrivateKey) -> None:
        super().__init__()
        self.public_key = key.public_key()
        self.base = ""
        self.access_tokens: set[str] = set()
        self.tokens_minted = 0

    @property
    def token_uri(self) -> str:
        return f"{self.base}/token"

    def __call__(self, environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        if request.path == "/token" and request.method == "POST":
            response = self._token(request)
        elif request.path == f"/v1/projects/{PROJECT}/messages:send" and request.method == "POST":
            response = self._send(request)
        else:
            response = Response("not found", status=404)
        return response(environ, start_response)

    def _token(self, request: Request) -> Response:
        if request.form.get("grant_type") != JWT_BEARER:
            return _json(400, {"error": "unsupported_grant_type"})
        try:
            claims = jwt.decode(
                request.form.get("assertion", ""),
                self.public_key,
                algorithms=["RS256"],
                # The documented aud is Google's token URI whatever endpoint receives it
                # (service-account#httprest, "Forming the JWT claim set").
                audience=GOOGLE_TOKEN_AUDIENCE,
            )
        except jwt.PyJWTError as exc:
            return _json(400, {"error": "invalid_grant", "error_description": str(exc)})
        if FCM_SCOPE not in str(claims.get("scope", "")).split():
            return _json(400, {"error": "invalid_scope"})
        access = secrets.token_urlsafe(24)
        with self.lock:
            self.access_tokens.add(access)
            self.tokens_minted += 1
        return _json(200, {"access_token": access, "expires_in": 3600, "token_type": "Bearer"})

    def _send(self, request: Request) -> Response:
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        with self.lock:
            known = bearer in self.access_tokens
        if not known:
            return _json(401, fcm_error(401, "THIRD_PARTY_AUTH_ERROR", "Request had "
                                        "invalid authentication credentials.").body)  # fmt: skip
        message = (request.get_json(silent=True) or {}).get("message") or {}
        token = str(message.get("token", ""))
        notification = message.get("notification") or {}
        self._record(
            Received(
                token=token,
                collapse_key=(message.get("android") or {}).get("collapse_key"),
                title=notification.get("title", ""),
                body=notification.get("body", ""),
                data=message.get("data") or {},
                headers=dict(request.headers),
                at=time.monotonic(),
            )
        )
        self.holding.set()
        self.hold.wait(60)
        self.holding.clear()
        reply = self._next(token) or Reply(
            200, {"name": f"projects/{PROJECT}/messages/{uuid.uuid4().hex}"}
        )
        return _json(reply.status, reply.body, reply.headers)


def _json(
    status: int, body: dict[str, Any] | None, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        json.dumps(body) if body is not None else "",
        status=status,
        headers=headers or {},
        content_type="application/json; charset=UTF-8",
    )


def write_service_account(directory: Path, key: rsa.RSAPrivateKey, token_uri: str) -> Path:
    """A service-account JSON as the Firebase console downloads it, its ``token_uri``
    pointing at the local token endpoint."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": "test-key-1",
        "private_key": pem,
        "client_email": f"push@{PROJECT}.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": token_uri,
    }
    path = directory / "fcm-service-account.json"
    path.write_text(json.dumps(info))
    return path


@contextlib.contextmanager
def fcm_server(directory: Path) -> Iterator[tuple[FcmServer, Path]]:
    """A running FCM server and a service-account file for it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    server = FcmServer(key)
    with serving(server) as base:
        server.base = base
        try:
            yield server, write_service_account(directory, key, server.token_uri)
        finally:
            server.hold.set()


APNS_TEAM = "TEAM123456"
APNS_KEY_ID = "KEY1234567"
APNS_TOPIC = "com.example.rewards"


class ApnsServer(_Scripted):
    """An HTTP/2 server speaking APNs' provider API, cleartext, a thread per connection."""

    def __init__(self, public_key: ec.EllipticCurvePublicKey) -> None:
        super().__init__()
        self.public_key = public_key
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.provider_tokens: set[str] = set()
        self.connections = 0
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._stop.set()
        self.hold.set()
        self.sock.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        h2conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        )
        h2conn.initiate_connection()
        conn.sendall(h2conn.data_to_send())
        streams: dict[int, tuple[dict[str, str], bytearray]] = {}
        with conn:
            while True:
                try:
                    data = conn.recv(65535)
                except OSError:
                    return
                if not data:
                    return
                for event in h2conn.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        streams[event.stream_id] = (dict(event.headers), bytearray())  # type: ignore[arg-type]
                    elif isinstance(event, h2.events.DataReceived):
                        streams[event.stream_id][1].extend(event.data)
                        h2conn.acknowledge_received_data(
                            event.flow_controlled_length, event.stream_id
                        )
                    elif isinstance(event, h2.events.StreamEnded):
                        headers, body = streams.pop(event.stream_id)
                        reply = self._answer(headers, bytes(body))
                        out = [(":status", str(reply.status)), ("apns-id", str(uuid.uuid4()))]
                        out += list(reply.headers.items())
                        content = json.dumps(reply.body).encode() if reply.body else b""
                        h2conn.send_headers(event.stream_id, out, end_stream=not content)
                        if content:
                            h2conn.send_data(event.stream_id, content, end_stream=True)
                conn.sendall(h2conn.data_to_send())

    def _answer(self, headers: dict[str, str], body: bytes) -> Reply:
        path = headers.get(":path", "")
        if headers.get(":method") != "POST" or not path.startswith("/3/device/"):
            return Reply(404, {"reason": "BadPath"})
        token = path.removeprefix("/3/device/")
        bearer = headers.get("authorization", "").removeprefix("bearer ")
        try:
            header = jwt.get_unverified_header(bearer)
            claims = jwt.decode(bearer, self.public_key, algorithms=["ES256"])
        except jwt.PyJWTError:
            return apns_error(403, "InvalidProviderToken")
        if header.get("kid") != APNS_KEY_ID or claims.get("iss") != APNS_TEAM:
            return apns_error(403, "InvalidProviderToken")
        if time.time() - float(claims.get("iat", 0)) > 3600:
            return apns_error(403, "ExpiredProviderToken")
        if headers.get("apns-topic") != APNS_TOPIC:
            return apns_error(400, "MissingTopic" if "apns-topic" not in headers else "BadTopic")
        if headers.get("apns-push-type") != "alert":
            return apns_error(400, "InvalidPushType")
        with self.lock:
            self.provider_tokens.add(bearer)
        payload = json.loads(body or b"{}")
        alert = (payload.get("aps") or {}).get("alert") or {}
        self._record(
            Received(
                token=token,
                collapse_key=headers.get("apns-collapse-id"),
                title=alert.get("title", ""),
                body=alert.get("body", ""),
                data={k: v for k, v in payload.items() if k != "aps"},
                headers=headers,
                at=time.monotonic(),
            )
        )
        return self._next(token) or Reply(200)


@contextlib.contextmanager
def apns_server(directory: Path) -> Iterator[tuple[ApnsServer, Path]]:
    """A running APNs server and the .p8 signing key (PKCS#8 PEM) for it."""
    key = ec.generate_private_key(ec.SECP256R1())
    path = directory / f"AuthKey_{APNS_KEY_ID}.p8"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ApnsServer(key.public_key())
    try:
        yield server, path
    finally:
        server.close()
